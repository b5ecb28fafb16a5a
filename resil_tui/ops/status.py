"""Collect the status of every node, in parallel, and judge each site.

Each node is polled on its own task with its own deadline, so a slow or dead node never
delays the others; results are reported per node as they arrive (`on_node`), which is
what lets the Status pane fill in row by row.

One remote execution per node and poll: what each kind of node is asked, and how each
answer becomes its status, is ops/node_reads.py (a CC node's reads, ops/cc_status.py).
The reads of a node go out together as one read-only catalog command, the output is
split back per part (`core.batch`), and each part's output is handed to its parser. A
part that did not arrive whole is reported in the snapshot's `errors` and its fields stay
unknown; the other parts are read as usual. `raw` keeps each part's output under its own
command line, for the Status detail.

An SSH server that does not hand the line to a shell (a ForceCommand that splits it into
words, say) prints none of the markers: the node's errors say so once, and the node is
then read part by part (one execution per read), the batch tried again every
BATCH_RETRY_POLLS polls.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from resil_tui.core.freshness import stale_after
from resil_tui.core.node_status import (
    CcStatus,
    NodeSnapshot,
    Reachability,
    ReachState,
    SiteSnapshot,
)
from resil_tui.core.records import record
from resil_tui.inventory_model import Inventory, Node, NodeKind, Site
from resil_tui.lazy import lazy_module
from resil_tui.listeners import Listeners
from resil_tui.ops.last_parse import LastParse
from resil_tui.ops.status_events import CollectorEvent, Listener, NodePolled, SiteJudged, SiteReport
from resil_tui.remote.errors import ErrorKind, RemoteError
from resil_tui.remote.pool import STICKY_KINDS, LinkState, Pool, Result

if TYPE_CHECKING:
    from resil_tui.core import batch, cluster, telephony
    from resil_tui.core.batch import PartOutput
    from resil_tui.core.telephony import PhoneHistory
    from resil_tui.core.xuc_readiness import XucReadiness, XucRun
    from resil_tui.ops import cc_status as cc
    from resil_tui.ops import node_reads
    from resil_tui.ops.node_reads import KindReads, Read
    from resil_tui.remote import commands as cat
    from resil_tui.remote.commands import Command
else:
    # The reads and their parsers load at the first poll: the console's first screen
    # builds a collector and is painted before anything is polled.
    cc = lazy_module("resil_tui.ops.cc_status")
    node_reads = lazy_module("resil_tui.ops.node_reads")
    telephony = lazy_module("resil_tui.core.telephony")
    # The verdicts' rules: at the first site judged.
    cluster = lazy_module("resil_tui.core.cluster")
    # The command catalog and the batch's framing too: a collector is built (and the
    # first screen painted) before it sends anything.
    cat = lazy_module("resil_tui.remote.commands")
    batch = lazy_module("resil_tui.core.batch")

log = logging.getLogger(__name__)

_REACH_OF_ERROR = {
    ErrorKind.REFUSED: ReachState.REFUSED,
    ErrorKind.TIMEOUT: ReachState.TIMEOUT,
    ErrorKind.AUTH: ReachState.AUTH,
    ErrorKind.HOST_KEY_UNKNOWN: ReachState.HOST_KEY_UNKNOWN,
    ErrorKind.HOST_KEY_CHANGED: ReachState.HOST_KEY_CHANGED,
    ErrorKind.DROPPED: ReachState.DROPPED,
    ErrorKind.DNS: ReachState.ERROR,
}


@dataclass
class StatusCollector:
    """Polls nodes through the pool and keeps what the last polls said (for 'since when').

    The only source of node facts: the Status pane's polls, the wizard's checks and the
    re-polls after an action all go through here, and every listener (the console's site
    state) hears each result, so every pane follows whichever poll saw it first."""

    inventory: Inventory
    pool: Pool
    stale_after_seconds: float = field(default_factory=stale_after)
    clock: Callable[[], float] = time.time
    _last: dict[str, NodeSnapshot] = field(default_factory=dict)
    _inflight: dict[str, asyncio.Task[NodeSnapshot]] = field(default_factory=dict)
    # Nodes whose SSH server did not run a batch as a shell: polls left part by part.
    _part_by_part: dict[str, int] = field(default_factory=dict)
    _not_a_shell: set[str] = field(default_factory=set)  # ...and were told so
    _command_cache: dict[str, tuple[Node, list[Command]]] = field(default_factory=dict)
    _parse_cache: dict[tuple[str, str], _Parsed] = field(default_factory=dict)
    _cc_parses: dict[str, LastParse] = field(default_factory=dict)  # per CC node
    _listeners: Listeners[CollectorEvent] = field(default_factory=lambda: Listeners("status"))
    # xuc's log read deep: per CC node, the run and the tries made for it.
    _deep_runs: dict[str, tuple[XucRun | None, int]] = field(default_factory=dict)
    _deep_pending: dict[str, _DeepRead] = field(default_factory=dict)
    _window_pending: dict[str, _DeepRead] = field(default_factory=dict)
    _phones: dict[str, PhoneHistory] = field(default_factory=dict)  # per site, for findings
    # Before its first judgement of a site: what another process saw (the journal).
    phone_seed: Callable[[str], PhoneHistory | None] | None = None

    def last(self, node_id: str) -> NodeSnapshot | None:
        return self._last.get(node_id)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Hear every node result and site judgement; returns the unsubscribe call."""
        return self._listeners.subscribe(listener)

    def _emit(self, event: CollectorEvent) -> None:
        self._listeners.tell(event)  # a UI bug must not stop a poll

    async def poll(
        self,
        sites: Iterable[Site] | None = None,
        on_node: Callable[[NodeSnapshot], None] | None = None,
    ) -> list[SiteReport]:
        chosen = list(sites) if sites is not None else list(self.inventory.sites.values())
        return list(await asyncio.gather(*(self.poll_site(s, on_node) for s in chosen)))

    async def poll_site(
        self,
        site: Site,
        on_node: Callable[[NodeSnapshot], None] | None = None,
        *,
        patience: float | None = None,
    ) -> SiteReport:
        """Poll every node of the site and judge it.

        A node is polled again only once its previous poll has finished: a node still
        answering is not asked twice. With `patience`, the report is made after that many
        seconds with the last known data of the nodes still answering (listed in
        `waiting`, reported later through `on_node`); without it, it waits for all.
        """
        tasks: dict[str, asyncio.Task[NodeSnapshot]] = {}
        for node in site.nodes():
            task = self._inflight.get(node.id)
            if task is None or task.done():
                task = asyncio.ensure_future(self._poll_reporting(node, on_node))
                self._inflight[node.id] = task
            tasks[node.id] = task
        if patience is None:
            await asyncio.gather(*tasks.values())
        else:
            await asyncio.wait(tasks.values(), timeout=patience)
        nodes: dict[str, NodeSnapshot] = {}
        waiting: list[str] = []
        for node in site.nodes():
            task = tasks[node.id]
            if task.done():
                nodes[node.id] = task.result()
            else:
                waiting.append(node.id)
                nodes[node.id] = self._last.get(node.id) or _empty(node)
        report = replace(self.judge(site, nodes), waiting=tuple(waiting))
        self._emit(SiteJudged(report))
        return report

    async def poll_nodes(self, site: Site, node_ids: Iterable[str]) -> SiteReport:
        """Poll only these nodes of the site (after an action touched them) and judge the
        site again with the others' last data."""
        wanted = set(node_ids)
        chosen = [n for n in site.nodes() if n.id in wanted]
        await asyncio.gather(*(self._poll_reporting(n, None) for n in chosen))
        nodes = {n.id: self._last.get(n.id) or _empty(n) for n in site.nodes()}
        report = self.judge(site, nodes)
        self._emit(SiteJudged(report))
        return report

    async def _poll_reporting(
        self, node: Node, on_node: Callable[[NodeSnapshot], None] | None
    ) -> NodeSnapshot:
        snap = await self.poll_node(node)
        if on_node is not None:
            on_node(snap)
        return snap

    def cancel(self) -> None:
        """Stop every poll still running (leaving a screen, closing the app)."""
        for task in self._inflight.values():
            task.cancel()
        self._inflight.clear()

    def judge(
        self, site: Site, nodes: dict[str, NodeSnapshot], *, preview: bool = False
    ) -> SiteReport:
        """The site's verdicts from these snapshots. A judged poll moves the site's phone
        history on (since when split, the count before a move); a `preview` (the banner
        while a poll runs, half of it new) reads it and leaves it as it was."""
        now = self.clock()
        snapshot = SiteSnapshot(site=site.name, nodes=nodes, polled_at=now)
        placement = cluster.phone_placement(
            nodes.get(site.xivo_master.id),
            nodes.get(site.xivo_slave.id),
            now,
            self.stale_after_seconds,
        )
        previous = self._phones.get(site.name)
        if previous is None and self.phone_seed is not None and not preview:
            previous = self.phone_seed(site.name)
        phones = telephony.track(previous, placement, now)
        if not preview:
            self._phones[site.name] = phones
        topology = cluster.Topology.from_site(site)
        verdicts = cluster.evaluate(snapshot, topology, now, self.stale_after_seconds, phones)
        return SiteReport(site=site.name, snapshot=snapshot, verdicts=verdicts)

    def phone_history(self, site: str) -> PhoneHistory | None:
        """What the judged polls so far saw of the site's phones (since when split, the
        count before the last move)."""
        return self._phones.get(site)

    async def poll_node(self, node: Node) -> NodeSnapshot:
        await self.pool.warm_up()  # not within the node's deadline
        deadline = node.ssh.connect_timeout + node.ssh.command_timeout
        previous = self._last.get(node.id)
        link = self.pool.state(node.id)
        if link.state is LinkState.DOWN and link.error_kind not in STICKY_KINDS:
            # Polls are already spaced by their interval: the pool's reconnect back-off
            # (up to 30 s) would otherwise outlast the poll deadline, so a node that is
            # back stays "down", and a refused one is reported as a timeout.
            self.pool.reset(node)
        try:
            # A deadline on this task itself, not a task of its own per node (wait_for).
            async with asyncio.timeout(deadline):
                snap = await self._collect(node)
            snap = await self._read_window(node, snap)
            snap = await self._read_deep(node, snap)
        except RemoteError as exc:
            snap = self._unreachable(
                node, _REACH_OF_ERROR.get(exc.kind, ReachState.ERROR), exc.message, previous, exc
            )
        except TimeoutError:
            snap = self._unreachable(
                node, ReachState.TIMEOUT, f"no complete answer within {deadline:g}s", previous
            )
        self._last[node.id] = snap
        self._emit(NodePolled(node.site, snap))
        return snap

    def _unreachable(
        self,
        node: Node,
        state: ReachState,
        message: str,
        previous: NodeSnapshot | None,
        error: RemoteError | None = None,
    ) -> NodeSnapshot:
        now = self.clock()
        since = now
        if previous is not None and previous.reachability.state is state:
            since = previous.reachability.since or now
        # Keep the last good data (marked by last_success_at) so the pane can show it as stale.
        base = previous if previous is not None else _empty(node)
        return replace(
            base,
            reachability=Reachability(
                state=state,
                message=message,
                since=since,
                known_hosts=error.known_hosts if error is not None else None,
                line=error.line if error is not None else None,
                hop=error.hop if error is not None else None,
            ),
            polled_at=now,
            latency_seconds=None,
            errors=[message],
        )

    async def _collect(self, node: Node) -> NodeSnapshot:
        if node.kind is NodeKind.CC:
            return await self._collect_cc(node)
        kind: KindReads[Any] = node_reads.KINDS[node.kind]
        commands = self._commands(node, kind)
        got = await self._read(node, commands)
        site = self.inventory.site(node.site)
        errors = list(got.errors)
        raw = dict(got.raw)
        fields: dict[str, Any] = {}
        for read, command, out in zip(kind.reads, commands, got.outputs, strict=True):
            raw[command.line] = _shown(out)
            if out.problem is not None:
                # Nothing is parsed from a part that did not arrive whole: its fields stay
                # unknown, and the other parts are read as usual.
                errors.append(f"{command.line}: {out.problem}")
                continue
            parsed = self._parse(node, site, kind, read, out)
            fields.update(parsed.fields)
            errors += parsed.errors
        return self._answered(
            node, got.latency, raw, errors, {kind.slot: replace(kind.start(node), **fields)}
        )

    async def _collect_cc(self, node: Node) -> NodeSnapshot:
        """A CC node's reads depend on the last poll (`--since` its xuc run's start, the
        container names it saw) and are judged together (ops/cc_status.py); they still go
        out as one execution. A `--since` the wrapper refuses (docker-compose 1.x) is read
        again at once without it, and not passed again."""
        previous = self._last.get(node.id)
        last_cc = previous.cc if previous is not None else None
        memo = self._cc_parses.setdefault(node.id, LastParse())
        parts = cc.cc_parts(node, last_cc, memo=memo)
        got = await self._read(node, [p.command for p in parts])
        errors = list(got.errors)
        raw = dict(got.raw)
        outputs: dict[str, PartOutput] = {}
        for part, out in zip(parts, got.outputs, strict=True):
            raw[part.command.line] = _shown(out)
            if out.problem is not None:
                errors.append(f"{part.command.line}: {out.problem}")
                continue
            outputs[part.name] = out
        logs = next(p.command for p in parts if p.name == cc.LOGS)
        since_used = "--since" in logs.argv
        if since_used and cc.LOGS in outputs and cc.since_refused(outputs[cc.LOGS]):
            logs = cc.plain_logs_command()
            outputs[cc.LOGS] = await self._read_again(node, logs, raw)
            status = replace(
                cc.cc_status(node, outputs, self.clock(), last_cc, memo=memo),
                logs_since_ok=False,
            )
        else:
            tail = cc.window_lines(last_cc)
            status = cc.cc_status(
                node, outputs, self.clock(), last_cc, since_used=since_used, tail=tail, memo=memo
            )
            if tail != cc.XUC_LOG_LINES and status.window_decided:
                # The short read of a run seen ready found another one: judged again from
                # the usual window once the poll has its answer (poll_node), outside its
                # deadline: a slow node's second read must not turn this answer into a
                # timeout. The short read's verdict is never what the poll says.
                self._window_pending[node.id] = _DeepRead(outputs, last_cc, status.logs_since_ok)
                return self._answered(node, got.latency, raw, errors, {"cc": status})
        self._deep_if_out_of_view(node, status, outputs, last_cc)
        if logs.line in raw:
            raw[logs.line] = memo.get(RAW_LOGS, cc.trim_log_raw, raw[logs.line])
        return self._answered(node, got.latency, raw, errors, {"cc": status})

    async def _read_again(self, node: Node, logs: Command, raw: dict[str, str]) -> PartOutput:
        """One more read of the xuc log in the same poll, shown under its own line."""
        out = cc.part_of(await self._run(node, logs))
        raw[logs.line] = _shown(out)
        return out

    def _deep_if_out_of_view(
        self,
        node: Node,
        status: CcStatus,
        outputs: dict[str, PartOutput],
        last_cc: CcStatus | None,
    ) -> None:
        xuc = status.xuc
        if xuc is not None and xuc.start_out_of_view and self._wants_deep(node.id, xuc):
            # Read after the poll, outside its deadline (poll_node): 20,000 lines may take
            # longer than the batch, and must not turn a good answer into a timeout.
            self._deep_pending[node.id] = _DeepRead(outputs, last_cc, status.logs_since_ok)

    async def _read_window(self, node: Node, snap: NodeSnapshot) -> NodeSnapshot:
        """The usual window of the xuc log, for a poll whose short read found another run
        (_collect_cc), with a deadline of its own. When it fails, the verdict is judged as
        with a log that could not be read, not from the 20 lines: those may hold the old
        run's readiness line without the anchor that places it (its first lines cut off),
        and read alone would count it for the new run. The reason goes to the errors, and
        the next poll, after a run not seen ready, reads the usual window in its batch."""
        wanted = self._window_pending.pop(node.id, None)
        if wanted is None:
            return snap
        logs = cc.window_command(wanted.last_cc)
        try:
            result = await asyncio.wait_for(
                self._run(node, logs), node.ssh.connect_timeout + node.ssh.command_timeout
            )
        except (RemoteError, TimeoutError) as exc:
            why = exc.message if isinstance(exc, RemoteError) else "no complete answer in time"
            unread = {**wanted.outputs, cc.LOGS: batch.PartOutput("", why, 1)}
            status = replace(
                cc.cc_status(node, unread, self.clock(), wanted.last_cc),
                # The short read's end is the log's end all the same (the next run's
                # anchor, when this verdict is one that offers it).
                log_tail=snap.cc.log_tail if snap.cc is not None else None,
                logs_since_ok=wanted.logs_since_ok,
            )
            return replace(snap, cc=status, errors=[*snap.errors, f"{logs.line}: {why}"])
        outputs = {**wanted.outputs, cc.LOGS: cc.part_of(result)}
        memo = self._cc_parses.setdefault(node.id, LastParse())
        status = cc.cc_status(
            node,
            outputs,
            self.clock(),
            wanted.last_cc,
            since_used="--since" in logs.argv,
            memo=memo,
        )
        self._deep_if_out_of_view(node, status, outputs, wanted.last_cc)
        raw = {**snap.raw, logs.line: memo.get(RAW_LOGS, cc.trim_log_raw, _shown(outputs[cc.LOGS]))}
        return replace(snap, cc=status, raw=raw)

    def _wants_deep(self, node_id: str, xuc: XucReadiness) -> bool:
        """A busy xuc up for long: its start-up is older than the poll's window. It is read
        deeper once per run (the line found then keeps it ready), up to DEEP_READ_TRIES
        times when the read fails, and never for a run whose start is unknown (no depth
        reaches a start nobody knows)."""
        run = xuc.run
        if run is None or run.started_at is None:
            return False
        done = self._deep_runs.get(node_id)
        if done is not None and run.same_run(done[0]):
            return done[1] < DEEP_READ_TRIES
        self._deep_runs[node_id] = (run, 0)
        return True

    async def _read_deep(self, node: Node, snap: NodeSnapshot) -> NodeSnapshot:
        """The deeper read a poll asked for, with its own deadline; a failure leaves the
        poll's answer as it was, with the reason in its errors."""
        wanted = self._deep_pending.pop(node.id, None)
        if wanted is None or snap.cc is None or snap.cc.xuc is None:
            return snap
        run, tries = self._deep_runs.get(node.id, (snap.cc.xuc.run, 0))
        deep = cc.deep_logs_command()
        try:
            result = await asyncio.wait_for(
                self._run(node, deep), node.ssh.connect_timeout + node.ssh.command_timeout
            )
        except (RemoteError, TimeoutError) as exc:
            self._deep_runs[node.id] = (run, tries + 1)
            why = exc.message if isinstance(exc, RemoteError) else "no complete answer in time"
            return replace(snap, errors=[*snap.errors, f"{deep.line}: {why}"])
        self._deep_runs[node.id] = (run, DEEP_READ_TRIES)  # done for this run
        outputs = {**wanted.outputs, cc.LOGS: cc.part_of(result)}
        status = replace(
            cc.cc_status(node, outputs, self.clock(), wanted.last_cc, tail=cc.DEEP_LOG_LINES),
            logs_since_ok=wanted.logs_since_ok,
        )
        raw = {**snap.raw, deep.line: cc.trim_log_raw(_shown(cc.part_of(result)))}
        return replace(snap, cc=status, raw=raw)

    def _answered(
        self,
        node: Node,
        latency: float | None,
        raw: dict[str, str],
        errors: list[str],
        status: dict[str, Any],
    ) -> NodeSnapshot:
        now = self.clock()
        previous = self._last.get(node.id)
        since = now
        if previous is not None and previous.reachability.ok:
            since = previous.reachability.since or now
        return NodeSnapshot(
            node_id=node.id,
            kind=node.kind.value,
            side=node.side.value if node.side else None,
            reachability=Reachability(state=ReachState.OK, since=since),
            latency_seconds=latency,
            polled_at=now,
            last_success_at=now,
            raw=raw,
            errors=errors,
            **status,
        )

    def _commands(self, node: Node, kind: KindReads[Any]) -> list[Command]:
        """The node's read commands: built (and validated) once per node, not per poll."""
        cached = self._command_cache.get(node.id)
        if cached is None or cached[0] is not node:
            site = self.inventory.sites.get(node.site)
            cached = (node, [read.build(node, site) for read in kind.reads])
            self._command_cache[node.id] = cached
        return cached[1]

    def _parse(
        self, node: Node, site: Site, kind: KindReads[Any], read: Read[Any], out: PartOutput
    ) -> _Parsed:
        """What a read's output says, parsed again only when the output changed.

        Parsers are pure functions of the output, the node and the site: an output equal
        to the last poll's (most of them, from one refresh to the next) needs no parsing.
        """
        key = (node.id, read.name)
        last = self._parse_cache.get(key)
        if last is not None and last.node is node and last.site is site and last.out == out:
            return last
        errors: list[str] = []
        blank = kind.blank
        after = read.parse(node_reads.PartResult(node, site, out, errors), blank)
        changed = {
            f.name: getattr(after, f.name)
            for f in dataclasses.fields(after)
            if getattr(after, f.name) is not getattr(blank, f.name)
        }
        parsed = _Parsed(node, site, out, changed, errors)
        self._parse_cache[key] = parsed
        return parsed

    async def _read(self, node: Node, commands: list[Command]) -> _Reads:
        """Every read of one poll, in one remote execution when the node allows it."""
        if len(commands) == 1:
            result = await self._run(node, commands[0])
            return _Reads([cc.part_of(result)], result.latency)
        left = self._part_by_part.get(node.id, 0)
        if left > 0:
            self._part_by_part[node.id] = left - 1
            return await self._one_by_one(node, commands)
        joined = cat.batch(commands)
        result = await self._run(node, joined.command)
        split = batch.split_batch(result.stdout, result.stderr, joined.nonce, len(commands))
        if split.usable and any(p.complete for p in split.parts):
            self._not_a_shell.discard(node.id)  # a shell again: say so if it changes back
            return _Reads(list(split.parts), result.latency)
        # No marker, a `$?` that failed the probe, or not one part whole: this SSH server
        # did not run the line through a shell (e.g. a ForceCommand that splits it into
        # words). Say so once per node, then read part by part for a while before trying
        # the batch again (quietly: the node was already said to be read part by part).
        self._part_by_part[node.id] = BATCH_RETRY_POLLS
        fallback = await self._one_by_one(node, commands)
        first = node.id not in self._not_a_shell
        self._not_a_shell.add(node.id)
        return _Reads(
            fallback.outputs,
            fallback.latency,
            errors=[NOT_A_SHELL] if first else [],
            raw={joined.command.line: _shown(cc.part_of(result))},
        )

    async def _one_by_one(self, node: Node, commands: list[Command]) -> _Reads:
        results = await asyncio.gather(*(self._run(node, c) for c in commands))
        # The quickest command of the poll is the closest to the round-trip time.
        return _Reads([cc.part_of(r) for r in results], min(r.latency for r in results))

    async def _run(self, node: Node, command: Command) -> Result:
        result = await self.pool.run(node, command)
        if result.incomplete:
            # Half an answer is no answer: report the node as unreachable for this poll.
            error = result.error
            assert error is not None
            raise error
        return result


def _empty(node: Node) -> NodeSnapshot:
    return NodeSnapshot(
        node_id=node.id, kind=node.kind.value, side=node.side.value if node.side else None
    )


# --- what is read on each kind of node ---------------------------------------------------

NOT_A_SHELL = "this node did not run the batched read as a shell would; polled part by part"
# Deeper reads of one xuc run's log when one fails (slow, dropped) before it is left be.
DEEP_READ_TRIES = 3


@record
class _DeepRead:
    """What a CC poll read, kept for a read of the xuc log that follows it (the usual
    window after a short read, a deeper one)."""

    outputs: dict[str, PartOutput]
    last_cc: CcStatus | None
    logs_since_ok: bool | None


# The name the logs part's trimmed detail is kept under in a CC node's LastParse.
RAW_LOGS = "raw logs"

# Polls read part by part, after a node did not run a batch, before the batch is tried again.
BATCH_RETRY_POLLS = 20


@record
class _Parsed:
    """A read's output and what its parser made of it: an unchanged output is not parsed again."""

    node: Node
    site: Site
    out: PartOutput
    fields: dict[str, Any]  # the status fields this output filled in
    errors: list[str]  # what the parser could not read in it


@dataclass
class _Reads:
    """The outputs of one node's reads in one poll, whether batched or run one by one."""

    outputs: list[PartOutput]  # one per command, in order
    latency: float | None
    errors: list[str] = field(default_factory=list)
    raw: dict[str, str] = field(default_factory=dict)


def _shown(out: PartOutput) -> str:
    """A part's output for the detail view: stdout, then stderr, then how it ended."""
    shown = out.stdout
    if out.stderr.strip():
        shown += ("\n" if shown and not shown.endswith("\n") else "") + out.stderr
    return f"{shown}[{out.ended}{': ' + out.problem if out.problem else ''}]"


def overall_exit_code(reports: Iterable[SiteReport]) -> int:
    return cluster.exit_code(cluster.worst([r.severity for r in reports]))
