"""Turn a runbook :class:`Condition` into a real check, through the status collector.

Every condition is judged from the same snapshots the Status pane shows (one
``StatusCollector.poll_node`` per node concerned), so the wizard and the dashboard never
disagree about what "running telephony" means. ``XUC_READY`` is not here: its wait looks
and follows the log (``ops.xuc_wait.wait_for_xuc``) and the engine handles it; a recheck
on resume reads the readiness the status poll judged (``CcStatus.xuc``).
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field, replace

from resil_tui.core.cluster import Severity, Verdict
from resil_tui.core.compose import ComposePs, all_up
from resil_tui.core.freshness import clock
from resil_tui.core.node_status import NodeSnapshot
from resil_tui.core.roles import reword, role_words
from resil_tui.core.runbook import Condition, ConditionKind
from resil_tui.core.sanitize import clean
from resil_tui.core.services import DatabaseState, ServicesStatus
from resil_tui.core.telephony import CountState, PhoneMark
from resil_tui.inventory_model import Inventory, Site
from resil_tui.ops.status import StatusCollector
from resil_tui.ops.status_events import SiteReport


@dataclass(frozen=True)
class Probe:
    holds: bool
    detail: str  # one line: why it holds or not
    lines: tuple[str, ...] = ()  # what was seen, for the step's output
    report: SiteReport | None = field(default=None, compare=False)  # cluster verdict probes
    count: int | None = None  # phones / calls probes: what was counted
    # It cannot come to hold by waiting (e.g. nothing to compare with): a wait ends at once.
    hopeless: bool = False


def _reach(snap: NodeSnapshot) -> str:
    r = snap.reachability
    return f"{snap.node_id}: unreachable ({r.state.value}) {r.message}".rstrip()


def _services_line(snap: NodeSnapshot, services: ServicesStatus | None) -> str:
    if not snap.reachability.ok:
        return _reach(snap)
    if services is None or services.empty:
        return f"{snap.node_id}: reachable; xivo-service status listed nothing"
    states = ", ".join(f"{s.name} {s.state.value}" for s in services.services)
    return f"{snap.node_id}: database {services.database.value.upper()}; {states}"


def _xivo_services(snap: NodeSnapshot) -> ServicesStatus | None:
    return snap.xivo.services if snap.xivo is not None else None


def _service_problems(services: ServicesStatus) -> list[str]:
    """What keeps `xivo-service status all` from showing the node ready: its database
    not OK, then each failed service."""
    problems = [f"{name} failed" for name in services.failed]
    if services.database is not DatabaseState.OK:
        problems.insert(0, f"database {services.database_raw or services.database.value}")
    return problems


def _telephony(snap: NodeSnapshot) -> bool | None:
    services = _xivo_services(snap)
    return services.telephony_running if services is not None else None


def describe_containers(ps: ComposePs | None) -> str:
    if ps is None:
        return "edge-dcomp ps gave nothing usable"
    return (
        ", ".join(
            f"{c.service} {c.state.value}{f' ({c.health})' if c.health else ''}"
            for c in ps.containers
        )
        or "no containers listed"
    )


class ConditionProber:
    def __init__(self, collector: StatusCollector, inventory: Inventory, site: Site) -> None:
        self.collector = collector
        self.inventory = inventory
        self.site = site
        self.words = role_words(site.resilience)
        # The count the phones wait compares with (the wizard notes it when its run
        # starts, and keeps it in the run record).
        self.phones_before: PhoneMark | None = None

    async def snapshot(self, node_id: str) -> NodeSnapshot:
        # poll_node itself clears a transient reconnect back-off: a probe asks for now.
        return await self.collector.poll_node(self.inventory.node(node_id))

    async def site_report(self) -> SiteReport:
        return await self.collector.poll_site(self.site)

    async def probe(self, condition: Condition) -> Probe:
        found = await self._probe(condition)
        # Written with master/slave; a next-LTS site reads Main/Standby. Only the detail,
        # our sentence: the lines are what the nodes said.
        return replace(found, detail=reword(found.detail, self.words))

    async def _probe(self, condition: Condition) -> Probe:
        kind = condition.kind
        if kind is ConditionKind.NOT_SPLIT_BRAIN:
            return await self._split_brain(condition)
        if kind is ConditionKind.CLUSTER_VERDICT:
            return await self._verdict(condition)
        if condition.node_id is None:
            raise ValueError(f"condition {condition} names no node")
        snap = await self.snapshot(condition.node_id)
        if kind is ConditionKind.XIVO_REACHABLE:
            ok = snap.reachability.ok
            return Probe(
                ok,
                f"{snap.node_id} answers over SSH" if ok else _reach(snap),
                (_reach(snap) if not ok else f"{snap.node_id}: reachable",),
            )
        if kind is ConditionKind.MASTER_NOT_ACTIVE:
            line = _services_line(snap, _xivo_services(snap))
            if not snap.reachability.ok:
                return Probe(
                    True, f"the master does not answer ({snap.reachability.state.value})", (line,)
                )
            running = _telephony(snap)
            if running is False:
                return Probe(True, "the master answers but its telephony is stopped", (line,))
            why = (
                "the master still looks ACTIVE: it answers and runs telephony"
                if running
                else "the master answers and its telephony state is unknown"
            )
            return Probe(False, why, (line,))
        if kind in (ConditionKind.XIVO_TELEPHONY_RUNNING, ConditionKind.XIVO_TELEPHONY_STOPPED):
            want = kind is ConditionKind.XIVO_TELEPHONY_RUNNING
            services = _xivo_services(snap)
            line = _services_line(snap, services)
            if not snap.reachability.ok:
                return Probe(False, _reach(snap), (line,))
            running = _telephony(snap)
            word = {True: "running", False: "stopped", None: "unknown"}[running]
            said = f"{snap.node_id}: telephony {word}"
            if running is not want:
                return Probe(False, said, (line,))
            if want:
                # The seed: wait until `xivo-service status all` shows its services ready.
                problems = _service_problems(services) if services is not None else []
                if problems:
                    return Probe(False, f"{said}, but {'; '.join(problems)}", (line,))
                return Probe(True, f"{said}, database OK, no failed service", (line,))
            # Stopped on purpose (standby) leaves /var/lib/xivo/disabled; stopped without it
            # is a node whose telephony is down, not a standby.
            flag = snap.xivo.disabled_flag if snap.xivo is not None else None
            if flag is None:
                return Probe(False, f"{said}, /var/lib/xivo/disabled not read", (line,))
            if not flag:
                return Probe(
                    False, f"{said}, but no /var/lib/xivo/disabled: down, not on standby", (line,)
                )
            return Probe(True, f"{said}, on standby (/var/lib/xivo/disabled)", (line,))
        if kind is ConditionKind.XIVO_SERVICES_HEALTHY:
            services = _xivo_services(snap)
            line = _services_line(snap, services)
            if not snap.reachability.ok:
                return Probe(False, _reach(snap), (line,))
            if services is None or services.empty:
                return Probe(False, f"{snap.node_id}: no service status", (line,))
            problems = _service_problems(services)
            if problems:
                return Probe(False, f"{snap.node_id}: {'; '.join(problems)}", (line,))
            return Probe(True, f"{snap.node_id}: database OK, no failed service", (line,))
        if kind is ConditionKind.MDS_OK:
            services = snap.mds.services if snap.mds is not None else None
            line = _services_line(snap, services)
            if not snap.reachability.ok:
                return Probe(False, _reach(snap), (line,))
            if services is None or not services.all_running:
                down = ", ".join(services.not_running) if services else "no status"
                return Probe(False, f"{snap.node_id}: not all running ({down})", (line,))
            return Probe(True, f"{snap.node_id}: every service running", (line,))
        if kind is ConditionKind.EDGE_POINTS_TO:
            side = condition.params.get("side", "")
            if not snap.reachability.ok or snap.edge is None or snap.edge.targets is None:
                return Probe(
                    False,
                    _reach(snap)
                    if not snap.reachability.ok
                    else f"{snap.node_id}: the .env could not be read",
                    (),
                )
            targets = snap.edge.targets
            lines = tuple(
                f"{v.name}={v.value if v.value is not None else '(missing)'} -> {v.side.value}"
                for v in targets.variables
            )
            ok = targets.overall.value == side
            return Probe(
                ok,
                f"the Edge points to: {targets.overall.value}"
                + ("" if ok else f" (expected {side})"),
                lines,
            )
        if kind is ConditionKind.EDGE_CONTAINERS_UP:
            if not snap.reachability.ok or snap.edge is None:
                return Probe(False, _reach(snap), ())
            ps = snap.edge.containers
            text = describe_containers(ps)
            return Probe(all_up(ps), f"{snap.node_id}: {text}", (f"edge-dcomp ps: {text}",))
        if kind is ConditionKind.CALLS_BELOW:
            return self._calls(condition, snap)
        if kind is ConditionKind.PHONES_REGISTERED:
            return self._phones(condition, snap)
        raise ValueError(f"condition {kind.value} is not checked by a status poll")

    def _calls(self, condition: Condition, snap: NodeSnapshot) -> Probe:
        below = int(condition.params.get("below", "1"))
        node = snap.node_id
        if not snap.reachability.ok:
            if condition.params.get("unreachable") == "pass":
                return Probe(
                    True,
                    f"{node} does not answer ({snap.reachability.state.value}): its calls are "
                    "not counted (a XiVO that is down carries none)",
                    (_reach(snap),),
                )
            return Probe(False, f"calls on {node} not counted: {_reach(snap)}", (_reach(snap),))
        counts = snap.phone_counts()
        assert counts is not None
        text = clean(counts.calls_text(), one_line=True)
        line = f"{node}: calls in progress: {text}"
        if counts.calls_state is CountState.NOT_RUNNING:
            return Probe(
                True, f"Asterisk is not running on {node}: no call in progress", (line,), count=0
            )
        if counts.calls_state is not CountState.COUNTED or counts.calls is None:
            return Probe(False, f"calls on {node} unknown: {text}", (line,))
        n = counts.calls
        if n < below:
            return Probe(True, f"{n} call(s) in progress on {node}", (line,), count=n)
        return Probe(
            False,
            f"{n} call(s) in progress on {node}: switching now cuts them",
            (line,),
            count=n,
        )

    def _phones(self, condition: Condition, snap: NodeSnapshot) -> Probe:
        node = snap.node_id
        percent = float(condition.params.get("percent", "90"))
        if not snap.reachability.ok:
            return Probe(False, _reach(snap), (_reach(snap),))
        counts = snap.phone_counts()
        assert counts is not None
        line = f"{node}: phones {clean(counts.phones_text(), one_line=True)}"
        if counts.state is not CountState.COUNTED or counts.phones is None:
            return Probe(False, f"phones on {node} not counted: {counts.phones_text()}", (line,))
        n = counts.phones
        before = self.phones_before
        if before is None:
            return Probe(
                False,
                f"{n} phones registered on {node}; no count before the move is known (no poll "
                "saw them before it; the site's phones.expected in the inventory gives one)",
                (line,),
                count=n,
                hopeless=True,
            )
        need = math.ceil(before.count * percent / 100.0)
        share = n / before.count * 100.0 if before.count else 100.0
        detail = (
            f"{n} phones registered on {node}: {share:.0f} % of "
            f"{before.describe(clock(before.at))}; {percent:g} % is {need}"
        )
        return Probe(n >= need, detail, (line,), count=n)

    async def _split_brain(self, condition: Condition) -> Probe:
        master_id = condition.params.get("master", self.site.xivo_master.id)
        slave_id = condition.params.get("slave", self.site.xivo_slave.id)
        master, slave = await asyncio.gather(self.snapshot(master_id), self.snapshot(slave_id))
        lines = (
            _services_line(master, _xivo_services(master)),
            _services_line(slave, _xivo_services(slave)),
        )
        if (
            _telephony(master)
            and _telephony(slave)
            and master.reachability.ok
            and slave.reachability.ok
        ):
            return Probe(False, "SPLIT BRAIN: both the master and the slave run telephony", lines)
        unread = [s.node_id for s in (master, slave) if s.reachability.ok and _telephony(s) is None]
        if unread:
            # It answers, and what it runs is not known: not "not running".
            return Probe(
                False,
                f"the telephony state of {', '.join(unread)} is unknown: split brain is not "
                "ruled out",
                lines,
            )
        active = [s.node_id for s in (master, slave) if s.reachability.ok and _telephony(s)]
        if not slave.reachability.ok:
            # A master down is the reason for a failover; a slave we cannot read may run
            # telephony (it took over once), and moving back beside it would split them.
            return Probe(
                False,
                f"{slave.node_id} does not answer: whether it runs telephony is not known, "
                "split brain is not ruled out",
                lines,
            )
        # A node cut off from us while phones still reach it would be split brain, which no
        # check from here can rule out.
        unknown = (
            f"; {master.node_id} does not answer: whether it runs telephony is not known"
            if not master.reachability.ok
            else ""
        )
        return Probe(True, f"telephony runs on: {', '.join(active) or 'neither'}{unknown}", lines)

    async def _verdict(self, condition: Condition) -> Probe:
        report = await self.site_report()
        verdicts = report.verdicts
        want = condition.params.get("verdict", Verdict.NORMAL.value)
        ceiling = Severity(condition.params.get("max_severity", Severity.WARNING.value))
        primary = verdicts.primary
        lines = tuple(f"{f.severity.value}: {f.title}" for f in verdicts.findings)
        ok = primary.code.value == want and verdicts.severity.rank <= ceiling.rank
        detail = (
            f"site {report.site}: {primary.code.value} ({verdicts.severity.value}): {primary.title}"
        )
        if not ok:
            detail += f" (expected {want}, at worst {ceiling.value})"
        return Probe(ok, detail, lines, report)
