"""`resil-tui status` end to end over real SSH against the in-process lab."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from labkit import ROOT, run_cli

from resil_tui.entry import main
from resil_tui.inventory import load_inventory
from resil_tui.lab.server import Lab
from resil_tui.remote import commands as cat

# The slave's check-master-status cron runs: the verdicts follow the lab's faults.
pytestmark = pytest.mark.lab(ticker=True)


@pytest.fixture(autouse=True)
def _xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


async def status_json(lab: Lab, site: str | None = None) -> tuple[int, dict]:
    inv = load_inventory(lab.inventory_path)
    run = await run_cli(inv, "status", "--json", *(["--site", site] if site else []))
    return run.code, json.loads(run.out)


async def test_normal_site_is_ok(lab: Lab) -> None:
    code, data = await status_json(lab)
    assert code == 0
    (site,) = data["sites"]
    assert site["verdicts"]["verdict"] == "normal"
    assert site["verdicts"]["active_side"] == "master"
    nodes = site["nodes"]
    assert set(nodes) == {
        "demo.xivo.master",
        "demo.xivo.slave",
        "demo.cc.master",
        "demo.cc.slave",
        "demo.edge",
        "demo.mds.mds1",
        "demo.mds.mds2",
    }
    assert nodes["demo.xivo.master"]["xivo"]["ha"]["mode"] == "master"
    # Phones and calls: numbers on the active XiVO, null on the standby (Asterisk stopped).
    active, standby = nodes["demo.xivo.master"]["telephony"], nodes["demo.xivo.slave"]["telephony"]
    assert active["contacts_reachable"] == active["contacts_total"] == 40, active
    assert active["active_calls"] == 0 and active["state"] == "counted"
    assert active["as_of"] == nodes["demo.xivo.master"]["last_success_at"]
    assert standby["contacts_reachable"] is None and standby["contacts_total"] is None
    assert standby["active_calls"] is None and standby["note"] == "n/a (standby)"
    assert all(nodes[n]["telephony"] is None for n in nodes if "xivo" not in n)
    assert site["verdicts"]["phones"]["text"] == "phones: 40 on master · 0 on slave"
    assert nodes["demo.edge"]["edge"]["targets"]["overall"] == "master"
    assert nodes["demo.cc.slave"]["cc"]["xuc_state"] == "up"
    # xuc's readiness, not only its container: up for days, its readiness line seen.
    xuc = nodes["demo.cc.master"]["cc"]["xuc"]
    assert xuc["state"] == "ready" and xuc["since"] < time.time() - 86400, xuc
    assert xuc["run"]["source"] == "inspect" and xuc["run"]["started_at"] < xuc["since"]
    # Nothing the status poll sends may change a node: every simple command the lab was
    # asked to run (those inside a batch's `sh -c` script too) only reads.
    for node_id in nodes:
        for cmd in lab.commands(node_id):
            for argv in cmd["commands"]:
                assert argv[0] in {
                    "cat",
                    "test",
                    "tail",
                    "xivo-service",
                    "xivocc-dcomp",
                    "edge-dcomp",
                    "psql",
                    "docker",
                    "sh",  # a batch: its script's commands are listed too
                    "printf",  # a batch's markers
                    "false",  # a batch's probe of $?
                    "asterisk",  # `asterisk -rx` with one of the catalog's reads
                }, cmd
                if argv[0] == "asterisk":
                    assert argv[1] == "-rx" and argv[2] in cat.ASTERISK_READS
                if argv[0] == "xivo-service":
                    assert argv[1] == "status"
                if argv[0] == "docker":
                    assert argv[1] == "inspect"
                if argv[0] == "sh":
                    assert argv[1] == "-c"


async def test_master_powered_off_is_critical_and_others_unaffected(lab: Lab) -> None:
    await lab.power_off("demo.xivo.master")
    code, data = await status_json(lab)
    assert code == 2
    nodes = data["sites"][0]["nodes"]
    assert nodes["demo.xivo.master"]["reachability"]["state"] == "refused"
    assert nodes["demo.xivo.slave"]["reachability"]["state"] == "ok"
    assert nodes["demo.cc.master"]["reachability"]["state"] == "ok"
    codes = {f["code"] for f in data["sites"][0]["verdicts"]["findings"]}
    assert "node_unreachable" in codes


async def test_link_cut_becomes_split_brain(lab: Lab) -> None:
    await lab.cut_link()
    # The slave's check-master-status cron (fast in tests) starts telephony once pings fail.
    for _ in range(100):
        code, data = await status_json(lab)
        if data["sites"][0]["verdicts"]["verdict"] == "split_brain":
            break
        await asyncio.sleep(0.1)
    assert data["sites"][0]["verdicts"]["verdict"] == "split_brain"
    assert code == 2
    await lab.heal_link()
    for _ in range(100):
        code, data = await status_json(lab)
        if data["sites"][0]["verdicts"]["verdict"] == "normal":
            break
        await asyncio.sleep(0.1)
    assert code == 0


def test_status_cli_does_not_import_textual(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from resil_tui.entry import main\n"
        "code = main(['--demo', 'status', '--json'])\n"
        "loaded = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print('TEXTUAL', loaded, file=sys.stderr)\n"
        "sys.exit(code if not loaded else 99)\n"
    )
    env = {
        "XDG_STATE_HOME": str(tmp_path / "s"),
        "XDG_CONFIG_HOME": str(tmp_path / "c"),
        "HOME": str(tmp_path),
        "PATH": "/usr/bin:/bin",
    }
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=ROOT,
    )
    assert "TEXTUAL []" in proc.stderr, proc.stderr
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["sites"][0]["site"] == "demo"


def test_check_config_and_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["check-config", str(ROOT / "hosts.example.toml")]) == 0
    assert "OK" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text('[site.x.xivo.master]\nssh = "a"\nvoip_ip = "1.2.3"\n')
    assert main(["check-config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:3: site.x.xivo.master.voip_ip: '1.2.3' is not an IPv4 address" in err
    assert "Traceback" not in err
    assert main(["--theme", "nope", "check-config", str(ROOT / "hosts.example.toml")]) == 2
    assert "available themes" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RESIL_TUI_HOSTS", raising=False)
    assert main(["status"]) == 2
    assert "resil-tui --demo" in capsys.readouterr().err


async def test_dropped_connection_is_reopened_on_next_poll(lab: Lab, tmp_path: Path) -> None:
    from resil_tui.ops.session import make_pool
    from resil_tui.ops.status import StatusCollector

    inv = load_inventory(lab.inventory_path)
    pool = make_pool(inv, audit_path=tmp_path / "audit.jsonl")
    try:
        collector = StatusCollector(inv, pool)
        node = inv.node("demo.xivo.slave")
        assert (await collector.poll_node(node)).reachability.ok
        assert await lab.drop_connections(node.id) >= 1
        # The pooled connection is dead; the next poll must reconnect, not report an error.
        again = await collector.poll_node(node)
        assert again.reachability.ok, again.reachability
    finally:
        await pool.close()


def _codes(data: dict) -> set[str]:
    return {f["code"] for f in data["sites"][0]["verdicts"]["findings"]}


async def test_xuc_stopped_on_the_active_side_is_reported(lab: Lab) -> None:
    await lab.stop_container("demo.cc.master", "xuc")
    code, data = await status_json(lab)
    assert "xuc_down" in _codes(data)
    assert data["sites"][0]["nodes"]["demo.cc.master"]["cc"]["xuc_state"] == "exited"
    assert code == 2
    # The standby side's xuc does not matter while the master is active.
    await lab.stop_container("demo.cc.master", "xuc", running=True)
    await lab.stop_container("demo.cc.slave", "xuc")
    code, data = await status_json(lab)
    assert "xuc_down" not in _codes(data)


async def test_edge_switched_by_hand_is_on_the_wrong_side(lab: Lab) -> None:
    env = lab.world.node_root("demo.edge") / "etc/docker/edge/.env"
    text = env.read_text()
    # What the seed's sed does: every occurrence, the master's XiVO IP and CC IP.
    env.write_text(text.replace("10.50.0.11", "10.50.0.12").replace("10.50.0.21", "10.50.0.22"))
    code, data = await status_json(lab)
    edge = data["sites"][0]["nodes"]["demo.edge"]["edge"]
    assert edge["targets"]["overall"] == "slave"
    assert "edge_wrong_side" in _codes(data) and code == 2
    # Half done by hand: only XIVO_HOST moved.
    lines = [
        ln.replace("10.50.0.11", "10.50.0.12") if ln.startswith("XIVO_HOST=") else ln
        for ln in text.splitlines(keepends=True)
    ]
    env.write_text("".join(lines))
    code, data = await status_json(lab)
    assert data["sites"][0]["nodes"]["demo.edge"]["edge"]["targets"]["overall"] == "mixed"
    assert "edge_mixed" in _codes(data)


async def test_a_hung_node_does_not_hold_back_the_next_refresh(lab: Lab, tmp_path: Path) -> None:
    from resil_tui.ops.session import make_pool
    from resil_tui.ops.status import StatusCollector

    inv = load_inventory(lab.inventory_path)
    site = inv.site("demo")
    pool = make_pool(inv, audit_path=tmp_path / "audit.jsonl")
    collector = StatusCollector(inv, pool)
    try:
        await collector.poll_site(site)
        await lab.hang("demo.mds.mds2")
        late: list[str] = []
        first = await collector.poll_site(
            site, on_node=lambda s: late.append(s.node_id), patience=1.0
        )
        assert first.waiting == ("demo.mds.mds2",)
        slave_at = first.snapshot.nodes["demo.xivo.slave"].polled_at
        second = await collector.poll_site(site, patience=1.0)
        # The others were polled again; the hung node was not asked a second time.
        assert second.snapshot.nodes["demo.xivo.slave"].polled_at > slave_at
        assert second.waiting == ("demo.mds.mds2",)
        assert list(collector._inflight) and not collector._inflight["demo.mds.mds2"].done()
        assert "demo.mds.mds2" not in late
    finally:
        collector.cancel()
        await pool.close()
