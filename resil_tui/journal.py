"""The incident journal: a local, append-only JSONL file of what changed on each site and
what was done to it (core/journal_event.py), under the XDG state directory, 0600.

Several processes write it at once (the console, `resil-tui watch`, a CLI command that
acts): each append happens under an exclusive lock (`journal.lock`, flock) and goes like
this: read what the others appended since our last read, take the journal's own picture
of the site (the latest value of each fact), keep only what differs from it, append that
in one write(2). So a change seen by two processes is recorded once, by whichever saw it
first; the other finds the value already there. An action is recorded once per audit
result (its id carries the audit `op`).

Bounded by age and size: when the file passes `max_bytes`, or once an hour, entries older
than `max_age` are dropped (the latest entry of every fact is always kept, so the
journal's picture survives), then the oldest until it is under three quarters of the
bound; the file is rewritten atomically under the lock. Readers never take the lock: they
consume complete lines only and start again from the top when the file was replaced.

A journal that cannot be written never stops a poll or an action: the failure goes to
the debug log and the next poll tries again (its facts still differ from the journal's).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from resil_tui import paths
from resil_tui.core.journal_event import EventKind, JournalEvent
from resil_tui.core.records import record
from resil_tui.lazy import lazy_module
from resil_tui.listeners import Listeners
from resil_tui.localfiles import PRIVATE_FILE, ensure_private_dir, open_private_append, write_atomic

if TYPE_CHECKING:
    from resil_tui.core import site_picture
    from resil_tui.core.site_picture import SitePicture
else:
    # A site's picture and its rules: loaded when first asked for (a judged poll, the
    # Timeline), after the console's first screen.
    site_picture = lazy_module("resil_tui.core.site_picture")

log = logging.getLogger(__name__)

DAY = 86400.0
DEFAULT_MAX_AGE = 90 * DAY
DEFAULT_MAX_BYTES = 16 * 1024 * 1024
COMPACT_EVERY = 3600.0  # seconds between two age checks by one process
LOCK_TIMEOUT = 2.0  # seconds a writer waits for another one to finish

Listener = Callable[[list[JournalEvent]], None]


class JournalBusy(OSError):
    """Another process held the journal's lock for longer than LOCK_TIMEOUT."""


@record
class JournalBounds:
    """How far the journal may grow before old entries go (the inventory's journal policy)."""

    max_age: float = DEFAULT_MAX_AGE  # seconds
    max_bytes: int = DEFAULT_MAX_BYTES


class Journal:
    def __init__(
        self,
        path: Path | str | None = None,
        bounds: JournalBounds | None = None,
        *,
        clock: Callable[[], float] = time.time,
        lock_timeout: float = LOCK_TIMEOUT,
    ) -> None:
        self.path = Path(path) if path is not None else paths.journal_path()
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.bounds = bounds or JournalBounds()
        self.clock = clock
        self.lock_timeout = lock_timeout
        self._events: list[JournalEvent] = []  # every entry read, oldest first
        self._latest: dict[tuple[str, str, str], JournalEvent] = {}
        self._ids: set[str] = set()
        self._offset = 0
        self._inode: tuple[int, int] | None = None
        self._compacted_at: float | None = None
        self._pending: list[JournalEvent] = []  # actions not written yet (lock busy)
        self._listeners: Listeners[list[JournalEvent]] = Listeners("journal")
        self.version = 0  # bumped whenever new entries were read or written

    # --- listeners ---------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Hear every entry new to this process, whoever wrote it (after it is on disk)."""
        return self._listeners.subscribe(listener)

    def _tell(self, events: list[JournalEvent]) -> None:
        if events:
            self._listeners.tell(events)

    # --- reading -----------------------------------------------------------------------

    def refresh(self) -> list[JournalEvent]:
        """Read what was appended since the last read (by anyone); the new entries."""
        try:
            new = self._read_new()
        except OSError as exc:
            log.warning("journal %s cannot be read: %s", self.path, exc)
            return []
        self._tell(new)
        return new

    def events(
        self,
        *,
        site: str | None = None,
        since: float | None = None,
        until: float | None = None,
        node: str | None = None,
        kinds: Iterable[EventKind] | None = None,
    ) -> list[JournalEvent]:
        """Entries, oldest first, filtered (read again from the file first)."""
        self.refresh()
        wanted = frozenset(kinds) if kinds is not None else None
        return [
            e
            for e in self._events
            if (site is None or e.site == site)
            and (since is None or e.time >= since)
            and (until is None or e.time <= until)
            and (node is None or e.node == node)
            and (wanted is None or e.kind in wanted)
        ]

    def latest(self, site: str, node: str | None, kind: EventKind) -> JournalEvent | None:
        """The last entry of one fact, as of the last read (no file access)."""
        return self._latest.get((site, node or "", kind.value))

    def picture(self, site: str) -> SitePicture:
        return site_picture.picture_from_events(
            site, (e for e in self._latest.values() if e.site == site)
        )

    def _read_new(self) -> list[JournalEvent]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            if self._inode is not None:
                self._reset()
            return []
        inode = (st.st_dev, st.st_ino)
        known: set[str] = set()
        if inode != self._inode or st.st_size < self._offset:
            # Replaced (compacted) or truncated: read it again from the top; what was read
            # before is not new.
            known = set(self._ids)
            self._reset()
            self._inode = inode
        if st.st_size == self._offset:
            return []
        with open(self.path, "rb") as handle:
            handle.seek(self._offset)
            data = handle.read()
        end = data.rfind(b"\n")
        if end < 0:
            return []  # a line still being written: next time
        self._offset += end + 1
        new: list[JournalEvent] = []
        for raw in data[: end + 1].splitlines():
            event = _parse(raw)
            if event is not None and event.id not in self._ids:
                self._remember(event)
                if event.id not in known:
                    new.append(event)
        self.version += 1
        return new

    def _reset(self) -> None:
        self._events.clear()
        self._latest.clear()
        self._ids.clear()
        self._offset = 0
        self._inode = None
        self.version += 1

    def _remember(self, event: JournalEvent) -> None:
        self._events.append(event)
        self._ids.add(event.id)
        if event.kind.observed:
            known = self._latest.get(event.key)
            if known is None or known.time <= event.time:
                self._latest[event.key] = event

    # --- writing -----------------------------------------------------------------------

    def record_site(self, picture: SitePicture) -> list[JournalEvent]:
        """Append what `picture` (a poll's) says that the journal does not know yet; the
        entries written. Called for every judged poll, by every process."""
        try:
            with self._locked():
                seen = self._read_new()
                written = site_picture.site_events(self.picture(picture.site), picture)
                self._append_locked(written)
        except OSError as exc:
            log.warning("journal %s not written: %s", self.path, exc)
            return []
        self._tell(seen + written)
        return written

    def record(self, events: Iterable[JournalEvent]) -> list[JournalEvent]:
        """Append actions (each once: an id already in the journal is not written again);
        kept for the next call when the journal is busy or unwritable."""
        self._pending.extend(e.with_id() for e in events)
        if not self._pending:
            return []
        try:
            with self._locked():
                seen = self._read_new()
                fresh: dict[str, JournalEvent] = {}
                for event in self._pending:
                    if event.id not in self._ids:
                        fresh.setdefault(event.id, event)
                written = list(fresh.values())
                self._append_locked(written)
                self._pending.clear()
        except OSError as exc:
            log.warning("journal %s not written (kept for later): %s", self.path, exc)
            return []
        self._tell(seen + written)
        return written

    def _append_locked(self, events: list[JournalEvent]) -> None:
        if events:
            data = "".join(
                json.dumps(e.to_dict(), ensure_ascii=False, separators=(",", ":")) + "\n"
                for e in events
            ).encode("utf-8")
            fd = open_private_append(self.path)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
            # Our own lines are read back as anyone's: one way in, one picture.
            self._read_new()
        self._maybe_compact_locked()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        ensure_private_dir(self.lock_path.parent)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE)
        try:
            deadline = time.monotonic() + self.lock_timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise JournalBusy(
                            f"{self.lock_path} held by another process for over "
                            f"{self.lock_timeout:g}s"
                        ) from None
                    time.sleep(0.01)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    # --- bounds --------------------------------------------------------------------------

    def _maybe_compact_locked(self) -> None:
        now = self.clock()
        too_big = self._offset > self.bounds.max_bytes
        due = self._compacted_at is None or now - self._compacted_at >= COMPACT_EVERY
        if not (too_big or due):
            return
        self._compacted_at = now
        kept = compacted(self._events, now, self.bounds)
        if len(kept) == len(self._events):
            return
        text = "".join(
            json.dumps(e.to_dict(), ensure_ascii=False, separators=(",", ":")) + "\n" for e in kept
        )
        write_atomic(self.path, text, mode=PRIVATE_FILE)
        log.info("journal %s: %d old entries dropped", self.path, len(self._events) - len(kept))
        self._reset()
        self._read_new()


def compacted(events: list[JournalEvent], now: float, bounds: JournalBounds) -> list[JournalEvent]:
    """The entries a bounded journal keeps, oldest first: none older than max_age but the
    latest of each fact, then (oldest first) fewer until 3/4 of max_bytes."""
    latest: dict[tuple[str, str, str], str] = {}
    for event in events:
        if event.kind.observed:
            latest[event.key] = event.id
    keep_always = set(latest.values())
    kept = [e for e in events if e.id in keep_always or now - e.time <= bounds.max_age]
    sizes = [len(json.dumps(e.to_dict(), ensure_ascii=False)) + 1 for e in kept]
    total, limit = sum(sizes), bounds.max_bytes * 3 // 4
    if total <= limit:
        return kept
    out: list[JournalEvent] = []
    for event, size in zip(kept, sizes, strict=True):
        if total > limit and event.id not in keep_always:
            total -= size
            continue
        out.append(event)
    return out


def _parse(raw: bytes) -> JournalEvent | None:
    try:
        data = json.loads(raw.decode("utf-8", errors="replace"))
        return JournalEvent.from_dict(data) if isinstance(data, dict) else None
    except (ValueError, KeyError, TypeError):
        return None  # a damaged line is skipped, never fatal
