import json
from ipaddress import IPv4Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from resil_tui.core.ha import (
    CronState,
    HaCron,
    HaMode,
    cron_state,
    parse_cron_file,
    parse_cron_line,
    parse_ha_conf,
    parse_sysconfd_ha_config,
    render_ha_config,
)

MASTER_CRON = (
    "0 * * * * root /usr/sbin/xivo-master-slave-db-replication 10.0.0.2 >/dev/null\n"
    "0 * * * * root /usr/bin/xivo-sync >/dev/null\n"
)
SLAVE_CRON = "* * * * * root /usr/sbin/xivo-check-master-status 10.0.0.1 >/dev/null\n"


def test_master_conf():
    cfg = parse_ha_conf('{"node_type": "master", "remote_address": "10.0.0.2"}\n')
    assert cfg.mode is HaMode.MASTER
    assert cfg.peer == IPv4Address("10.0.0.2")
    assert cfg.problems == []
    assert cfg.enabled and cfg.present


def test_slave_conf_crlf_and_bom():
    cfg = parse_ha_conf('\ufeff{"node_type": "slave", "remote_address": "10.0.0.1"}\r\n')
    assert cfg.mode is HaMode.SLAVE
    assert cfg.peer == IPv4Address("10.0.0.1")


def test_missing_file_is_disabled():
    cfg = parse_ha_conf(None)
    assert cfg.mode is HaMode.DISABLED
    assert cfg.peer is None
    assert not cfg.present
    assert cfg.problems == []


@pytest.mark.parametrize("address", ["0.0.0.0", ""])
def test_disabled_without_peer(address):
    cfg = parse_ha_conf(json.dumps({"node_type": "disabled", "remote_address": address}))
    assert cfg.mode is HaMode.DISABLED
    assert cfg.peer is None
    assert cfg.problems == []


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "empty"),
        ("not json", "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"node_type": "primary", "remote_address": "10.0.0.2"}', "unexpected node_type"),
        ('{"node_type": "master", "remote_address": "10.0.0.256"}', "not an IPv4"),
        ('{"node_type": "master", "remote_address": ""}', "without a remote_address"),
        ('{"node_type": "slave", "remote_address": 42}', "not a string"),
    ],
)
def test_bad_conf_reports_problem(text, fragment):
    cfg = parse_ha_conf(text)
    assert any(fragment in p for p in cfg.problems), cfg.problems
    assert cfg.raw == text


def test_unknown_node_type_is_unknown_mode():
    assert parse_ha_conf('{"node_type": "primary"}').mode is HaMode.UNKNOWN


def test_sysconfd_answer():
    cfg = parse_sysconfd_ha_config('{"node_type": "slave", "remote_address": "10.1.1.1"}')
    assert (cfg.mode, cfg.peer) == (HaMode.SLAVE, IPv4Address("10.1.1.1"))
    assert "sysconfd" in parse_sysconfd_ha_config("").problems[0]


def test_render_round_trip():
    line = render_ha_config(HaMode.MASTER, IPv4Address("10.0.0.2"))
    assert json.loads(line) == {"node_type": "master", "remote_address": "10.0.0.2"}
    assert "\n" not in line
    cfg = parse_ha_conf(line)
    assert (cfg.mode, cfg.peer) == (HaMode.MASTER, IPv4Address("10.0.0.2"))
    assert json.loads(render_ha_config(HaMode.DISABLED, None)) == {
        "node_type": "disabled",
        "remote_address": "",
    }


@pytest.mark.parametrize("peer", [None, IPv4Address("0.0.0.0")])
def test_render_refuses_enabled_without_peer(peer):
    with pytest.raises(ValueError):
        render_ha_config(HaMode.SLAVE, peer)
    with pytest.raises(ValueError):
        render_ha_config(HaMode.UNKNOWN, IPv4Address("10.0.0.1"))


def test_cron_state_helper():
    assert cron_state(True, False) is CronState.MASTER
    assert cron_state(False, True) is CronState.SLAVE
    assert cron_state(False, False) is CronState.NONE
    assert cron_state(True, True) is CronState.BOTH


def test_parse_cron_line():
    entry = parse_cron_line(MASTER_CRON.splitlines()[0])
    assert entry is not None
    assert entry.schedule == "0 * * * *"
    assert entry.user == "root"
    assert entry.program == "xivo-master-slave-db-replication"
    assert entry.ip == IPv4Address("10.0.0.2")
    assert not entry.commented
    sync = parse_cron_line(MASTER_CRON.splitlines()[1])
    assert sync is not None and sync.program == "xivo-sync" and sync.ip is None


def test_parse_cron_line_commented_and_non_jobs():
    entry = parse_cron_line("#* * * * * root /usr/sbin/xivo-check-master-status 10.0.0.1")
    assert entry is not None and entry.commented and entry.ip == IPv4Address("10.0.0.1")
    assert parse_cron_line("# m h dom mon dow user command") is None
    assert parse_cron_line("MAILTO=root") is None
    assert parse_cron_line("") is None
    assert parse_cron_line("garbage here") is None
    hourly = parse_cron_line("@hourly root /usr/bin/xivo-sync")
    assert hourly is not None and hourly.schedule == "@hourly"


def test_parse_cron_file_keeps_unknown_lines():
    cron = parse_cron_file("SHELL=/bin/sh\n# comment\n" + SLAVE_CRON + "what is this\n")
    assert cron.present
    assert [e.program for e in cron.entries] == ["xivo-check-master-status"]
    assert cron.unparsed == ["what is this"]
    assert not parse_cron_file(None).present


def _cron(master: str | None, slave: str | None) -> HaCron:
    return HaCron(parse_cron_file(master), parse_cron_file(slave))


def test_cron_consistent_with_role():
    assert _cron(MASTER_CRON, None).problems(HaMode.MASTER, IPv4Address("10.0.0.2")) == []
    assert _cron(None, SLAVE_CRON).problems(HaMode.SLAVE, IPv4Address("10.0.0.1")) == []
    assert _cron(None, None).problems(HaMode.DISABLED, None) == []


def test_cron_wrong_file_for_role():
    problems = _cron(None, SLAVE_CRON).problems(HaMode.MASTER, IPv4Address("10.0.0.2"))
    assert any("expected xivo-ha-master" in p for p in problems)
    assert _cron(MASTER_CRON, SLAVE_CRON).state is CronState.BOTH
    both = _cron(MASTER_CRON, SLAVE_CRON).problems(HaMode.MASTER, IPv4Address("10.0.0.2"))
    assert any("both" in p for p in both)
    assert _cron(MASTER_CRON, None).problems(HaMode.DISABLED, None)


def test_cron_wrong_ip_and_commented():
    wrong_ip = _cron(MASTER_CRON, None).problems(HaMode.MASTER, IPv4Address("10.0.0.3"))
    assert any("10.0.0.2" in p and "10.0.0.3" in p for p in wrong_ip)
    commented = "#" + SLAVE_CRON
    assert any(
        "commented out" in p
        for p in _cron(None, commented).problems(HaMode.SLAVE, IPv4Address("10.0.0.1"))
    )


def test_to_dict_is_json():
    cfg = parse_ha_conf('{"node_type": "master", "remote_address": "10.0.0.2"}')
    data = json.loads(json.dumps(cfg.to_dict()))
    assert data["mode"] == "master" and data["peer"] == "10.0.0.2"
    json.dumps(_cron(MASTER_CRON, None).to_dict())


@given(st.one_of(st.text(), st.none()))
def test_ha_conf_never_raises(text):
    cfg = parse_ha_conf(text)
    assert isinstance(cfg.mode, HaMode)
    json.dumps(cfg.to_dict())


@given(st.text())
def test_cron_file_never_raises(text):
    cron = parse_cron_file(text)
    for mode in HaMode:
        HaCron(cron, cron).problems(mode, IPv4Address("10.0.0.1"))
    json.dumps(cron.to_dict())
