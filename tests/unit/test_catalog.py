"""The command catalog: argv forms, validation of hostile values, mutating flags."""

from __future__ import annotations

import json
import shlex
import socket
import threading
from ipaddress import IPv4Address

import pytest

from resil_tui.inventory_model import Node, NodeKind, SshSettings
from resil_tui.remote import commands as C
from resil_tui.remote.commands import Command, CommandError
from resil_tui.remote.errors import ErrorKind, RemoteError
from resil_tui.remote.pool import Pool

HOSTILE = [
    "; rm -rf /",
    "$(reboot)",
    "`reboot`",
    "a\nreboot",
    "x\x00y",
    "A" * 100_000,
    "' OR 1=1 --",
    "../../etc/shadow",
    "-rf",
    "",
    " ",
    "10.0.0.1; reboot",
    "10.0.0.1 ",
]


def _builders() -> list[tuple[str, object]]:
    return [
        ("cat", C.cat),
        ("test_exists", C.test_exists),
        ("ls", C.ls),
        ("tail", lambda v: C.tail(v, 10)),
        ("tail_follow", lambda v: C.tail(v, 10, follow=True)),
        ("xivo_service", C.xivo_service),
        ("manage_slave_services", C.manage_slave_services),
        ("db_replication", C.db_replication),
        ("check_master_status", C.check_master_status),
        ("update_ha_peer", lambda v: C.sysconfd_update_ha_config("slave", v)),
        ("update_ha_mode", lambda v: C.sysconfd_update_ha_config(v, "10.0.0.1")),
        ("xivocc_restart", C.xivocc_restart),
        ("compose_service", lambda v: C.compose_logs("xivocc-dcomp", v)),
        ("compose_since", lambda v: C.compose_logs("edge-dcomp", since=v)),
        ("compose_tool", lambda v: C.compose_logs(v, "xuc")),
        ("custom_log", lambda v: C.custom_log(["tail", "-F", v])),
    ]


@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: repr(v)[:20])
@pytest.mark.parametrize("entry", _builders(), ids=lambda e: e[0])
def test_hostile_values_are_refused_or_quoted(entry: tuple[str, object], value: str) -> None:
    _, build = entry
    try:
        cmd = build(value)  # type: ignore[operator]
    except CommandError:
        return  # refused by validation: fine
    assert isinstance(cmd, Command)
    assert "\x00" not in cmd.line
    # Quoted so that the remote shell sees exactly the argv, one word per argument.
    assert shlex.split(cmd.line) == list(cmd.argv)


def test_strict_validators_refuse_shell_metacharacters() -> None:
    for bad in ["; rm -rf /", "$(reboot)", "`id`", "a\nb", "x y", "../x", "/a/../b", "rel/p"]:
        with pytest.raises(CommandError):
            C.cat(bad)
    for bad in ["xuc;id", "$(x)", "-f", "", "a" * 65]:
        with pytest.raises(CommandError):
            C.xivocc_restart(bad)
    for bad in ["10.0.0.256", "10.0.0", "010.0.0.1", "::1", "10.0.0.1/24", "host"]:
        with pytest.raises(CommandError):
            C.db_replication(bad)
    for bad in [-1, True, 1.5, 10**9]:
        with pytest.raises(CommandError):
            C.tail("/var/log/x", bad)  # type: ignore[arg-type]
    with pytest.raises(CommandError):
        C.custom_log([])
    with pytest.raises(CommandError):
        C.sysconfd_update_ha_config("master", None)


def test_exact_argv_forms() -> None:
    assert C.xivo_service_status().argv == ("xivo-service", "status")
    assert C.xivo_service_status(all=True).line == "xivo-service status all"
    assert C.xivo_service("restart").line == "xivo-service restart"
    assert C.cat("/etc/xivo/ha.conf").line == "cat /etc/xivo/ha.conf"
    assert C.test_exists("/var/lib/xivo/disabled").line == "test -e /var/lib/xivo/disabled"
    assert C.test_exists("/x", regular_file=True).argv == ("test", "-f", "/x")
    assert C.tail("/var/log/xivo-sync.log", 50).line == "tail -n 50 /var/log/xivo-sync.log"
    assert C.tail("/l", 5, follow=True).argv == ("tail", "-F", "-n", "5", "/l")
    assert C.sysconfd_get_ha_config().line == (
        "curl -q -sS --max-time 10 http://127.0.0.1:8668/get_ha_config"
    )
    upd = C.sysconfd_update_ha_config(C.HaMode.SLAVE, IPv4Address("10.50.0.11"))
    assert upd.line == (
        "curl -q -sS --max-time 60 -X POST -H 'Content-Type: application/json' "
        '-d \'{"node_type": "slave", "remote_address": "10.50.0.11"}\' '
        "http://127.0.0.1:8668/update_ha_config"
    )
    assert json.loads(C.sysconfd_update_ha_config("disabled", None).argv[-2]) == {
        "node_type": "disabled",
        "remote_address": "",
    }
    assert C.db_replication("10.50.0.12").line == "xivo-master-slave-db-replication 10.50.0.12"
    assert C.manage_slave_services("stop").line == "xivo-manage-slave-services stop"
    assert C.check_master_status("10.50.0.11").line == "xivo-check-master-status 10.50.0.11"
    assert C.xivo_sync().line == "xivo-sync"
    assert C.xivo_sync_init().line == "xivo-sync -i" and C.xivo_sync_init().pty
    assert C.sip_expiry_query().argv == (
        "psql",
        "-X",
        "-U",
        "postgres",
        "-d",
        "asterisk",
        "-At",
        "-F",
        "|",
        "-c",
        "SELECT var_name, var_val FROM staticsip "
        "WHERE var_name IN ('minexpiry','maxexpiry','defaultexpiry')",
    )
    assert C.sip_expiry_query().argv[-1] == C.SIP_EXPIRY_SQL
    assert C.xivocc_ps().line == "xivocc-dcomp ps -a"
    assert C.xivocc_restart().line == "xivocc-dcomp restart xuc"
    logs = C.compose_logs(
        "xivocc-dcomp", "xuc", follow=True, tail=100, since="2026-11-25T12:00:00Z", timestamps=True
    )
    assert logs.line == ("xivocc-dcomp logs -f --tail 100 --since 2026-11-25T12:00:00Z -t xuc")
    assert logs.pty and logs.long_running
    assert not C.compose_logs("edge-dcomp", tail=20).pty
    assert C.compose_logs("edge-dcomp", tail=20).line == "edge-dcomp logs --tail 20"
    assert C.edge_ps().line == "edge-dcomp ps -a"
    assert C.edge_up().line == "edge-dcomp up -d"
    assert C.custom_log(["tail", "-F", "/var/log/syslog"]).argv == ("tail", "-F", "/var/log/syslog")


def test_mutating_flags() -> None:
    for cmd in C.mutating_entries():
        assert cmd.mutates, cmd.name
    for cmd in C.read_only_entries():
        assert not cmd.mutates, cmd.name
    names = {c.argv[0] for c in C.mutating_entries()}
    assert names == {
        "xivo-service",
        "curl",
        "xivo-master-slave-db-replication",
        "xivo-manage-slave-services",
        "xivo-check-master-status",
        "xivo-sync",
        "xivocc-dcomp",
        "edge-dcomp",
        "psql",  # the web UI's SIP expiry, --with-sip-and-provisioning (issue 16)
    }
    assert {c.argv[1] for c in C.mutating_entries() if c.argv[0] == "xivo-service"} == {
        "start",
        "stop",
        "restart",
    }


def test_command_rejects_nul_and_empty() -> None:
    with pytest.raises(CommandError):
        Command("x", (), mutates=False)
    with pytest.raises(CommandError):
        Command("x", ("echo", "a\x00b"), mutates=False)


async def test_read_only_refusal_happens_before_connecting(tmp_path) -> None:
    """A listening socket records accepts: read-only refusal must never reach it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.1)
    port = listener.getsockname()[1]
    accepts: list[object] = []
    stop = threading.Event()

    def accept_loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            accepts.append(conn)
            conn.close()

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    node = Node(
        id="t.x",
        site="t",
        kind=NodeKind.XIVO,
        side=None,
        ssh=SshSettings(
            host="127.0.0.1",
            port=port,
            known_hosts=str(tmp_path / "kh"),
            use_ssh_config=False,
            connect_timeout=1.0,
        ),
    )
    pool = Pool(read_only=True, audit=tmp_path / "audit.jsonl", connect_attempts=1)
    try:
        for cmd in C.mutating_entries():
            with pytest.raises(RemoteError) as info:
                await pool.run(node, cmd)
            assert info.value.kind is ErrorKind.READ_ONLY
            assert cmd.line in info.value.message
        assert accepts == []
        # The recorder works: a read-only command does reach it (and fails the handshake).
        with pytest.raises(RemoteError):
            await pool.run(node, C.xivo_service_status())
        assert len(accepts) == 1
    finally:
        await pool.close()
        stop.set()
        thread.join()
        listener.close()
    assert not (tmp_path / "audit.jsonl").exists()


def test_docker_inspect_and_the_http_probe() -> None:
    inspect = C.docker_inspect(["xivocc-xuc-1", "xivocc_xuc_1"])
    assert inspect.line == "docker inspect xivocc-xuc-1 xivocc_xuc_1" and not inspect.mutates
    with pytest.raises(C.CommandError):
        C.docker_inspect(["x; rm -rf /"])
    with pytest.raises(C.CommandError):
        C.docker_inspect([])
    probe = C.http_probe("http://127.0.0.1:8090/xuc/api/2.0/", 5)
    assert probe.argv[:2] == ("curl", "-q") and not probe.mutates
    assert probe.line == (
        "curl -q -sS -o /dev/null -w '%{http_code}' --max-time 5 http://127.0.0.1:8090/xuc/api/2.0/"
    )
    for bad in (
        "file:///etc/passwd",
        "http://h/`id`",
        "http://h:99999/",
        "-K /x",
        "http://h/[1-2]",
    ):
        with pytest.raises(C.CommandError):
            C.http_probe(bad)
    with pytest.raises(C.CommandError):
        C.http_probe("http://127.0.0.1/", 0)


def test_web_ui_part_entries() -> None:
    update = C.sip_expiry_update(60, 300, 120)
    assert update.mutates and update.argv[:2] == ("psql", "-X")
    assert "WHEN 'maxexpiry' THEN '300'" in update.argv[-1]
    for bad in (0, -1, 86401, True):
        with pytest.raises(C.CommandError):
            C.sip_expiry_update(60, bad, 120)  # type: ignore[arg-type]
    get = C.provd_get_default()
    assert not get.mutates and get.argv[:2] == ("curl", "-q")
    put = C.provd_put_default('{"config": {"id": "default", "x": "$(reboot)"}}')
    assert put.mutates and put.stdin is not None and b"$(reboot)" in put.stdin
    assert "$(reboot)" not in put.line  # the body travels on stdin, never in the line
    for body in ("not json", "[]", '{"config": 1}'):
        with pytest.raises(C.CommandError):
            C.provd_put_default(body)


def test_asterisk_reads_are_the_catalogs_only() -> None:
    cmd = C.asterisk_rx("pjsip show contacts")
    assert cmd.argv == ("asterisk", "-rx", "pjsip show contacts") and not cmd.mutates
    assert cmd.line == "asterisk -rx 'pjsip show contacts'"
    for other in ("core restart now", "channel request hangup all", "pjsip show contacts; x"):
        with pytest.raises(C.CommandError):
            C.asterisk_rx(other)
