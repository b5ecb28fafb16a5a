"""Follow a node's log stream: reconnect with backoff, resume without duplicates, readiness.

`LogFollower` runs one remote stream (`xivocc-dcomp logs -f`, `edge-dcomp logs -f`,
`tail -F` of the xivo-sync log, or a command the inventory declares) on a task of its own
and hands its lines out in batches (`async for event in follower`). Stopping it (leaving
`async with`, or `stop()`) leaves `Pool.stream`, which hangs up the PTY the follow runs on
and closes the channel: no `logs -f` is left running on the node.

When the connection drops, the follower emits a gap marker, reconnects with exponential
backoff and resumes: compose streams with `--since` the last docker timestamp seen (they
run with `-t`), other streams with a small `--tail` (or their own command again).
`ResumeDeduper` drops the lines the resumed stream re-sends, so nothing already shown is
shown twice.

`wait_until_ready` waits for a line matching a node's readiness pattern on any stream, with
`not_before`: `resil-tui logs --until-ready` on a stream other than xuc. xuc's own readiness
(the current run of its container) is `ops/xuc_wait.py`, for that command and the wizard.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from resil_tui.core.logbuf import (
    ReadinessMatcher,
    ResumeDeduper,
    clean_line,
    clean_lines,
    gap_marker,
    since_argument,
    split_line,
)
from resil_tui.core.records import record
from resil_tui.inventory_model import Node, NodeKind, Side, Site
from resil_tui.remote import commands as cat
from resil_tui.remote.commands import Command, CommandError
from resil_tui.remote.errors import ErrorKind, RemoteError
from resil_tui.remote.pool import STICKY_KINDS, LineStream, Pool

DEFAULT_TAIL = 100
# Resuming by --tail: short, so a reconnect re-sends little; the deduper keeps more
# previous lines than that (ResumeDeduper's rule) so the whole overlap is recognised.
RESUME_TAIL = 50
KEEP_PREVIOUS = 200
# Resuming by --since after a long gap: at most this many lines of what was missed.
RESUME_CAP = 5000
# While the deduper waits to see how long the overlap is, an idle stream settles it.
DEDUP_IDLE = 0.5
# Lines waiting for a slow reader before the oldest are dropped (and said so).
MAX_PENDING = 200_000
# wait_until_ready: lines shown before the restart, for context (the matcher decides).
READY_CONTEXT = timedelta(seconds=5)

FAILURE_KINDS = STICKY_KINDS | {ErrorKind.READ_ONLY}

log = logging.getLogger(__name__)


class StreamKind(StrEnum):
    COMPOSE = "compose"  # xivocc-dcomp / edge-dcomp logs: -t, --since, --tail
    FILE = "file"  # tail -F PATH: --tail only
    CUSTOM = "custom"  # an inventory command, run as declared


@dataclass(frozen=True)
class LogStream:
    """One stream a node can show. `name` is what `--stream NAME` and the pane use."""

    name: str
    kind: StreamKind
    tool: str | None = None  # COMPOSE: xivocc-dcomp | edge-dcomp
    service: str | None = None  # COMPOSE: one service, None for all of them
    path: str | None = None  # FILE
    argv: tuple[str, ...] = ()  # CUSTOM

    @property
    def description(self) -> str:
        """The command as the admin would type it (follow form)."""
        return self.command(tail=DEFAULT_TAIL).line

    @property
    def resumes_by_time(self) -> bool:
        return self.kind is StreamKind.COMPOSE

    def command(
        self, *, tail: int | None = DEFAULT_TAIL, since: str | None = None, follow: bool = True
    ) -> Command:
        """The catalog entry; follows run on a PTY (the catalog says so) so they end with
        the channel."""
        if self.kind is StreamKind.COMPOSE:
            assert self.tool is not None
            return cat.compose_logs(
                self.tool, self.service, follow=follow, tail=tail, since=since, timestamps=True
            )
        if self.kind is StreamKind.FILE:
            assert self.path is not None
            return cat.tail(self.path, DEFAULT_TAIL if tail is None else tail, follow=follow)
        return cat.custom_log(self.argv, self.name)


def streams_for(node: Node) -> list[LogStream]:
    """Built-in streams of a node, then the inventory's extra ones (read-only)."""
    found: list[LogStream] = []
    if node.kind is NodeKind.CC:
        found.append(LogStream("xuc", StreamKind.COMPOSE, tool="xivocc-dcomp", service="xuc"))
        found.append(LogStream("xivocc", StreamKind.COMPOSE, tool="xivocc-dcomp"))
    elif node.kind is NodeKind.EDGE:
        found.append(LogStream("edge", StreamKind.COMPOSE, tool="edge-dcomp"))
    elif node.kind is NodeKind.XIVO:
        found.append(LogStream("xivo-sync", StreamKind.FILE, path=node.paths.sync_log))
    taken = {s.name for s in found}
    for spec in node.logs:
        if spec.name not in taken:
            found.append(LogStream(spec.name, StreamKind.CUSTOM, argv=tuple(spec.argv)))
            taken.add(spec.name)
    return found


def find_stream(node: Node, name: str | None) -> LogStream:
    """The named stream of the node, or its first one; ValueError lists what exists."""
    streams = streams_for(node)
    if not streams:
        raise ValueError(f"{node.id} has no log stream (declare one in the inventory: logs)")
    if name is None:
        return streams[0]
    for stream in streams:
        if stream.name == name:
            return stream
    known = ", ".join(s.name for s in streams)
    raise ValueError(f"{node.id} has no log stream {name!r} (streams: {known})")


def default_target(site: Site, active_side: str | None = None) -> tuple[Node, LogStream] | None:
    """The Logs pane's first stream: xuc on the active side's CC (master when unknown)."""
    side = Side.SLAVE if active_side == Side.SLAVE.value else Side.MASTER
    for node in (site.cc(side), site.cc(Side.MASTER), site.cc(Side.SLAVE)):
        if node is not None:
            return node, find_stream(node, "xuc")
    for node in site.nodes():
        streams = streams_for(node)
        if streams:
            return node, streams[0]
    return None


# --- events --------------------------------------------------------------------------------


class FollowState(StrEnum):
    CONNECTING = "connecting"
    STREAMING = "streaming"
    RECONNECTING = "reconnecting"
    ENDED = "ended"  # the remote command finished by itself
    FAILED = "failed"  # cannot go on (host key, auth, read-only, bad command)
    STOPPED = "stopped"  # stopped by us: the remote process was ended


@record
class LogLines:
    lines: list[str]


@record
class LogGap:
    """A line the product inserts (connection lost / resumed / lines skipped)."""

    marker: str


@record
class LogState:
    state: FollowState
    message: str = ""
    exit_status: int | None = None


FollowEvent = LogLines | LogGap | LogState


@record
class Backoff:
    """Delays between reconnect attempts: base * 2^n, capped, with a little jitter."""

    base: float = 0.5
    cap: float = 15.0
    jitter: float = 0.1

    def delay(self, attempt: int) -> float:
        raw = min(self.cap, self.base * 2.0 ** max(0, attempt - 1))
        return float(raw * (1 + random.uniform(-self.jitter, self.jitter)))


@dataclass
class FollowStats:
    lines: int = 0
    reconnects: int = 0
    dropped_overlap: int = 0  # re-sent lines recognised and not shown again
    skipped: int = 0  # lines dropped because the reader was too slow
    started_at: float = field(default_factory=time.monotonic)


class LogFollower:
    """One followed stream. Use `async with follower:` (or `start()` / `stop()`) and
    `async for event in follower` on the same event loop."""

    def __init__(
        self,
        pool: Pool,
        node: Node,
        stream: LogStream,
        *,
        tail: int = DEFAULT_TAIL,
        since: str | None = None,
        follow: bool = True,
        reconnect: bool = True,
        backoff: Backoff | None = None,
        max_pending: int = MAX_PENDING,
        clock: Callable[[], datetime] = datetime.now,
        command: Command | None = None,
    ) -> None:
        self.pool = pool
        # The first command, when the caller built (and showed) it; reconnects resume.
        self.first_command = command
        self.node = node
        self.stream = stream
        self.tail = tail
        self.since = since
        self.follow = follow
        self.reconnect = reconnect and follow
        self.backoff = backoff or Backoff()
        self.max_pending = max_pending
        self.clock = clock
        self.state = FollowState.CONNECTING
        self.message = ""
        self.exit_status: int | None = None
        self.stats = FollowStats()
        self.commands: list[str] = []  # every command line sent, for the UI and tests
        self._recent: deque[str] = deque(maxlen=KEEP_PREVIOUS)
        self._events: list[FollowEvent] = []
        self._pending_lines = 0
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # --- life cycle ------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"follow {self.node.id}")

    async def stop(self) -> None:
        """End the stream now: the remote process is hung up and the channel closed."""
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.state not in (FollowState.ENDED, FollowState.FAILED):
            self._set_state(FollowState.STOPPED, "stopped")
        self._wakeup.set()
        log.debug(
            "follow %s %s stopped: %d reconnect(s), %d re-sent line(s) dropped, %d skipped",
            self.node.id,
            self.stream.name,
            self.stats.reconnects,
            self.stats.dropped_overlap,
            self.stats.skipped,
        )

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def __aenter__(self) -> LogFollower:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- consuming -------------------------------------------------------------------------

    def __aiter__(self) -> AsyncGenerator[FollowEvent, None]:
        return self._iterate()

    async def _iterate(self) -> AsyncGenerator[FollowEvent, None]:
        while True:
            if not self._events:
                if not self.running:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            events, self._events = self._events, []
            self._pending_lines = 0
            for event in events:
                yield event

    # --- the stream task -------------------------------------------------------------------

    def _emit(self, event: FollowEvent) -> None:
        self._events.append(event)
        self._wakeup.set()

    def _set_state(self, state: FollowState, message: str = "") -> None:
        self.state, self.message = state, message
        self._emit(LogState(state, message, self.exit_status))

    def _accept(self, lines: list[str]) -> None:
        if not lines:
            return
        self.stats.lines += len(lines)
        self._recent.extend(lines[-KEEP_PREVIOUS:])
        last = self._events[-1] if self._events else None
        if isinstance(last, LogLines):
            last.lines.extend(lines)
        else:
            self._emit(LogLines(list(lines)))
        self._pending_lines += len(lines)
        self._wakeup.set()
        if self._pending_lines > self.max_pending:
            self._shed()

    def _shed(self) -> None:
        """The reader is too slow: drop the oldest waiting lines, and say so in the stream."""
        excess = self._pending_lines - self.max_pending // 2
        dropped = 0
        for event in self._events:
            if isinstance(event, LogLines) and dropped < excess:
                cut = min(len(event.lines), excess - dropped)
                del event.lines[:cut]
                dropped += cut
        self._pending_lines -= dropped
        self.stats.skipped += dropped
        self._events = [e for e in self._events if not (isinstance(e, LogLines) and not e.lines)]
        self._events.insert(
            0, LogGap(gap_marker(f"{dropped} lines skipped (display too slow)", self.clock()))
        )

    def _last_docker_time(self) -> datetime | None:
        for line in reversed(self._recent):
            parts = split_line(line)
            if parts.time is not None and parts.docker_time:
                return parts.time
        return None

    def _resume_command(self) -> Command:
        if self.stream.resumes_by_time:
            last = self._last_docker_time()
            if last is not None:
                return self.stream.command(tail=RESUME_CAP, since=since_argument(last))
        # Never re-send more than was seen: the deduper can only drop a replay that starts
        # inside what it knows.
        return self.stream.command(
            tail=min(RESUME_TAIL, len(self._recent)) if self._recent else self.tail
        )

    async def _run(self) -> None:
        attempt = 0
        lost_at: datetime | None = None
        try:
            command = self.first_command or self.stream.command(
                tail=self.tail, since=self.since, follow=self.follow
            )
        except CommandError as err:
            # e.g. an inventory stream that is not a reader: refused, nothing sent.
            self._set_state(FollowState.FAILED, str(err))
            return
        while True:
            deduper = ResumeDeduper(list(self._recent)) if lost_at is not None else None
            self._set_state(
                FollowState.CONNECTING if lost_at is None else FollowState.RECONNECTING,
                f"running {command.line}",
            )
            try:
                self.commands.append(command.line)
                async with self.pool.stream(self.node, command) as lines:
                    self._set_state(FollowState.STREAMING, command.line)
                    if lost_at is not None:
                        self._emit(LogGap(gap_marker("connection lost", lost_at, self.clock())))
                        self.stats.reconnects += 1
                        lost_at, attempt = None, 0
                    await self._pump(lines, deduper)
                    self.exit_status = lines.exit_status
            except RemoteError as err:
                if deduper is not None and not deduper.decided:
                    self._accept(deduper.flush())
                if err.kind in FAILURE_KINDS or not self.reconnect:
                    self._set_state(FollowState.FAILED, err.message)
                    return
                if lost_at is None:
                    lost_at = self.clock()
                    self._emit(LogGap(gap_marker(f"connection lost ({err.kind.value})", lost_at)))
                attempt += 1
                delay = self.backoff.delay(attempt)
                self._set_state(
                    FollowState.RECONNECTING, f"{err.message}; retry {attempt} in {delay:.1f}s"
                )
                await asyncio.sleep(delay)
                command = self._resume_command()
                continue
            except CommandError as err:
                self._set_state(FollowState.FAILED, str(err))
                return
            status = self.exit_status
            self._set_state(
                FollowState.ENDED,
                "stream ended" + (f" (exit {status})" if status is not None else ""),
            )
            return

    async def _pump(self, lines: LineStream, deduper: ResumeDeduper | None) -> None:
        iterator = aiter(lines)
        if deduper is not None:
            # Until the overlap is settled, an idle stream must not hold lines back forever.
            while not deduper.decided:
                try:
                    line = await asyncio.wait_for(anext(iterator), DEDUP_IDLE)
                except TimeoutError:
                    self._accept(deduper.flush())
                    break
                except StopAsyncIteration:
                    self._accept(deduper.flush())
                    self.stats.dropped_overlap += deduper.dropped
                    return
                self._accept(deduper.feed(clean_line(line)))
            self.stats.dropped_overlap += deduper.dropped
        # One batch per read: _accept coalesces it into the batch the reader has not taken
        # yet. The remote layer sanitized the lines already; clean_lines checks the batch
        # again at C speed (defence in depth, the same rule as every other remote text).
        async for batch in lines.batches():
            self._accept(clean_lines(batch))


@contextlib.asynccontextmanager
async def follow(
    pool: Pool, node: Node, stream: LogStream | str | None = None, **kwargs: object
) -> AsyncIterator[LogFollower]:
    """`async with follow(pool, node, "xuc") as f: async for event in f: ...`"""
    chosen = stream if isinstance(stream, LogStream) else find_stream(node, stream)
    follower = LogFollower(pool, node, chosen, **kwargs)  # type: ignore[arg-type]
    async with follower:
        yield follower


# --- readiness -----------------------------------------------------------------------------


@record
class ReadyResult:
    ready: bool
    node_id: str
    matched_line: str | None = None
    matched_time: datetime | None = None
    waited: float = 0.0  # seconds
    lines_seen: int = 0
    stale_matches: int = 0  # readiness lines from before not_before (previous start)
    unverified_matches: int = 0  # readiness lines whose time could not be checked
    timed_out: bool = False
    error: str | None = None  # the stream could not be followed (host key, auth, ended...)
    command: str = ""

    @property
    def summary(self) -> str:
        if self.ready:
            return f"{self.node_id}: ready after {self.waited:.1f}s: {self.matched_line}"
        why = self.error or (
            f"no readiness line within {self.waited:.0f}s ({self.lines_seen} lines read)"
        )
        extra = []
        if self.stale_matches:
            extra.append(f"{self.stale_matches} from before the restart ignored")
        if self.unverified_matches:
            extra.append(f"{self.unverified_matches} without a usable time ignored")
        return f"{self.node_id}: not ready: {why}" + (f" ({'; '.join(extra)})" if extra else "")


def readiness_stream(node: Node) -> LogStream:
    if node.kind is NodeKind.CC:
        return find_stream(node, "xuc")
    return find_stream(node, None)


async def wait_until_ready(
    pool: Pool,
    node: Node,
    *,
    timeout: float,
    not_before: datetime | None = None,
    on_line: Callable[[str], None] | None = None,
    stream: LogStream | None = None,
    tail: int = DEFAULT_TAIL,
    backoff: Backoff | None = None,
) -> ReadyResult:
    """Follow the node's xuc log (its `readiness_pattern`) until a readiness line appears.

    With `not_before` (node clock; aware UTC compares with docker's `-t` times), only a
    line logged at or after it counts: the stream starts `--since` a little before it and
    `ReadinessMatcher` rejects older matches, so the previous start's line never counts.
    Without it, any readiness line of the replayed `--tail` history counts too.
    Drops are survived (reconnect, resume); `on_line` sees every line and gap marker.
    """
    chosen = stream or readiness_stream(node)
    if not_before is not None and not_before.tzinfo is None and chosen.resumes_by_time:
        # docker's -t times are aware (UTC): a naive local time would never compare.
        not_before = not_before.astimezone(UTC)
    matcher = ReadinessMatcher(node.readiness_pattern, not_before)
    since = since_argument(not_before - READY_CONTEXT) if not_before is not None else None
    follower = LogFollower(
        pool, node, chosen, tail=RESUME_CAP if since else tail, since=since, backoff=backoff
    )
    started = time.monotonic()
    timed_out = False
    error: str | None = None
    seen = 0
    async with follower:
        try:
            async with asyncio.timeout(timeout), contextlib.aclosing(aiter(follower)) as events:
                async for event in events:
                    if isinstance(event, LogLines):
                        for line in event.lines:
                            seen += 1
                            if on_line is not None:
                                on_line(line)
                            if matcher.feed(line):
                                break
                        if matcher.ready:
                            break
                    elif isinstance(event, LogGap):
                        if on_line is not None:
                            on_line(event.marker)
                    elif event.state in (FollowState.ENDED, FollowState.FAILED):
                        error = event.message
                        break
        except TimeoutError:
            timed_out = True
    return ReadyResult(
        ready=matcher.ready,
        node_id=node.id,
        matched_line=matcher.matched_line,
        matched_time=matcher.matched_time,
        waited=time.monotonic() - started,
        lines_seen=seen,
        stale_matches=matcher.stale_matches,
        unverified_matches=matcher.unverified_matches,
        timed_out=timed_out,
        error=error,
        command=follower.commands[0] if follower.commands else "",
    )
