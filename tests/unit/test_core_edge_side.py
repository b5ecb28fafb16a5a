"""The one rule for where an Edge `.env` points (status poll and switch alike)."""

import json
from ipaddress import IPv4Address

from hypothesis import given
from hypothesis import strategies as st

from resil_tui.core.edge_env import Direction, EdgeAddresses, plan_edge_switch
from resil_tui.core.edge_side import (
    EdgeSide,
    PairAddresses,
    VarSide,
    addresses_in,
    covering,
    edge_targets,
)

XM, XS = IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2")
CM, CS = IPv4Address("10.0.1.1"), IPv4Address("10.0.1.2")
PAIR = PairAddresses(XM, XS, CM, CS)

MASTER_VALUES = {
    "XIVO_HOST": "10.0.0.1",
    "XIVOCC_HOST": "10.0.1.1",
    "TURN_ALLOWED_PEERS": "10.0.0.1:5060,10.0.3.0/24",
    "XIVO_MDS_HOST_DEFAULT": "10.0.0.1",
}


def _env(values: dict[str, str]) -> str:
    return "".join(f"{k}={v}\n" for k, v in values.items())


def _targets(values, pair=PAIR):
    return edge_targets(_env(values), pair)


def test_all_master():
    t = _targets(MASTER_VALUES)
    assert t.overall is EdgeSide.MASTER
    assert {v.name: v.side for v in t.variables} == dict.fromkeys(MASTER_VALUES, EdgeSide.MASTER)


def test_all_slave_with_quotes():
    values = {
        "XIVO_HOST": '"10.0.0.2"',
        "XIVOCC_HOST": "'10.0.1.2'",
        "TURN_ALLOWED_PEERS": '"10.0.0.2 10.0.3.5-10.0.3.9"',
        "XIVO_MDS_HOST_DEFAULT": "10.0.0.2",
    }
    assert _targets(values).overall is EdgeSide.SLAVE


def test_mixed_across_variables():
    t = _targets(dict(MASTER_VALUES, XIVO_HOST="10.0.0.2"))
    assert t.overall is EdgeSide.MIXED
    assert t.variable("XIVO_HOST").side is EdgeSide.SLAVE  # type: ignore[union-attr]


def test_a_variable_allowing_both_sides_decides_nothing():
    t = _targets(dict(MASTER_VALUES, TURN_ALLOWED_PEERS="10.0.0.1,10.0.0.2"))
    assert t.variable("TURN_ALLOWED_PEERS").detail is VarSide.MIXED  # type: ignore[union-attr]
    assert t.overall is EdgeSide.MASTER


def test_whole_addresses_only():
    # 10.0.0.10 and 110.0.0.1 must not count as 10.0.0.1; a /24 network names no node.
    values = {
        "XIVO_HOST": "10.0.0.10",
        "XIVOCC_HOST": "210.0.1.1",
        "TURN_ALLOWED_PEERS": '"110.0.0.1,10.0.0.1/24, 10.0.0.1.5"',
        "XIVO_MDS_HOST_DEFAULT": "xivo.example.com",
    }
    t = _targets(values)
    assert t.overall is EdgeSide.UNKNOWN
    assert sorted(t.undecided) == sorted(values)


def test_coturn_option_form_names_the_peer():
    t = _targets(
        dict(
            MASTER_VALUES,
            TURN_ALLOWED_PEERS='"--allowed-peer-ip=10.0.0.2 --allowed-peer-ip=10.0.3.4"',
        )
    )
    assert t.variable("TURN_ALLOWED_PEERS").detail is VarSide.SLAVE  # type: ignore[union-attr]


def test_ranges_name_no_node_and_slash32_counts():
    # coturn's range `a-b` allows the addresses it covers but names none of them
    assert addresses_in("10.0.0.1-10.0.0.2") == []
    assert addresses_in("--allowed-peer-ip=10.0.0.2 --allowed-peer-ip=10.0.0.1-10.0.0.9") == [XS]
    cover = covering("--allowed-peer-ip=10.0.0.0-10.0.0.40", XS)
    assert cover is not None and cover.text == "10.0.0.0-10.0.0.40"
    assert covering("10.0.0.0/24", XM) is not None and covering("10.0.1.0/24", XM) is None
    assert addresses_in("10.0.0.2/32, 10.0.0.0/8") == [XS]
    assert addresses_in("10.0.0.1:3478") == [XM]
    assert addresses_in("999.1.1.1") == []


def test_missing_variable_and_no_cc_ips():
    values = {k: v for k, v in MASTER_VALUES.items() if k != "XIVO_HOST"}
    t = _targets(values, PairAddresses(XM, XS))
    assert t.variable("XIVO_HOST").value is None  # type: ignore[union-attr]
    assert t.variable("XIVO_HOST").detail is VarSide.MISSING  # type: ignore[union-attr]
    assert t.variable("XIVOCC_HOST").side is EdgeSide.UNKNOWN  # type: ignore[union-attr]
    assert t.overall is EdgeSide.MASTER
    assert json.dumps(t.to_dict())


def test_a_reference_takes_the_side_it_expands_to_in_status_and_in_the_plan():
    # The case of issue 13: the Edge pane said master, the Status pane unknown.
    text = _env(dict(MASTER_VALUES, XIVO_MDS_HOST_DEFAULT="${XIVO_HOST}"))
    t = edge_targets(text, PAIR)
    mds = t.variable("XIVO_MDS_HOST_DEFAULT")
    assert mds is not None and mds.detail is VarSide.MASTER and mds.follows == ("XIVO_HOST",)
    assert t.overall is EdgeSide.MASTER
    plan = plan_edge_switch(text, EdgeAddresses(XM, XS, CM, CS), Direction.TO_SLAVE)
    entry = plan.entry("XIVO_MDS_HOST_DEFAULT")
    assert entry is not None and entry.side_before is VarSide.MASTER
    after = edge_targets(plan.new_text, PAIR)
    assert after.overall is EdgeSide.SLAVE


@given(st.dictionaries(st.sampled_from(list(MASTER_VALUES)), st.text()))
def test_edge_targets_never_raises(values):
    t = edge_targets("".join(f"{k}={v}" for k, v in values.items()), PAIR)
    assert t.overall in EdgeSide


@given(st.text())
def test_edge_targets_never_raises_on_any_text(text):
    assert edge_targets(text, PAIR).overall in EdgeSide


def _inspect(*containers: tuple[str, dict[str, str]]) -> str:
    return json.dumps(
        [
            {
                "Name": f"/{name}",
                "Config": {"Env": [f"{k}={v}" for k, v in env.items()] + ["PATH=/bin"]},
            }
            for name, env in containers
        ],
        indent=4,
    )


def test_containers_behind_the_env_file():
    from resil_tui.core.edge_side import containers_behind

    slave_env = _env({**MASTER_VALUES, "XIVO_HOST": "10.0.0.2", "XIVOCC_HOST": "10.0.1.2"})
    # Still created from the master's values: up -d has something left to apply.
    lagging = _inspect(("edge-nginx-1", {"XIVO_HOST": "10.0.0.1", "XIVOCC_HOST": "10.0.1.1"}))
    behind = containers_behind(slave_env, lagging, PAIR)
    assert behind is not None and len(behind) == 2
    assert behind[0] == "edge-nginx-1: XIVO_HOST names the master, the .env the slave"
    current = _inspect(("edge-nginx-1", {"XIVO_HOST": "10.0.0.2", "XIVOCC_HOST": "10.0.1.2"}))
    assert containers_behind(slave_env, current, PAIR) == []
    # Nothing to compare (the variables are not in any container's environment).
    assert containers_behind(slave_env, _inspect(("edge-coturn-1", {"OTHER": "x"})), PAIR) is None
    assert containers_behind(slave_env, "not json", PAIR) is None
