import json

import pytest

from resil_tui.core.compose import ContainerState, parse_compose_ps
from resil_tui.core.ha import HaCron, parse_cron_file, parse_ha_conf
from resil_tui.core.node_status import (
    CcStatus,
    EdgeStatus,
    NodeSnapshot,
    Reachability,
    ReachState,
    SiteSnapshot,
    XivoStatus,
)
from resil_tui.core.services import parse_xivo_service_status
from resil_tui.core.sync_log import last_sync_result


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
    edge = NodeSnapshot("s.edge", "edge", edge=EdgeStatus({"XIVO_HOST": "10.0.0.1"}))
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


def test_phone_counts_are_worked_out_once_per_status_and_follow_a_new_one() -> None:
    from dataclasses import replace

    from resil_tui.core.asterisk import parse_channels_count
    from resil_tui.core.node_status import XivoStatus

    one = XivoStatus(channels=parse_channels_count("1 active channel\n1 active call\n"))
    assert one.phone_counts() is one.phone_counts()
    two = replace(one, channels=parse_channels_count("2 active channels\n2 active calls\n"))
    assert one.phone_counts().calls == 1 and two.phone_counts().calls == 2
