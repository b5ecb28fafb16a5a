"""Wait until xuc's current run is ready: `resil-tui logs --until-ready` and the wizard.

A wait first looks once, with the same reads as the status poll (ops/cc_status.py: ps,
`docker inspect`, a bounded tail of the log, the probe when configured): a xuc that has
been ready for days is ready at once, and says since when. Otherwise it follows the log
(`logs -f -t --tail N xuc`) and counts a readiness line that arrives after the end of that
first look (it was logged by the run current then, or a later one); every few seconds it
looks again, so a probe or docker's health check that turns good, or a container that
started meanwhile, ends the wait too.

`plan_xuc_wait` builds the commands once (`XucWaitPlan`): what a step shows is `plan.text`,
and `wait_for_xuc` sends those very objects. `take_mark` notes the run and the log's end
before the product restarts xuc (`XucRestart`), so that after the restart only what follows
that point counts, even when the wrapper drops docker's `-t` (core/xuc_readiness.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable

from resil_tui.core.freshness import stamp
from resil_tui.core.node_status import CcStatus
from resil_tui.core.records import record
from resil_tui.core.xuc_readiness import (
    ANCHOR_MAX_LINES,
    Anchor,
    FollowMatcher,
    XucReadiness,
    XucState,
    anchor_of,
)
from resil_tui.inventory_model import Node, NodeKind
from resil_tui.ops.cc_status import (
    DEEP_LOG_LINES,
    LOGS,
    XUC_LOG_LINES,
    CcPart,
    cc_parts,
    cc_status,
    deep_logs_command,
    part_of,
)
from resil_tui.ops.logs import Backoff, FollowState, LogFollower, LogLines, LogState, find_stream
from resil_tui.remote import commands as cat
from resil_tui.remote.commands import Command
from resil_tui.remote.errors import RemoteError
from resil_tui.remote.pool import Pool, Result

# Between two looks while following (a probe or the health check may turn good).
RECHECK_SECONDS = 5.0
# Lines of the first look shown before the live ones, for context.
CONTEXT_LINES = 10
# The restart mark reads only the log's end: as many lines as an anchor may take to be
# unique in them (core/xuc_readiness.py).
MARK_TAIL = ANCHOR_MAX_LINES


@record
class XucWaitPlan:
    """The commands a readiness wait sends, built once; `text` is what is shown."""

    node: Node
    parts: tuple[CcPart, ...]  # each look: the status poll's CC reads
    follow: Command  # between looks: the live log
    deep: Command  # once, when the first look does not reach back to the run's start

    @property
    def commands(self) -> tuple[Command, ...]:
        return (*(p.command for p in self.parts), self.deep, self.follow)

    @property
    def text(self) -> str:
        looks = "; ".join(p.command.line for p in self.parts)
        pattern = self.node.readiness_pattern
        return (
            f"{looks} (once more with {self.deep.line} when that does not reach back to the "
            f"run's start); then {self.follow.line} until a line of the current run matches "
            f"{pattern!r} (looking again every {RECHECK_SECONDS:g}s)"
        )


def plan_xuc_wait(node: Node) -> XucWaitPlan:
    if node.kind is not NodeKind.CC:
        raise ValueError(f"{node.id} is not a CC node: xuc runs on CC nodes")
    follow = cat.compose_logs(
        "xivocc-dcomp", "xuc", follow=True, tail=XUC_LOG_LINES, timestamps=True
    )
    deep = deep_logs_command()
    return XucWaitPlan(node, tuple(cc_parts(node)), follow, deep)


@record
class XucRestart:
    """`xivocc-dcomp restart xuc` with the reads that note the run before it."""

    node: Node
    reads: tuple[Command, ...]  # docker inspect, the log's last lines
    command: Command  # the restart itself (mutating)

    @property
    def text(self) -> str:
        reads = "; ".join(r.line for r in self.reads)
        return f"{self.command.line} (first noting the current run: {reads})"


def plan_xuc_restart(node: Node, service: str = "xuc") -> XucRestart:
    reads = (
        cat.docker_inspect(node.xuc.containers),
        cat.compose_logs("xivocc-dcomp", "xuc", tail=MARK_TAIL, timestamps=True),
    )
    return XucRestart(node, reads, cat.xivocc_restart(service))


async def take_mark(pool: Pool, restart: XucRestart, now: float) -> Anchor | None:
    """The run and the log's end just before the restart the product issues: after it,
    only what follows this point can be the new run's (even without docker times). None
    when the log could not be read: an empty mark would say the log was empty, and so
    count every line of it, the old run's included, as the new run's."""
    inspect, logs = await asyncio.gather(*(pool.run(restart.node, c) for c in restart.reads))
    if not logs.ok:
        return None
    outputs = {"inspect": part_of(inspect), LOGS: part_of(logs)}
    status = cc_status(restart.node, outputs, now)  # the start only: inspect's
    run = status.xuc.run if status.xuc is not None else None
    lines = logs.stdout.splitlines()
    return anchor_of(lines, now, run, "the log's end before the restart the product issued")


@record
class XucWaitResult:
    ready: bool
    node_id: str
    readiness: XucReadiness | None  # the last look's judgement (or the live match's)
    waited: float
    timed_out: bool = False
    error: str | None = None  # the last read that failed, when nothing better is known
    lines_seen: int = 0
    ignored: int = 0  # readiness lines that did not count (an earlier run)
    live: bool = False  # the readiness line arrived while following

    @property
    def line(self) -> str | None:
        return self.readiness.line if self.readiness is not None else None

    @property
    def since(self) -> float | None:
        return self.readiness.since if self.readiness is not None else None

    def summary(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        r = self.readiness
        if self.ready and r is not None:
            if r.since is not None:
                when = f"ready since {stamp(r.since, now)}"
            elif r.run is not None and r.run.started_at is not None:
                when = f"ready (the run started {stamp(r.run.started_at, now)})"
            else:
                when = "ready"
            took = f" after {self.waited:.1f}s" if self.live else ""
            line = f": {r.line}" if r.line else ""
            return f"{self.node_id}: {when}{took} ({r.basis}){line}"
        why = r.describe(now) if r is not None else (self.error or "nothing could be read")
        notes = list(r.evidence) if r is not None else []
        if self.ignored and not any("earlier run" in n for n in notes):
            notes.append(f"{self.ignored} readiness line(s) before the last look ignored")
        if self.error and r is not None:
            notes.append(f"last error: {self.error}")
        limit = f" within {self.waited:.0f}s" if self.timed_out else ""
        extra = f" ({'; '.join(notes)})" if notes else ""
        return f"{self.node_id}: not ready{limit}: {why}{extra}"


LineSink = Callable[[str], None]


def _complete(result: Result) -> Result:
    if result.incomplete:
        error = result.error
        assert error is not None
        raise error
    return result


async def look(
    pool: Pool,
    plan: XucWaitPlan,
    *,
    anchor: Anchor | None,
    clock: Callable[[], float],
    deep: bool = False,
) -> tuple[CcStatus, list[str]]:
    """One look with the plan's reads: the judgement ("now" once the reads are back: the
    log's newest line may be younger than their start) and the log lines read. `deep`:
    the log is read with the plan's deeper read once, when the start-up was out of view."""
    results = await asyncio.gather(*(pool.run(plan.node, p.command) for p in plan.parts))
    outputs = {p.name: part_of(_complete(r)) for p, r in zip(plan.parts, results, strict=True)}
    tail = XUC_LOG_LINES
    if deep:
        outputs[LOGS] = part_of(_complete(await pool.run(plan.node, plan.deep)))
        tail = DEEP_LOG_LINES
    status = cc_status(plan.node, outputs, clock(), anchor=anchor, tail=tail)
    logs = outputs[LOGS]
    return status, [x for x in logs.stdout.splitlines() if x.strip()] if logs.ok else []


async def wait_for_xuc(
    pool: Pool,
    plan: XucWaitPlan,
    *,
    timeout: float,
    anchor: Anchor | None = None,
    not_before: float | None = None,
    on_line: LineSink | None = None,
    on_look: Callable[[XucReadiness], None] | None = None,
    recheck: float = RECHECK_SECONDS,
    backoff: Backoff | None = None,
    clock: Callable[[], float] = time.time,
) -> XucWaitResult:
    """Until xuc's current run is ready or `timeout` passes (module doc). `anchor`: the
    mark taken before the product's restart; `not_before` (epoch): a readiness line
    with a docker time must also be at or after it."""
    node = plan.node
    started = time.monotonic()
    last: XucReadiness | None = None
    error: str | None = None
    seen = ignored = 0
    pattern = re.compile(node.readiness_pattern)

    def result(ready: bool, **kw: object) -> XucWaitResult:
        return XucWaitResult(
            ready,
            node.id,
            last,
            time.monotonic() - started,
            error=error,
            lines_seen=seen,
            ignored=ignored,
            **kw,  # type: ignore[arg-type]
        )

    async def one_look(deep: bool = False) -> list[str] | None:
        nonlocal last, error
        try:
            status, lines = await look(pool, plan, anchor=anchor, clock=clock, deep=deep)
        except RemoteError as exc:
            error = exc.message
            return None
        last = status.xuc
        if last is not None and on_look is not None:
            on_look(last)
        return lines

    follow: _Follow | None = None
    try:
        async with asyncio.timeout(timeout):
            lines = await one_look()
            if last is not None and last.start_out_of_view:
                lines = await one_look(deep=True) or lines
            if last is not None and last.ready and _after(last, not_before):
                if on_line is not None and last.line is not None:
                    on_line(last.line)
                return result(True)
            if lines is not None and on_line is not None:
                for shown in lines[-CONTEXT_LINES:]:
                    on_line(shown)
            while True:
                if follow is None or follow.done:
                    if follow is not None:
                        error = follow.error or error
                        seen += follow.matcher.seen
                        await follow.stop()
                    # Anchored at the end of the last look: what follows it is new.
                    follow = _Follow(
                        pool, plan, lines or [], pattern, not_before, on_line, backoff, clock
                    )
                    follow.start()
                matched = await follow.wait(recheck)
                ignored = max(ignored, follow.matcher.ignored)
                if not matched and follow.done:
                    await asyncio.sleep(min(recheck, 1.0))  # it ended: no tight reconnect loop
                if matched:
                    m = follow.matcher
                    since = m.matched_at if m.matched_at is not None else clock()
                    base = last or XucReadiness(XucState.READY, None, "")
                    last = XucReadiness(
                        XucState.READY,
                        since,
                        "readiness line logged while following"
                        + ("" if m.matched_at is not None else " (seen at that time)"),
                        run=base.run,
                        line=m.matched,
                        probe=base.probe,
                        grace=base.grace,
                        judged_at=clock(),
                    )
                    seen += m.seen
                    return result(True, live=True)
                fresh = await one_look()
                lines = fresh if fresh is not None else lines
                if last is not None and last.ready and _after(last, not_before):
                    seen += follow.matcher.seen
                    return result(True)
    except TimeoutError:
        if follow is not None:
            seen += follow.matcher.seen
        return result(False, timed_out=True)
    finally:
        if follow is not None:
            await follow.stop()


def _after(readiness: XucReadiness, not_before: float | None) -> bool:
    return not_before is None or readiness.since is None or readiness.since >= not_before


class _Follow:
    """The live log on a task of its own: feeds the matcher, sets `found` on a match."""

    def __init__(
        self,
        pool: Pool,
        plan: XucWaitPlan,
        known: list[str],
        pattern: re.Pattern[str],
        not_before: float | None,
        on_line: LineSink | None,
        backoff: Backoff | None,
        clock: Callable[[], float],
    ) -> None:
        self.matcher = FollowMatcher(
            pattern,
            anchor=anchor_of(known, clock(), None, "the end of the last look"),
            started_at=None,
            not_before=not_before,
            replay=XUC_LOG_LINES,
        )
        self.follower = LogFollower(
            pool, plan.node, find_stream(plan.node, "xuc"), command=plan.follow, backoff=backoff
        )
        self.on_line = on_line
        self.found = asyncio.Event()
        self.error: str | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"xuc follow {self.follower.node.id}")

    @property
    def done(self) -> bool:
        return self._task is None or self._task.done()

    async def wait(self, seconds: float) -> bool:
        """True once a readiness line counted; False after `seconds` or when it ended."""
        assert self._task is not None
        waiter = asyncio.ensure_future(self.found.wait())
        try:
            await asyncio.wait({waiter, self._task}, timeout=seconds, return_when="FIRST_COMPLETED")
        finally:
            waiter.cancel()
        return self.found.is_set()

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.follower.stop()

    async def _run(self) -> None:
        async with self.follower, contextlib.aclosing(aiter(self.follower)) as events:
            async for event in events:
                if isinstance(event, LogLines):
                    for line in event.lines:
                        fresh = self.matcher.past_anchor
                        if self.matcher.feed(line):
                            if self.on_line is not None:
                                self.on_line(line)
                            self.found.set()
                            return
                        if fresh and self.on_line is not None:
                            self.on_line(line)
                elif isinstance(event, LogState) and event.state in (
                    FollowState.ENDED,
                    FollowState.FAILED,
                ):
                    self.error = event.message
                    return
