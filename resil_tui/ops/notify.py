"""The watcher's `on_change` command: each journal entry of a chosen kind (default: the
site verdict), as one JSON document on the command's stdin. A fact seen for the first
time (a new journal) is a baseline, not a change: it is not sent.

The command is an argv from the inventory (`[watch] on_change`, an absolute program path:
no shell, no PATH lookup) run in its own session with a timeout: past it the whole
process group is killed. Commands run one at a time from a bounded queue, so a slow mail
relay never piles up processes; a full queue drops the entry with a warning. What the
command prints goes to the debug log; a failure never stops the watcher.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from collections.abc import Callable

from resil_tui.core.journal_event import SCHEMA_VERSION, JournalEvent
from resil_tui.core.records import record
from resil_tui.inventory_model import WatchSettings

log = logging.getLogger(__name__)

QUEUE_SIZE = 100
OUTPUT_KEPT = 2000  # characters of the command's output kept in the debug log


@record
class Notified:
    event_id: str
    exit_status: int | None  # None: killed at the timeout, or it could not start
    seconds: float
    detail: str


def payload(event: JournalEvent) -> bytes:
    data = {"schema_version": SCHEMA_VERSION, "event": event.to_dict()}
    return (json.dumps(data, ensure_ascii=False) + "\n").encode("utf-8")


class ChangeNotifier:
    def __init__(
        self, settings: WatchSettings, *, on_result: Callable[[Notified], None] | None = None
    ) -> None:
        self.argv = settings.on_change
        self.timeout = settings.on_change_timeout
        self.kinds = frozenset(settings.on_change_kinds)
        self.on_result = on_result
        self._queue: asyncio.Queue[JournalEvent] = asyncio.Queue(QUEUE_SIZE)

    def submit(self, event: JournalEvent) -> None:
        if not self.argv or event.kind.value not in self.kinds:
            return
        if event.kind.observed and event.before is None:
            return  # first seen (a new journal): a baseline, not a change
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            log.warning("on_change: queue full (%d); entry %s not sent", QUEUE_SIZE, event.id)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            event = await self._queue.get()
            result = await self.notify(event)
            if self.on_result is not None:
                self.on_result(result)

    async def notify(self, event: JournalEvent) -> Notified:
        started = time.monotonic()
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # its own process group: the timeout kills it all
            )
        except OSError as exc:
            log.warning("on_change %s could not start: %s", self.argv[0], exc)
            return Notified(event.id, None, 0.0, f"could not start: {exc.strerror or exc}")
        try:
            out, _ = await asyncio.wait_for(proc.communicate(payload(event)), self.timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            seconds = time.monotonic() - started
            log.warning("on_change killed after %.1fs (timeout) for entry %s", seconds, event.id)
            return Notified(event.id, None, seconds, f"killed after the {self.timeout:g}s timeout")
        seconds = time.monotonic() - started
        text = out.decode("utf-8", errors="replace")[-OUTPUT_KEPT:]
        log.info("on_change exit %s in %.2fs for %s: %s", proc.returncode, seconds, event.id, text)
        return Notified(event.id, proc.returncode, seconds, f"exit {proc.returncode}")
