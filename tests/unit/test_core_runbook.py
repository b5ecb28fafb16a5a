"""The failover / failback runbook against the seed's procedure table (XIVO.md).

The expectations below are written from the seed, not from the builder: per part and
direction, which actions happen on which node, and what is only verified.
"""

from __future__ import annotations

import itertools
import json
import re
import shlex
from dataclasses import replace
from ipaddress import IPv4Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resil_tui.core import edge_env
from resil_tui.core.runbook import (
    ActionName,
    ActionSpec,
    Condition,
    ConditionKind,
    Direction,
    OnFail,
    Part,
    Runbook,
    RunbookOptions,
    Step,
    StepKind,
    build_runbook,
    parse_parts,
    present_parts,
)
from resil_tui.core.runbook_markdown import code, render_markdown
from resil_tui.inventory_model import Node, NodeKind, Side, Site, SshSettings

# --- a demo-like site (lab contract values) -------------------------------------------------

IP = {
    "xivo.master": "10.50.0.11",
    "xivo.slave": "10.50.0.12",
    "cc.master": "10.50.0.21",
    "cc.slave": "10.50.0.22",
    "mds.mds1": "10.50.0.31",
    "mds.mds2": "10.50.0.32",
}
FQDN = {
    "cc.master": "cc1.demo.example",
    "cc.slave": "cc2.demo.example",
    "edge": "edge.demo.example",
}


def node(name: str, kind: NodeKind, side: Side | None, site: str = "demo") -> Node:
    return Node(
        id=f"{site}.{name}",
        site=site,
        kind=kind,
        side=side,
        ssh=SshSettings(host=f"{name.replace('.', '-')}.{site}.lan", user="root"),
        ip=IPv4Address(IP[name]) if name in IP else None,
        fqdn=FQDN.get(name),
        name=name,
    )


def make_site(cc: bool = True, edge: bool = True, mds: int = 2) -> Site:
    return Site(
        name="demo",
        xivo_master=node("xivo.master", NodeKind.XIVO, Side.MASTER),
        xivo_slave=node("xivo.slave", NodeKind.XIVO, Side.SLAVE),
        cc_master=node("cc.master", NodeKind.CC, Side.MASTER) if cc else None,
        cc_slave=node("cc.slave", NodeKind.CC, Side.SLAVE) if cc else None,
        edges=(node("edge", NodeKind.EDGE, None),) if edge else (),
        mds=tuple(node(f"mds.mds{i}", NodeKind.MDS, None) for i in range(1, mds + 1)),
    )


SHAPES = [
    pytest.param(dict(cc=cc, edge=edge, mds=mds), id=f"cc{int(cc)}-edge{int(edge)}-mds{mds}")
    for cc, edge, mds in itertools.product([False, True], [False, True], [0, 2])
]
SUBSETS: list[frozenset[Part] | None] = [None] + [
    frozenset(c) for r in range(len(Part) + 1) for c in itertools.combinations(list(Part), r)
]

# --- the seed's table, written independently of the builder ---------------------------------

# (part, direction) -> the actions the seed asks for: (action, node name, args)
SEED_ACTIONS: dict[tuple[Part, Direction], list[tuple[str, str, dict[str, str]]]] = {
    (Part.XIVO, Direction.FAILOVER): [],
    (Part.XIVO, Direction.FAILBACK): [],
    (Part.XDS, Direction.FAILOVER): [],
    (Part.XDS, Direction.FAILBACK): [],
    (Part.CC, Direction.FAILOVER): [("xivocc_restart", "cc.slave", {"service": "xuc"})],
    (Part.CC, Direction.FAILBACK): [("xivocc_restart", "cc.master", {"service": "xuc"})],
    (Part.EDGE, Direction.FAILOVER): [
        ("edge_switch", "edge", {"to": "slave", "env_path": "/etc/docker/edge/.env"}),
        ("edge_up", "edge", {}),
    ],
    (Part.EDGE, Direction.FAILBACK): [
        ("edge_switch", "edge", {"to": "master", "env_path": "/etc/docker/edge/.env"}),
        ("edge_up", "edge", {}),
    ],
}
SEED_SHELL = {
    "xivocc_restart": "xivocc-dcomp restart xuc",
    "edge_up": "edge-dcomp up -d",
    "edge_switch": None,  # no sed one-liner on purpose
}
TARGET = {Direction.FAILOVER: "slave", Direction.FAILBACK: "master"}
SOURCE = {Direction.FAILOVER: "master", Direction.FAILBACK: "slave"}


def expected_actions(
    site: Site, direction: Direction, only: frozenset[Part] | None
) -> list[tuple[str, str, dict[str, str]]]:
    chosen = present_parts(site) & (frozenset(Part) if only is None else only)
    out: list[tuple[str, str, dict[str, str]]] = []
    for part in (Part.XIVO, Part.XDS, Part.CC, Part.EDGE):  # the seed's CC before Edge
        if part in chosen:
            out += [(a, f"demo.{n}", args) for a, n, args in SEED_ACTIONS[(part, direction)]]
    return out


def check_against_seed(
    rb: Runbook, site: Site, direction: Direction, only: frozenset[Part] | None
) -> None:
    steps = rb.steps
    ids = [s.id for s in steps]
    assert len(ids) == len(set(ids)), ids
    for s in steps:
        if s.kind is StepKind.ACTION:
            assert s.node_id is not None and s.command is not None, s.id
            assert s.part in (Part.CC, Part.EDGE), s.id  # XiVO and XDS: nothing to do
        if s.kind is StepKind.WAIT:
            assert s.timeout_seconds is not None and s.timeout_seconds > 0, s.id
        if s.kind in (StepKind.CHECK, StepKind.WAIT):
            assert s.condition is not None, s.id
        if s.shell is not None:
            assert shlex.join(shlex.split(s.shell)) == s.shell
        assert s.title and s.detail and "None" not in s.detail, s.id

    actions = [
        (s.command.name.value, s.node_id, dict(s.command.args))
        for s in steps
        if s.kind is StepKind.ACTION and s.command is not None
    ]
    assert actions == expected_actions(site, direction, only)
    for s in rb.of_kind(StepKind.ACTION):
        assert s.command is not None
        assert s.shell == SEED_SHELL[s.command.name.value]

    # Guards first, before any action; always the target's reachability first of all.
    assert steps[0].id == "guard.target_reachable"
    assert steps[0].node_id == f"demo.xivo.{TARGET[direction]}"
    n_guards = len(rb.guards)
    # Calls in progress on the side left are cut by a failback or by the Edge's up -d.
    cuts_calls = direction is Direction.FAILBACK or any(a[0] == "edge_switch" for a in actions)
    assert ("guard.calls_in_progress" in ids) is cuts_calls
    if cuts_calls:
        calls = rb.step("guard.calls_in_progress")
        assert calls.node_id == f"demo.xivo.{SOURCE[direction]}"
        assert calls.condition is not None and calls.condition.kind is ConditionKind.CALLS_BELOW
        assert calls.on_fail is OnFail.CONFIRM and calls.wait_seconds is not None
        assert calls.shell == "asterisk -rx 'core show channels count'"
    assert n_guards == 3 + cuts_calls and all(s.guard for s in steps[:n_guards])
    assert all(s.kind is StepKind.CHECK and s.part is None for s in rb.guards)
    split = rb.step("guard.split_brain")
    assert split.on_fail is OnFail.WARN
    assert ids.index("guard.split_brain") < min(
        (i for i, s in enumerate(steps) if s.on_fail is OnFail.CONFIRM), default=len(ids)
    )
    if direction is Direction.FAILOVER:
        g = rb.step("guard.master_not_active")
        assert g.condition is not None and g.condition.kind is ConditionKind.MASTER_NOT_ACTIVE
        assert g.condition.node_id == "demo.xivo.master"
        if actions:
            assert g.on_fail is OnFail.CONFIRM and g.confirm_word == "demo.xivo.master"
        else:
            assert g.on_fail is OnFail.WARN and g.confirm_word is None
    else:
        assert "guard.master_not_active" not in ids
        g = rb.step("guard.target_healthy")
        assert g.node_id == "demo.xivo.master" and g.on_fail is OnFail.STOP

    # Which parts have steps: the chosen ones, plus the XiVO wait whenever something moves.
    chosen = present_parts(site) & (frozenset(Part) if only is None else only)
    expected_parts = set(chosen)
    if Part.CC in chosen and site.cc(Side(TARGET[direction])) is None:
        expected_parts.discard(Part.CC)
    if actions:
        expected_parts.add(Part.XIVO)
    assert rb.parts == expected_parts
    for s in steps:
        if s.part is Part.XIVO and Part.XIVO not in chosen:
            assert s.id == "xivo.wait_target_telephony"

    # Telephony on the target is awaited before any action.
    if actions:
        wait = rb.step("xivo.wait_target_telephony")
        assert wait.condition is not None
        assert wait.condition.kind is ConditionKind.XIVO_TELEPHONY_RUNNING
        assert wait.node_id == f"demo.xivo.{TARGET[direction]}"
        assert wait.shell == "xivo-service status all"
        first_action = next(i for i, s in enumerate(steps) if s.kind is StepKind.ACTION)
        assert ids.index("xivo.wait_target_telephony") < first_action

    # XiVO: verified, never an action; failback also waits for the slave's standby;
    # then the phones registered on the target.
    assert ("xivo.wait_phones_registered" in ids) is (Part.XIVO in chosen)
    if Part.XIVO in chosen:
        assert "xivo.wait_target_telephony" in ids
        phones = rb.step("xivo.wait_phones_registered")
        assert phones.node_id == f"demo.xivo.{TARGET[direction]}"
        assert phones.condition is not None
        assert phones.condition.kind is ConditionKind.PHONES_REGISTERED
        assert phones.condition.params["percent"] == "90"
        assert phones.shell == "asterisk -rx 'pjsip show contacts'"
        moved_after = (
            "xivo.wait_source_standby"
            if direction is Direction.FAILBACK
            else ("xivo.wait_target_telephony")
        )
        assert ids.index("xivo.wait_phones_registered") == ids.index(moved_after) + 1
        if direction is Direction.FAILBACK:
            standby = rb.step("xivo.wait_source_standby")
            assert standby.node_id == "demo.xivo.slave"
            assert standby.condition is not None
            assert standby.condition.kind is ConditionKind.XIVO_TELEPHONY_STOPPED
        else:
            assert "xivo.wait_source_standby" not in ids
    assert "xivo.resync_phones" not in ids  # a plain failover/failback changes no HA setting

    # XDS: each MDS checked, nothing else.
    xds = [s for s in steps if s.part is Part.XDS]
    if Part.XDS in chosen:
        assert [s.node_id for s in xds] == [m.id for m in site.mds]
        assert all(s.kind is StepKind.CHECK for s in xds)
        assert all(
            s.condition is not None and s.condition.kind is ConditionKind.MDS_OK for s in xds
        )
    else:
        assert xds == []

    # CC: restart on the target CC, wait for the readiness line, users open its FQDN.
    target_cc = f"demo.cc.{TARGET[direction]}"
    cc_steps = [s for s in steps if s.part is Part.CC]
    if Part.CC in chosen:
        assert [s.id for s in cc_steps] == [
            "cc.restart_xuc",
            "cc.wait_xuc_ready",
            "cc.users_open_fqdn",
        ]
        assert all(s.node_id == target_cc for s in cc_steps)
        ready = rb.step("cc.wait_xuc_ready")
        assert ready.condition is not None and ready.condition.kind is ConditionKind.XUC_READY
        assert ready.condition.params["pattern"] == "Listening for HTTP on"
        manual = rb.step("cc.users_open_fqdn")
        assert manual.kind is StepKind.MANUAL
        fqdn = FQDN[f"cc.{TARGET[direction]}"]
        other = FQDN[f"cc.{SOURCE[direction]}"]
        assert f"https://{fqdn}" in manual.title and f"https://{fqdn}" in manual.detail
        assert other not in manual.title + manual.detail
    else:
        assert cc_steps == []

    # Edge: switch to the target, up -d, then verified.
    edge_steps = [s for s in steps if s.part is Part.EDGE]
    if Part.EDGE in chosen:
        assert [s.id for s in edge_steps] == [
            "edge.switch_env",
            "edge.up",
            "edge.check_points_to",
            "edge.wait_containers_up",
        ]
        switch = rb.step("edge.switch_env")
        changes = {c.variable: (str(c.old), str(c.new)) for c in switch.env_changes}
        src, dst = SOURCE[direction], TARGET[direction]
        xivo = (IP[f"xivo.{src}"], IP[f"xivo.{dst}"])
        expected = {"XIVO_HOST": xivo, "TURN_ALLOWED_PEERS": xivo, "XIVO_MDS_HOST_DEFAULT": xivo}
        if site.cc_master is not None:
            expected["XIVOCC_HOST"] = (IP[f"cc.{src}"], IP[f"cc.{dst}"])
        assert changes == expected
        for variable, (old, new) in expected.items():
            assert f"{variable}: {old} -> {new}" in switch.detail
        points = rb.step("edge.check_points_to")
        assert points.condition is not None
        assert points.condition.params["side"] == dst
    else:
        assert edge_steps == []

    # Final: browsers refreshed after every action, then the verdict.
    moved = bool(cc_steps or edge_steps)
    assert ("final.refresh_browsers" in ids) is moved
    if moved:
        refresh = rb.step("final.refresh_browsers")
        assert refresh.kind is StepKind.MANUAL
        assert "refresh their browser windows" in refresh.title
        assert "UC / CCAgent / Switchboard" in refresh.title
        last_action = max(i for i, s in enumerate(steps) if s.kind is StepKind.ACTION)
        assert ids.index("final.refresh_browsers") > last_action
    final = steps[-1]
    assert final.id == "final.cluster_verdict" and final.condition is not None
    verdict = "failed_over" if direction is Direction.FAILOVER else "normal"
    assert final.condition.params["verdict"] == verdict

    # Every node named by a step is known for display.
    for s in steps:
        if s.node_id is not None:
            assert rb.node(s.node_id) is not None


# --- every combination -------------------------------------------------------------------


@pytest.mark.parametrize("direction", list(Direction))
@pytest.mark.parametrize("shape", SHAPES)
def test_every_combination_matches_the_seed(shape: dict[str, object], direction: Direction) -> None:
    site = make_site(**shape)  # type: ignore[arg-type]
    for only in SUBSETS:
        rb = build_runbook(site, direction, only)
        check_against_seed(rb, site, direction, only)
        md = render_markdown(rb)
        numbers = [int(m) for m in re.findall(r"(?m)^(\d+)\. \[(?:check|action|wait|manual)\]", md)]
        assert numbers == list(range(1, len(rb.steps) + 1))


@settings(max_examples=80, deadline=None)
@given(
    only=st.one_of(st.none(), st.frozensets(st.sampled_from(list(Part)))),
    direction=st.sampled_from(list(Direction)),
    cc=st.booleans(),
    edge=st.booleans(),
    mds=st.integers(min_value=0, max_value=3),
)
def test_random_only_subsets(
    only: frozenset[Part] | None, direction: Direction, cc: bool, edge: bool, mds: int
) -> None:
    site = make_site(cc=cc, edge=edge, mds=min(mds, 2))
    rb = build_runbook(site, direction, only)
    check_against_seed(rb, site, direction, only)
    assert rb == build_runbook(site, direction, only)  # deterministic
    json.dumps(rb.to_dict())
    for part in (only or frozenset()) - present_parts(site):
        assert any(n.startswith(part.label + ":") for n in rb.notes)


# --- the full runbooks, in order ------------------------------------------------------------


def test_failover_full_site_order() -> None:
    rb = build_runbook(make_site(), Direction.FAILOVER)
    assert [(s.kind.value, s.id) for s in rb.steps] == [
        ("check", "guard.target_reachable"),
        ("check", "guard.split_brain"),
        ("check", "guard.master_not_active"),
        ("check", "guard.calls_in_progress"),
        ("wait", "xivo.wait_target_telephony"),
        ("wait", "xivo.wait_phones_registered"),
        ("check", "xds.mds_ok.mds1"),
        ("check", "xds.mds_ok.mds2"),
        ("action", "cc.restart_xuc"),
        ("wait", "cc.wait_xuc_ready"),
        ("manual", "cc.users_open_fqdn"),
        ("action", "edge.switch_env"),
        ("action", "edge.up"),
        ("check", "edge.check_points_to"),
        ("wait", "edge.wait_containers_up"),
        ("manual", "final.refresh_browsers"),
        ("check", "final.cluster_verdict"),
    ]
    assert rb.notes == ()
    restart = rb.step("cc.restart_xuc")
    assert restart.node_id == "demo.cc.slave"
    assert restart.command == ActionSpec(ActionName.XIVOCC_RESTART, {"service": "xuc"})
    assert rb.step("cc.users_open_fqdn").title == "Users open https://cc2.demo.example"
    assert rb.step("xivo.wait_target_telephony").timeout_seconds == 300
    assert rb.step("cc.wait_xuc_ready").timeout_seconds == 180
    assert rb.source.id == "demo.xivo.master" and rb.target.id == "demo.xivo.slave"


def test_failback_full_site_order() -> None:
    rb = build_runbook(make_site(), Direction.FAILBACK)
    assert [s.id for s in rb.steps] == [
        "guard.target_reachable",
        "guard.split_brain",
        "guard.calls_in_progress",
        "guard.target_healthy",
        "xivo.wait_target_telephony",
        "xivo.wait_source_standby",
        "xivo.wait_phones_registered",
        "xds.mds_ok.mds1",
        "xds.mds_ok.mds2",
        "cc.restart_xuc",
        "cc.wait_xuc_ready",
        "cc.users_open_fqdn",
        "edge.switch_env",
        "edge.up",
        "edge.check_points_to",
        "edge.wait_containers_up",
        "final.refresh_browsers",
        "final.cluster_verdict",
    ]
    assert rb.step("cc.restart_xuc").node_id == "demo.cc.master"
    assert rb.step("cc.users_open_fqdn").title == "Users open https://cc1.demo.example"
    assert rb.step("edge.switch_env").command == ActionSpec(
        ActionName.EDGE_SWITCH, {"to": "master", "env_path": "/etc/docker/edge/.env"}
    )
    assert "10.50.0.11" in rb.step("xivo.wait_source_standby").detail  # the cron's master IP


def test_xivo_only_site_has_no_action_and_no_user_step() -> None:
    rb = build_runbook(make_site(cc=False, edge=False, mds=0), Direction.FAILOVER)
    assert rb.of_kind(StepKind.ACTION) == ()
    assert rb.of_kind(StepKind.MANUAL) == ()
    assert rb.parts == {Part.XIVO}
    assert rb.step("guard.master_not_active").confirm_word is None


def test_only_cc_keeps_the_target_telephony_wait_and_says_why() -> None:
    rb = build_runbook(make_site(), Direction.FAILOVER, frozenset({Part.CC}))
    assert [s.id for s in rb.steps if s.part is Part.XIVO] == ["xivo.wait_target_telephony"]
    assert any("wait for the target XiVO" in n for n in rb.notes)
    rb_x = build_runbook(make_site(), Direction.FAILOVER, frozenset({Part.XDS}))
    assert "xivo.wait_target_telephony" not in [s.id for s in rb_x.steps]


def test_selected_part_missing_from_the_inventory_is_a_note() -> None:
    rb = build_runbook(make_site(edge=False), Direction.FAILOVER, frozenset({Part.EDGE}))
    assert "Edge: not in the inventory of site demo." in rb.notes
    assert rb.of_kind(StepKind.ACTION) == ()


def test_cc_without_the_target_side_is_a_note_not_a_guess() -> None:
    site = replace(make_site(), cc_slave=None)
    rb = build_runbook(site, Direction.FAILOVER)
    assert not any(s.part is Part.CC for s in rb.steps)
    assert any("no CC slave" in n for n in rb.notes)
    # the Edge cannot switch XIVOCC_HOST without both CC IPs: said, not invented
    switch = rb.step("edge.switch_env")
    assert "XIVOCC_HOST" not in {c.variable for c in switch.env_changes}
    assert any(n.startswith("Edge: XIVOCC_HOST is not switched") for n in rb.notes)
    # failback still finds the CC master
    back = build_runbook(site, Direction.FAILBACK)
    assert back.step("cc.restart_xuc").node_id == "demo.cc.master"


def test_cc_without_fqdn_falls_back_to_its_host_with_a_note() -> None:
    site = make_site()
    assert site.cc_slave is not None
    site = replace(site, cc_slave=replace(site.cc_slave, fqdn=None))
    rb = build_runbook(site, Direction.FAILOVER)
    assert rb.step("cc.users_open_fqdn").title == "Users open https://cc-slave.demo.lan"
    assert any("no fqdn" in n for n in rb.notes)


def test_ha_settings_changed_adds_the_phone_resync() -> None:
    opts = RunbookOptions(ha_settings_changed=True)
    rb = build_runbook(make_site(), Direction.FAILOVER, options=opts)
    resync = rb.step("xivo.resync_phones")
    assert resync.kind is StepKind.MANUAL and resync.part is Part.XIVO
    assert resync.title == "Resynchronise phones"
    assert "10.50.0.12" in resync.detail
    # not when XiVO is not selected
    rb_cc = build_runbook(make_site(), Direction.FAILOVER, frozenset({Part.CC}), opts)
    assert "xivo.resync_phones" not in [s.id for s in rb_cc.steps]


def test_options_set_the_timeouts_and_the_log_tail() -> None:
    opts = RunbookOptions(
        telephony_timeout_seconds=42,
        standby_timeout_seconds=43,
        xuc_ready_timeout_seconds=44,
        edge_up_timeout_seconds=45,
        log_tail_lines=7,
    )
    rb = build_runbook(make_site(), Direction.FAILBACK, options=opts)
    assert rb.step("xivo.wait_target_telephony").timeout_seconds == 42
    assert rb.step("xivo.wait_source_standby").timeout_seconds == 43
    assert rb.step("cc.wait_xuc_ready").timeout_seconds == 44
    assert rb.step("edge.wait_containers_up").timeout_seconds == 45
    assert rb.step("cc.wait_xuc_ready").shell == "xivocc-dcomp logs -f --tail 7 xuc"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"telephony_timeout_seconds": 0},
        {"xuc_ready_timeout_seconds": -1},
        {"log_tail_lines": -1},
        {"xuc_service": "xuc; reboot"},
        {"xuc_service": ""},
    ],
)
def test_bad_options_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="RunbookOptions"):
        RunbookOptions(**kwargs)  # type: ignore[arg-type]


def test_values_in_shell_lines_are_quoted() -> None:
    site = make_site()
    assert len(site.edges) == 1 and site.cc_slave is not None
    edge = replace(site.edges[0], paths=replace(site.edges[0].paths, edge_env="/srv/my edge/.env"))
    cc = replace(site.cc_slave, readiness_pattern=r"Listening for 'HTTP' on \S+")
    rb = build_runbook(replace(site, edges=(edge,), cc_slave=cc), Direction.FAILOVER)
    grep = rb.step("edge.check_points_to").shell
    assert grep is not None and shlex.split(grep)[-1] == "/srv/my edge/.env"
    ready = rb.step("cc.wait_xuc_ready").condition
    assert ready is not None and ready.params["pattern"] == r"Listening for 'HTTP' on \S+"
    switch = rb.step("edge.switch_env").command
    assert switch is not None and switch.args["env_path"] == "/srv/my edge/.env"


def test_reachability_shell_honours_port_and_user() -> None:
    site = make_site()
    slave = replace(site.xivo_slave, ssh=SshSettings(host="x2", port=2222, user=None))
    rb = build_runbook(replace(site, xivo_slave=slave), Direction.FAILOVER)
    step = rb.step("guard.target_reachable")
    assert step.shell == "ssh -p 2222 x2 true" and step.shell_local


# --- vocabulary -------------------------------------------------------------------------------


def test_direction_sides_and_edge_direction() -> None:
    assert Direction("failover").target is Side.SLAVE
    assert Direction.FAILOVER.source is Side.MASTER
    assert Direction.FAILBACK.target is Side.MASTER
    assert Direction.FAILOVER.edge_direction is edge_env.Direction.TO_SLAVE
    assert Direction.FAILBACK.edge_direction is edge_env.Direction.TO_MASTER


def test_parse_parts() -> None:
    assert parse_parts("cc,edge") == {Part.CC, Part.EDGE}
    assert parse_parts("xivo mds") == {Part.XIVO, Part.XDS}
    assert parse_parts(["XDS", " cc "]) == {Part.XDS, Part.CC}
    assert parse_parts("") == frozenset()
    with pytest.raises(ValueError, match="unknown part 'phones'"):
        parse_parts("cc,phones")


def test_action_and_condition_are_frozen_values() -> None:
    spec = ActionSpec("xivocc_restart", {"service": "xuc"})  # type: ignore[arg-type]
    assert spec.name is ActionName.XIVOCC_RESTART
    assert spec == ActionSpec(ActionName.XIVOCC_RESTART, {"service": "xuc"})
    with pytest.raises(TypeError):
        spec.args["service"] = "other"  # type: ignore[index]
    cond = Condition(ConditionKind.XUC_READY, "n1", {"pattern": "x"})
    assert str(cond) == "xuc_ready(node=n1, pattern=x)"
    assert hash(cond) == hash(Condition(ConditionKind.XUC_READY, "n1", {"pattern": "y"}))
    with pytest.raises(ValueError):
        ActionSpec("rm_rf", {})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"kind": StepKind.ACTION}, "an action needs a command and a node"),
        ({"kind": StepKind.WAIT, "condition": Condition(ConditionKind.MDS_OK, "n")}, "timeout"),
        ({"kind": StepKind.CHECK}, "need a condition"),
        (
            {
                "kind": StepKind.CHECK,
                "condition": Condition(ConditionKind.MDS_OK, "n"),
                "confirm_word": "n",
            },
            "confirm_word",
        ),
        ({"kind": StepKind.MANUAL, "guard": True}, "guards are checks"),
        ({"kind": StepKind.MANUAL, "timeout_seconds": 3.0}, "only waits"),
    ],
)
def test_inconsistent_steps_are_refused(kwargs: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Step(id="x", title="t", detail="d", part=None, **kwargs)  # type: ignore[arg-type]


def test_to_dict_is_json_ready() -> None:
    rb = build_runbook(make_site(), Direction.FAILOVER)
    data = json.loads(json.dumps(rb.to_dict()))
    assert data["direction"] == "failover" and data["target"] == "demo.xivo.slave"
    restart = next(s for s in data["steps"] if s["id"] == "cc.restart_xuc")
    assert restart["command"] == {"name": "xivocc_restart", "args": {"service": "xuc"}}
    switch = next(s for s in data["steps"] if s["id"] == "edge.switch_env")
    assert {
        "variable": "XIVO_HOST",
        "old": "10.50.0.11",
        "new": "10.50.0.12",
        "whole_value": True,
    } in switch["env_changes"]


# --- Markdown ---------------------------------------------------------------------------------


def test_markdown_failover_names_real_hosts_and_commands() -> None:
    md = render_markdown(build_runbook(make_site(), Direction.FAILOVER))
    assert md.startswith("# Failover to the slave: site demo\n")
    for text in (
        "xivo-slave.demo.lan",
        "10.50.0.12",
        "cc2.demo.example",
        "edge.demo.example",
        "10.50.0.31",
        "`xivocc-dcomp restart xuc`",
        "`edge-dcomp up -d`",
        "`xivo-service status all`",
        "Timeout: 300 s (5 min)",
        "Timeout: 180 s (3 min)",
        "type `demo.xivo.master` to go on anyway",
        "`XIVO_HOST: 10.50.0.11 -> 10.50.0.12`",
        "Command from your workstation: `ssh root@xivo-slave.demo.lan true`",
        "Command on xivo.master and xivo.slave: `xivo-service status all`",
        "UC / CCAgent / Switchboard",
    ):
        assert text in md, text
    assert "cc1.demo.example" not in md
    badges = re.findall(r"(?m)^\d+\. \[(\w+)\]", md)
    assert badges[:5] == ["check", "check", "check", "check", "wait"]
    assert badges.count("action") == 3
    assert "## Steps (8 check, 3 action, 4 wait, 2 manual)" in md
    assert (
        "type `cut-calls` to go on anyway, or wait up to 600 s for it to hold" in md
    )  # the calls guard: the typed word, or a wait for calls to end
    # guard tag shown on guards only
    assert md.count("(guard, site)") == 4


def test_markdown_failback_with_notes_and_selection() -> None:
    rb = build_runbook(make_site(), Direction.FAILBACK, frozenset({Part.CC}))
    md = render_markdown(rb)
    assert md.startswith("# Failback to the master: site demo\n")
    assert "cc1.demo.example" in md and "cc2.demo.example" not in md
    assert "(selected: CC)" in md
    assert "Notes:\n\n- XiVO: the wait for the target XiVO's telephony is kept" in md
    assert "Action: `xivocc_restart(service=xuc)`" in md


def test_markdown_numbering_indents_past_nine() -> None:
    md = render_markdown(build_runbook(make_site(), Direction.FAILOVER))
    # item 10's body is indented by len("10. ") so it stays inside the list item
    assert re.search(r"(?m)^12\. \[action\] \*\*Switch the Edge \.env to the slave\*\*", md)
    assert "\n    In /etc/docker/edge/.env on edge" in md


def test_code_span_survives_backticks() -> None:
    assert code("a`b") == "``a`b``"
    assert code("`x`") == "`` `x` ``"
    assert code("plain") == "`plain`"


def test_steps_that_rely_on_a_wait_say_so() -> None:
    # Users are sent to a CC, and the Edge to a side, only once its XiVO serves and its xuc
    # is ready: a skipped wait there needs an acknowledgement (ops/wizard.py).
    rb = build_runbook(make_site(), Direction.FAILOVER)
    deps = {s.id: s.depends_on for s in rb.steps if s.depends_on}
    assert deps == {
        "cc.restart_xuc": ("xivo.wait_target_telephony",),
        "cc.users_open_fqdn": ("xivo.wait_target_telephony", "cc.wait_xuc_ready"),
        "edge.switch_env": ("xivo.wait_target_telephony", "cc.wait_xuc_ready"),
        "final.refresh_browsers": ("cc.wait_xuc_ready", "edge.wait_containers_up"),
    }
    assert rb.step("edge.switch_env").to_dict()["depends_on"] == list(deps["edge.switch_env"])
    # Only what is in the runbook: an Edge-only run keeps the telephony wait, no xuc wait.
    edge_only = build_runbook(make_site(), Direction.FAILOVER, frozenset({Part.EDGE}))
    assert edge_only.step("edge.switch_env").depends_on == ("xivo.wait_target_telephony",)


def test_a_three_server_edge_switch_names_every_edge_node() -> None:
    site = make_site()
    web = replace(node("edge.web", NodeKind.EDGE, None), name="web")
    sip = replace(node("edge.sip", NodeKind.EDGE, None), name="sip")
    rb = build_runbook(replace(site, edges=(web, sip)), Direction.FAILOVER)
    switch = rb.step("edge.switch_env")
    assert switch.node_ids == ("demo.edge.web", "demo.edge.sip")
    assert switch.to_dict()["also_node_ids"] == ["demo.edge.sip"]
    said = rb.nodes_text(switch)
    assert said is not None and said.index("demo.edge.web: ") < said.index("; demo.edge.sip: ")
    md = render_markdown(rb)
    block = md[md.index("**Switch the Edge .env") : md.index("**Apply the Edge settings on web")]
    assert "- Node: `demo.edge.web`, web" in block and "- Node: `demo.edge.sip`, sip" in block
    # A step of one node still names only that node.
    up = rb.step("edge.up.sip")
    assert up.node_ids == ("demo.edge.sip",)
    assert (rb.nodes_text(up) or "").startswith("demo.edge.sip: sip")
