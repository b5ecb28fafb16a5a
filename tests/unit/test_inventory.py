"""Inventory validation: every error is located (file, line, key path), never a traceback."""

from __future__ import annotations

import re
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resil_tui.inventory import (
    InventoryError,
    InventoryNotFound,
    find_inventory,
    load_inventory,
    parse_inventory,
)
from resil_tui.inventory_model import NodeKind, Side, UnknownName

EXAMPLE = Path(__file__).resolve().parents[2] / "hosts.example.toml"

MINIMAL = """\
[site.paris.xivo.master]
ssh = "xivo1"
voip_ip = "10.0.0.1"

[site.paris.xivo.slave]
ssh = "xivo2"
voip_ip = "10.0.0.2"
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(InventoryError) as info:
        parse_inventory(text, file="hosts.toml")
    return [str(e) for e in info.value.errors]


def test_example_file_is_valid_and_complete() -> None:
    inv = load_inventory(EXAMPLE)
    assert set(inv.sites) == {"paris", "lyon"}
    paris = inv.site("paris")
    assert paris.xivo_master.ip == IPv4Address("10.10.0.11")
    assert paris.cc_slave is not None and paris.cc_slave.fqdn == "cc2.paris.example.com"
    assert len(paris.edges) == 1 and paris.edges[0].paths.edge_env == "/etc/docker/edge/.env"
    assert paris.edges[0].id == "paris.edge"
    assert [m.id for m in paris.mds] == ["paris.mds.mds1", "paris.mds.mds2"]
    assert paris.mds[1].logs[0].argv == ("tail", "-F", "/var/log/syslog")
    # per-node override beats the [ssh] default
    assert inv.node("lyon.xivo.slave").ssh.port == 2222
    assert inv.node("lyon.xivo.master").ssh.port == 22
    assert inv.node("paris.cc.master").kind is NodeKind.CC
    assert inv.node("paris.cc.master").side is Side.MASTER
    assert inv.node("paris.cc.master").xuc.grace == 180.0


def test_minimal_site_has_defaults() -> None:
    inv = parse_inventory(MINIMAL)
    master = inv.node("paris.xivo.master")
    assert master.ssh.port is None and master.ssh.user is None  # ~/.ssh/config decides
    assert master.paths.ha_conf == "/etc/xivo/ha.conf"
    assert inv.site(None).cc_master is None and inv.site(None).edges == ()
    assert not inv.read_only


def test_bad_ip_names_line_and_key_path() -> None:
    text = MINIMAL.replace("10.0.0.2", "10.0.0.300")
    assert errors_of(text) == [
        "hosts.toml:7: site.paris.xivo.slave.voip_ip: '10.0.0.300' is not an IPv4 address"
    ]


def test_unknown_key_suggests_the_close_one() -> None:
    text = MINIMAL.replace('voip_ip = "10.0.0.2"', 'voip_ip = "10.0.0.2"\nvoipip = "x"')
    (err,) = errors_of(text)
    assert (
        err == "hosts.toml:8: site.paris.xivo.slave.voipip: unknown key (did you mean 'voip_ip'?)"
    )


def test_master_and_slave_must_differ() -> None:
    (err,) = errors_of(MINIMAL.replace("10.0.0.2", "10.0.0.1"))
    assert "site.paris.xivo.slave.voip_ip" in err and "must differ" in err


def test_syntax_error_names_line_and_column() -> None:
    (err,) = errors_of(MINIMAL + "\n[site.x\n")
    assert re.match(r"hosts\.toml:9:\d+: TOML syntax error", err), err


def test_syntax_errors_name_the_key_the_last_line_and_a_bom() -> None:
    (twice,) = errors_of(MINIMAL.replace('ssh = "xivo2"', 'ssh = "xivo2"\nssh = "again"'))
    assert re.match(
        r"hosts\.toml:\d+:\d+: site\.paris\.xivo\.slave\.ssh: TOML syntax error: Cannot overwrite",
        twice,
    ), twice
    # Text inside a multi-line string or array only looks like a key: none named.
    (inside,) = errors_of(MINIMAL + 'note = """\nfoo = \\q\n"""\n')
    assert ": foo:" not in inside and "TOML syntax error" in inside, inside
    lines = (MINIMAL + "logs = [\n").rstrip().count("\n") + 1
    (end,) = errors_of(MINIMAL + "logs = [\n")
    assert end.startswith(f"hosts.toml:{lines}: TOML syntax error at end of file"), end
    (bom,) = errors_of("\ufeff" + MINIMAL)
    assert bom.startswith("hosts.toml:1:") and "byte order mark" in bom


def test_all_errors_reported_at_once() -> None:
    text = MINIMAL.replace("10.0.0.1", "nope").replace('ssh = "xivo2"', "ssh = 3")
    errs = errors_of(text)
    assert len(errs) == 2
    assert any("master.voip_ip" in e for e in errs) and any("slave.ssh" in e for e in errs)


def test_missing_slave_and_missing_sites() -> None:
    half = MINIMAL.split("[site.paris.xivo.slave]")[0]
    assert any("site.paris.xivo.slave: is required" in e for e in errors_of(half))
    assert any("site:" in e for e in errors_of("read_only = true\n"))


def test_cc_requires_fqdn_and_valid_readiness_regex() -> None:
    text = (
        MINIMAL
        + '[site.paris.cc.master]\nssh = "cc1"\nip = "10.0.1.1"\nreadiness_pattern = "(["\n'
        + '[site.paris.cc.slave]\nssh = "cc2"\nip = "10.0.1.2"\nfqdn = "cc2.example.com"\n'
    )
    errs = errors_of(text)
    assert any("site.paris.cc.master.fqdn: is required" in e for e in errs)
    assert any("readiness_pattern" in e and "regular expression" in e for e in errs)


def test_mds_array_errors_are_indexed() -> None:
    text = (
        MINIMAL
        + '[[site.paris.mds]]\nname = "a"\nssh = "m1"\n[[site.paris.mds]]\nname = "a"\nssh = "m2"\n'
    )
    (err,) = errors_of(text)
    assert err.startswith("hosts.toml:12: site.paris.mds[1].name:")


def test_user_at_host_and_jump_and_paths() -> None:
    text = (
        '[ssh]\njump = "admin@bastion:2200"\n[paths]\nsync_log = "/var/log/other.log"\n'
        + MINIMAL.replace('ssh = "xivo1"', 'ssh = "admin@xivo1"\npaths.ha_conf = "/opt/ha.conf"')
    )
    node = parse_inventory(text).node("paris.xivo.master")
    assert node.ssh.user == "admin" and node.ssh.host == "xivo1"
    assert node.ssh.jump == "admin@bastion:2200"
    assert node.paths.ha_conf == "/opt/ha.conf" and node.paths.sync_log == "/var/log/other.log"


def test_relative_path_refused() -> None:
    (err,) = errors_of("[paths]\nha_conf = 'etc/ha.conf'\n" + MINIMAL)
    assert err.startswith("hosts.toml:2: paths.ha_conf:")


def test_keys_table_and_read_only() -> None:
    inv = parse_inventory('read_only = true\n[keys]\n"app.help" = "h"\n' + MINIMAL)
    assert inv.read_only and inv.keys == {"app.help": "h"}


def test_node_lookup_errors_list_known_nodes() -> None:
    inv = parse_inventory(MINIMAL)
    with pytest.raises(UnknownName, match=r"paris\.xivo\.master") as node_error:
        inv.node("nope")
    assert isinstance(node_error.value, LookupError)
    assert node_error.value.what == "node" and "paris.xivo.slave" in node_error.value.choices
    with pytest.raises(UnknownName, match="known: paris") as site_error:
        inv.site("nope")
    assert str(site_error.value) == "no site 'nope' in the inventory (known: paris)"
    with pytest.raises(UnknownName, match=r"did you mean paris\.xivo\.slave"):
        inv.node("xivo.slav")


def test_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RESIL_TUI_HOSTS", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    with pytest.raises(InventoryNotFound) as info:
        find_inventory(None)
    assert any("hosts.toml" in p for p in info.value.looked_in)
    xdg_file = tmp_path / "xdg" / "resil-tui" / "hosts.toml"
    xdg_file.parent.mkdir(parents=True)
    xdg_file.write_text(MINIMAL)
    assert find_inventory(None) == xdg_file
    (tmp_path / "hosts.toml").write_text(MINIMAL)
    assert find_inventory(None) == tmp_path / "hosts.toml"
    monkeypatch.setenv("RESIL_TUI_HOSTS", str(tmp_path / "env.toml"))
    assert find_inventory(None) == tmp_path / "env.toml"
    assert find_inventory(str(tmp_path / "flag.toml")) == tmp_path / "flag.toml"


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="file not found"):
        load_inventory(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_bytes(MINIMAL.encode() + b"# \xff\n")
    with pytest.raises(InventoryError, match=r"bad\.toml:8: not valid UTF-8"):
        load_inventory(bad)


_LOCATED = re.compile(r"^hosts\.toml(:\d+(:\d+)?)?: ")


def _assert_located(text: str) -> None:
    try:
        parse_inventory(text, file="hosts.toml")
    except InventoryError as exc:
        assert exc.errors
        for err in exc.errors:
            assert _LOCATED.match(str(err)), str(err)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_fuzz_arbitrary_text_never_crashes(text: str) -> None:
    _assert_located(text)


_values = st.one_of(
    st.text(max_size=30),
    st.integers(),
    st.floats(allow_nan=False),
    st.booleans(),
    st.lists(st.text(max_size=5), max_size=3),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    line=st.integers(min_value=0, max_value=6),
    key=st.sampled_from(["ssh", "voip_ip", "port", "user", "paths", "logs", "jump", "bogus"]),
    value=_values,
)
def test_fuzz_bad_values_always_located(line: int, key: str, value: object) -> None:
    import tomli_w

    rendered = tomli_w.dumps({"v": value}).split("=", 1)[1].strip()
    lines = MINIMAL.splitlines()
    lines.insert(max(1, line), f"{key} = {rendered}")
    _assert_located("\n".join(lines) + "\n")


CC_PAIR = (
    '[site.paris.cc.master]\nssh = "cc1"\nip = "10.0.1.1"\nfqdn = "cc1.example.com"\n'
    '[site.paris.cc.slave]\nssh = "cc2"\nip = "10.0.1.2"\nfqdn = "cc2.example.com"\n'
)


def test_xuc_readiness_settings() -> None:
    text = (
        MINIMAL
        + CC_PAIR
        + (
            "[site.paris.cc.slave.xuc]\n"
            'container = ["xivo-cc-xuc-1"]\nstart_from = "ps"\nprobe = true\ngrace = 300\n'
        )
    )
    inv = parse_inventory(text)
    master, slave = inv.node("paris.cc.master"), inv.node("paris.cc.slave")
    assert (
        master.xuc.containers == ("xivocc-xuc-1", "xivocc_xuc_1") and master.xuc.probe_url is None
    )
    assert master.xuc.grace == 180.0 and master.xuc.start_from == "inspect"
    assert slave.xuc.containers == ("xivo-cc-xuc-1",) and slave.xuc.start_from == "ps"
    assert slave.xuc.probe_url == "http://127.0.0.1:8090/" and slave.xuc.grace == 300.0
    own = parse_inventory(
        MINIMAL + CC_PAIR + '[site.paris.cc.master.xuc]\nprobe_url = "https://127.0.0.1:8443/x"\n'
    )
    assert own.node("paris.cc.master").xuc.probe_url == "https://127.0.0.1:8443/x"


def test_xuc_settings_are_checked() -> None:
    text = (
        MINIMAL
        + CC_PAIR
        + (
            "[site.paris.cc.master.xuc]\n"
            'container = "bad name"\nstart_from = "logs"\nprobe_url = "http://x/ $(id)"\n'
            "grace = 1\nprob = true\n"
        )
    )
    errs = errors_of(text)
    assert any("xuc.container: must be a container name" in e for e in errs)
    assert any("xuc.start_from: 'logs' must be 'inspect' or 'ps'" in e for e in errs)
    assert any("xuc.probe_url: refused URL" in e for e in errs)
    assert any("xuc.grace: 1 must be between 10" in e for e in errs)
    assert any("xuc.prob: unknown key (did you mean 'probe'?)" in e for e in errs)
    assert all(re.match(r"hosts\.toml:\d+: ", e) for e in errs)


THREE_SERVER_EDGE = """
[site.p.xivo.master]
ssh = "x1"
voip_ip = "10.0.0.1"
[site.p.xivo.slave]
ssh = "x2"
voip_ip = "10.0.0.2"
[[site.p.edge]]
name = "web"
ssh = "edge-web"
fqdn = "edge.example.com"
[[site.p.edge]]
name = "sip"
ssh = "edge-sip"
env_path = "/srv/edge/.env"
"""


def test_several_edge_nodes_each_with_its_own_env() -> None:
    inv = parse_inventory(THREE_SERVER_EDGE)
    edges = inv.site("p").edges
    assert [n.id for n in edges] == ["p.edge.web", "p.edge.sip"]
    assert [n.paths.edge_env for n in edges] == ["/etc/docker/edge/.env", "/srv/edge/.env"]
    assert inv.node("p.edge.sip").kind is NodeKind.EDGE and edges[0].fqdn == "edge.example.com"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace('name = "sip"', 'name = "web"'), "site.p.edge[1].name: 'web' is used"),
        (lambda t: t.replace('name = "sip"\n', ""), "site.p.edge[1].name: is required"),
        (
            lambda t: t.replace(
                '[[site.p.edge]]\nname = "web"', '[site.p.edge]\nname = "web"'
            ).split("[[site.p.edge]]")[0],
            "site.p.edge.name: a single Edge has no name",
        ),
    ],
)
def test_edge_node_mistakes_are_refused(edit: object, message: str) -> None:
    with pytest.raises(InventoryError) as caught:
        parse_inventory(edit(THREE_SERVER_EDGE))  # type: ignore[operator]
    assert message in str(caught.value), str(caught.value)


def test_sip_stack_and_phone_settings() -> None:
    from resil_tui.inventory_model import PhonePolicy, SipStack

    site = parse_inventory(MINIMAL).site("paris")
    assert site.sip is SipStack.PJSIP and site.phones == PhonePolicy()
    text = MINIMAL.replace(
        "[site.paris.xivo.master]",
        '[site.paris]\nsip = "chan_sip"\nphones = { split_grace = 60, wait_percent = 80, '
        "expected = 412 }\n\n[site.paris.xivo.master]",
    )
    site = parse_inventory(text).site("paris")
    assert site.sip is SipStack.CHAN_SIP
    assert (site.phones.split_grace, site.phones.wait_percent, site.phones.expected) == (
        60,
        80,
        412,
    )
    bad = MINIMAL.replace(
        "[site.paris.xivo.master]",
        '[site.paris]\nsip = "sip"\nphones = { wait_percent = 120, calls_below = 0.5, '
        "grace = 1 }\n\n[site.paris.xivo.master]",
    )
    errors = errors_of(bad)
    assert "hosts.toml:2: site.paris.sip: 'sip' is not one of 'pjsip', 'chan_sip'" in errors
    assert any(e.startswith("hosts.toml:3: site.paris.phones.grace: unknown key") for e in errors)
    assert "hosts.toml:3: site.paris.phones.wait_percent: 120 must be between 0 and 100" in errors
    assert any("site.paris.phones.calls_below: must be an integer" in e for e in errors)


def test_two_media_servers_of_one_name_are_refused() -> None:
    text = MINIMAL + (
        '[[site.paris.mds]]\nname = "m1"\nssh = "mds1"\nip = "10.0.0.31"\n'
        '[[site.paris.mds]]\nname = "m1"\nssh = "mds2"\nip = "10.0.0.32"\n'
        '[[site.paris.mds]]\nssh = "mds3"\nip = "10.0.0.33"\n'
    )
    said = "\n".join(errors_of(text))
    assert "site.paris.mds[1].name: 'm1' is used by another media server of this site" in said
    assert "site.paris.mds[2].name: is required" in said


def test_keep_shell_by_default_and_off_where_asked() -> None:
    inv = parse_inventory(MINIMAL)
    assert inv.node("paris.xivo.master").ssh.keep_shell is True
    text = "[ssh]\nkeep_shell = false\n" + MINIMAL.replace(
        'ssh = "xivo2"', 'ssh = "xivo2"\nkeep_shell = true'
    )
    inv = parse_inventory(text)
    assert inv.node("paris.xivo.master").ssh.keep_shell is False
    assert inv.node("paris.xivo.slave").ssh.keep_shell is True  # the node's own choice
    (err,) = errors_of("[ssh]\nkeep_shell = 'no'\n" + MINIMAL)
    assert err.startswith("hosts.toml:2: ssh.keep_shell:")
