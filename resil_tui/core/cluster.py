"""Site verdicts: from what was polled to "is telephony served, by whom, and what is wrong".

``evaluate(snapshot, topology, now, stale_after_seconds)`` returns a primary verdict about
who serves telephony plus every finding, each with the evidence lines that led to it.

States of a XiVO node (``XivoState``):

* active: reachable, fresh data, telephony running (Asterisk up, see services.py);
* standby: reachable, telephony stopped, /var/lib/xivo/disabled present: stopped on purpose
  by xivo-manage-slave-services;
* stopped: reachable, telephony stopped, no disabled flag (or unknown): nothing says it is
  on purpose. On the slave this is a "broken standby": it would still take over, but
  something stopped it outside the HA scripts;
* unreachable: the last poll did not reach it;
* unknown: never polled, stale data, or services not readable.

Severity order, worst first: critical > unknown > warning > ok. "Unknown" ranks above
"warning" because not knowing whether telephony is served is worse than a known minor fault.
Exit codes follow the monitoring plugin convention: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
"""

from __future__ import annotations

from dataclasses import replace
from enum import StrEnum
from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Any

# The verdicts' words live apart (the first screen names them before any verdict); they
# are this module's too.
from resil_tui.core.cluster_kinds import Remedy as Remedy
from resil_tui.core.cluster_kinds import Severity as Severity
from resil_tui.core.cluster_kinds import XivoState as XivoState
from resil_tui.core.freshness import age, clock, is_stale
from resil_tui.core.ha_mode import HaMode
from resil_tui.core.node_status import NodeSnapshot, ReachState, SiteSnapshot, XivoStatus
from resil_tui.core.records import field, record
from resil_tui.core.roles import RoleWords, reword, role_words
from resil_tui.inventory_model import PhonePolicy, Resilience
from resil_tui.lazy import lazy_module

if TYPE_CHECKING:
    from resil_tui.core import (
        compose,
        edge_side,
        replication,
        sync_log,
        telephony,
        xuc_readiness,
    )
    from resil_tui.core.xuc_readiness import XucReadiness
    from resil_tui.inventory_model import Site
else:
    # Read once a CC node answered (its readiness is made there), not at start-up.
    xuc_readiness = lazy_module("resil_tui.core.xuc_readiness")
    # What only polled data holds: the first screen judges no site (nothing is polled
    # yet), so these load with the first verdict, not with the console.
    compose = lazy_module("resil_tui.core.compose")
    edge_side = lazy_module("resil_tui.core.edge_side")
    replication = lazy_module("resil_tui.core.replication")
    sync_log = lazy_module("resil_tui.core.sync_log")
    telephony = lazy_module("resil_tui.core.telephony")

SCHEMA_VERSION = 1


_EXIT = {Severity.OK: 0, Severity.WARNING: 1, Severity.CRITICAL: 2, Severity.UNKNOWN: 3}


def exit_code(severity: Severity) -> int:
    """Monitoring plugin exit code: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN."""
    return _EXIT[severity]


def worst(severities: list[Severity]) -> Severity:
    return max(severities, key=lambda s: s.rank, default=Severity.OK)


class Verdict(StrEnum):
    """Finding codes (stable: published by ``status --json``)."""

    NORMAL = "normal"
    FAILED_OVER = "failed_over"
    SPLIT_BRAIN = "split_brain"
    NO_TELEPHONY = "no_telephony"
    UNKNOWN = "unknown"
    HA_MISCONFIGURED = "ha_misconfigured"
    STANDBY_BROKEN = "standby_broken"
    EDGE_WRONG_SIDE = "edge_wrong_side"
    EDGE_MIXED = "edge_mixed"
    XUC_DOWN = "xuc_down"
    XUC_NOT_READY = "xuc_not_ready"
    SYNC_FAILING = "sync_failing"
    SYNC_KEY_MISSING = "sync_key_missing"
    REPLICATION_FAILING = "replication_failing"
    PHONES_SPLIT = "phones_split"
    PHONES_LOW = "phones_low"
    SERVICES_FAILED = "services_failed"
    NODE_UNREACHABLE = "node_unreachable"
    STALE = "stale"


@record
class Topology:
    """The site as the inventory describes it; only plain values, no SSH settings."""

    site: str
    xivo_master_id: str
    xivo_slave_id: str
    xivo_master_ip: IPv4Address | None
    xivo_slave_ip: IPv4Address | None
    cc_master_id: str | None = None
    cc_slave_id: str | None = None
    edge_ids: tuple[str, ...] = ()  # several for a 3-server Edge
    mds_ids: tuple[str, ...] = ()
    resilience: Resilience = Resilience.CLASSIC
    phones: PhonePolicy = field(default_factory=PhonePolicy)

    @classmethod
    def from_site(cls, site: Site) -> Topology:
        return cls(
            site=site.name,
            xivo_master_id=site.xivo_master.id,
            xivo_slave_id=site.xivo_slave.id,
            xivo_master_ip=site.xivo_master.ip,
            xivo_slave_ip=site.xivo_slave.ip,
            cc_master_id=site.cc_master.id if site.cc_master else None,
            cc_slave_id=site.cc_slave.id if site.cc_slave else None,
            edge_ids=tuple(n.id for n in site.edges),
            mds_ids=tuple(n.id for n in site.mds),
            resilience=site.resilience,
            phones=site.phones,
        )


def remedy_towards(side: str | None) -> Remedy | None:
    return {"slave": Remedy.FAILOVER, "master": Remedy.FAILBACK}.get(side or "")


@record
class Finding:
    """One verdict about a site: what is wrong (or fine), why, and the remedy when there is one."""

    code: Verdict
    severity: Severity
    title: str
    explanation: str  # one line
    evidence: list[str] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)  # node ids concerned
    remedy: Remedy | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code.value,
            "severity": self.severity.value,
            "title": self.title,
            "explanation": self.explanation,
            "evidence": list(self.evidence),
            "nodes": list(self.nodes),
            "remedy": self.remedy.value if self.remedy else None,
        }


@record
class SiteVerdicts:
    """A site judged at one poll: who serves telephony, every finding, and where the phones are."""

    site: str
    primary: Finding  # also findings[0]
    findings: list[Finding]
    severity: Severity
    active_side: str | None  # "master" | "slave" | "both" | None
    xivo_states: dict[str, XivoState]  # by node id
    evaluated_at: float
    phones: telephony.PhonePlacement = field(
        default_factory=lambda: telephony.PhonePlacement(None, None)
    )
    words: RoleWords = field(default_factory=lambda: role_words(Resilience.CLASSIC))

    @property
    def phones_text(self) -> str:
        """Where the phones are, in the site's role words ("phones: 412 on slave · 3 on
        master"; Main / Standby in the next LTS's modes)."""
        return self.phones.text(self.words.master, self.words.slave)

    @property
    def exit_code(self) -> int:
        return exit_code(self.severity)

    def ordered(self) -> list[Finding]:
        """Every finding that is not OK, worst first (the primary first among equals)."""
        found = [f for f in self.findings if f.severity is not Severity.OK]
        return sorted(found, key=lambda f: (-f.severity.rank, f is not self.primary))

    @property
    def headline(self) -> Finding:
        """What a one-line summary leads with: the worst finding, never a calm title under
        a critical severity."""
        found = self.ordered()
        return found[0] if found else self.primary

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "site": self.site,
            "severity": self.severity.value,
            "exit_code": self.exit_code,
            "verdict": self.primary.code.value,
            "active_side": self.active_side,
            "xivo_states": {k: v.value for k, v in self.xivo_states.items()},
            "evaluated_at": self.evaluated_at,
            "phones": {
                "master": self.phones.master,
                "slave": self.phones.slave,
                "where": self.phones.value,
                "text": self.phones_text,
            },
            "findings": [f.to_dict() for f in self.findings],
        }


# --- evaluation ----------------------------------------------------------------------------


def _is_stale(node: NodeSnapshot | None, now: float, stale_after: float) -> bool:
    if node is None or not node.reachability.ok:
        return False
    return is_stale(node.last_success_at, now, stale_after)


def xivo_state(node: NodeSnapshot | None, now: float, stale_after: float) -> XivoState:
    if node is None or node.reachability.state is ReachState.NOT_POLLED:
        return XivoState.UNKNOWN
    if not node.reachability.ok:
        return XivoState.UNREACHABLE
    if _is_stale(node, now, stale_after) or node.last_success_at is None:
        return XivoState.UNKNOWN
    return telephony_role(node.xivo)


def telephony_role(xivo: XivoStatus | None) -> XivoState:
    """What a XiVO's last answer says it does: active (Asterisk up), standby (stopped, the
    disabled flag says on purpose), stopped (no flag), or unknown. The one rule for "is
    this XiVO active", before reachability and age are taken into account."""
    services = xivo.services if xivo else None
    running = services.telephony_running if services else None
    if running is None:
        return XivoState.UNKNOWN
    if running:
        return XivoState.ACTIVE
    if xivo is not None and xivo.disabled_flag:
        return XivoState.STANDBY
    return XivoState.STOPPED


def _describe(label: str, node: NodeSnapshot | None, state: XivoState) -> str:
    if node is None:
        return f"{label}: no data"
    reach = node.reachability
    if state is XivoState.UNREACHABLE:
        return (
            f"{label} ({node.node_id}): unreachable ({reach.state.value}) {reach.message}".rstrip()
        )
    services = node.xivo.services if node.xivo else None
    parts = [f"{label} ({node.node_id}): {state.value}"]
    if services is not None:
        tel = ", ".join(
            f"{s.name} {s.state.value}"
            for s in services.services
            if s.name in services.telephony_services
        )
        parts.append(tel or "no telephony service listed")
    if node.xivo is not None and node.xivo.disabled_flag is not None:
        parts.append("disabled flag " + ("present" if node.xivo.disabled_flag else "absent"))
    return "; ".join(parts)


def _primary(
    topo: Topology, m: XivoState, s: XivoState, evidence: list[str]
) -> tuple[Finding, str | None]:
    nodes = [topo.xivo_master_id, topo.xivo_slave_id]
    active, inactive = XivoState.ACTIVE, (XivoState.STANDBY, XivoState.STOPPED)
    if m is active and s is active:
        return Finding(
            Verdict.SPLIT_BRAIN,
            Severity.CRITICAL,
            "Split brain: both XiVO run telephony",
            "Master and slave both run Asterisk; phones and calls are split between them.",
            evidence,
            nodes,
        ), "both"
    if m is active:
        slave = (
            "the slave is not running telephony."
            if s in inactive
            # Unreachable or not read: a slave that took over behind a cut link would be
            # split brain; its own finding says why it is not known.
            else "the slave's telephony is not known"
            + ("" if s is XivoState.UNKNOWN else f" ({s.value})")
            + ": split brain is not ruled out."
        )
        return Finding(
            Verdict.NORMAL,
            Severity.OK,
            "Normal: master serves telephony",
            f"The master is active and {slave}",
            evidence,
            nodes,
        ), "master"
    if s is active:
        if topo.resilience is Resilience.MANUAL and m is XivoState.STANDBY:
            # Manual mode: "Stop services" on the Main leaves the disabled flag; the Main
            # is inactive on purpose, not down (XIVO.md, next LTS).
            return Finding(
                Verdict.FAILED_OVER,
                Severity.WARNING,
                "Failed over by hand: the slave serves telephony",
                "Services were stopped on the master on purpose (manual mode); failback is "
                "by hand too: Start services on the master, then Stop services on the slave.",
                evidence,
                nodes,
                Remedy.FAILOVER,
            ), "slave"
        down = m is XivoState.UNREACHABLE or m is XivoState.STOPPED
        return Finding(
            Verdict.FAILED_OVER,
            Severity.WARNING,
            "Failed over: the slave serves telephony"
            + (", the master is down" if topo.resilience is Resilience.MANUAL and down else ""),
            "The slave took over; CC and Edge must follow it (see the failover runbook).",
            evidence,
            nodes,
            Remedy.FAILOVER,
        ), "slave"
    if m in inactive and s in inactive:
        return Finding(
            Verdict.NO_TELEPHONY,
            Severity.CRITICAL,
            "No telephony: neither XiVO runs Asterisk",
            "Both nodes are reachable and neither runs telephony services.",
            evidence,
            nodes,
        ), None
    return Finding(
        Verdict.UNKNOWN,
        Severity.UNKNOWN,
        "Unknown: cannot tell who serves telephony",
        "Too little is known about the XiVO pair (unreachable, stale or unreadable status).",
        evidence,
        nodes,
    ), None


def _ha_findings(
    topo: Topology, master: NodeSnapshot | None, slave: NodeSnapshot | None
) -> list[Finding]:
    found: list[Finding] = []
    pairs = [
        ("master", master, topo.xivo_master_id, topo.xivo_slave_ip),
        ("slave", slave, topo.xivo_slave_id, topo.xivo_master_ip),
    ]
    modes: dict[str, HaMode] = {}
    for role, node, node_id, expected_peer in pairs:
        ha = node.xivo.ha if node and node.xivo and node.reachability.ok else None
        if ha is None:
            continue
        modes[role] = ha.mode
        if ha.problems:
            found.append(
                _ha(
                    Severity.WARNING,
                    f"ha.conf unreadable on the {role}",
                    "The HA configuration file could not be understood.",
                    [*ha.problems, f"raw: {ha.raw.strip()[:200]}"],
                    [node_id],
                )
            )
        if ha.mode is HaMode.DISABLED:
            found.append(
                _ha(
                    Severity.WARNING,
                    f"HA disabled on the {role}",
                    f"The {role} XiVO has HA disabled: no replication or failover.",
                    [f"{node_id}: node_type disabled" + ("" if ha.present else " (no ha.conf)")],
                    [node_id],
                )
            )
        elif ha.enabled and expected_peer is not None and ha.peer != expected_peer:
            other = "slave" if role == "master" else "master"
            found.append(
                _ha(
                    Severity.CRITICAL,
                    f"Wrong peer IP on the {role}",
                    f"ha.conf on the {role} must name the {other}'s VoIP IP.",
                    [f"{node_id}: remote_address {ha.peer or 'empty'}, expected {expected_peer}"],
                    [node_id],
                )
            )
        cron = node.xivo.cron if node and node.xivo else None
        if cron is not None:
            problems = cron.problems(ha.mode, ha.peer)
            if problems:
                found.append(
                    _ha(
                        Severity.WARNING,
                        f"HA cron does not match the {role}'s role",
                        "The cron file sysconfd writes for this HA role is missing,"
                        " extra, commented out or names another IP.",
                        [f"{node_id}: {p}" for p in problems],
                        [node_id],
                    )
                )
    m, s = modes.get("master"), modes.get("slave")
    both = [topo.xivo_master_id, topo.xivo_slave_id]
    if m is HaMode.MASTER and s is HaMode.MASTER:
        found.append(
            _ha(
                Severity.CRITICAL,
                "Both XiVO configured as master",
                "Two masters both serve telephony and replicate onto each other.",
                ["master: node_type master", "slave: node_type master"],
                both,
            )
        )
    elif m is HaMode.SLAVE and s is HaMode.SLAVE:
        found.append(
            _ha(
                Severity.CRITICAL,
                "Both XiVO configured as slave",
                "With no master, nothing replicates and either may stop telephony.",
                ["master: node_type slave", "slave: node_type slave"],
                both,
            )
        )
    elif m is HaMode.SLAVE and s is HaMode.MASTER:
        found.append(
            _ha(
                Severity.WARNING,
                "Roles swapped compared with the inventory",
                "The inventory's master is configured as slave and vice versa.",
                ["master: node_type slave", "slave: node_type master"],
                both,
            )
        )
    else:
        if m is HaMode.SLAVE:
            found.append(
                _ha(
                    Severity.WARNING,
                    "The inventory's master is configured as slave",
                    "ha.conf role differs from the inventory.",
                    ["master: node_type slave"],
                    [topo.xivo_master_id],
                )
            )
        if s is HaMode.MASTER:
            found.append(
                _ha(
                    Severity.WARNING,
                    "The inventory's slave is configured as master",
                    "ha.conf role differs from the inventory.",
                    ["slave: node_type master"],
                    [topo.xivo_slave_id],
                )
            )
    return found


def _ha(sev: Severity, title: str, why: str, evidence: list[str], nodes: list[str]) -> Finding:
    return Finding(Verdict.HA_MISCONFIGURED, sev, title, why, evidence, nodes)


def _sync_findings(
    topo: Topology, master: NodeSnapshot | None, slave: NodeSnapshot | None
) -> list[Finding]:
    """Replication and sync run on the node whose ha.conf says master."""
    found: list[Finding] = []
    for node in (master, slave):
        if node is None or node.xivo is None or not node.reachability.ok:
            continue
        x = node.xivo
        is_master = x.ha is not None and x.ha.mode is HaMode.MASTER
        if not is_master:
            continue
        key_evidence: list[str] = []
        if x.sync_key_present is False:
            key_evidence.append(f"{node.node_id}: /root/.ssh/xivo_id_rsa does not exist")
        if x.sync is not None and x.sync.outcome is sync_log.SyncOutcome.KEY_MISSING:
            key_evidence.append(f"{node.node_id}: xivo-sync.log: {x.sync.message}")
        if key_evidence:
            found.append(
                Finding(
                    Verdict.SYNC_KEY_MISSING,
                    Severity.WARNING,
                    "xivo-sync has no SSH key",
                    "xivo-sync exits 0 without copying anything; run 'xivo-sync -i' on the master.",
                    key_evidence,
                    [node.node_id],
                )
            )
        if x.sync is not None and x.sync.outcome is sync_log.SyncOutcome.ERROR:
            when = x.sync.time.isoformat(sep=" ") if x.sync.time else "unknown time"
            found.append(
                Finding(
                    Verdict.SYNC_FAILING,
                    Severity.WARNING,
                    "xivo-sync fails",
                    "The last xivo-sync run failed: files are not copied to the slave.",
                    [f"{node.node_id}: {when}: {x.sync.message}", *x.sync.detail[:5]],
                    [node.node_id],
                )
            )
        rep = x.replication
        if rep is not None and rep.outcome in (
            replication.ReplicationOutcome.FAILURE,
            replication.ReplicationOutcome.USAGE,
        ):
            found.append(
                Finding(
                    Verdict.REPLICATION_FAILING,
                    Severity.WARNING,
                    "Database replication fails",
                    "The last xivo-master-slave-db-replication run did not complete.",
                    [f"{node.node_id}: {rep.outcome.value}: {rep.reason}"],
                    [node.node_id],
                )
            )
    return found


def _edge_findings(
    topo: Topology, snapshot: SiteSnapshot, active_side: str | None
) -> list[Finding]:
    """Each Edge node judged on its own (a 3-server Edge has several); a title names its
    node when there are several."""
    found: list[Finding] = []
    for edge_id in topo.edge_ids:
        own = _one_edge_findings(snapshot, edge_id, active_side)
        if len(topo.edge_ids) > 1:
            own = [replace(f, title=f"{edge_id}: {f.title}") for f in own]
        found += own
    return found


def _one_edge_findings(
    snapshot: SiteSnapshot, edge_id: str, active_side: str | None
) -> list[Finding]:
    edge = snapshot.node(edge_id)
    if edge is None or edge.edge is None or not edge.reachability.ok:
        return []
    nodes = [edge.node_id]
    targets = edge.edge.targets
    if targets is None:
        return [
            Finding(
                Verdict.UNKNOWN,
                Severity.WARNING,
                "Edge target unknown: its .env was not read",
                "The Edge .env could not be read, so where the Edge points is not known.",
                [f"{edge.node_id}: {e}" for e in edge.errors] or [f"{edge.node_id}: no .env"],
                nodes,
            )
        ]
    evidence = [
        f"{v.name}={v.value if v.value is not None else '(missing)'} -> {v.detail.value}"
        + (f" (through {', '.join(v.follows)})" if v.follows else "")
        for v in targets.variables
    ]
    if targets.overall is edge_side.EdgeSide.MIXED:
        other = {"master": edge_side.VarSide.SLAVE, "slave": edge_side.VarSide.MASTER}.get(
            active_side or ""
        )
        wrong = other is not None and any(v.detail is other for v in targets.variables)
        return [
            Finding(
                Verdict.EDGE_MIXED,
                Severity.CRITICAL if wrong else Severity.WARNING,
                "Edge points partly to the master, partly to the slave",
                "Some Edge variables name one side and others the other side.",
                evidence,
                nodes,
                remedy_towards(active_side),
            )
        ]
    if targets.overall is edge_side.EdgeSide.UNKNOWN:
        return [
            Finding(
                Verdict.UNKNOWN,
                Severity.WARNING,
                "Edge target unknown",
                "No Edge variable names a known XiVO or CC IP.",
                evidence,
                nodes,
            )
        ]
    if active_side in ("master", "slave") and targets.overall.value != active_side:
        return [
            Finding(
                Verdict.EDGE_WRONG_SIDE,
                Severity.CRITICAL,
                f"Edge points to the {targets.overall.value}, telephony is on the {active_side}",
                "Remote users go through the Edge to the inactive side; switch the Edge.",
                evidence,
                nodes,
                remedy_towards(active_side),
            )
        ]
    if active_side == "both":
        # Split brain: the Edge still sends remote users to one of the two; say which.
        return [
            Finding(
                Verdict.EDGE_WRONG_SIDE,
                Severity.WARNING,
                f"Edge points to the {targets.overall.value} while both XiVO run telephony",
                "Remote users reach only that side; end the split brain before switching it.",
                evidence,
                nodes,
            )
        ]
    return []


def _xuc_findings(
    topo: Topology, snapshot: SiteSnapshot, active_side: str | None, now: float
) -> list[Finding]:
    """xuc of the CC on the side serving telephony: not running is critical (CC users
    cannot work); up but not ready is a warning while it starts, critical once it has been
    starting longer than its grace period. An unreachable CC is a reachability finding."""
    if active_side not in ("master", "slave"):
        return []
    cc_id = topo.cc_master_id if active_side == "master" else topo.cc_slave_id
    cc = snapshot.node(cc_id)
    if cc is None or cc.cc is None or not cc.reachability.ok:
        return []
    if cc.cc.xuc is not None:
        return _readiness_findings(cc.node_id, active_side, cc.cc.xuc, now)
    if cc.cc.containers is None:
        return []
    container = cc.cc.containers.service("xuc")
    nodes = [cc.node_id]
    if container is None:
        return [
            Finding(
                Verdict.XUC_DOWN,
                Severity.CRITICAL,
                f"xuc not listed on the {active_side} CC",
                "The CC of the active side has no xuc container: CC users cannot work.",
                [f"{cc.node_id}: no xuc in 'xivocc-dcomp ps'"],
                nodes,
            )
        ]
    if container.state is not compose.ContainerState.UP:
        return [
            Finding(
                Verdict.XUC_DOWN,
                Severity.CRITICAL,
                f"xuc is {container.state.value} on the {active_side} CC",
                "The CC of the active side does not run xuc: CC users cannot work.",
                [f"{cc.node_id}: {container.name}: {container.status}"],
                nodes,
            )
        ]
    if container.health == "unhealthy":
        # The same severity as the readiness path: docker's own check says it does not serve.
        return [
            Finding(
                Verdict.XUC_NOT_READY,
                Severity.CRITICAL,
                f"xuc on the active side not ready ({active_side} CC): unhealthy",
                "Docker reports the xuc container as unhealthy: CC users cannot work.",
                [f"{cc.node_id}: {container.name}: {container.status}"],
                nodes,
            )
        ]
    return []


def _readiness_findings(node_id: str, side: str, xuc: XucReadiness, now: float) -> list[Finding]:
    evidence = [f"{node_id}: {xuc.describe(now)}: {xuc.basis}", *xuc.evidence]
    nodes = [node_id]
    if xuc.state is xuc_readiness.XucState.DOWN:
        what = "not listed" if xuc.basis == "no xuc container" else xuc.describe(now)[2:]
        return [
            Finding(
                Verdict.XUC_DOWN,
                Severity.CRITICAL,
                f"xuc not running on the active CC ({side}): {what}",
                "The CC of the side serving telephony does not run xuc: CC users cannot work.",
                evidence,
                nodes,
            )
        ]
    if xuc.state is xuc_readiness.XucState.STARTING:
        running = xuc.starting_for(now)
        took = f" for {age(running)}" if running is not None else ""
        return [
            Finding(
                Verdict.XUC_NOT_READY,
                Severity.WARNING,
                f"xuc on the active side not ready: starting{took} ({side} CC)",
                f"xuc has not logged its readiness line yet; critical after {xuc.grace:g}s.",
                evidence,
                nodes,
            )
        ]
    if xuc.state is xuc_readiness.XucState.NOT_READY:
        return [
            Finding(
                Verdict.XUC_NOT_READY,
                Severity.CRITICAL,
                f"xuc on the active side not ready ({side} CC)",
                "xuc runs but does not serve (no readiness line past its grace period, or "
                "docker's health check fails): CC users cannot work.",
                evidence,
                nodes,
            )
        ]
    if xuc.state is xuc_readiness.XucState.UNKNOWN:
        return [
            Finding(
                Verdict.UNKNOWN,
                Severity.WARNING,
                f"xuc readiness on the active side unknown ({side} CC)",
                "Nothing read proves or disproves that xuc serves; an HTTP probe "
                "(xuc.probe in the inventory) gives a second signal.",
                evidence,
                nodes,
            )
        ]
    return []


def _services_findings(snapshot: SiteSnapshot, topo: Topology) -> list[Finding]:
    found: list[Finding] = []
    for node_id in (topo.xivo_master_id, topo.xivo_slave_id, *topo.mds_ids):
        node = snapshot.node(node_id)
        if node is None or not node.reachability.ok:
            continue
        services = node.xivo.services if node.xivo else node.mds.services if node.mds else None
        if services is None:
            continue
        evidence = [f"{node_id}: {name} failed" for name in services.failed]
        if services.database.value == "nok":
            evidence.append(f"{node_id}: database {services.database_raw}")
        if evidence:
            found.append(
                Finding(
                    Verdict.SERVICES_FAILED,
                    Severity.WARNING,
                    f"Services failed on {node_id}",
                    "xivo-service reports failed services or a database mismatch.",
                    evidence,
                    [node_id],
                )
            )
    return found


def _reach_findings(
    snapshot: SiteSnapshot,
    topo: Topology,
    states: dict[str, XivoState],
    now: float,
    stale_after: float,
    active_side: str | None = None,
) -> list[Finding]:
    found: list[Finding] = []
    # The CC of the side serving telephony: unreachable is as bad as xuc not running there.
    active_cc = {"master": topo.cc_master_id, "slave": topo.cc_slave_id}.get(active_side or "")
    ids: list[str | None] = [
        topo.xivo_master_id,
        topo.xivo_slave_id,
        topo.cc_master_id,
        topo.cc_slave_id,
        *topo.edge_ids,
        *topo.mds_ids,
    ]
    for node_id in ids:
        node = snapshot.node(node_id)
        if node is None or node_id is None:
            continue
        reach = node.reachability
        if reach.state is ReachState.NOT_POLLED:
            continue
        if not reach.ok:
            severity = Severity.WARNING
            if node_id in (topo.xivo_master_id, topo.xivo_slave_id):
                other = (
                    topo.xivo_slave_id if node_id == topo.xivo_master_id else topo.xivo_master_id
                )
                other_state = states.get(other, XivoState.UNKNOWN)
                # Presumed active unless the other XiVO is known to serve telephony; when
                # neither is reachable the master is the one presumed active.
                if other_state is not XivoState.ACTIVE and not (
                    other_state is XivoState.UNREACHABLE and node_id == topo.xivo_slave_id
                ):
                    severity = Severity.CRITICAL
            hint = _REACH_HINT.get(reach.state, "The node could not be polled.")
            if node_id == active_cc:
                severity = Severity.CRITICAL
                hint += " It is the CC of the side serving telephony: xuc cannot be checked."
            since = f" since {reach.since:.0f}" if reach.since is not None else ""
            found.append(
                Finding(
                    Verdict.NODE_UNREACHABLE,
                    severity,
                    f"{node_id} unreachable ({reach.state.value})",
                    hint,
                    [f"{node_id}: {reach.state.value}{since}: {reach.message}".rstrip(": ")],
                    [node_id],
                )
            )
        elif _is_stale(node, now, stale_after):
            assert node.last_success_at is not None
            age = now - node.last_success_at
            is_xivo = node_id in (topo.xivo_master_id, topo.xivo_slave_id)
            found.append(
                Finding(
                    Verdict.STALE,
                    Severity.UNKNOWN if is_xivo else Severity.WARNING,
                    f"{node_id}: data is {age:.0f}s old",
                    f"No successful poll for over {stale_after:.0f}s; the data shown may be wrong.",
                    [f"{node_id}: last successful poll at {node.last_success_at:.0f}"],
                    [node_id],
                )
            )
    return found


_REACH_HINT = {
    ReachState.REFUSED: "SSH connection refused: sshd down or firewalled.",
    ReachState.TIMEOUT: "SSH connection timed out: host down or network path broken.",
    ReachState.AUTH: "SSH authentication failed: check the key and user.",
    ReachState.HOST_KEY_UNKNOWN: "Host key not in known_hosts: check and trust it first.",
    ReachState.HOST_KEY_CHANGED: "Host key changed: reinstalled node or an attack; verify it.",
    ReachState.HOST_KEY_REVOKED: "Host key revoked in known_hosts: the node needs a new key.",
    ReachState.DROPPED: "The SSH connection dropped during the poll.",
    ReachState.ERROR: "The poll failed.",
}


# --- phones -------------------------------------------------------------------------------


def phones_on(node: NodeSnapshot | None, now: float, stale_after: float) -> int | None:
    """Phones registered on a XiVO now: 0 where Asterisk is not running, None when it
    cannot be told (not reachable, stale data, an answer not read)."""
    if node is None or not node.reachability.ok or node.last_success_at is None:
        return None
    if is_stale(node.last_success_at, now, stale_after):
        return None
    counts = node.phone_counts()
    if counts is None:
        return None
    if counts.state is telephony.CountState.NOT_RUNNING:
        return 0
    return counts.phones if counts.state is telephony.CountState.COUNTED else None


def phone_placement(
    master: NodeSnapshot | None, slave: NodeSnapshot | None, now: float, stale_after: float
) -> telephony.PhonePlacement:
    """Where the pair's phones are (the one rule: the site line, the journal, findings)."""
    return telephony.PhonePlacement(
        phones_on(master, now, stale_after), phones_on(slave, now, stale_after)
    )


def _phone_findings(
    topo: Topology,
    placement: telephony.PhonePlacement,
    history: telephony.PhoneHistory | None,
    active_side: str | None,
    now: float,
) -> list[Finding]:
    if history is None:
        return []  # one poll alone cannot say "for how long" nor "before the move"
    policy = topo.phones
    nodes = [topo.xivo_master_id, topo.xivo_slave_id]
    found: list[Finding] = []
    split_for = history.split_for(now)
    if (
        placement.value == telephony.SPLIT
        and split_for is not None
        and split_for >= policy.split_grace
    ):
        found.append(
            Finding(
                Verdict.PHONES_SPLIT,
                Severity.CRITICAL,
                f"Phones split across both XiVO for {age(split_for)}",
                "Phones are registered on the master and on the slave at once (a split brain "
                "symptom): calls between the two halves may fail.",
                [f"{placement.text()} (split since {clock(history.split_since or now)})"],
                nodes,
            )
        )
    if active_side not in ("master", "slave"):
        return found
    # The count before the move: the previous side's, when the phones followed the move
    # (since they came); the side they were last all seen on, when they did not (since
    # then: not one phone has been seen on the serving side).
    before: telephony.PhoneMark | None = None
    since: float | None = None
    if history.side == active_side:
        before, since = history.before, history.since
    elif history.side is not None and history.at is not None:
        before = telephony.PhoneMark(history.side, history.count, history.at)
        since = history.at
    here = placement.on(active_side)
    if (
        before is None
        or since is None
        or here is None
        or before.count <= 0
        or now - since < policy.move_grace
        or here >= before.count * policy.low_percent / 100.0
    ):
        return found
    node = topo.xivo_master_id if active_side == "master" else topo.xivo_slave_id
    found.append(
        Finding(
            Verdict.PHONES_LOW,
            Severity.WARNING,
            f"Only {here} phones on the serving {active_side}, "
            f"{before.count} on the {before.side} before the move",
            f"Fewer than {policy.low_percent:g} % of the phones followed the move: phones "
            "without the backup registrar, or unable to reach this XiVO.",
            [
                placement.text(),
                f"before the move: {before.count} on the {before.side} at {clock(before.at)}",
            ],
            [node],
        )
    )
    return found


def _reworded(finding: Finding, words: RoleWords) -> Finding:
    """A finding in the site's role words (Main / Standby in the next-LTS modes); the
    codes stay as they are (status --json publishes them)."""
    return replace(
        finding,
        title=reword(finding.title, words),
        explanation=reword(finding.explanation, words),
        evidence=[reword(e, words) for e in finding.evidence],
    )


def evaluate(
    snapshot: SiteSnapshot,
    topology: Topology,
    now: float,
    stale_after_seconds: float,
    phones: telephony.PhoneHistory | None = None,
) -> SiteVerdicts:
    """`phones`: what earlier polls saw of the phones (the collector keeps it), for the
    findings that need "for how long" and "before the move"; None: a single poll."""
    master = snapshot.node(topology.xivo_master_id)
    slave = snapshot.node(topology.xivo_slave_id)
    m = xivo_state(master, now, stale_after_seconds)
    s = xivo_state(slave, now, stale_after_seconds)
    states = {topology.xivo_master_id: m, topology.xivo_slave_id: s}
    evidence = [_describe("master", master, m), _describe("slave", slave, s)]
    primary, active_side = _primary(topology, m, s, evidence)

    findings: list[Finding] = [primary]
    if active_side == "master" and s is XivoState.STOPPED:
        findings.append(
            Finding(
                Verdict.STANDBY_BROKEN,
                Severity.WARNING,
                "Slave stopped without the disabled flag",
                "Telephony is stopped on the slave but not by xivo-manage-slave-services.",
                [_describe("slave", slave, s)],
                [topology.xivo_slave_id],
            )
        )
    for role, state, node_id in (
        ("master", m, topology.xivo_master_id),
        ("slave", s, topology.xivo_slave_id),
    ):
        node = snapshot.node(node_id)
        if (
            state is XivoState.UNKNOWN
            and node is not None
            and node.reachability.ok
            and not (_is_stale(node, now, stale_after_seconds))
        ):
            findings.append(
                Finding(
                    Verdict.UNKNOWN,
                    Severity.UNKNOWN,
                    f"Telephony state of the {role} unknown",
                    "xivo-service status did not list any telephony service.",
                    [_describe(role, node, state)],
                    [node_id],
                )
            )
    findings += _ha_findings(topology, master, slave)
    findings += _sync_findings(topology, master, slave)
    findings += _edge_findings(topology, snapshot, active_side)
    findings += _xuc_findings(topology, snapshot, active_side, now)
    findings += _services_findings(snapshot, topology)
    placement = phone_placement(master, slave, now, stale_after_seconds)
    findings += _phone_findings(topology, placement, phones, active_side, now)
    findings += _reach_findings(snapshot, topology, states, now, stale_after_seconds, active_side)

    words = role_words(topology.resilience)
    findings = [_reworded(f, words) for f in findings]
    primary = findings[0]
    return SiteVerdicts(
        site=topology.site,
        primary=primary,
        findings=findings,
        severity=worst([f.severity for f in findings]),
        active_side=active_side,
        xivo_states=states,
        evaluated_at=now,
        phones=placement,
        words=words,
    )
