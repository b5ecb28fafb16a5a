import json
from ipaddress import IPv4Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from resil_tui.core.compose import ContainerState, parse_compose_ps
from resil_tui.core.ha import HaCron, parse_cron_file, parse_ha_conf
from resil_tui.core.node_status import (
    CcStatus,
    EdgeSide,
    EdgeStatus,
    NodeSnapshot,
    Reachability,
    ReachState,
    SiteSnapshot,
    XivoStatus,
    edge_targets,
    extract_addresses,
)
from resil_tui.core.services import parse_xivo_service_status
from resil_tui.core.sync_log import last_sync_result

XM, XS = IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2")
CM, CS = IPv4Address("10.0.1.1"), IPv4Address("10.0.1.2")

MASTER_VALUES = {
    "XIVO_HOST": "10.0.0.1",
    "XIVOCC_HOST": "10.0.1.1",
    "TURN_ALLOWED_PEERS": "10.0.0.1:5060,10.0.3.0/24",
    "XIVO_MDS_HOST_DEFAULT": "10.0.0.1",
}


def _targets(values):
    return edge_targets(values, XM, XS, CM, CS)


def test_all_master():
    t = _targets(MASTER_VALUES)
    assert t.overall is EdgeSide.MASTER
    assert {v.name: v.side for v in t.variables} == {
        "XIVO_HOST": EdgeSide.MASTER,
        "XIVO_MDS_HOST_DEFAULT": EdgeSide.MASTER,
        "TURN_ALLOWED_PEERS": EdgeSide.MASTER,
        "XIVOCC_HOST": EdgeSide.MASTER,
    }


def test_all_slave_with_quotes():
    values = {
        "XIVO_HOST": '"10.0.0.2"',
        "XIVOCC_HOST": "'10.0.1.2'",
        "TURN_ALLOWED_PEERS": "10.0.0.2 10.0.3.5-10.0.3.9",
        "XIVO_MDS_HOST_DEFAULT": "10.0.0.2",
    }
    assert _targets(values).overall is EdgeSide.SLAVE


def test_mixed_across_variables():
    values = dict(MASTER_VALUES, XIVO_HOST="10.0.0.2")
    t = _targets(values)
    assert t.overall is EdgeSide.MIXED
    assert t.variable("XIVO_HOST").side is EdgeSide.SLAVE  # type: ignore[union-attr]


def test_mixed_inside_one_variable():
    t = _targets(dict(MASTER_VALUES, TURN_ALLOWED_PEERS="10.0.0.1,10.0.0.2"))
    assert t.variable("TURN_ALLOWED_PEERS").side is EdgeSide.MIXED  # type: ignore[union-attr]
    assert t.overall is EdgeSide.MIXED


def test_whole_addresses_only():
    # 10.0.0.10 and 110.0.0.1 must not count as 10.0.0.1; a /24 network names no node.
    values = {
        "XIVO_HOST": "10.0.0.10",
        "XIVOCC_HOST": "210.0.1.1",
        "TURN_ALLOWED_PEERS": "110.0.0.1,10.0.0.1/24, 10.0.0.1.5",
        "XIVO_MDS_HOST_DEFAULT": "xivo.example.com",
    }
    t = _targets(values)
    assert t.overall is EdgeSide.UNKNOWN
    assert sorted(t.unknown_variables) == sorted(values)


def test_ranges_and_slash32_count():
    assert extract_addresses("10.0.0.1-10.0.0.2") == [XM, XS]
    assert extract_addresses("10.0.0.2/32, 10.0.0.0/8") == [XS]
    assert extract_addresses("10.0.0.1:3478") == [XM]
    assert extract_addresses("999.1.1.1") == []


def test_missing_variable_and_no_cc_ips():
    values = {k: v for k, v in MASTER_VALUES.items() if k != "XIVO_HOST"}
    t = edge_targets(values, XM, XS, None, None)
    assert t.variable("XIVO_HOST").value is None  # type: ignore[union-attr]
    assert t.variable("XIVOCC_HOST").side is EdgeSide.UNKNOWN  # type: ignore[union-attr]
    assert t.overall is EdgeSide.MASTER
    assert json.dumps(t.to_dict())


@given(st.dictionaries(st.sampled_from(list(MASTER_VALUES)), st.text()))
def test_edge_targets_never_raises(values):
    t = _targets(values)
    assert t.overall in EdgeSide


def test_snapshot_to_dict_is_json():
    xivo = NodeSnapshot(
        "s.xivo.master",
        "xivo",
        "master",
        Reachability(ReachState.OK, "", 100.0),
        latency_seconds=0.02,
        polled_at=110.0,
        last_success_at=110.0,
        xivo=XivoStatus(
            ha=parse_ha_conf('{"node_type": "master", "remote_address": "10.0.0.2"}'),
            services=parse_xivo_service_status("\trunning\t\tasterisk\n"),
            disabled_flag=False,
            cron=HaCron(
                parse_cron_file("0 * * * * root /usr/bin/xivo-sync\n"), parse_cron_file(None)
            ),
            sync=last_sync_result(""),
            sync_key_present=True,
        ),
        raw={"xivo-service status all": "\trunning\t\tasterisk\n"},
    )
    cc = NodeSnapshot(
        "s.cc.master",
        "cc",
        "master",
        cc=CcStatus(parse_compose_ps("NAME  SERVICE  STATUS\nx-xuc-1  xuc  Up 1 minute\n")),
    )
    edge = NodeSnapshot("s.edge", "edge", edge=EdgeStatus(MASTER_VALUES, _targets(MASTER_VALUES)))
    site = SiteSnapshot("s", {n.node_id: n for n in (xivo, cc, edge)}, polled_at=110.0)
    data = json.loads(json.dumps(site.to_dict()))
    assert data["nodes"]["s.xivo.master"]["xivo"]["ha"]["mode"] == "master"
    assert data["nodes"]["s.cc.master"]["cc"]["xuc_state"] == "up"
    assert data["nodes"]["s.cc.master"]["reachability"]["state"] == "not_polled"
    assert "raw" not in data["nodes"]["s.xivo.master"]
    assert json.loads(json.dumps(site.to_dict(include_raw=True)))["nodes"]["s.xivo.master"]["raw"]
    assert cc.cc is not None and cc.cc.xuc_state() is ContainerState.UP


@pytest.mark.parametrize("state", list(ReachState))
def test_reachability_ok_only_for_ok(state):
    assert Reachability(state).ok is (state is ReachState.OK)
