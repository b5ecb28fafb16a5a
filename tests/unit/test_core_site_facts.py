"""The live facts a confirmation leads with, and what a change does from there."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Address

from resil_tui.core.cluster import Finding, Severity, SiteVerdicts, Verdict, XivoState
from resil_tui.core.node_status import CcStatus, NodeSnapshot, Reachability, ReachState
from resil_tui.core.site_facts import (
    SiteFacts,
    edge_switch_consequences,
    edge_up_consequences,
    site_facts,
    xuc_restart_consequences,
)
from resil_tui.core.xuc_readiness import StartSource, XucReadiness, XucRun, XucState
from resil_tui.inventory_model import Node, NodeKind, Side, Site, SshSettings

NOW = 1_800_000_000.0


def node(node_id: str, kind: NodeKind, side: Side | None, ip: str, fqdn: str | None = None) -> Node:
    return Node(node_id, "s", kind, side, SshSettings(node_id), IPv4Address(ip), fqdn)


SITE = Site(
    "s",
    node("s.xivo.master", NodeKind.XIVO, Side.MASTER, "10.0.0.1"),
    node("s.xivo.slave", NodeKind.XIVO, Side.SLAVE, "10.0.0.2"),
    node("s.cc.master", NodeKind.CC, Side.MASTER, "10.0.1.1", "cc1.example"),
    node("s.cc.slave", NodeKind.CC, Side.SLAVE, "10.0.1.2", "cc2.example"),
    (node("s.edge", NodeKind.EDGE, None, "10.0.2.1", "edge.example"),),
)


def verdicts(active: str | None) -> SiteVerdicts:
    primary = Finding(Verdict.NORMAL, Severity.OK, "Normal: master serves telephony", "")
    states = {"s.xivo.master": XivoState.ACTIVE, "s.xivo.slave": XivoState.STANDBY}
    return SiteVerdicts("s", primary, [primary], Severity.OK, active, states, NOW - 3)


def cc_snap(node_id: str, state: XucState) -> NodeSnapshot:
    run = XucRun(StartSource.INSPECT, True, "running", NOW - 100, NOW - 100)
    xuc = XucReadiness(state, NOW - 90 if state is XucState.READY else NOW - 100, "t", run=run)
    return NodeSnapshot(
        node_id,
        "cc",
        "slave",
        Reachability(ReachState.OK),
        cc=CcStatus(xuc=xuc),
        last_success_at=NOW - 3,
    )


def test_facts_in_words() -> None:
    nodes = {"s.cc.slave": cc_snap("s.cc.slave", XucState.STARTING)}
    facts = site_facts(SITE, verdicts("master"), nodes, NOW)
    assert facts.telephony == "the master (s.xivo.master)" and facts.edge_side == "unknown"
    assert facts.xuc["s.cc.slave"].startswith("… starting for")
    assert facts.xuc["s.cc.master"] == "not polled yet" and facts.xuc_ready["s.cc.slave"] is False
    assert SiteFacts.from_dict(facts.to_dict()) == facts
    never = site_facts(SITE, None, {}, NOW)
    assert not never.known and never.lines() == ["not polled yet: the live state is unknown"]


def test_edge_switch_to_the_side_not_serving_warns() -> None:
    facts = site_facts(SITE, verdicts("master"), {}, NOW)
    found = edge_switch_consequences(facts, SITE, Side.SLAVE)
    assert found.lines[0].startswith("Now: telephony is served by the master (s.xivo.master)")
    assert (
        "After this change: remote users go to the slave (XiVO 10.0.0.2, CC 10.0.1.2)."
        in found.lines
    )
    assert any("recreates the Edge containers" in x and "calls relayed" in x for x in found.lines)
    assert found.warnings and "does NOT serve telephony now" in found.warnings[0]
    toward = edge_switch_consequences(
        site_facts(SITE, verdicts("slave"), {}, NOW), SITE, Side.SLAVE
    )
    # The master was never read: its calls are not known, never "none".
    assert toward.warnings == (
        "calls in progress on s.xivo.master: not known (not polled yet); switching cuts any "
        "relayed through the Edge",
    )


def test_edge_switch_warns_when_the_targets_xuc_is_not_ready() -> None:
    nodes = {"s.cc.slave": cc_snap("s.cc.slave", XucState.NOT_READY)}
    facts = site_facts(SITE, verdicts("slave"), nodes, NOW)
    found = edge_switch_consequences(facts, SITE, Side.SLAVE)
    assert any("xuc on the CC slave is not ready" in w for w in found.warnings)


def test_xuc_restart_says_what_drops() -> None:
    nodes = {"s.cc.slave": cc_snap("s.cc.slave", XucState.READY)}
    facts = site_facts(SITE, verdicts("master"), nodes, NOW)
    found = xuc_restart_consequences(facts, SITE, SITE.cc_slave)  # type: ignore[arg-type]
    assert any("every session on it (UC, CCAgent, Switchboard) is cut" in x for x in found.lines)
    assert any(x.startswith("xuc there now: ✔ ready since") for x in found.lines)
    assert "does not serve telephony now" in found.warnings[0]
    up = edge_up_consequences(facts, SITE)
    assert "The Edge .env points to the unknown; up -d applies it." in up.lines
    assert replace(facts, at=None).known is False


def test_an_edge_switch_says_the_calls_it_cuts() -> None:
    from resil_tui.core.telephony import PhonePlacement
    from tests.unit.test_core_cluster import master_active, slave_standby
    from tests.unit.test_core_telephony import with_phones

    master = replace(with_phones(master_active(), 40, calls=4), node_id="s.xivo.master")
    slave = replace(with_phones(slave_standby(), None), node_id="s.xivo.slave")
    judged = replace(verdicts("master"), phones=PhonePlacement(40, 0))
    facts = site_facts(SITE, judged, {n.node_id: n for n in (master, slave)}, NOW)
    assert facts.calls == {"s.xivo.master": 4} and facts.phones.startswith("phones: 40 on master")
    assert "calls in progress on s.xivo.master: 4" in facts.lines()
    assert SiteFacts.from_dict(facts.to_dict()) == facts
    assert facts.calls_unknown == {}  # the standby's Asterisk is stopped: no calls there
    found = edge_switch_consequences(facts, SITE, Side.SLAVE)
    assert any(
        w.startswith("4 call(s) in progress on s.xivo.master: switching") for w in found.warnings
    )


def test_an_edge_switch_never_reads_calls_not_counted_as_none() -> None:
    from resil_tui.core.asterisk import parse_channels_count
    from tests.unit.test_core_cluster import master_active, slave_standby
    from tests.unit.test_core_telephony import with_phones

    master = replace(with_phones(master_active(), 40, calls=4), node_id="s.xivo.master")
    slave = replace(with_phones(slave_standby(), None), node_id="s.xivo.slave")
    assert master.xivo is not None
    garbled = parse_channels_count("Channel  Location  State\n")  # an answer not understood
    unread = replace(master, xivo=replace(master.xivo, channels=garbled))
    facts = site_facts(
        SITE, verdicts("master"), {"s.xivo.master": unread, "s.xivo.slave": slave}, NOW
    )
    assert facts.calls == {} and set(facts.calls_unknown) == {"s.xivo.master"}
    assert facts.calls_unknown["s.xivo.master"] == (
        "not known (no 'active channels' or 'active calls' line)"
    )
    assert SiteFacts.from_dict(facts.to_dict()) == facts
    found = edge_switch_consequences(facts, SITE, Side.SLAVE)
    assert any(
        w.startswith("calls in progress on s.xivo.master: not known") and "cuts any" in w
        for w in found.warnings
    )
    down = replace(master, reachability=Reachability(ReachState.TIMEOUT))
    lost = site_facts(SITE, verdicts("master"), {"s.xivo.master": down, "s.xivo.slave": slave}, NOW)
    assert lost.calls_unknown == {"s.xivo.master": "not known (unreachable: timeout)"}
    assert "calls in progress on s.xivo.master: not known (unreachable: timeout)" in lost.lines()
    never = site_facts(SITE, verdicts("master"), {"s.xivo.slave": slave}, NOW)
    assert never.calls_unknown == {"s.xivo.master": "not known (not polled yet)"}
    # A record written before the field existed still reads.
    old = {k: v for k, v in facts.to_dict().items() if k != "calls_unknown"}
    assert SiteFacts.from_dict(old).calls_unknown == {}
