"""The live facts an admin decides on, and what a change does to them.

`SiteFacts` is what the site looks like now, in words: which side serves telephony, where
the Edge sends remote users, whether xuc is ready on each CC. It comes from the console's
site state (or, for the CLI, from a poll) and goes into confirmations and into the wizard's
record (at the start and at the end of a run).

The `*_consequences` functions say what a change does from there, live consequences first:
which side serves telephony now, where remote users go after the change, what restarts
and what drops (xuc sessions cut by a restart; the Edge containers `edge-dcomp up -d`
recreates, and the calls relayed through them). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resil_tui.core.cluster import SiteVerdicts, XivoState
from resil_tui.core.freshness import clock
from resil_tui.core.node_status import NodeSnapshot
from resil_tui.core.records import field, record
from resil_tui.core.telephony import CountState
from resil_tui.inventory_model import Node, Side, Site


@record
class SiteFacts:
    at: float | None  # when the facts were judged (epoch); None: never polled
    active_side: str | None  # "master" | "slave" | "both" | None
    telephony: str  # "the slave (paris.xivo.slave)", "both XiVO (split brain)", ...
    edge_side: str | None  # "master" | "slave" | "mixed" | "unknown"; None: no Edge
    xuc: dict[str, str] = field(default_factory=dict)  # CC node id -> "✔ ready since ..."
    xuc_ready: dict[str, bool | None] = field(default_factory=dict)  # CC node id -> ready?
    verdict: str = ""  # the site's headline
    phones: str = ""  # where the phones are: "phones: 412 on slave · 3 on master"
    calls: dict[str, int] = field(default_factory=dict)  # XiVO node id -> calls counted
    # XiVO node id -> why its calls were not counted (unreachable, not read, unreadable);
    # a XiVO whose Asterisk is stopped has none, and is in neither mapping.
    calls_unknown: dict[str, str] = field(default_factory=dict)

    @property
    def known(self) -> bool:
        return self.at is not None

    def lines(self) -> list[str]:
        if self.at is None:
            return ["not polled yet: the live state is unknown"]
        out = [f"telephony served by {self.telephony} (as of {clock(self.at)})"]
        if self.edge_side is not None:
            out.append(f"the Edge sends remote users to the {self.edge_side}")
        out += [f"xuc on {node}: {text}" for node, text in self.xuc.items()]
        if self.phones:
            out.append(self.phones)
        out += [f"calls in progress on {node}: {n}" for node, n in self.calls.items() if n]
        out += [f"calls in progress on {node}: {why}" for node, why in self.calls_unknown.items()]
        if self.verdict:
            out.append(f"site verdict: {self.verdict}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "active_side": self.active_side,
            "telephony": self.telephony,
            "edge_side": self.edge_side,
            "xuc": dict(self.xuc),
            "xuc_ready": dict(self.xuc_ready),
            "verdict": self.verdict,
            "phones": self.phones,
            "calls": dict(self.calls),
            "calls_unknown": dict(self.calls_unknown),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SiteFacts:
        at = data.get("at")
        return cls(
            at=float(at) if isinstance(at, int | float) else None,
            active_side=data.get("active_side"),
            telephony=str(data.get("telephony", "")),
            edge_side=data.get("edge_side"),
            xuc={str(k): str(v) for k, v in dict(data.get("xuc") or {}).items()},
            xuc_ready={
                str(k): v if isinstance(v, bool) else None
                for k, v in dict(data.get("xuc_ready") or {}).items()
            },
            verdict=str(data.get("verdict", "")),
            phones=str(data.get("phones", "")),
            calls={
                str(k): v
                for k, v in dict(data.get("calls") or {}).items()
                if isinstance(v, int) and not isinstance(v, bool)
            },
            calls_unknown={
                str(k): str(v) for k, v in dict(data.get("calls_unknown") or {}).items()
            },
        )


def _who(site: Site, verdicts: SiteVerdicts) -> str:
    side = verdicts.active_side
    if side == "master":
        return f"the master ({site.xivo_master.id})"
    if side == "slave":
        return f"the slave ({site.xivo_slave.id})"
    if side == "both":
        return "both XiVO (split brain)"
    states = set(verdicts.xivo_states.values())
    if states and states <= {XivoState.STANDBY, XivoState.STOPPED}:
        return "neither XiVO"
    return "nobody known (not enough data)"


def _edge_side(snap: NodeSnapshot | None) -> str:
    targets = snap.edge.targets if snap is not None and snap.edge is not None else None
    side = targets.overall.value if targets is not None else "unknown"
    if snap is not None and not snap.reachability.ok:
        side = f"{side} (Edge unreachable: last known)"
    return side


def site_facts(
    site: Site, verdicts: SiteVerdicts | None, nodes: Mapping[str, NodeSnapshot], now: float
) -> SiteFacts:
    """The facts of `site` from its latest judgement and node snapshots."""
    if verdicts is None:
        return SiteFacts(None, None, "unknown (not polled yet)", None)
    sides = {edge.id: _edge_side(nodes.get(edge.id)) for edge in site.edges}
    edge_side: str | None = None
    if len(set(sides.values())) == 1:
        edge_side = next(iter(sides.values()))
    elif sides:
        # A 3-server Edge whose nodes disagree: each one's side, never one made-up answer.
        edge_side = ", ".join(f"{node_id} → {side}" for node_id, side in sides.items())
    xuc: dict[str, str] = {}
    ready: dict[str, bool | None] = {}
    for cc in (site.cc_master, site.cc_slave):
        if cc is None:
            continue
        snap = nodes.get(cc.id)
        readiness = snap.cc.xuc if snap is not None and snap.cc is not None else None
        if snap is None or snap.reachability.state.value == "not_polled":
            xuc[cc.id], ready[cc.id] = "not polled yet", None
        elif not snap.reachability.ok:
            xuc[cc.id], ready[cc.id] = f"CC unreachable ({snap.reachability.state.value})", None
        elif readiness is None:
            xuc[cc.id], ready[cc.id] = "readiness not read", None
        else:
            xuc[cc.id] = readiness.describe(now)
            ready[cc.id] = readiness.ready
    calls: dict[str, int] = {}
    calls_unknown: dict[str, str] = {}
    for xivo in (site.xivo_master, site.xivo_slave):
        snap = nodes.get(xivo.id)
        if snap is None or snap.reachability.state.value == "not_polled":
            calls_unknown[xivo.id] = "not known (not polled yet)"
            continue
        if not snap.reachability.ok:
            calls_unknown[xivo.id] = f"not known (unreachable: {snap.reachability.state.value})"
            continue
        counts = snap.phone_counts()
        if counts is None:
            calls_unknown[xivo.id] = "not known (not read)"
        elif counts.calls_state is CountState.COUNTED and counts.calls is not None:
            calls[xivo.id] = counts.calls
        elif counts.calls_state is CountState.UNREADABLE:
            calls_unknown[xivo.id] = f"not known ({counts.reason or 'answer not understood'})"
        elif counts.calls_state is not CountState.NOT_RUNNING:
            calls_unknown[xivo.id] = "not known (not read)"
    placement = verdicts.phones
    known = placement.master is not None or placement.slave is not None
    return SiteFacts(
        phones=verdicts.phones_text if known else "",
        calls=calls,
        calls_unknown=calls_unknown,
        at=verdicts.evaluated_at,
        active_side=verdicts.active_side,
        telephony=_who(site, verdicts),
        edge_side=edge_side,
        xuc=xuc,
        xuc_ready=ready,
        verdict=f"{verdicts.headline.title} ({verdicts.severity.value})",
    )


@record
class Consequences:
    """What a confirmation leads with: the live facts and what changes (`lines`), then
    what is risky about it now (`warnings`)."""

    lines: tuple[str, ...]
    warnings: tuple[str, ...] = ()


def _serving(facts: SiteFacts, side: Side) -> bool | None:
    if facts.active_side is None and not facts.known:
        return None
    return facts.active_side in (side.value, "both")


def _now(facts: SiteFacts) -> str:
    return f"Now: telephony is served by {facts.telephony}" + (
        f" (as of {clock(facts.at)})" if facts.at is not None else ""
    )


def xuc_restart_consequences(facts: SiteFacts, site: Site, cc: Node) -> Consequences:
    side = cc.side or Side.MASTER
    where = f" (https://{cc.fqdn})" if cc.fqdn else ""
    lines = [
        _now(facts),
        f"Restarts xuc on the CC {side.value} {cc.id}{where}: every session on it (UC, "
        "CCAgent, Switchboard) is cut until xuc is ready again.",
    ]
    if cc.id in facts.xuc:
        lines.append(f"xuc there now: {facts.xuc[cc.id]}")
    warnings: list[str] = []
    if _serving(facts, side) is False:
        warnings.append(
            f"the {side.value} XiVO does not serve telephony now ({facts.telephony}): xuc "
            "restarted there connects to a XiVO that does not serve"
        )
    elif not facts.known:
        warnings.append("the site was not polled yet: who serves telephony is not known")
    return Consequences(tuple(lines), tuple(warnings))


def _relayed() -> str:
    return (
        "`edge-dcomp up -d` recreates the Edge containers whose settings change (nginx, "
        "the SIP proxy, the TURN server): calls relayed through the Edge (SIP, TURN media) "
        "are cut and remote users' web sessions reconnect."
    )


def edge_switch_consequences(facts: SiteFacts, site: Site, target: Side) -> Consequences:
    xivo = site.xivo(target)
    cc = site.cc(target)
    to = f"XiVO {xivo.ip}" + (f", CC {cc.ip}" if cc is not None and cc.ip else "")
    lines = [_now(facts)]
    if facts.edge_side is not None:
        lines.append(f"The Edge sends remote users to the {facts.edge_side} now.")
    lines.append(f"After this change: remote users go to the {target.value} ({to}).")
    lines.append(_relayed())
    warnings: list[str] = []
    source = site.xivo(Side.SLAVE if target is Side.MASTER else Side.MASTER)
    cut = facts.calls.get(source.id, 0)
    if cut:
        warnings.append(
            f"{cut} call(s) in progress on {source.id}: switching now cuts those relayed "
            "through the Edge"
        )
    serving = _serving(facts, target)
    if serving is False:
        warnings.append(
            f"the {target.value} does NOT serve telephony now ({facts.telephony}): remote "
            f"users would land on a XiVO without telephony"
        )
    elif not facts.known:
        warnings.append("the site was not polled yet: who serves telephony is not known")
    if cc is not None and facts.xuc_ready.get(cc.id) is False:
        warnings.append(
            f"xuc on the CC {target.value} is not ready ({facts.xuc.get(cc.id, '?')}): remote "
            "CC users would reach a xuc that does not serve"
        )
    if not cut and source.id in facts.calls_unknown:
        warnings.append(
            f"calls in progress on {source.id}: {facts.calls_unknown[source.id]}; switching "
            "cuts any relayed through the Edge"
        )
    return Consequences(tuple(lines), tuple(warnings))


def edge_up_consequences(facts: SiteFacts, site: Site) -> Consequences:
    lines = [_now(facts)]
    if facts.edge_side is not None:
        lines.append(f"The Edge .env points to the {facts.edge_side}; up -d applies it.")
    lines.append(_relayed())
    return Consequences(tuple(lines))
