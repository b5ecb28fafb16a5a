"""Collect the status of every node, in parallel, and judge each site.

Each node is polled on its own task with its own deadline, so a slow or dead node never
delays the others; results are reported per node as they arrive (`on_node`), which is
what lets the Status pane fill in row by row.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from resil_tui.core.cluster import Severity, SiteVerdicts, Topology, evaluate, exit_code, worst
from resil_tui.core.compose import parse_compose_ps
from resil_tui.core.edge_side import PairAddresses, edge_targets
from resil_tui.core.freshness import stale_after
from resil_tui.core.ha import HaCron, parse_cron_file, parse_ha_conf
from resil_tui.core.ha_webui import parse_sip_expiry, read_provd_file
from resil_tui.core.multifile import split_multi_tail
from resil_tui.core.node_status import (
    CcStatus,
    EdgeStatus,
    MdsStatus,
    NodeSnapshot,
    Reachability,
    ReachState,
    SiteSnapshot,
    XivoStatus,
)
from resil_tui.core.services import parse_xivo_service_status
from resil_tui.core.sync_log import last_sync_result
from resil_tui.inventory_model import Inventory, Node, NodeKind, Site
from resil_tui.ops import replication_record
from resil_tui.remote import commands as cat
from resil_tui.remote.commands import Command
from resil_tui.remote.errors import ErrorKind, RemoteError
from resil_tui.remote.pool import STICKY_KINDS, LinkState, Pool, Result

log = logging.getLogger(__name__)

# How many sync log lines tell the last run's outcome (a run logs a handful of lines).
SYNC_LOG_LINES = 60

_REACH_OF_ERROR = {
    ErrorKind.REFUSED: ReachState.REFUSED,
    ErrorKind.TIMEOUT: ReachState.TIMEOUT,
    ErrorKind.AUTH: ReachState.AUTH,
    ErrorKind.HOST_KEY_UNKNOWN: ReachState.HOST_KEY_UNKNOWN,
    ErrorKind.HOST_KEY_CHANGED: ReachState.HOST_KEY_CHANGED,
    ErrorKind.DROPPED: ReachState.DROPPED,
    ErrorKind.DNS: ReachState.ERROR,
}


@dataclass(frozen=True)
class SiteReport:
    site: str
    snapshot: SiteSnapshot
    verdicts: SiteVerdicts
    waiting: tuple[str, ...] = ()  # nodes still answering a previous poll (last data shown)

    @property
    def severity(self) -> Severity:
        return self.verdicts.severity

    def to_dict(self, include_raw: bool = False) -> dict[str, Any]:
        return {
            "site": self.site,
            "verdicts": self.verdicts.to_dict(),
            "nodes": self.snapshot.to_dict(include_raw)["nodes"],
        }


@dataclass(frozen=True)
class NodePolled:
    """One node answered (or failed) a poll, whoever asked for it."""

    site: str
    snapshot: NodeSnapshot


@dataclass(frozen=True)
class SiteJudged:
    """A site was judged from its nodes' latest snapshots."""

    report: SiteReport


CollectorEvent = NodePolled | SiteJudged
Listener = Callable[[CollectorEvent], None]


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
    _listeners: list[Listener] = field(default_factory=list)

    def last(self, node_id: str) -> NodeSnapshot | None:
        return self._last.get(node_id)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Hear every node result and site judgement; returns the unsubscribe call."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def _emit(self, event: CollectorEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a UI bug must not stop a poll
                log.exception("status listener failed")

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

    def judge(self, site: Site, nodes: dict[str, NodeSnapshot]) -> SiteReport:
        now = self.clock()
        snapshot = SiteSnapshot(site=site.name, nodes=nodes, polled_at=now)
        verdicts = evaluate(snapshot, Topology.from_site(site), now, self.stale_after_seconds)
        return SiteReport(site=site.name, snapshot=snapshot, verdicts=verdicts)

    async def poll_node(self, node: Node) -> NodeSnapshot:
        deadline = node.ssh.connect_timeout + node.ssh.command_timeout
        previous = self._last.get(node.id)
        link = self.pool.state(node.id)
        if link.state is LinkState.DOWN and link.error_kind not in STICKY_KINDS:
            # Polls are already spaced by their interval: the pool's reconnect back-off
            # (up to 30 s) would otherwise outlast the poll deadline, so a node that is
            # back stays "down", and a refused one is reported as a timeout.
            self.pool.reset(node)
        try:
            snap = await asyncio.wait_for(self._collect(node), timeout=deadline)
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
        runner = _Runner(self.pool, node)
        if node.kind is NodeKind.XIVO:
            xivo = await _collect_xivo(runner, node)
            parts: dict[str, Any] = {"xivo": xivo}
        elif node.kind is NodeKind.CC:
            ps = await runner.run(cat.xivocc_ps())
            parts = {"cc": CcStatus(containers=parse_compose_ps(ps.stdout) if ps.ok else None)}
        elif node.kind is NodeKind.EDGE:
            parts = {"edge": await _collect_edge(runner, node, self.inventory.site(node.site))}
        else:
            status = await runner.run(cat.xivo_service_status(all=True))
            services = parse_xivo_service_status(status.stdout, status.exit_status)
            parts = {"mds": MdsStatus(services=services)}
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
            latency_seconds=runner.latency,
            polled_at=now,
            last_success_at=now,
            raw=runner.raw,
            errors=runner.errors,
            **parts,
        )


def _empty(node: Node) -> NodeSnapshot:
    return NodeSnapshot(
        node_id=node.id, kind=node.kind.value, side=node.side.value if node.side else None
    )


class _Runner:
    """Runs read-only catalog entries for one poll and keeps their raw output."""

    def __init__(self, pool: Pool, node: Node) -> None:
        self.pool = pool
        self.node = node
        self.raw: dict[str, str] = {}
        self.errors: list[str] = []
        self.latency: float | None = None

    async def run(self, command: Command) -> Result:
        result = await self.pool.run(self.node, command)
        if result.lost or result.timed_out:
            # Half an answer is no answer: report the node as unreachable for this poll.
            error = result.error
            assert error is not None
            raise error
        shown = result.stdout
        if result.stderr.strip():
            shown += ("\n" if shown and not shown.endswith("\n") else "") + result.stderr
        self.raw[command.line] = f"{shown}[exit {result.exit_status}]"
        # The quickest command of the poll is the closest to the round-trip time.
        if self.latency is None or result.duration < self.latency:
            self.latency = result.duration
        return result

    async def read(self, path: str) -> str | None:
        """File content, or None when it does not exist (another failure is an error)."""
        result = await self.run(cat.cat(path))
        if result.ok:
            return result.stdout
        if "No such file" not in result.stderr:
            self.errors.append(f"cat {path}: {result.stderr.strip() or result.summary()}")
        return None

    async def exists(self, path: str) -> bool | None:
        result = await self.run(cat.test_exists(path))
        if result.exit_status in (0, 1):
            return result.exit_status == 0
        self.errors.append(f"test -e {path}: {result.summary()}")
        return None


async def _collect_xivo(runner: _Runner, node: Node) -> XivoStatus:
    p = node.paths
    # The small files and the sync log's tail in one command: one channel (and one fork on
    # the node) instead of five. The sync key is only tested, never read: it is a secret.
    files = [p.ha_conf, p.cron_master, p.cron_slave, p.disabled_flag, p.sync_log, p.provd_default]
    read, status, key, sip = await asyncio.gather(
        runner.run(cat.tail_files(files, SYNC_LOG_LINES)),
        runner.run(cat.xivo_service_status(all=True)),
        runner.exists(p.sync_key),
        runner.run(cat.sip_expiry_query()),
    )
    texts = split_multi_tail(read.stdout, read.stderr, files)
    for path, why in texts.problems.items():
        runner.errors.append(f"{path}: {why}")
    sync_text = texts.text(p.sync_log)
    provd, provd_error = read_provd_file(
        p.provd_default, texts.text(p.provd_default), texts.problems.get(p.provd_default)
    )
    return XivoStatus(
        ha=parse_ha_conf(texts.text(p.ha_conf)),
        services=parse_xivo_service_status(status.stdout, status.exit_status),
        disabled_flag=None
        if p.disabled_flag in texts.problems
        else texts.text(p.disabled_flag) is not None,
        cron=HaCron(
            master=parse_cron_file(texts.text(p.cron_master)),
            slave=parse_cron_file(texts.text(p.cron_slave)),
        ),
        sync=last_sync_result(sync_text) if sync_text is not None else None,
        sync_key_present=key,
        replication=replication_record.last(node.id),
        sip_expiry=parse_sip_expiry(sip.stdout) if sip.ok else None,
        sip_error=None if sip.ok else _first_line(f"psql: {sip.stderr or sip.stdout}", sip),
        provd_default=provd,
        provd_error=provd_error,
    )


def _first_line(text: str, result: Result) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else result.summary()


async def _collect_edge(runner: _Runner, node: Node, site: Site) -> EdgeStatus:
    env_text, ps = await asyncio.gather(runner.read(node.paths.edge_env), runner.run(cat.edge_ps()))
    containers = parse_compose_ps(ps.stdout) if ps.ok else None
    if env_text is None:
        runner.errors.append(f"{node.paths.edge_env}: not found")
        return EdgeStatus(containers=containers)
    targets = edge_targets(env_text, pair_addresses(site))
    values = {v.name: v.value for v in targets.variables if v.value is not None}
    return EdgeStatus(values=values, targets=targets, containers=containers, env_text=env_text)


def pair_addresses(site: Site) -> PairAddresses:
    return PairAddresses(
        site.xivo_master.ip,
        site.xivo_slave.ip,
        site.cc_master.ip if site.cc_master else None,
        site.cc_slave.ip if site.cc_slave else None,
    )


def overall_exit_code(reports: Iterable[SiteReport]) -> int:
    return exit_code(worst([r.severity for r in reports]))
