import json
from dataclasses import replace
from ipaddress import IPv4Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resil_tui.core.cluster import (
    Finding,
    Severity,
    SiteVerdicts,
    Topology,
    Verdict,
    XivoState,
    evaluate,
    exit_code,
    worst,
)
from resil_tui.core.compose import parse_compose_ps
from resil_tui.core.edge_side import PairAddresses, edge_targets
from resil_tui.core.ha import HaCron, parse_cron_file, parse_ha_conf
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
from resil_tui.core.replication import parse_replication_output
from resil_tui.core.services import parse_xivo_service_status
from resil_tui.core.sync_log import last_sync_result
from resil_tui.core.xuc_readiness import StartSource, XucReadiness, XucRun, XucState

XM, XS = "10.0.0.1", "10.0.0.2"
CM, CS = "10.0.1.1", "10.0.1.2"
NOW = 10_000.0
STALE = 120.0
PAIR = PairAddresses(
    IPv4Address(XM), IPv4Address(XS), IPv4Address("10.0.1.1"), IPv4Address("10.0.1.2")
)


def _env_text(values: dict[str, str | None]) -> str:
    return "".join(f"{k}={v}\n" for k, v in values.items() if v is not None)


TOPO = Topology(
    site="s",
    xivo_master_id="s.xivo.master",
    xivo_slave_id="s.xivo.slave",
    xivo_master_ip=IPv4Address(XM),
    xivo_slave_ip=IPv4Address(XS),
    cc_master_id="s.cc.master",
    cc_slave_id="s.cc.slave",
    edge_ids=("s.edge",),
    mds_ids=("s.mds.mds1",),
)
SYNC_OK = "2026-11-25 10:00:04,456 [42] (INFO): Synchronization successful\n"


def _services(asterisk: str, extra: str = "") -> str:
    return (
        "Checking database...\n\tOK\nChecking services...\n"
        f"\trunning\t\tpostgresql\n\t{asterisk}\t\tasterisk\n{extra}"
    )


def _cron_for(mode: str, peer: str) -> HaCron:
    master = slave = None
    if mode == "master":
        master = (
            f"0 * * * * root /usr/sbin/xivo-master-slave-db-replication {peer} >/dev/null\n"
            "0 * * * * root /usr/bin/xivo-sync >/dev/null\n"
        )
    elif mode == "slave":
        slave = f"* * * * * root /usr/sbin/xivo-check-master-status {peer} >/dev/null\n"
    return HaCron(parse_cron_file(master), parse_cron_file(slave))


def xivo(
    node_id: str,
    *,
    asterisk: str,
    disabled: bool | None,
    mode: str,
    peer: str,
    reach: ReachState = ReachState.OK,
    last_success: float = NOW - 5,
    sync: str = SYNC_OK,
    key: bool | None = True,
    replication: tuple[str, int] | None = None,
    extra_services: str = "",
    cron: HaCron | None = None,
) -> NodeSnapshot:
    conf = None if mode == "none" else f'{{"node_type": "{mode}", "remote_address": "{peer}"}}'
    status = XivoStatus(
        ha=parse_ha_conf(conf),
        services=parse_xivo_service_status(_services(asterisk, extra_services)),
        disabled_flag=disabled,
        cron=cron or _cron_for(mode, peer),
        sync=last_sync_result(sync) if mode == "master" else None,
        sync_key_present=key if mode == "master" else None,
        replication=parse_replication_output(*replication) if replication else None,
    )
    return NodeSnapshot(
        node_id,
        "xivo",
        node_id.rsplit(".", 1)[-1],
        Reachability(reach, "" if reach is ReachState.OK else "boom", NOW - 60),
        latency_seconds=0.01,
        polled_at=NOW - 5,
        last_success_at=last_success,
        xivo=status,
    )


def cc(node_id: str, xuc_status: str | None = "Up 2 hours") -> NodeSnapshot:
    rows = "xivocc-nginx-1   nginx   Up 2 hours\n"
    if xuc_status is not None:
        rows += f"xivocc-xuc-1   xuc   {xuc_status}\n"
    ps = parse_compose_ps("NAME   SERVICE   STATUS\n" + rows)
    return NodeSnapshot(
        node_id,
        "cc",
        node_id.rsplit(".", 1)[-1],
        Reachability(ReachState.OK),
        polled_at=NOW - 5,
        last_success_at=NOW - 5,
        cc=CcStatus(ps),
    )


def edge(xivo_ip: str = XM, cc_ip: str = CM, **overrides: str) -> NodeSnapshot:
    values = {
        "XIVO_HOST": xivo_ip,
        "XIVOCC_HOST": cc_ip,
        "TURN_ALLOWED_PEERS": f"{xivo_ip}:5060",
        "XIVO_MDS_HOST_DEFAULT": xivo_ip,
        **overrides,
    }
    return NodeSnapshot(
        "s.edge",
        "edge",
        None,
        Reachability(ReachState.OK),
        polled_at=NOW - 5,
        last_success_at=NOW - 5,
        edge=EdgeStatus(values, edge_targets(_env_text(values), PAIR)),
    )


def mds(services: str = "\trunning\t\tasterisk\n") -> NodeSnapshot:
    return NodeSnapshot(
        "s.mds.mds1",
        "mds",
        None,
        Reachability(ReachState.OK),
        polled_at=NOW - 5,
        last_success_at=NOW - 5,
        mds=MdsStatus(parse_xivo_service_status(services)),
    )


def master_active(**kw) -> NodeSnapshot:
    args = dict(asterisk="running", disabled=False, mode="master", peer=XS)
    args.update(kw)
    return xivo("s.xivo.master", **args)  # type: ignore[arg-type]


def slave_standby(**kw) -> NodeSnapshot:
    args = dict(asterisk="stopped", disabled=True, mode="slave", peer=XM)
    args.update(kw)
    return xivo("s.xivo.slave", **args)  # type: ignore[arg-type]


def site(*nodes: NodeSnapshot, base: bool = True) -> SiteSnapshot:
    found = {}
    if base:
        for n in (
            master_active(),
            slave_standby(),
            cc("s.cc.master"),
            cc("s.cc.slave"),
            edge(),
            mds(),
        ):
            found[n.node_id] = n
    for n in nodes:
        found[n.node_id] = n
    return SiteSnapshot("s", found, polled_at=NOW - 5)


def run(snapshot: SiteSnapshot) -> SiteVerdicts:
    return evaluate(snapshot, TOPO, NOW, STALE)


def codes(v: SiteVerdicts) -> dict[Verdict, list[Severity]]:
    out: dict[Verdict, list[Severity]] = {}
    for f in v.findings:
        out.setdefault(f.code, []).append(f.severity)
    return out


# --- primary verdicts ----------------------------------------------------------------------


def test_normal_site():
    v = run(site())
    assert v.primary.code is Verdict.NORMAL
    assert v.findings == [v.primary]
    assert v.severity is Severity.OK and v.exit_code == 0
    assert v.active_side == "master"
    assert v.xivo_states == {"s.xivo.master": XivoState.ACTIVE, "s.xivo.slave": XivoState.STANDBY}
    assert v.primary.explanation.endswith("the slave is not running telephony.")


def test_failed_over_master_down():
    slave = slave_standby(asterisk="running", disabled=False)
    master = master_active(reach=ReachState.TIMEOUT, last_success=NOW - 600)
    v = run(site(master, slave, edge(XS, CS)))
    assert v.primary.code is Verdict.FAILED_OVER
    assert v.active_side == "slave"
    # The unreachable master is not the active XiVO: a warning, not critical.
    assert codes(v)[Verdict.NODE_UNREACHABLE] == [Severity.WARNING]
    assert Verdict.STALE not in codes(v)  # unreachable already says it
    assert v.severity is Severity.WARNING and v.exit_code == 1


def test_failed_over_master_standby():
    master = master_active(asterisk="stopped", disabled=True)
    slave = slave_standby(asterisk="running", disabled=False)
    v = run(site(master, slave, edge(XS, CS)))
    assert v.primary.code is Verdict.FAILED_OVER
    assert v.xivo_states["s.xivo.master"] is XivoState.STANDBY


def test_split_brain():
    v = run(site(slave_standby(asterisk="running", disabled=False)))
    assert v.primary.code is Verdict.SPLIT_BRAIN
    assert v.primary.severity is Severity.CRITICAL
    assert v.active_side == "both"
    assert v.exit_code == 2
    assert any("asterisk running" in e for e in v.primary.evidence)


def test_no_telephony():
    v = run(site(master_active(asterisk="stopped", disabled=False)))
    assert v.primary.code is Verdict.NO_TELEPHONY
    assert v.severity is Severity.CRITICAL
    assert v.active_side is None


def test_unknown_when_master_unreachable_and_slave_standby():
    v = run(site(master_active(reach=ReachState.REFUSED)))
    assert v.primary.code is Verdict.UNKNOWN
    assert v.primary.severity is Severity.UNKNOWN
    # Nobody else serves telephony: the unreachable master is presumed active.
    assert codes(v)[Verdict.NODE_UNREACHABLE] == [Severity.CRITICAL]
    assert v.severity is Severity.CRITICAL


def test_unknown_when_nothing_polled():
    v = evaluate(SiteSnapshot("s"), TOPO, NOW, STALE)
    assert v.primary.code is Verdict.UNKNOWN
    assert v.severity is Severity.UNKNOWN and v.exit_code == 3


def test_unknown_when_services_unreadable():
    master = master_active()
    assert master.xivo is not None
    blind = replace(master, xivo=replace(master.xivo, services=parse_xivo_service_status("")))
    v = run(site(blind))
    assert v.primary.code is Verdict.UNKNOWN
    assert any(f.code is Verdict.UNKNOWN and f.nodes == ["s.xivo.master"] for f in v.findings[1:])


def test_both_unreachable():
    v = run(site(master_active(reach=ReachState.TIMEOUT), slave_standby(reach=ReachState.AUTH)))
    sev = {f.nodes[0]: f.severity for f in v.findings if f.code is Verdict.NODE_UNREACHABLE}
    assert sev == {"s.xivo.master": Severity.CRITICAL, "s.xivo.slave": Severity.WARNING}


def test_slave_unreachable_while_master_active():
    v = run(site(slave_standby(reach=ReachState.HOST_KEY_CHANGED)))
    assert v.primary.code is Verdict.NORMAL
    finding = next(f for f in v.findings if f.code is Verdict.NODE_UNREACHABLE)
    assert finding.severity is Severity.WARNING
    assert "host_key_changed" in finding.title
    # The slave's telephony is not known: the master's verdict does not claim it is off.
    assert "not running" not in v.primary.explanation
    assert "split brain is not ruled out" in v.primary.explanation


def test_standby_broken():
    v = run(site(slave_standby(disabled=False)))
    assert v.primary.code is Verdict.NORMAL
    assert codes(v)[Verdict.STANDBY_BROKEN] == [Severity.WARNING]
    assert v.xivo_states["s.xivo.slave"] is XivoState.STOPPED
    assert Verdict.STANDBY_BROKEN not in codes(run(site()))


# --- HA configuration ----------------------------------------------------------------------


def _ha_titles(v: SiteVerdicts) -> list[tuple[str, Severity]]:
    return [(f.title, f.severity) for f in v.findings if f.code is Verdict.HA_MISCONFIGURED]


def test_both_master():
    v = run(site(slave_standby(mode="master", cron=_cron_for("master", XM))))
    assert ("Both XiVO configured as master", Severity.CRITICAL) in _ha_titles(v)


def test_both_slave():
    v = run(site(master_active(mode="slave", peer=XS, cron=_cron_for("slave", XS))))
    assert ("Both XiVO configured as slave", Severity.CRITICAL) in _ha_titles(v)


def test_roles_swapped():
    m = master_active(mode="slave", cron=_cron_for("slave", XS))
    s = slave_standby(mode="master", cron=_cron_for("master", XM))
    titles = [t for t, _ in _ha_titles(run(site(m, s)))]
    assert "Roles swapped compared with the inventory" in titles


def test_wrong_peer():
    v = run(site(slave_standby(peer="10.0.0.99", cron=_cron_for("slave", "10.0.0.99"))))
    found = [f for f in v.findings if f.title == "Wrong peer IP on the slave"]
    assert found and found[0].severity is Severity.CRITICAL
    assert "10.0.0.99" in found[0].evidence[0] and XM in found[0].evidence[0]


def test_ha_disabled_on_one_side():
    v = run(site(master_active(mode="none")))
    assert ("HA disabled on the master", Severity.WARNING) in _ha_titles(v)


def test_cron_not_matching_role():
    v = run(site(master_active(cron=_cron_for("slave", XS))))
    titles = _ha_titles(v)
    assert ("HA cron does not match the master's role", Severity.WARNING) in titles


def test_cron_commented_out_after_upgrade():
    commented = HaCron(
        parse_cron_file(None),
        parse_cron_file(f"#* * * * * root /usr/sbin/xivo-check-master-status {XM}\n"),
    )
    v = run(site(slave_standby(cron=commented)))
    f = next(f for f in v.findings if f.code is Verdict.HA_MISCONFIGURED)
    assert any("commented out" in e for e in f.evidence)


def test_unreadable_ha_conf():
    master = master_active()
    assert master.xivo is not None
    broken = replace(master, xivo=replace(master.xivo, ha=parse_ha_conf("{oops")))
    titles = [t for t, _ in _ha_titles(run(site(broken)))]
    assert "ha.conf unreadable on the master" in titles


# --- Edge, xuc -----------------------------------------------------------------------------


def test_edge_wrong_side_after_failover():
    slave = slave_standby(asterisk="running", disabled=False)
    master = master_active(asterisk="stopped", disabled=True)
    v = run(site(master, slave))  # edge still on the master
    assert codes(v)[Verdict.EDGE_WRONG_SIDE] == [Severity.CRITICAL]
    assert v.severity is Severity.CRITICAL
    switched = run(site(master, slave, edge(XS, CS)))
    assert Verdict.EDGE_WRONG_SIDE not in codes(switched)


def test_edge_wrong_side_in_normal_state():
    v = run(site(edge(XS, CS)))
    assert codes(v)[Verdict.EDGE_WRONG_SIDE] == [Severity.CRITICAL]


def test_edge_mixed():
    v = run(site(edge(XM, CS)))  # XiVO on master, CC on slave
    assert codes(v)[Verdict.EDGE_MIXED] == [Severity.CRITICAL]
    assert Verdict.EDGE_WRONG_SIDE not in codes(v)
    f = next(f for f in v.findings if f.code is Verdict.EDGE_MIXED)
    assert f"XIVOCC_HOST={CS} -> slave" in f.evidence


def test_edge_unknown_targets():
    v = run(site(edge("edge-xivo.example.com", "cc.example.com", TURN_ALLOWED_PEERS="")))
    assert any(f.code is Verdict.UNKNOWN and f.title == "Edge target unknown" for f in v.findings)


@pytest.mark.parametrize(
    "status, severity",
    [
        ("Exited (1) 3 minutes ago", Severity.CRITICAL),
        ("Restarting (1) 2 seconds ago", Severity.CRITICAL),
        (None, Severity.CRITICAL),
    ],
)
def test_xuc_down_on_active_side(status, severity):
    v = run(site(cc("s.cc.master", status)))
    assert codes(v)[Verdict.XUC_DOWN] == [severity]


def test_xuc_unhealthy_on_active_side_is_not_ready():
    v = run(site(cc("s.cc.master", "Up 1 hour (unhealthy)")))
    assert codes(v)[Verdict.XUC_NOT_READY] == [Severity.CRITICAL]


def test_xuc_down_on_inactive_side_is_not_reported():
    v = run(site(cc("s.cc.slave", "Exited (0) 1 day ago")))
    assert Verdict.XUC_DOWN not in codes(v)


def test_xuc_checked_on_slave_cc_after_failover():
    slave = slave_standby(asterisk="running", disabled=False)
    master = master_active(asterisk="stopped", disabled=True)
    v = run(site(master, slave, edge(XS, CS), cc("s.cc.slave", "Exited (137) 1 minute ago")))
    f = next(f for f in v.findings if f.code is Verdict.XUC_DOWN)
    assert f.nodes == ["s.cc.slave"]


def ready_cc(node_id: str, state: XucState, started: float = NOW - 40) -> NodeSnapshot:
    running = state is not XucState.DOWN
    run = XucRun(StartSource.INSPECT, running, "running" if running else "exited", started, started)
    readiness = XucReadiness(state, started, "test", run=run, judged_at=NOW - 5)
    base = cc(node_id)
    assert base.cc is not None
    return replace(base, cc=replace(base.cc, xuc=readiness))


@pytest.mark.parametrize(
    ("state", "code", "severity"),
    [
        (XucState.STARTING, Verdict.XUC_NOT_READY, Severity.WARNING),
        (XucState.NOT_READY, Verdict.XUC_NOT_READY, Severity.CRITICAL),
        (XucState.DOWN, Verdict.XUC_DOWN, Severity.CRITICAL),
        (XucState.UNKNOWN, Verdict.UNKNOWN, Severity.WARNING),
    ],
)
def test_xuc_readiness_on_the_active_side(state, code, severity):
    v = run(site(ready_cc("s.cc.master", state)))
    found = [f for f in v.findings if f.nodes == ["s.cc.master"]]
    assert [(f.code, f.severity) for f in found] == [(code, severity)]
    if code is Verdict.XUC_NOT_READY:
        assert found[0].title.startswith("xuc on the active side not ready")
    assert v.to_dict()["findings"]  # published in status --json


def test_xuc_ready_and_the_inactive_side_give_no_finding():
    v = run(site(ready_cc("s.cc.master", XucState.READY), ready_cc("s.cc.slave", XucState.DOWN)))
    assert not [f for f in v.findings if f.nodes in (["s.cc.master"], ["s.cc.slave"])]


def test_unreachable_cc_is_critical_on_the_active_side_only():
    down = replace(cc("s.cc.master"), reachability=Reachability(ReachState.REFUSED, "x", NOW))
    v = run(site(down))
    found = next(f for f in v.findings if f.code is Verdict.NODE_UNREACHABLE)
    assert found.severity is Severity.CRITICAL and "serving telephony" in found.explanation
    other = replace(cc("s.cc.slave"), reachability=Reachability(ReachState.REFUSED, "x", NOW))
    found = next(f for f in run(site(other)).findings if f.code is Verdict.NODE_UNREACHABLE)
    assert found.severity is Severity.WARNING


# --- sync and replication ------------------------------------------------------------------


def test_sync_key_missing_from_log():
    log = SYNC_OK + (
        "2026-11-25 11:00:01,001 [43] (INFO): "
        "SSH key /root/.ssh/xivo_id_rsa not found: not synchronizing\n"
    )
    v = run(site(master_active(sync=log)))
    assert codes(v)[Verdict.SYNC_KEY_MISSING] == [Severity.WARNING]
    assert v.severity is Severity.WARNING


def test_sync_key_missing_from_file_check():
    v = run(site(master_active(key=False)))
    assert Verdict.SYNC_KEY_MISSING in codes(v)


def test_sync_failing():
    log = "2026-11-25 12:00:31,777 [61] (ERROR): Synchronization failure: rsync exit status 255\n"
    v = run(site(master_active(sync=log)))
    f = next(f for f in v.findings if f.code is Verdict.SYNC_FAILING)
    assert "rsync exit status 255" in f.evidence[0]


def test_replication_failing():
    v = run(site(master_active(replication=("Slave replication failed: no route\n", 1))))
    f = next(f for f in v.findings if f.code is Verdict.REPLICATION_FAILING)
    assert "no route" in f.evidence[0]
    ok = run(site(master_active(replication=("Slave replication completed succesfully\n", 0))))
    assert Verdict.REPLICATION_FAILING not in codes(ok)


def test_sync_checked_on_the_node_configured_as_master():
    # After a role swap the inventory's slave runs xivo-sync.
    bad = "2026-11-25 12:00:31,777 [61] (ERROR): Synchronization failure: rsync exit status 1\n"
    m = master_active(mode="slave", cron=_cron_for("slave", XS))
    s = slave_standby(mode="master", cron=_cron_for("master", XM), sync=bad)
    f = next(f for f in run(site(m, s)).findings if f.code is Verdict.SYNC_FAILING)
    assert f.nodes == ["s.xivo.slave"]


# --- staleness, other nodes ----------------------------------------------------------------


def test_stale_xivo_data_is_unknown():
    v = run(site(master_active(last_success=NOW - STALE - 1)))
    assert v.primary.code is Verdict.UNKNOWN
    assert codes(v)[Verdict.STALE] == [Severity.UNKNOWN]
    assert v.exit_code == 3
    fresh = run(site(master_active(last_success=NOW - STALE + 1)))
    assert fresh.primary.code is Verdict.NORMAL


def test_stale_cc_is_a_warning():
    old = replace(cc("s.cc.master"), last_success_at=NOW - 1000)
    v = run(site(old))
    assert codes(v)[Verdict.STALE] == [Severity.WARNING]


def test_mds_unreachable_and_failed_services():
    down = replace(mds(), reachability=Reachability(ReachState.DROPPED, "lost", NOW - 10))
    assert codes(run(site(down)))[Verdict.NODE_UNREACHABLE] == [Severity.WARNING]
    failed = mds("\tfailed\t\tasterisk\n")
    assert codes(run(site(failed)))[Verdict.SERVICES_FAILED] == [Severity.WARNING]


def test_nok_database_is_reported():
    text = "Checking database...\n\tNOK (current revision is abc)\nChecking services...\n"
    master = master_active()
    assert master.xivo is not None
    services = parse_xivo_service_status(text + "\trunning\t\tasterisk\n")
    v = run(site(replace(master, xivo=replace(master.xivo, services=services))))
    f = next(f for f in v.findings if f.code is Verdict.SERVICES_FAILED)
    assert "NOK" in f.evidence[0]


# --- severity, exit codes, JSON ------------------------------------------------------------


def test_exit_codes_and_order():
    assert [exit_code(s) for s in Severity] == [0, 1, 2, 3]
    assert worst([Severity.OK, Severity.WARNING]) is Severity.WARNING
    assert worst([Severity.WARNING, Severity.UNKNOWN]) is Severity.UNKNOWN
    assert worst([Severity.UNKNOWN, Severity.CRITICAL]) is Severity.CRITICAL
    assert worst([]) is Severity.OK


def test_to_dict_schema():
    v = run(site(slave_standby(disabled=False)))
    data = json.loads(json.dumps(v.to_dict()))
    assert set(data) == {
        "schema_version",
        "site",
        "severity",
        "exit_code",
        "verdict",
        "active_side",
        "xivo_states",
        "evaluated_at",
        "phones",
        "findings",
    }
    assert data["verdict"] == "normal" and data["severity"] == "warning"
    assert data["findings"][0]["code"] == "normal"
    assert set(data["findings"][1]) == {
        "code",
        "severity",
        "title",
        "explanation",
        "evidence",
        "nodes",
        "remedy",
    }
    assert isinstance(Finding(Verdict.STALE, Severity.OK, "t", "e").to_dict()["evidence"], list)


def test_topology_from_inventory_site():
    from resil_tui.inventory_model import Node, NodeKind, Side, Site, SshSettings

    def node(nid: str, kind: NodeKind, side: Side | None, ip: str | None) -> Node:
        return Node(nid, "s", kind, side, SshSettings(nid), IPv4Address(ip) if ip else None)

    inv_site = Site(
        "s",
        node("s.xivo.master", NodeKind.XIVO, Side.MASTER, XM),
        node("s.xivo.slave", NodeKind.XIVO, Side.SLAVE, XS),
        cc_master=node("s.cc.master", NodeKind.CC, Side.MASTER, CM),
        edges=(node("s.edge", NodeKind.EDGE, None, None),),
        mds=(node("s.mds.mds1", NodeKind.MDS, None, "10.0.2.1"),),
    )
    topo = Topology.from_site(inv_site)
    assert topo.xivo_slave_ip == IPv4Address(XS)
    assert topo.cc_slave_id is None and topo.cc_master_id is not None
    assert topo.edge_ids == ("s.edge",) and topo.mds_ids == ("s.mds.mds1",)


_REACH = st.sampled_from(list(ReachState))


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["running", "stopped", "failed", "weird"]),
    st.sampled_from(["running", "stopped", "failed", "weird"]),
    st.sampled_from(["master", "slave", "disabled", "none"]),
    st.sampled_from(["master", "slave", "disabled", "none"]),
    st.one_of(st.none(), st.booleans()),
    _REACH,
    _REACH,
    st.floats(min_value=0, max_value=NOW),
)
def test_evaluate_never_raises(a1, a2, mode1, mode2, disabled, r1, r2, last):
    m = xivo(
        "s.xivo.master",
        asterisk=a1,
        disabled=disabled,
        mode=mode1,
        peer=XS,
        reach=r1,
        last_success=last,
    )
    s = xivo("s.xivo.slave", asterisk=a2, disabled=disabled, mode=mode2, peer=XM, reach=r2)
    v = run(site(m, s))
    assert v.findings[0] is v.primary
    assert v.severity.rank >= max(f.severity.rank for f in v.findings)
    json.dumps(v.to_dict())


# --- the banner: headline from the worst finding, every finding, the wizard's keys --------


def test_banner_headline_is_the_worst_finding_not_the_primary():
    from resil_tui.core.cluster import Remedy
    from resil_tui.ui.widgets.verdict_banner import banner_text

    # Telephony is normal, but the Edge sends remote users to the (inactive) slave.
    v = run(site(edge(XS, CS)))
    assert v.primary.code is Verdict.NORMAL and v.severity is Severity.CRITICAL
    text = banner_text(v, remedy_keys=lambda r: f"KEYS {r.value}")
    first, *rest = text.splitlines()
    assert first == "✖ CRITICAL · Edge points to the slave, telephony is on the master"
    assert "CRITICAL · Normal" not in text
    assert "  Telephony: Normal: master serves telephony" in rest
    assert "    → KEYS failback" in rest
    wrong = next(f for f in v.findings if f.code is Verdict.EDGE_WRONG_SIDE)
    assert wrong.remedy is Remedy.FAILBACK and wrong.to_dict()["remedy"] == "failback"


def test_failed_over_names_the_failover_wizard():
    from resil_tui.core.cluster import Remedy
    from resil_tui.ui.widgets.verdict_banner import banner_text

    slave = slave_standby(asterisk="running", disabled=False)
    master = master_active(reach=ReachState.TIMEOUT, last_success=NOW - 600)
    v = run(site(master, slave))  # the Edge still points to the master
    assert v.primary.remedy is Remedy.FAILOVER
    text = banner_text(v, remedy_keys=lambda r: f"press 4 then f: the {r.value} wizard")
    assert text.splitlines()[0].startswith("✖ CRITICAL · Edge points to the master")
    assert "press 4 then f: the failover wizard" in text


def test_split_brain_banner_keeps_the_edge_finding():
    from resil_tui.ui.widgets.verdict_banner import banner_text

    v = run(site(slave_standby(asterisk="running", disabled=False)))
    assert v.primary.code is Verdict.SPLIT_BRAIN
    text = banner_text(v)
    assert text.splitlines()[0] == "✖ CRITICAL · Split brain: both XiVO run telephony"
    assert "Edge points to the master while both XiVO run telephony" in text


@given(st.sampled_from(list(ReachState)), st.sampled_from(["running", "stopped", "failed"]))
@settings(max_examples=40)
def test_every_finding_is_in_the_banner(reach: ReachState, asterisk: str) -> None:
    from resil_tui.ui.widgets.verdict_banner import banner_text

    v = run(site(master_active(reach=reach, asterisk=asterisk), edge(XS, CM)))
    text = banner_text(v)
    for finding in v.findings:
        if finding.severity is not Severity.OK:
            assert finding.title in text
    assert text.startswith(
        {"ok": "✔", "warning": "▲", "critical": "✖", "unknown": "?"}[v.severity.value]
    )


# --- the README's table says what the code does ---------------------------------------------


def _readme_rows() -> dict[str, str]:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = text.split("### Findings and their severities", 1)[1]
    table = next(block for block in section.split("\n\n") if block.startswith("| finding"))
    rows: dict[str, str] = {}
    for line in table.splitlines()[2:]:
        finding, severity = line.strip("|").rsplit("|", 1)
        for code in re_codes(finding):
            rows.setdefault(code, "")
            rows[code] += f" {finding} => {severity}"
    return rows


def re_codes(text: str) -> list[str]:
    import re

    return re.findall(r"`([a-z_]+)`", text)


def _worst_of(v: SiteVerdicts, code: Verdict) -> Severity:
    return worst([f.severity for f in v.findings if f.code is code])


def test_readme_severities_match_the_code():
    rows = _readme_rows()
    failed_over = [
        slave_standby(asterisk="running", disabled=False),
        master_active(asterisk="stopped", disabled=True),
        edge(XS, CS),
    ]
    cases: list[tuple[Verdict, SiteVerdicts, str]] = [
        (Verdict.NORMAL, run(site()), "OK"),
        (Verdict.FAILED_OVER, run(site(*failed_over)), "WARNING"),
        (
            Verdict.SPLIT_BRAIN,
            run(site(slave_standby(asterisk="running", disabled=False))),
            "CRITICAL",
        ),
        (
            Verdict.NO_TELEPHONY,
            run(site(master_active(asterisk="stopped", disabled=False))),
            "CRITICAL",
        ),
        (Verdict.EDGE_WRONG_SIDE, run(site(edge(XS, CS))), "CRITICAL"),
        (Verdict.EDGE_MIXED, run(site(edge(XM, CS))), "CRITICAL"),
        (Verdict.XUC_DOWN, run(site(ready_cc("s.cc.master", XucState.DOWN))), "CRITICAL"),
        (Verdict.XUC_NOT_READY, run(site(ready_cc("s.cc.master", XucState.STARTING))), "WARNING"),
        (Verdict.XUC_NOT_READY, run(site(ready_cc("s.cc.master", XucState.NOT_READY))), "CRITICAL"),
        (Verdict.STANDBY_BROKEN, run(site(slave_standby(disabled=False))), "WARNING"),
        (Verdict.NODE_UNREACHABLE, run(site(master_active(reach=ReachState.REFUSED))), "CRITICAL"),
        (Verdict.NODE_UNREACHABLE, run(site(slave_standby(reach=ReachState.REFUSED))), "WARNING"),
        (
            Verdict.STALE,
            run(site(replace(cc("s.cc.master"), last_success_at=NOW - 1000))),
            "WARNING",
        ),
    ]
    for code, verdicts, word in cases:
        assert _worst_of(verdicts, code).value.upper() == word, (code, verdicts.findings)
        assert word in rows[code.value], f"README row for {code.value} does not say {word}"


# --- next-LTS resilience modes (issue 16) ----------------------------------------------------


def test_manual_mode_tells_a_main_stopped_on_purpose_from_a_main_that_is_down():
    from resil_tui.inventory_model import Resilience

    manual = replace(TOPO, resilience=Resilience.MANUAL)
    slave = slave_standby(asterisk="running", disabled=False)
    by_hand = evaluate(
        site(master_active(asterisk="stopped", disabled=True), slave, edge(XS, CS)),
        manual,
        NOW,
        STALE,
    )
    assert by_hand.primary.code is Verdict.FAILED_OVER
    assert by_hand.primary.title == "Failed over by hand: the Standby serves telephony"
    assert "stopped on the Main on purpose" in by_hand.primary.explanation
    down = evaluate(
        site(master_active(reach=ReachState.TIMEOUT, last_success=NOW - 600), slave),
        manual,
        NOW,
        STALE,
    )
    assert down.primary.title == "Failed over: the Standby serves telephony, the Main is down"
    assert "by hand" not in down.primary.title
    # classic: the same facts read as before, in master/slave words
    classic = run(site(master_active(asterisk="stopped", disabled=True), slave, edge(XS, CS)))
    assert classic.primary.title == "Failed over: the slave serves telephony"


def test_next_lts_findings_say_main_and_standby():
    from resil_tui.inventory_model import Resilience

    v = evaluate(site(), replace(TOPO, resilience=Resilience.AUTOMATIC), NOW, STALE)
    assert v.primary.title == "Normal: Main serves telephony"
    assert v.primary.code is Verdict.NORMAL  # codes do not change
    text = json.dumps(v.to_dict())
    assert '"Main' in text or "Main " in text
    for finding in v.findings:
        for line in (finding.title, finding.explanation, *finding.evidence):
            assert " slave " not in f" {line} " and " master " not in f" {line} "
