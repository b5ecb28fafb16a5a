"""The facts of a site picture, and the journal events between two pictures.

A `SitePicture` is what is known about a site as a set of facts, each a value with the
time it was seen: per node its reachability, HA role, telephony, Edge side, xuc readiness,
replication and sync results; for the site its verdict. `observe()` reads them from a
poll (a site snapshot and its verdicts), `picture_from_events()` from a journal's latest
entries; `site_events(previous, new)` is every fact of `new` whose value differs from
`previous` (first seen when `previous` does not know it), as journal events.

The rules:
- A fact a poll cannot tell (node unreachable, nothing parsed, never polled) is absent,
  and an absent fact is never a change: "unknown" does not overwrite "standby".
- A fact older than what `previous` knows is not a change either (another process saw a
  newer value first): this is what lets several processes share one journal.
- Each node fact is one `NodeRule` (a kind and a function of the node snapshot): a new fact
  is one more rule. xuc readiness is that of the current xuc run (`xuc_readiness`).
  Where the phones are registered (master, slave, split, none) is a site rule, from
  `cluster.phone_placement`: a phone move is one journal entry, its counts the evidence.

Pure: no clock, no I/O; every time comes from the snapshot or the events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from resil_tui.core.cluster import SiteVerdicts, XivoState, phone_placement, telephony_role
from resil_tui.core.ha_mode import HaMode
from resil_tui.core.journal_event import EventKind, JournalEvent, one_line
from resil_tui.core.node_status import CcStatus, NodeSnapshot, ReachState
from resil_tui.core.records import field, record
from resil_tui.lazy import lazy_module

if TYPE_CHECKING:
    from resil_tui.core import xuc_readiness as xuc_rules
else:
    # Read once a CC node answered (its readiness is made there), not at start-up.
    xuc_rules = lazy_module("resil_tui.core.xuc_readiness")

FactKey = tuple[str, str]  # (node id, or "" for the site; kind value)

REACHABLE = "reachable"
UNREACHABLE = "unreachable"


@record
class Fact:
    """One thing known about a node or the site, with when it was seen and the evidence."""

    node: str | None
    kind: EventKind
    value: str
    at: float  # when it was seen
    evidence: str = ""

    @property
    def key(self) -> FactKey:
        return (self.node or "", self.kind.value)


@record
class SitePicture:
    """What is known about a site: the latest fact of each kind, per node and for the site."""

    site: str
    facts: Mapping[FactKey, Fact] = field(default_factory=dict)

    def value(self, node: str | None, kind: EventKind) -> str | None:
        fact = self.facts.get((node or "", kind.value))
        return fact.value if fact is not None else None


# --- node facts ------------------------------------------------------------------------


def _reachability(snap: NodeSnapshot) -> tuple[str, str] | None:
    reach = snap.reachability
    if reach.state is ReachState.NOT_POLLED:
        return None
    if reach.ok:
        latency = snap.latency_seconds
        return REACHABLE, f"answered in {latency * 1000:.0f} ms" if latency is not None else ""
    return UNREACHABLE, f"{reach.state.value}: {reach.message}".rstrip(": ")


def _ha_role(snap: NodeSnapshot) -> tuple[str, str] | None:
    ha = snap.xivo.ha if snap.xivo else None
    if ha is None:
        return None
    if not ha.present:
        return ha.mode.value, "no ha.conf (HA disabled)"
    peer = f", remote_address {ha.peer}" if ha.peer is not None else ""
    problems = f" ({'; '.join(ha.problems)})" if ha.problems else ""
    return ha.mode.value, f"ha.conf node_type {ha.mode.value}{peer}{problems}"


def _telephony(snap: NodeSnapshot) -> tuple[str, str] | None:
    xivo = snap.xivo
    role = telephony_role(xivo)
    if role is XivoState.UNKNOWN or xivo is None or xivo.services is None:
        return None
    services = xivo.services
    shown = [
        f"{s.name} {s.state.value}"
        for s in services.services
        if s.name in services.telephony_services
    ]
    flag = xivo.disabled_flag
    if flag is not None:
        shown.append("disabled flag " + ("present" if flag else "absent"))
    return role.value, ", ".join(shown)


def xuc_readiness(cc: CcStatus | None) -> tuple[str, str] | None:
    """ready / starting / not_ready / down: the readiness of xuc's current run
    (core/xuc_readiness.py: its readiness line, probe or health check), and what decided
    it. None: it cannot be told (not read, or readiness unknown)."""
    xuc = cc.xuc if cc is not None else None
    if xuc is None or xuc.state is xuc_rules.XucState.UNKNOWN:
        return None
    return xuc.state.value, xuc.basis


def _xuc(snap: NodeSnapshot) -> tuple[str, str] | None:
    return xuc_readiness(snap.cc)


def _edge_side(snap: NodeSnapshot) -> tuple[str, str] | None:
    targets = snap.edge.targets if snap.edge else None
    if targets is None:
        return None
    evidence = "; ".join(f"{v.name} -> {v.detail.value}" for v in targets.variables)
    return targets.overall.value, evidence


def _is_ha_master(snap: NodeSnapshot) -> bool:
    ha = snap.xivo.ha if snap.xivo else None
    return ha is not None and ha.mode is HaMode.MASTER


def _replication(snap: NodeSnapshot) -> tuple[str, str] | None:
    rep = snap.xivo.replication if snap.xivo else None
    if rep is None:
        return None
    return rep.outcome.value, rep.reason or ""


def _sync(snap: NodeSnapshot) -> tuple[str, str] | None:
    # xivo-sync runs on the HA master: an old log on the other node says nothing now.
    sync = snap.xivo.sync if snap.xivo else None
    if sync is None or not _is_ha_master(snap):
        return None
    when = sync.time.isoformat(sep=" ") if sync.time else "time unknown"
    return sync.outcome.value, f"{when}: {sync.message}"


@record
class NodeRule:
    """How one kind of node fact is read from a snapshot, and which kinds of node have it."""

    kind: EventKind
    node_kinds: frozenset[str]  # NodeSnapshot.kind values it applies to
    read: Callable[[NodeSnapshot], tuple[str, str] | None]
    needs_answer: bool = True  # absent unless the node answered this poll


_XIVO = frozenset({"xivo"})
NODE_RULES: tuple[NodeRule, ...] = (
    NodeRule(
        EventKind.REACHABILITY, frozenset({"xivo", "cc", "edge", "mds"}), _reachability, False
    ),
    NodeRule(EventKind.HA_ROLE, _XIVO, _ha_role),
    NodeRule(EventKind.TELEPHONY, _XIVO, _telephony),
    NodeRule(EventKind.REPLICATION, _XIVO, _replication),
    NodeRule(EventKind.SYNC, _XIVO, _sync),
    NodeRule(EventKind.XUC, frozenset({"cc"}), _xuc),
    NodeRule(EventKind.EDGE_SIDE, frozenset({"edge"}), _edge_side),
)


def node_facts(snap: NodeSnapshot, rules: Iterable[NodeRule] = NODE_RULES) -> list[Fact]:
    at = snap.polled_at
    if at is None:
        return []
    found: list[Fact] = []
    for rule in rules:
        if snap.kind not in rule.node_kinds:
            continue
        # A node that did not answer keeps its last data in the snapshot: that is not
        # what it does now, so only its reachability is a fact.
        if rule.needs_answer and not snap.reachability.ok:
            continue
        read = rule.read(snap)
        if read is not None:
            value, evidence = read
            found.append(Fact(snap.node_id, rule.kind, value, at, one_line(evidence)))
    return found


# --- site facts ------------------------------------------------------------------------


def _verdict(
    nodes: tuple[NodeSnapshot, ...], verdicts: SiteVerdicts | None
) -> tuple[str, str, float] | None:
    if verdicts is None:
        return None
    primary, head = verdicts.primary, verdicts.headline
    evidence = f"{verdicts.severity.value}: {primary.title}"
    if head is not primary:
        evidence += f"; worst: {head.title}"
    return primary.code.value, evidence, verdicts.evaluated_at


@record
class SiteRule:
    """A fact of the site as a whole: (value, evidence, time seen), or None."""

    kind: EventKind
    read: Callable[[tuple[NodeSnapshot, ...], SiteVerdicts | None], tuple[str, str, float] | None]


def _phones(
    nodes: tuple[NodeSnapshot, ...], verdicts: SiteVerdicts | None
) -> tuple[str, str, float] | None:
    """Where the phones are, judged with the site (its staleness limit is not known here:
    only nodes that answered this poll count, which `phones_on` checks)."""
    xivo = {n.side: n for n in nodes if n.kind == "xivo"}
    master, slave = xivo.get("master"), xivo.get("slave")
    times = [n.polled_at for n in (master, slave) if n is not None and n.polled_at is not None]
    if not times:
        return None
    at = max(times)
    # Each node's data is as fresh as its own poll: judged at that time, never stale.
    placement = phone_placement(master, slave, at, float("inf"))
    value = placement.value
    if value is None:
        return None
    return value, placement.text(), at


SITE_RULES: tuple[SiteRule, ...] = (
    SiteRule(EventKind.VERDICT, _verdict),
    SiteRule(EventKind.PHONES, _phones),
)


def observe(
    site: str,
    nodes: Iterable[NodeSnapshot],
    verdicts: SiteVerdicts | None,
    rules: Iterable[NodeRule] = NODE_RULES,
    site_rules: Iterable[SiteRule] = SITE_RULES,
) -> SitePicture:
    """The picture a poll gives: every fact its snapshots and verdicts can tell."""
    chosen, snaps = tuple(rules), tuple(nodes)
    facts: dict[FactKey, Fact] = {}
    for snap in snaps:
        for fact in node_facts(snap, chosen):
            facts[fact.key] = fact
    for rule in site_rules:
        read = rule.read(snaps, verdicts)
        if read is not None:
            value, evidence, at = read
            fact = Fact(None, rule.kind, value, at, one_line(evidence))
            facts[fact.key] = fact
    return SitePicture(site, facts)


def picture_from_events(site: str, events: Iterable[JournalEvent]) -> SitePicture:
    """What a journal knows about a site: the latest value of each fact (oldest first in,
    latest wins)."""
    facts: dict[FactKey, Fact] = {}
    for event in events:
        if event.site != site or not event.kind.observed:
            continue
        fact = Fact(event.node, event.kind, event.after, event.time, event.evidence)
        known = facts.get(fact.key)
        if known is None or known.at <= fact.at:
            facts[fact.key] = fact
    return SitePicture(site, facts)


_ORDER = {kind: i for i, kind in enumerate(EventKind)}


def site_events(previous: SitePicture | None, new: SitePicture) -> list[JournalEvent]:
    """The changes from `previous` to `new`, oldest first (a site's verdict after its
    nodes' facts of the same poll)."""
    events: list[JournalEvent] = []
    for key, fact in new.facts.items():
        old = previous.facts.get(key) if previous is not None else None
        if old is not None and (old.value == fact.value or old.at > fact.at):
            continue
        events.append(
            JournalEvent(
                time=fact.at,
                site=new.site,
                node=fact.node,
                kind=fact.kind,
                before=old.value if old is not None else None,
                after=fact.value,
                evidence=fact.evidence,
            ).with_id()
        )
    events.sort(key=lambda e: (e.time, _ORDER[e.kind], e.node or ""))
    return events
