"""Smoke tests of the sshd tier, with OpenSSH's own clients (no product code on the wire).

They check the tier itself: real sshd + ForceCommand reach the lab dispatcher, SFTP works
through the inventory's path overrides, strict host key checking refuses unknown keys,
one node takes 30 concurrent connections, and a node's sshd can be killed and restarted.
"""

from __future__ import annotations

import pwd
import re
import subprocess
import threading
import time
import tomllib
from pathlib import Path

import pytest
from sshd_fixture import SshdLab, SshdLabFactory

pytestmark = pytest.mark.sshd

MASTER = "demo.xivo.master"
SLAVE = "demo.xivo.slave"
EDGE = "demo.edge"
# XIVO.md: "Checking database...", a tab-indented OK/NOK line, "Checking services...",
# then one `\t<state>\t\t<name>` line per service.
STATUS_RE = re.compile(
    r"\ACHECKING DATABASE\.\.\.\n\t(OK|NOK[^\n]*)\nCHECKING SERVICES\.\.\.\n"
    r"((?:\t(?:running|stopped|failed|unknown)\t\t[\w.@-]+\n)+)\Z",
    re.IGNORECASE,
)


def _inventory(lab: SshdLab) -> dict[str, object]:
    return tomllib.loads(lab.inventory_path.read_text())


def test_inventory_points_at_the_sshds_and_loads(sshd_lab: SshdLab) -> None:
    from resil_tui.inventory import load_inventory

    inv = load_inventory(sshd_lab.inventory_path)
    assert {n.id for n in inv.nodes()} == set(sshd_lab.nodes)
    for node in inv.nodes():
        served = sshd_lab.node(node.id)
        assert (node.ssh.host, node.ssh.port, node.ssh.user) == (
            served.address,
            served.port,
            sshd_lab.user,
        )
        assert node.ssh.known_hosts == str(sshd_lab.known_hosts)
        assert Path(node.paths.ha_conf) == sshd_lab.node_root(node.id) / "etc/xivo/ha.conf"
    assert len({n.address for n in sshd_lab.nodes.values()}) == len(sshd_lab.nodes)


def test_sessions_log_in_as_the_non_root_user(sshd_lab: SshdLab) -> None:
    if sshd_lab.user == "root":
        pytest.skip(sshd_lab.user_note or "tests run unprivileged")
    res = sshd_lab.ssh(MASTER, ["xivo-service", "status", "all"])
    assert res.returncode in (0, 1, 2), res.stderr
    logins = sshd_lab.sshd_log(MASTER)
    assert f"Accepted publickey for {sshd_lab.user} from 127.0.0.1" in logins


def test_xivo_service_status_all_on_master(sshd_lab: SshdLab) -> None:
    res = sshd_lab.ssh(MASTER, ["xivo-service", "status", "all"])
    m = STATUS_RE.match(res.stdout)
    assert m, f"not the XIVO.md format:\n{res.stdout!r}\nstderr: {res.stderr}"
    states = re.findall(r"\t(\w+)\t\t", m.group(2))
    # Exit code per XIVO.md: 2 if any failed, else 1 if any stopped, else 0.
    expected = 2 if "failed" in states else 1 if "stopped" in states else 0
    assert res.returncode == expected, res.stderr
    # The dispatcher recorded what it ran, for this node only.
    ran = [c.get("argv") for c in sshd_lab.world.commands(MASTER)]
    assert ["xivo-service", "status", "all"] in ran


def test_root_login_works_too(sshd_lab: SshdLab) -> None:
    res = sshd_lab.ssh(SLAVE, ["xivo-service", "status"], user="root")
    assert STATUS_RE.match(res.stdout), res.stdout + res.stderr


def test_unknown_command_is_127(sshd_lab: SshdLab) -> None:
    res = sshd_lab.ssh(MASTER, "no-such-tool --now")
    assert res.returncode == 127
    assert "no-such-tool: command not found" in res.stderr


def test_sftp_reads_edge_env_through_the_path_override(sshd_lab: SshdLab, tmp_path: Path) -> None:
    edge = _inventory(sshd_lab)["site"]["demo"]["edge"]  # type: ignore[index]
    remote = edge["paths"]["edge_env"]
    assert remote == str(sshd_lab.node_root(EDGE) / "etc/docker/edge/.env")
    local = tmp_path / "edge.env"
    res = sshd_lab.sftp_batch(EDGE, f'get "{remote}" "{local}"\n')
    assert res.returncode == 0, res.stderr
    text = local.read_text()
    assert text == Path(remote).read_text()
    assert re.search(r"^XIVO_HOST=", text, re.MULTILINE), text


def test_sftp_writes_as_the_login_user(sshd_lab: SshdLab, tmp_path: Path) -> None:
    # The product's atomic write: upload a temp file next to the target, then rename.
    root = sshd_lab.node_root(EDGE)
    target = root / "etc/docker/edge/sftp-probe.txt"
    local = tmp_path / "probe.txt"
    local.write_text("written over sftp\n")
    res = sshd_lab.sftp_batch(
        EDGE, f'put "{local}" "{target}.tmp"\nrename "{target}.tmp" "{target}"\nrm "{target}"\n'
    )
    assert res.returncode == 0, res.stderr
    assert not target.exists()


def test_unknown_host_key_is_refused(sshd_lab: SshdLab, tmp_path: Path) -> None:
    before = len(sshd_lab.world.commands(MASTER))
    # 1. no key known for the address at all
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    res = sshd_lab.ssh(MASTER, ["xivo-service", "status"], known_hosts=empty)
    assert res.returncode == 255
    assert "host key is known" in res.stderr.lower(), res.stderr
    # 2. another node's key recorded for this address: a changed key
    master, slave = sshd_lab.node(MASTER), sshd_lab.node(SLAVE)
    wrong = tmp_path / "wrong_known_hosts"
    slave_key = slave.known_hosts_line.split(" ", 1)[1]
    wrong.write_text(f"[{master.address}]:{master.port} {slave_key}\n")
    res = sshd_lab.ssh(MASTER, ["xivo-service", "status"], known_hosts=wrong)
    assert res.returncode == 255
    assert "host key verification failed" in res.stderr.lower(), res.stderr
    assert len(sshd_lab.world.commands(MASTER)) == before, "a command ran after all"


def test_thirty_concurrent_ssh_commands_on_one_node(sshd_lab: SshdLab) -> None:
    # 30 separate connections at once. Handshakes are capped at 8 in flight, as the
    # product must do: past MaxStartups' 10 unauthenticated connections sshd drops new
    # ones at random ("kex_exchange_identification: Connection closed by remote host").
    results = sshd_lab.run_many(MASTER, [["xivo-service", "status", "all"]] * 30)
    assert len(results) == 30
    failures = [(r.returncode, r.stderr) for r in results if not STATUS_RE.match(r.stdout)]
    assert not failures, failures
    assert len({r.returncode for r in results}) == 1


def test_thirty_sessions_alive_at_once_then_node_killed(sshd_lab: SshdLab) -> None:
    # Followers never end by themselves: once each printed its first line, all 30 are
    # running on the node at the same time.
    sync_log = sshd_lab.node_root(MASTER) / "var/log/xivo-sync.log"
    assert sync_log.exists()
    procs: list[subprocess.Popen[bytes]] = []
    gate = threading.BoundedSemaphore(8)
    try:
        for _ in range(30):
            gate.acquire()
            p = subprocess.Popen(
                sshd_lab.ssh_argv(MASTER, ["tail", "-F", "-n", "1", str(sync_log)]),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            procs.append(p)
            threading.Thread(target=_release_on_first_line, args=(p, gate), daemon=True).start()
        for _ in range(8):  # every reader has released: all 30 printed their first line
            assert gate.acquire(timeout=60)
        assert all(p.poll() is None for p in procs), [p.returncode for p in procs]
        running = sshd_lab.node_commands(MASTER)
        assert len(running) == 30
        assert {p.uid for p in running} == {pwd.getpwnam(sshd_lab.user).pw_uid}
        # The login user is shared with the other workers' labs, which run the same node
        # names: only this lab's dispatchers count.
        ours = f"--lab-dir {sshd_lab.lab_dir} --node {MASTER}"
        assert len([p for p in sshd_lab.user_processes() if ours in p.cmdline]) == 30
        sshd_lab.stop_node(MASTER)
        assert sshd_lab.node_processes(MASTER) == []
        assert not [p for p in sshd_lab.user_processes() if ours in p.cmdline]
        for p in procs:
            assert p.wait(timeout=10) == 255  # "Connection ... closed by remote host"
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        sshd_lab.start_node(MASTER)


def _release_on_first_line(proc: subprocess.Popen[bytes], gate: threading.BoundedSemaphore) -> None:
    assert proc.stdout is not None
    proc.stdout.readline()
    gate.release()
    proc.stdout.read()  # keep draining until the connection goes


def test_kill_and_restart_a_node(sshd_lab: SshdLab) -> None:
    node = sshd_lab.node(SLAVE)
    old_pid = node.pid
    sshd_lab.stop_node(SLAVE)
    assert not sshd_lab.is_running(SLAVE)
    down = sshd_lab.ssh(SLAVE, ["xivo-service", "status"])
    assert down.returncode == 255
    assert "connection refused" in down.stderr.lower(), down.stderr
    sshd_lab.start_node(SLAVE)
    assert sshd_lab.is_running(SLAVE) and node.pid != old_pid
    # Same address, port and host key: the strict known_hosts still matches.
    up = sshd_lab.ssh(SLAVE, ["xivo-service", "status"])
    assert STATUS_RE.match(up.stdout), up.stdout + up.stderr


def test_many_nodes_each_answer_for_itself(sshd_many: SshdLab) -> None:
    assert len(sshd_many.nodes) >= 20
    assert len({n.address for n in sshd_many.nodes.values()}) == len(sshd_many.nodes)
    # One connection per node, all at once (one handshake per sshd: no MaxStartups issue).
    procs = {
        node_id: subprocess.Popen(
            sshd_many.ssh_argv(node_id, ["test", "-f", "/etc/docker/edge/.env"]),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for node_id in sshd_many.nodes
    }
    for node_id, p in procs.items():
        _, err = p.communicate(timeout=60)
        # Only Edge nodes hold the file: each sshd reached its own node's file system.
        assert p.returncode == (0 if node_id.endswith(".edge") else 1), (node_id, err)
        assert sshd_many.world.commands(node_id)[-1]["argv"] == [
            "test", "-f", "/etc/docker/edge/.env",
        ]  # fmt: skip


def test_lab_edited_in_process_is_seen_by_the_sessions(sshd_lab_factory: SshdLabFactory) -> None:
    lab = sshd_lab_factory()  # its own lab: the fault must not leak into other tests
    slave_ip = lab.world.spec.node(SLAVE).ip
    ok = lab.ssh(MASTER, ["xivo-master-slave-db-replication", slave_ip])
    assert (ok.returncode, ok.stdout) == (0, "Slave replication completed succesfully\n")
    # The test process (root) rewrites lab.json; editing() hands it back to the login user.
    with lab.editing() as world:
        world.set_fault("fail_replication", True)
    failed = lab.ssh(MASTER, ["xivo-master-slave-db-replication", slave_ip])
    assert failed.returncode == 1, failed.stderr
    assert failed.stdout.startswith("Slave replication failed: "), failed.stdout + failed.stderr


def test_ticker_runs_the_slave_cron_as_the_login_user(sshd_lab_factory: SshdLabFactory) -> None:
    lab = sshd_lab_factory()
    syslog = lab.node_root(SLAVE) / "var/log/syslog"
    lab.start_ticker()
    deadline = time.monotonic() + 30
    while "xivo-check-master-status" not in syslog.read_text():
        assert time.monotonic() < deadline, (lab.base_dir / "ticker.log").read_text()
        time.sleep(0.1)
    assert syslog.stat().st_uid == pwd.getpwnam(lab.user).pw_uid
