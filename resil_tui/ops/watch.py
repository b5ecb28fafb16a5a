"""`resil-tui watch`: poll every site as the console does, headless, and journal it.

Each site has its own cycle through the session's status collector (the console's, with
the same staleness rule for the interval): the next poll starts a full interval after the
previous one ended, so slow sites never stack polls, and a hung node does not hold back
the others (`patience`, as in ui/poller.py). What the polls see goes to the journal
(ops/journal_feed.py), shared with a console running at the same time.

Every entry new to the journal (whoever wrote it) is printed as one line and, when its
kind is in `[watch] on_change_kinds`, handed to the `on_change` command (ops/notify.py).
The last poll of each site is kept for `/metrics` (ops/metrics_http.py).
No Textual here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from resil_tui import __version__
from resil_tui.core.freshness import stale_after
from resil_tui.core.journal_event import JournalEvent, iso
from resil_tui.core.prometheus import SitePoll, exposition
from resil_tui.inventory_model import Site
from resil_tui.ops.notify import ChangeNotifier
from resil_tui.ops.session import Session
from resil_tui.ops.status_events import SiteReport

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 10.0


@dataclass
class SiteCycle:
    site: Site
    polls: int = 0
    report: SiteReport | None = None
    duration: float | None = None
    ended_at: float | None = None
    error: str | None = None  # the last poll failed as a whole (a bug, not a node)


def event_line(event: JournalEvent) -> str:
    return f"{iso(event.time)} {event.site} {event.describe()}"


class Watcher:
    def __init__(
        self,
        session: Session,
        sites: Sequence[Site],
        *,
        interval: float = DEFAULT_INTERVAL,
        say: Callable[[str], None] | None = None,
        notifier: ChangeNotifier | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.session = session
        self.interval = interval
        self.cycles = {s.name: SiteCycle(s) for s in sites}
        self.say = say
        self.notifier = notifier
        self.clock = clock
        # The one staleness rule, for this interval (core/freshness.py).
        session.collector.stale_after_seconds = stale_after(interval)

    def _journaled(self, events: list[JournalEvent]) -> None:
        for event in events:
            if event.site not in self.cycles:
                continue
            if self.say is not None:
                self.say(event_line(event))
            if self.notifier is not None:
                self.notifier.submit(event)

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set; the journal records what each poll sees."""
        journal = self.session.journal
        journal.refresh()  # what is already there is not news
        unsubscribe = journal.subscribe(self._journaled)
        self.session.record_status()
        tasks = [
            asyncio.create_task(self._cycle(c, stop), name=f"watch {c.site.name}")
            for c in self.cycles.values()
        ]
        if self.notifier is not None:
            tasks.append(asyncio.create_task(self.notifier.run(stop), name="watch on_change"))
        try:
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            unsubscribe()

    async def _cycle(self, cycle: SiteCycle, stop: asyncio.Event) -> None:
        collector = self.session.collector
        while not stop.is_set():
            started = time.monotonic()
            try:
                cycle.report = await collector.poll_site(
                    cycle.site, patience=max(2.0, self.interval)
                )
                cycle.error = None
            except Exception as exc:  # a bug must not stop the watch of every site
                log.exception("poll of %s failed", cycle.site.name)
                cycle.error = f"{type(exc).__name__}: {exc}"
            cycle.polls += 1
            cycle.duration = time.monotonic() - started
            cycle.ended_at = self.clock()
            # A full interval after this poll ended: polls never stack.
            try:
                await asyncio.wait_for(stop.wait(), self.interval)
            except TimeoutError:
                continue

    def metrics(self) -> str:
        polls = [
            SitePoll(c.report.snapshot, c.report.verdicts, c.duration, c.ended_at, c.polls)
            for c in self.cycles.values()
            if c.report is not None
        ]
        return exposition(polls, self.clock(), __version__)
