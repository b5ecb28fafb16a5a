"""Command behaviour of the simulated XiVO nodes, through real SSH clients."""

from __future__ import annotations

import json
import re
import tomllib

import asyncssh
from labkit import eventually

from resil_tui.lab.server import Lab
from tests.lab.conftest import connect, run, ssh_cli

M, S = "demo.xivo.master", "demo.xivo.slave"
SERVICE_LINE = re.compile(r"^\t(running|stopped|failed)\t\t(\S+)$")


def services(text: str) -> dict[str, str]:
    return {m[2]: m[1] for line in text.splitlines() if (m := SERVICE_LINE.match(line))}


async def test_status_format_and_exit_codes(lab: Lab) -> None:
    master = await run(lab, M, "xivo-service status all")
    assert master.exit_status == 0
    lines = str(master.stdout).splitlines()
    assert lines[:3] == ["Checking database...", "\tOK", "Checking services..."]
    states = services(str(master.stdout))
    assert len(states) == len(lines) - 3  # every other line is a service line
    assert {"postgresql", "asterisk", "xivo-sysconfd"} <= states.keys()
    assert set(states.values()) == {"running"}
    # `status` without `all` leaves out the external services.
    short = services(str((await run(lab, M, "xivo-service status")).stdout))
    assert "postgresql" not in short and "asterisk" in short
    # The standby slave: telephony stopped => exit 1 (through OpenSSH too).
    slave = await ssh_cli(lab, S, "xivo-service status")
    assert slave.returncode == 1
    assert services(slave.stdout)["asterisk"] == "stopped"
    await lab.crash_service(M, "xivo-confd")
    crashed = await run(lab, M, "xivo-service status")
    assert crashed.exit_status == 2
    assert "\tfailed\t\txivo-confd" in str(crashed.stdout)


async def test_service_start_stop_restart(lab: Lab) -> None:
    stop = await run(lab, M, "xivo-service stop")
    assert stop.exit_status == 0
    assert services(str((await run(lab, M, "xivo-service status")).stdout))["asterisk"] == "stopped"
    start = await run(lab, M, "xivo-service start")
    assert start.exit_status == 0
    assert str(start.stdout).rstrip().endswith("XiVO fully booted")
    assert "Starting asterisk..." in str(start.stdout)
    assert (await run(lab, M, "xivo-service status")).exit_status == 0
    restart = await run(lab, M, "xivo-service restart")
    assert str(restart.stdout).rstrip().endswith("XiVO fully booted")
    bad = await run(lab, M, "xivo-service frobnicate")
    assert bad.exit_status == 1 and "Usage" in str(bad.stderr)


async def test_ha_config_through_sysconfd(lab: Lab) -> None:
    got = await run(lab, S, "curl -sS --max-time 10 http://127.0.0.1:8668/get_ha_config")
    assert json.loads(str(got.stdout)) == {"node_type": "slave", "remote_address": "10.50.0.11"}
    before = lab.world.read_state(S)["postgres_restarts"]
    body = json.dumps({"node_type": "master", "remote_address": "10.50.0.11"})
    post = await run(
        lab,
        S,
        "curl -sS --max-time 60 -X POST -H 'Content-Type: application/json'"
        f" -d '{body}' http://127.0.0.1:8668/update_ha_config",
    )
    assert post.exit_status == 0, post.stderr
    root = lab.world.node_root(S)
    assert (root / "etc/xivo/ha.conf").read_text() == body + "\n"
    assert (root / "etc/cron.d/xivo-ha-master").read_text().count("10.50.0.11") == 1
    assert not (root / "etc/cron.d/xivo-ha-slave").exists()
    assert not (root / "var/lib/xivo/disabled").exists()  # a master starts telephony
    st = lab.world.read_state(S)
    assert st["postgres_restarts"] == before + 1
    assert services(str((await run(lab, S, "xivo-service status")).stdout))["asterisk"] == "running"
    sip = await run(
        lab,
        S,
        "psql -U postgres -d asterisk -At -F '|' -c \"SELECT var_name, var_val"
        " FROM staticsip WHERE var_name IN ('minexpiry','maxexpiry','defaultexpiry')\"",
    )
    assert sorted(str(sip.stdout).split()) == ["defaultexpiry|120", "maxexpiry|300", "minexpiry|60"]
    # Disabling: no cron file at all; body from stdin. sysconfd leaves SIP expiry alone
    # (the web UI's HA save writes it, XIVO.md corrections).
    off = await run(
        lab,
        S,
        "curl -sS -X POST --data-binary @- http://127.0.0.1:8668/update_ha_config",
        input='{"node_type": "disabled", "remote_address": ""}',
    )
    assert off.exit_status == 0
    assert not list((root / "etc/cron.d").iterdir())
    sip = await run(
        lab,
        S,
        'psql -d asterisk -At -c "SELECT var_name, var_val FROM staticsip '
        "WHERE var_name IN ('maxexpiry')\"",
    )
    assert str(sip.stdout) == "maxexpiry|300\n"


async def test_sysconfd_rejects_bad_requests(lab: Lab) -> None:
    bad = await run(
        lab,
        S,
        'curl -sS -X POST -d \'{"node_type": "boss"}\' '
        "-w '%{http_code}' http://127.0.0.1:8668/update_ha_config",
    )
    assert bad.exit_status == 0 and str(bad.stdout).endswith("400")
    failing = await run(
        lab, S, "curl -fsS -X POST -d 'nope' http://127.0.0.1:8668/update_ha_config"
    )
    assert failing.exit_status == 22 and "error: 400" in str(failing.stderr)
    assert (
        json.loads((lab.world.node_root(S) / "etc/xivo/ha.conf").read_text())["node_type"]
        == "slave"
    )
    # sysconfd only exists on XiVO nodes.
    cc = await run(lab, "demo.cc.master", "curl -sS http://127.0.0.1:8668/get_ha_config")
    assert cc.exit_status == 7


async def test_db_replication(lab: Lab) -> None:
    ok = await run(lab, M, "xivo-master-slave-db-replication 10.50.0.12")
    assert (ok.exit_status, ok.stdout) == (0, "Slave replication completed succesfully\n")
    assert lab.world.read_state(S)["replicated_from"] == "10.50.0.11"
    usage = await run(lab, M, "xivo-master-slave-db-replication")
    assert usage.exit_status == 1 and "usage" in str(usage.stderr).lower()
    await lab.fail_replication(True)
    failed = await run(lab, M, "xivo-master-slave-db-replication 10.50.0.12")
    assert failed.exit_status == 1
    assert str(failed.stdout).startswith("Slave replication failed: ")
    await lab.fail_replication(False)
    await lab.power_off(S)
    unreachable = await run(lab, M, "xivo-master-slave-db-replication 10.50.0.12")
    assert unreachable.exit_status == 1 and "No route to host" in str(unreachable.stdout)


async def test_sync_and_missing_key(lab: Lab) -> None:
    ok = await run(lab, M, "xivo-sync")
    assert ok.exit_status == 0
    log = await run(lab, M, "tail -n 1 /var/log/xivo-sync.log")
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \[\d+\] \(INFO\): "
        r"Synchronization successful\n",
        str(log.stdout),
    )
    removed = await lab.remove_sync_key()
    assert removed == [M]
    missing = await run(lab, M, "xivo-sync")
    assert missing.exit_status == 0  # exits 0 although it did nothing: the product must flag it
    log = await run(lab, M, "tail -n 1 /var/log/xivo-sync.log")
    assert (
        str(log.stdout)
        .rstrip()
        .endswith("(ERROR): SSH key /root/.ssh/xivo_id_rsa not found: not synchronizing")
    )


async def _sync_init(lab: Lab, passwords: list[str]) -> tuple[int | None, str]:
    """Answer each password prompt of `xivo-sync -i` on a PTY, like an admin would."""
    async with connect(lab, M) as conn:
        proc = await conn.create_process("xivo-sync -i", term_type="xterm", encoding="utf-8")
        out = ""
        for i, pw in enumerate(passwords):
            while out.count("password: ") <= i:
                chunk = await proc.stderr.read(1024)
                if not chunk:
                    break
                out += chunk
            proc.stdin.write(pw + "\r")
        done = await proc.wait(timeout=10)
        return done.exit_status, out + str(done.stdout) + str(done.stderr)


async def test_sync_init_password_on_a_pty(lab: Lab) -> None:
    refused = await run(lab, M, "xivo-sync -i")
    assert refused.exit_status == 1 and "already exists" in str(refused.stderr)
    not_master = await run(lab, S, "xivo-sync -i")
    assert not_master.exit_status == 1
    assert "HA not configured or not a master node" in str(not_master.stderr)
    await lab.remove_sync_key()
    no_pty = await run(lab, M, "xivo-sync -i")
    assert no_pty.exit_status == 1 and "Permission denied" in str(no_pty.stderr)
    code, text = await _sync_init(lab, ["wrong", "still wrong", "nope"])
    assert code == 1
    assert text.count("root@10.50.0.12's password: ") == 3
    assert text.count("Permission denied, please try again.") == 2
    assert "wrong" not in text  # no echo
    assert not (lab.world.node_root(M) / "root/.ssh/xivo_id_rsa").exists()
    code, text = await _sync_init(lab, ["bad", lab.world.spec.root_password])
    assert code == 0, text
    assert "Number of key(s) added: 1" in text
    assert (lab.world.node_root(M) / "root/.ssh/xivo_id_rsa").exists()
    assert (await run(lab, M, "xivo-sync")).exit_status == 0
    assert (
        str((await run(lab, M, "tail -n 1 /var/log/xivo-sync.log")).stdout)
        .rstrip()
        .endswith("Synchronization successful")
    )


async def test_sync_init_through_openssh_tty(lab: Lab) -> None:
    await lab.remove_sync_key()
    res = await ssh_cli(
        lab, M, "xivo-sync -i", tty=True, stdin=(lab.world.spec.root_password + "\r").encode()
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Number of key(s) added: 1" in res.stdout


async def test_check_master_status_and_manage_slave(lab: Lab) -> None:
    up = await run(lab, S, "xivo-check-master-status 10.50.0.11")
    assert up.exit_status == 0 and "xivo-manage-slave-services stop" in str(up.stdout)
    assert lab.world.read_state(S)["last_check"]["reachable"] is True
    await lab.power_off(M)
    down = await run(lab, S, "xivo-check-master-status 10.50.0.11")
    assert "did not answer" in str(down.stdout)
    assert str(down.stdout).count("0 received") == 3
    assert services(str((await run(lab, S, "xivo-service status")).stdout))["asterisk"] == "running"
    assert not (lab.world.node_root(S) / "var/lib/xivo/disabled").exists()
    stop = await run(lab, S, "xivo-manage-slave-services stop")
    assert stop.exit_status == 0
    assert (lab.world.node_root(S) / "var/lib/xivo/disabled").exists()
    assert (await run(lab, S, "xivo-manage-slave-services")).exit_status == 1


async def test_files_and_unknown_commands(lab: Lab) -> None:
    assert (await run(lab, S, "test -e /var/lib/xivo/disabled")).exit_status == 0
    assert (await run(lab, M, "test -e /var/lib/xivo/disabled")).exit_status == 1
    missing = await run(lab, M, "cat /nope")
    assert missing.exit_status == 1 and "No such file" in str(missing.stderr)
    unknown = await run(lab, M, "frobnicate --now")
    assert (unknown.exit_status, unknown.stderr) == (127, "bash: frobnicate: command not found\n")
    cli = await ssh_cli(lab, "demo.edge", "xivo-service status")
    assert cli.returncode == 127 and "command not found" in cli.stderr
    env = await ssh_cli(lab, "demo.edge", "cat /etc/docker/edge/.env")
    for var in (
        "TIMEZONE=",
        "EDGE_FQDN=",
        "EDGE_HOST_IP=",
        "TURN_FQDN=",
        "EDGE_NGINX_TURN_PROXY=",
        "OCSP_ENABLE=",
        "NGINX_WORKER_CONNECTIONS=",
        "XIVO_HOST=10.50.0.11",
        "XIVOCC_HOST=10.50.0.21",
        "TURN_ALLOWED_PEERS=",
        "XIVO_MDS_HOST_DEFAULT=",
    ):
        assert var in env.stdout
    assert env.stdout.count("#") >= 3
    recorded = lab.commands(M)
    assert [c["argv"] for c in recorded if c["kind"] == "exec"][-1] == ["frobnicate", "--now"]


async def test_sftp_read_write_posix_rename(lab: Lab) -> None:
    edge = "demo.edge"
    async with connect(lab, edge) as conn, conn.start_sftp_client() as sftp:
        async with sftp.open("/etc/docker/edge/.env") as f:
            text = str(await f.read())
        new = text.replace("XIVO_HOST=10.50.0.11", "XIVO_HOST=10.50.0.12")
        async with sftp.open("/etc/docker/edge/.env.tmp", "w") as f:
            await f.write(new)
        await sftp.posix_rename("/etc/docker/edge/.env.tmp", "/etc/docker/edge/.env")
        assert ".env.tmp" not in await sftp.listdir("/etc/docker/edge")
        # Chrooted: the host's files are out of reach.
        try:
            await sftp.stat("/../../../../etc/passwd")
            escaped = True
        except asyncssh.SFTPNoSuchFile:
            escaped = False
        assert not escaped
    env = (lab.world.node_root(edge) / "etc/docker/edge/.env").read_text()
    assert "XIVO_HOST=10.50.0.12" in env
    ops = [(c["op"], c["paths"]) for c in lab.commands(edge) if c["kind"] == "sftp"]
    assert ("posix_rename", ["/etc/docker/edge/.env.tmp", "/etc/docker/edge/.env"]) in ops
    up = await run(lab, edge, "edge-dcomp up -d")
    assert up.exit_status == 0
    assert " Container edge-nginx-1  Recreated" in str(up.stderr)
    assert " Container edge-kamailio-1  Recreated" in str(up.stderr)
    assert " Container edge-coturn-1  Running" in str(up.stderr)  # its variables did not change

    async def kamailio_uses_slave() -> bool:
        logs = await run(lab, edge, "edge-dcomp logs kamailio")
        # A new container, a new log: the old destination is gone.
        assert "destination set to sip:10.50.0.11:" not in str(logs.stdout)
        return "XiVO destination set to sip:10.50.0.12:5060" in str(logs.stdout)

    await eventually(kamailio_uses_slave, what="kamailio start-up with the new .env")
    again = await run(lab, edge, "edge-dcomp up -d")
    assert "Recreate" not in str(again.stderr)


def test_inventory_matches_the_schema(lab: Lab) -> None:
    doc = tomllib.loads(lab.inventory_path.read_text())
    assert doc["ssh"]["user"] == "root"
    assert doc["ssh"]["known_hosts"] == str(lab.known_hosts_path)
    site = doc["site"]["demo"]
    assert site["xivo"]["master"] == {
        "ssh": "127.0.0.1",
        "port": lab.port(M),
        "voip_ip": "10.50.0.11",
    }
    assert site["cc"]["slave"]["fqdn"] == "cc2.demo.example"
    assert site["edge"]["fqdn"] == "edge.demo.example"
    assert [m["name"] for m in site["mds"]] == ["mds1", "mds2"]
    assert len({lab.port(n) for n in lab.node_ids()}) == 7
