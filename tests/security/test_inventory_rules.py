"""check-config = runtime: what the loader accepts is what the runtime runs, and every
refusal names the file, the line and the key. Local files: a planted ./hosts.toml is
refused; the state directory and its files are private whatever the umask."""

from __future__ import annotations

import logging
import math
import os
import stat
from pathlib import Path

import pytest
from hostile import FUZZ, counted
from hypothesis import given
from hypothesis import strategies as st

from resil_tui import localfiles, paths
from resil_tui.audit import AuditLog
from resil_tui.core import validators
from resil_tui.inventory import InventoryError, find_inventory, load_inventory, parse_inventory
from resil_tui.remote import commands as cat
from resil_tui.remote.commands import CommandError
from resil_tui.remote.pool import parse_jump

BASE = """\
[ssh]
user = "root"
{ssh}
[site.paris.xivo.master]
ssh = {master}
voip_ip = "10.0.0.1"
{master_extra}
[site.paris.xivo.slave]
ssh = "xivo-2"
voip_ip = "10.0.0.2"
[site.paris.edge]
ssh = "edge-1"
{edge_extra}
"""


def doc(
    *, ssh: str = "", master: str = '"xivo-1"', master_extra: str = "", edge_extra: str = ""
) -> str:
    return BASE.format(ssh=ssh, master=master, master_extra=master_extra, edge_extra=edge_extra)


def errors_of(text: str, tmp_path: Path) -> list[str]:
    path = tmp_path / "hosts.toml"
    path.write_text(text)
    with pytest.raises(InventoryError) as info:
        load_inventory(path)
    for err in info.value.errors:
        assert err.file == str(path) and err.line is not None and err.key, err
        assert 1 <= err.line <= len(text.splitlines())
    return [str(e) for e in info.value.errors]


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ('paths.sync_log = "/var/log/x $(id)"', "site.paris.xivo.master.paths.sync_log"),
        ('paths.ha_conf = "/etc/xivo/../shadow"', "site.paris.xivo.master.paths.ha_conf"),
        ('paths.lock_dir = "relative/lock"', "site.paris.xivo.master.paths.lock_dir"),
        ('paths.cron_master = "/etc/cron.d/x\\n"', "site.paris.xivo.master.paths.cron_master"),
    ],
)
def test_paths_refused_like_the_runtime(extra: str, key: str, tmp_path: Path) -> None:
    (message,) = errors_of(doc(master_extra=extra), tmp_path)
    assert f": {key}: refused remote path" in message


@pytest.mark.parametrize("env", ['"/etc/docker/edge/.env;reboot"', '"/etc/docker/../edge/.env"'])
def test_env_path_refused(env: str, tmp_path: Path) -> None:
    (message,) = errors_of(doc(edge_extra=f"env_path = {env}"), tmp_path)
    assert "site.paris.edge.env_path: refused remote path" in message


def test_top_level_paths_refused_too(tmp_path: Path) -> None:
    text = doc().replace("[ssh]", '[paths]\nsync_key = "/root/.ssh/key`id`"\n\n[ssh]')
    (message,) = errors_of(text, tmp_path)
    assert ":2: paths.sync_key: refused remote path" in message


@pytest.mark.parametrize(
    ("target", "user", "host", "port"),
    [
        ('"root@host:2222"', "root", "host", 2222),
        ('"host:22"', "root", "host", 22),
        ('"admin@[2001:db8::1]:2200"', "admin", "2001:db8::1", 2200),
        ('"[::1]"', "root", "::1", None),
        ('"::1"', "root", "::1", None),
        ('"alias-from-ssh-config"', "root", "alias-from-ssh-config", None),
    ],
)
def test_ssh_targets_with_ports_work(
    target: str, user: str, host: str, port: int | None, tmp_path: Path
) -> None:
    path = tmp_path / "hosts.toml"
    path.write_text(doc(master=target))
    node = load_inventory(path).node("paris.xivo.master")
    assert (node.ssh.user, node.ssh.host, node.ssh.port) == (user, host, port)
    # The pool's parser of jump hosts is the same one.
    raw = target.strip('"')
    assert parse_jump(raw)[1:] == (host, port)


@pytest.mark.parametrize(
    ("target", "why"),
    [
        ('"root@host:0"', "not a port"),
        ('"root@host:70000"', "not a port"),
        ('"root@host:22x"', "not a port"),
        ('"root@[::1]x"', "after ]"),
        ('"ro ot@host"', "no spaces inside"),
        ('"bad$user@host"', "not a valid user name"),
        ('"host\\n"', "control characters"),
        ('"[not-v6]:22"', "IPv6"),
    ],
)
def test_bad_ssh_targets_refused_clearly(target: str, why: str, tmp_path: Path) -> None:
    (message,) = errors_of(doc(master=target), tmp_path)
    assert "site.paris.xivo.master.ssh:" in message and why in message


def test_port_given_twice_must_agree(tmp_path: Path) -> None:
    (message,) = errors_of(doc(master='"host:2222"', master_extra="port = 22"), tmp_path)
    assert "site.paris.xivo.master.port" in message and "give it once" in message


@pytest.mark.parametrize(
    "value", ["inf", "nan", "-inf", "1e999", "0", "-5", "86401", "true", '"10"']
)
def test_numbers_bounded_and_finite(value: str, tmp_path: Path) -> None:
    (message,) = errors_of(doc(ssh=f"command_timeout = {value}"), tmp_path)
    assert "ssh.command_timeout" in message


@pytest.mark.parametrize(
    ("table", "value"),
    [
        ("lock_stale_after", "nan"),
        ("lock_stale_after", "10"),
        ("keep_backups", "0"),
        ("keep_backups", "2.5"),
    ],
)
def test_change_policy_bounded(table: str, value: str, tmp_path: Path) -> None:
    text = doc().replace("[ssh]", f"[changes]\n{table} = {value}\n\n[ssh]")
    (message,) = errors_of(text, tmp_path)
    assert f"changes.{table}" in message


def test_change_policy_reaches_every_node(tmp_path: Path) -> None:
    text = doc(edge_extra="changes.keep_backups = 5").replace(
        "[ssh]", "[changes]\nlock_stale_after = 600\n\n[ssh]"
    )
    inventory = parse_inventory(text)
    assert {n.changes.lock_stale_after for n in inventory.nodes()} == {600.0}
    assert inventory.node("paris.edge").changes.keep_backups == 5
    assert inventory.node("paris.xivo.master").changes.keep_backups == 20


@pytest.mark.parametrize(
    "text",
    [
        '[site."paris\\n".xivo.master]\nssh = "a"\nvoip_ip = "10.0.0.1"\n',
        doc().replace('user = "root"', 'user = "root\\n"'),
        doc(edge_extra='fqdn = "edge.example.com\\n"'),
        doc(ssh='jump = "bastion:22\\n"'),
    ],
    ids=["site name", "user", "fqdn", "jump"],
)
def test_a_trailing_newline_never_passes(text: str, tmp_path: Path) -> None:
    assert errors_of(text, tmp_path)


# --- one rule for paths: the loader and the catalog agree --------------------------------

path_chars = st.text(alphabet="/abc._-~@+:,= $;`'\"\n\\*?..", min_size=0, max_size=30)


@FUZZ
@given(st.one_of(path_chars, st.builds(lambda p: "/var/" + p, path_chars)))
def test_loader_and_catalog_accept_the_same_paths(value: str) -> None:
    counted("inventory: [paths] = catalog remote_path")
    try:
        cat.remote_path(value)
        runtime = True
    except CommandError:
        runtime = False
    text = doc(master_extra=f"paths.sync_log = {_toml_string(value)}")
    try:
        parse_inventory(text)
        loads = True
    except InventoryError as exc:
        loads = False
        assert any(
            "paths.sync_log" in e.key or "must not be empty" in e.message for e in exc.errors
        )
    assert loads == runtime, value


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


@FUZZ
@given(st.text(alphabet="ab1@:[]:.-_ \n%", max_size=25))
def test_ssh_target_parser_never_crashes_and_round_trips(text: str) -> None:
    counted("ssh targets: parse or refuse, round trip")
    try:
        target = validators.ssh_target(text)
    except validators.InvalidValue:
        return
    again = validators.ssh_target(str(target))
    assert again == target
    assert target.port is None or 1 <= target.port <= 65535
    assert "\n" not in target.host and " " not in target.host


@FUZZ
@given(
    st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(), st.text(max_size=8))
)
def test_cli_number_validators(value: object) -> None:
    counted("CLI numbers: --tail/--watch/--timeout")
    text = str(value)
    for check, low, high in (
        (validators.tail_lines, 0, validators.MAX_TAIL_LINES),
        (validators.watch_seconds, 1.0, validators.MAX_WATCH_SECONDS),
        (validators.timeout_seconds, 0.1, validators.MAX_TIMEOUT_SECONDS),
    ):
        try:
            got = check(text)
        except validators.InvalidValue as exc:
            assert str(exc).startswith("--")
            continue
        assert math.isfinite(got) and low <= got <= high


def test_cli_validators_refuse_the_issue_examples() -> None:
    for bad in ("-1", "0", "0.5", "nan", "inf", "1e999"):
        with pytest.raises(validators.InvalidValue, match="--watch"):
            validators.watch_seconds(bad)
    assert validators.watch_seconds("1") == 1.0
    with pytest.raises(validators.InvalidValue, match="between 0 and 100000"):
        validators.tail_lines("99999999")
    assert validators.tail_lines("200") == 200
    with pytest.raises(validators.InvalidValue):
        validators.timeout_seconds("nan")


# --- local files ----------------------------------------------------------------------------


def _write(path: Path, mode: int) -> Path:
    path.write_text(doc())
    os.chmod(path, mode)
    return path


@pytest.mark.parametrize(
    ("mode", "why"), [(0o666, "lets others change it"), (0o664, "lets the group change it")]
)
def test_a_writable_inventory_in_the_current_directory_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: int, why: str
) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "hosts.toml", mode)
    with pytest.raises(InventoryError) as info:
        find_inventory(None)
    assert why in str(info.value) and "hosts.toml" in str(info.value)


def test_an_inventory_owned_by_someone_else_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if os.getuid() != 0:
        pytest.skip("needs root to give the file to another user")
    monkeypatch.chdir(tmp_path)
    path = _write(tmp_path / "hosts.toml", 0o644)
    os.chown(path, 65534, 65534)
    with pytest.raises(InventoryError, match="owned by uid 65534"):
        find_inventory(None)


def test_trusted_inventories_are_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = _write(tmp_path / "hosts.toml", 0o644)
    assert find_inventory(None) == Path("hosts.toml").absolute() or find_inventory(None).samefile(
        path
    )
    # An explicit --hosts is the admin's choice: group-writable passes, world-writable not.
    os.chmod(path, 0o664)
    assert find_inventory(str(path)) == path
    os.chmod(path, 0o646)
    with pytest.raises(InventoryError, match="anyone on this machine can change it"):
        find_inventory(str(path))


@pytest.mark.parametrize("umask", [0o022, 0o000])
def test_state_directory_is_private_whatever_the_umask(
    umask: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / f"state-{umask:o}"
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    old = os.umask(umask)
    try:
        AuditLog().record(
            site="s", node="n", kind="command", command="x", exit_status=0, duration=0,
            step="t", result="ok",
        )  # fmt: skip
        handler = localfiles.debug_log_handler()
        logger = logging.getLogger("resil_tui.test.private")
        logger.addHandler(handler)
        logger.warning("hello")
        handler.close()
        logger.removeHandler(handler)
        localfiles.write_atomic(paths.state_dir() / "runs" / "r.json", "{}", mode=0o644)
    finally:
        os.umask(old)
    base = paths.state_dir()
    dirs = [base, base / "runs"]
    files = [base / "audit.jsonl", base / "debug.log", base / "runs" / "r.json"]
    assert all(stat.S_IMODE(d.stat().st_mode) == 0o700 for d in dirs), [
        oct(d.stat().st_mode) for d in dirs
    ]
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files), [
        oct(f.stat().st_mode) for f in files
    ]


def test_a_loose_state_directory_is_tightened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "s"))
    base = paths.state_dir()
    base.mkdir(parents=True)
    os.chmod(base, 0o755)
    log = base / "debug.log"
    log.write_text("old\n")
    os.chmod(log, 0o644)
    handler = localfiles.debug_log_handler()
    handler.close()
    assert stat.S_IMODE(base.stat().st_mode) == 0o700
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    # Outside the state directory nothing existing is touched (an explicit audit path).
    elsewhere = tmp_path / "shared"
    elsewhere.mkdir(mode=0o755)
    os.chmod(elsewhere, 0o755)
    AuditLog(elsewhere / "audit.jsonl").record(
        site="s", node="n", kind="command", command="x", exit_status=0, duration=0,
        step="t", result="ok",
    )  # fmt: skip
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o755
    assert stat.S_IMODE((elsewhere / "audit.jsonl").stat().st_mode) == 0o600
