"""Main/Standby wherever a next-LTS site's roles are shown (core/roles.py is the one source);
a classic site keeps master/slave. JSON keys stay; labels are added."""

from __future__ import annotations

import dataclasses
from ipaddress import IPv4Address

from test_core_wizard_run import a_run

from resil_tui.cli.status import _node_line, role_labels
from resil_tui.core.edge_side import EdgeSide, EdgeTargets
from resil_tui.core.ha import HaConfig, HaMode
from resil_tui.core.node_status import (
    EdgeStatus,
    NodeSnapshot,
    Reachability,
    ReachState,
    XivoStatus,
)
from resil_tui.core.roles import CLASSIC_WORDS, NEXT_LTS_WORDS
from resil_tui.core.wizard_report import render_report
from resil_tui.core.wizard_run import WizardRun
from resil_tui.inventory_model import Node, NodeKind, Resilience, Side, Site, SshSettings
from resil_tui.ui.widgets.node_table import edge_summary, ha_text, role_text

NOW = 1_795_600_000.0
UP = Reachability(ReachState.OK)


def node(nid: str, kind: NodeKind, side: Side | None, ip: str | None = None) -> Node:
    return Node(nid, "s", kind, side, SshSettings(nid), IPv4Address(ip) if ip else None)


def site(mode: Resilience) -> Site:
    return Site(
        "s",
        node("s.xivo.master", NodeKind.XIVO, Side.MASTER, "10.0.0.1"),
        node("s.xivo.slave", NodeKind.XIVO, Side.SLAVE, "10.0.0.2"),
        edges=(node("s.edge", NodeKind.EDGE, None),),
        resilience=mode,
    )


def xivo_snap(mode: HaMode) -> NodeSnapshot:
    ha = HaConfig(mode=mode, peer=IPv4Address("10.0.0.2"), raw="{}")
    snap = NodeSnapshot("s.xivo.master", "xivo", xivo=XivoStatus(ha=ha))
    return dataclasses.replace(snap, last_success_at=NOW, polled_at=NOW, reachability=UP)


def edge_snap() -> NodeSnapshot:
    targets = EdgeTargets(variables=[], overall=EdgeSide.SLAVE)
    snap = NodeSnapshot("s.edge", "edge", edge=EdgeStatus({}, targets=targets))
    return dataclasses.replace(snap, last_success_at=NOW, polled_at=NOW, reachability=UP)


def test_the_node_table_says_main_and_standby_on_a_next_lts_site() -> None:
    master = node("s.xivo.master", NodeKind.XIVO, Side.MASTER)
    assert role_text(master, NEXT_LTS_WORDS) == "XiVO Main"
    assert role_text(master) == "XiVO master"
    assert ha_text(xivo_snap(HaMode.MASTER), NEXT_LTS_WORDS) == "Main → 10.0.0.2"
    assert ha_text(xivo_snap(HaMode.MASTER), CLASSIC_WORDS) == "master → 10.0.0.2"
    assert edge_summary(edge_snap(), NEXT_LTS_WORDS).startswith("Edge → Standby")
    assert edge_summary(edge_snap()).startswith("Edge → slave")


def test_status_text_rows_and_json_labels() -> None:
    _, what, _ = _node_line(xivo_snap(HaMode.SLAVE), NOW, NEXT_LTS_WORDS)
    assert what.startswith("HA Standby")
    _, what, _ = _node_line(edge_snap(), NOW, NEXT_LTS_WORDS)
    assert what == "Edge → Standby"
    labels = role_labels(site(Resilience.MANUAL))
    assert labels["sides"] == {"master": "Main", "slave": "Standby"}
    assert labels["nodes"]["s.xivo.slave"] == "xivo Standby"
    assert role_labels(site(Resilience.CLASSIC))["sides"] == {"master": "master", "slave": "slave"}


def test_the_wizard_record_is_titled_in_the_site_words() -> None:
    run = a_run()
    assert render_report(run).startswith("# Failover to the slave: site demo")
    next_lts = dataclasses.replace(run, resilience="automatic")
    text = render_report(next_lts)
    assert text.startswith("# Failover to the Standby: site demo")
    assert "When the Main is back, fail back" in text
    back = WizardRun.from_dict(next_lts.to_dict())
    assert back.resilience == "automatic"
    # A run saved before the field existed reads as classic.
    old = next_lts.to_dict()
    del old["resilience"]
    assert WizardRun.from_dict(old).resilience == "classic"
