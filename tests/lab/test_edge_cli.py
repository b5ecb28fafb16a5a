"""`resil-tui edge plan|apply|rollback` against the in-process lab."""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from labkit import CliRun, run_cli

from resil_tui.cli import edge as edge_cli
from resil_tui.inventory_model import Inventory
from resil_tui.lab.server import Lab
from resil_tui.ops.edge import ContainerWait

ROOT = Path(__file__).resolve().parents[2]
EDGE = "demo.edge"
ENV = "/etc/docker/edge/.env"
FAST = ContainerWait(timeout=5.0, interval=0.05)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)


class Terminal(io.StringIO):
    """stdin that claims to be a terminal, with the admin's answer already typed."""

    def isatty(self) -> bool:
        return True


async def edge(inventory: Inventory, *argv: str, stdin: io.StringIO | None = None) -> CliRun:
    async def fast(ctx: edge_cli.Context, ns: object) -> int:
        return await edge_cli.run(ctx, edge_cli.EdgeArgs.from_namespace(ns), wait=FAST)  # type: ignore[arg-type]

    return await run_cli(inventory, "edge", *argv, stdin=stdin or io.StringIO(""), call=fast)


def env_bytes(lab: Lab) -> bytes:
    return lab.world.resolve(EDGE, ENV).read_bytes()


def sent(lab: Lab) -> list[list[str]]:
    """The Edge commands that change something (a status poll's `ps` reads only)."""
    return [
        c["argv"]
        for c in lab.commands(EDGE)
        if c.get("argv", [""])[0] == "edge-dcomp" and c["argv"][1:2] != ["ps"]
    ]


def changes(line_prefix: str, diff: str) -> list[str]:
    return [
        line
        for line in diff.splitlines()
        if line.startswith(line_prefix) and not line.startswith(line_prefix * 3)
    ]


async def test_plan_prints_the_diff_and_exit_codes(lab: Lab, inventory: Inventory) -> None:
    before = env_bytes(lab)
    run = await edge(inventory, "plan", "--to", "slave")
    assert run.code == 0, run.err
    assert run.out.startswith("--- a/etc/docker/edge/.env\n+++ b/etc/docker/edge/.env\n")
    assert changes("-", run.out) == [
        "-XIVO_HOST=10.50.0.11",
        "-XIVOCC_HOST=10.50.0.21",
        '-TURN_ALLOWED_PEERS="--allowed-peer-ip=10.50.0.11 --allowed-peer-ip=10.50.0.31 '
        '--allowed-peer-ip=10.50.0.32"',
        "-XIVO_MDS_HOST_DEFAULT=10.50.0.11",
    ]
    assert changes("+", run.out) == [
        "+XIVO_HOST=10.50.0.12",
        "+XIVOCC_HOST=10.50.0.22",
        '+TURN_ALLOWED_PEERS="--allowed-peer-ip=10.50.0.12 --allowed-peer-ip=10.50.0.31 '
        '--allowed-peer-ip=10.50.0.32"',
        "+XIVO_MDS_HOST_DEFAULT=10.50.0.12",
    ]
    # Warnings on stderr only: the comment left alone, what sed would have broken.
    assert "warning:" not in run.out
    assert "points to: master" in run.err
    assert "line 14: 10.50.0.11 in comment is left as is" in run.err
    assert "'EDGE_HOST_IP=10.50.0.110' -> 'EDGE_HOST_IP=10.50.0.120'" in run.err

    run = await edge(inventory, "plan", "--to", "master")
    assert run.code == 1 and run.out == ""
    assert "already on the master side: nothing to do" in run.err

    assert env_bytes(lab) == before and sent(lab) == []


async def test_plan_errors_exit_2(lab: Lab, inventory: Inventory) -> None:
    run = await edge(inventory, "plan", "--to", "slave", "--site", "nowhere")
    assert run.code == 2 and "no site 'nowhere'" in run.err

    site = inventory.site("demo")
    no_cc = dataclasses.replace(
        inventory, sites={"demo": dataclasses.replace(site, cc_master=None, cc_slave=None)}
    )
    run = await edge(no_cc, "plan", "--to", "slave")
    assert run.code == 2 and "no CC pair" in run.err and "XIVOCC_HOST" in run.err

    path = lab.world.resolve(EDGE, ENV)
    path.write_bytes(path.read_bytes().replace(b"XIVOCC_HOST=10.50.0.21\n", b""))
    run = await edge(inventory, "plan", "--to", "slave")
    assert run.code == 2 and run.out == ""
    assert "error: XIVOCC_HOST is not set in the file" in run.err
    assert "Traceback" not in run.err


async def test_apply_yes_then_nothing_to_do(lab: Lab, inventory: Inventory) -> None:
    run = await edge(inventory, "apply", "--to", "slave", "--yes")
    assert run.code == 0, run.err
    assert "switched to slave" in run.out and "containers up" in run.out
    for step in (
        "[1/4] re-read",
        "[2/4] back it up",
        "[3/4] run edge-dcomp up -d",
        "[4/4] watch edge-dcomp ps",
    ):
        assert step in run.err
    assert "Apply? [y/N]" not in run.err
    assert b"XIVO_HOST=10.50.0.12\n" in env_bytes(lab)
    assert ["edge-dcomp", "up", "-d"] in sent(lab)

    again = await edge(inventory, "apply", "--to", "slave", "--yes")
    assert again.code == 1 and "nothing to do" in again.err


async def test_apply_asks_on_a_terminal_and_refuses_without_one(
    lab: Lab, inventory: Inventory, tmp_path: Path
) -> None:
    before = env_bytes(lab)
    run = await edge(inventory, "apply", "--to", "slave", stdin=io.StringIO("y\n"))
    assert run.code == 2
    assert "stdin is not a terminal" in run.err and "--yes" in run.err
    assert env_bytes(lab) == before and sent(lab) == []

    run = await edge(inventory, "apply", "--to", "slave", stdin=Terminal("n\n"))
    assert run.code == 1 and "Apply? [y/N]" in run.err and "cancelled" in run.err
    assert "+XIVO_HOST=10.50.0.12" in run.out  # shown before the question
    assert env_bytes(lab) == before and sent(lab) == []
    # Live consequences before the question: the master serves, users would go to the slave.
    assert "Now: telephony is served by the master (demo.xivo.master)" in run.err
    assert "After this change: remote users go to the slave (XiVO 10.50.0.12" in run.err
    assert "WARNING: the slave does NOT serve telephony now" in run.err
    assert "calls relayed through the Edge" in run.err
    assert run.err.index("Now: telephony") < run.err.index("Apply? [y/N]")

    run = await edge(inventory, "apply", "--to", "slave", stdin=Terminal("y\n"))
    assert run.code == 0, run.err
    assert b"XIVO_HOST=10.50.0.12\n" in env_bytes(lab)
    records = [
        json.loads(line)
        for line in (tmp_path / "state" / "resil-tui" / "audit.jsonl").read_text().splitlines()
    ]
    write = next(r for r in records if r["kind"] == "write" and r["result"] != "started")
    assert write["step"] == "edge switch to slave"
    assert write["before_sha256"] and write["after_sha256"] and write["backup"]


async def test_rollback(lab: Lab, inventory: Inventory) -> None:
    original = env_bytes(lab)
    assert (await edge(inventory, "apply", "--to", "slave", "--yes")).code == 0
    switched = env_bytes(lab)

    missing = await edge(inventory, "rollback", "--backup", "nope.bak", "--yes")
    assert missing.code == 2 and "no backup named 'nope.bak'" in missing.err
    assert env_bytes(lab) == switched

    run = await edge(inventory, "rollback", "--yes")
    assert run.code == 0, run.err
    assert "+XIVO_HOST=10.50.0.11" in run.out  # the diff of what comes back
    assert "restored from .env.resil-" in run.out
    assert "[1/5] find the backup" in run.err
    assert env_bytes(lab) == original
    assert sent(lab).count(["edge-dcomp", "up", "-d"]) == 2


async def test_read_only_refuses_apply_and_rollback(lab: Lab, inventory: Inventory) -> None:
    before = env_bytes(lab)
    ro = dataclasses.replace(inventory, read_only=True)
    for argv in (("apply", "--to", "slave", "--yes"), ("rollback", "--yes")):
        run = await edge(ro, *argv)
        assert run.code == 2
        lines = run.err.strip().splitlines()
        assert len(lines) == 1, run.err
        assert lines[0].startswith("resil-tui: read-only mode: refused to ")
        assert lines[0].endswith("nothing was sent")
        assert run.out == ""
    assert env_bytes(lab) == before
    assert lab.commands(EDGE) == []  # not even a connection's worth of commands
    # The preview stays available in read-only mode.
    assert (await edge(ro, "plan", "--to", "slave")).code == 0


async def test_a_reference_gives_the_same_side_in_status_and_in_the_plan(
    lab: Lab, inventory: Inventory
) -> None:
    """XIVO_MDS_HOST_DEFAULT=${XIVO_HOST}: one rule, one answer (issue 13)."""
    path = lab.world.resolve(EDGE, ENV)
    text = path.read_text()
    lines = [
        "XIVO_MDS_HOST_DEFAULT=${XIVO_HOST}" if ln.startswith("XIVO_MDS_HOST_DEFAULT=") else ln
        for ln in text.splitlines()
    ]
    path.write_text("\n".join(lines) + "\n")
    status = await run_cli(inventory, "status", "--json")
    edge_node = status_node(status.out, EDGE)
    assert edge_node["edge"]["targets"]["overall"] == "master"
    mds = next(
        v for v in edge_node["edge"]["targets"]["variables"] if v["name"] == "XIVO_MDS_HOST_DEFAULT"
    )
    assert mds["detail"] == "master" and mds["follows"] == ["XIVO_HOST"]
    run = await edge(inventory, "plan", "--to", "slave")
    assert "points to: master" in run.err
    assert "XIVO_MDS_HOST_DEFAULT  master" in run.err
    # The reference follows XIVO_HOST: the plan leaves its line as it is.
    changed = [ln for ln in run.out.splitlines() if ln[:1] in "+-" and ln[1:2] != ln[:1]]
    assert changed and not any("XIVO_MDS_HOST_DEFAULT" in ln for ln in changed)


def status_node(out: str, node_id: str) -> dict[str, object]:
    (site,) = json.loads(out)["sites"]
    node: dict[str, object] = site["nodes"][node_id]
    return node


def test_edge_cli_does_not_import_textual(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from resil_tui.entry import main\n"
        "code = main(['--demo', 'edge', 'plan', '--to', 'slave'])\n"
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
    assert "+XIVO_HOST=10.50.0.12" in proc.stdout
