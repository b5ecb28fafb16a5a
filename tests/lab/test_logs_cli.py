"""`resil-tui logs` against the in-process lab: printing, --no-follow, --until-ready codes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from labkit import lab_inventory, run_cli

from resil_tui.cli import build_parser
from resil_tui.inventory_model import Inventory
from resil_tui.lab.server import Lab
from resil_tui.ops.session import make_pool
from resil_tui.remote import commands as cat

CC = "demo.cc.master"


@pytest.fixture(autouse=True)
def _xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


async def logs(inventory: Inventory, *argv: str) -> tuple[int, str, str]:
    run = await run_cli(inventory, "logs", *argv)
    return run.code, run.out, run.err


async def restart_xuc(inventory: Inventory, tmp_path: Path, delay: float) -> None:
    await asyncio.sleep(delay)
    pool = make_pool(inventory, audit_path=tmp_path / "restart-audit.jsonl")
    try:
        assert (await pool.run(inventory.node(CC), cat.xivocc_restart("xuc"))).ok
    finally:
        await pool.close()


async def test_no_follow_prints_the_tail_and_exits(lab: Lab, inventory: Inventory) -> None:
    code, out, err = await logs(inventory, CC, "--no-follow", "--tail", "4")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 4 and all(line.startswith("xuc-1") for line in lines)
    sent = [c for c in lab.commands(CC) if c["argv"][:2] == ["xivocc-dcomp", "logs"]]
    assert sent[-1]["argv"] == ["xivocc-dcomp", "logs", "--tail", "4", "-t", "xuc"]
    assert sent[-1]["pty"] is False

    code, out, _ = await logs(
        inventory, "demo.xivo.master", "--stream", "xivo-sync", "--no-follow", "--tail", "2"
    )
    assert code == 0 and "Synchronization" in out and len(out.splitlines()) == 2


async def test_unknown_node_or_stream_is_a_usage_error(inventory: Inventory) -> None:
    code, _, err = await logs(inventory, "demo.nope")
    assert code == 2 and "no node 'demo.nope'" in err
    code, _, err = await logs(inventory, CC, "--stream", "syslog")
    assert code == 2 and "streams: xuc, xivocc" in err


async def test_until_ready_exits_0_when_the_restarted_xuc_is_ready(
    lab: Lab, inventory: Inventory, tmp_path: Path
) -> None:
    await lab.apply_fault(["xuc-ready-delay", "cc.master", "1.0"])
    await restart_xuc(inventory, tmp_path, 0)
    code, out, err = await logs(inventory, CC, "--until-ready", "--timeout", "10")
    assert code == 0, err
    assert "ready since" in err
    assert "Listening for HTTP on" in out.splitlines()[-1]


async def test_until_ready_exits_1_at_the_timeout(
    lab: Lab, inventory: Inventory, tmp_path: Path
) -> None:
    # The history holds the previous start's readiness line: it must not count.
    await lab.xuc_never_ready(CC)
    await restart_xuc(inventory, tmp_path, 0)
    code, out, err = await logs(inventory, CC, "--until-ready", "--timeout", "1.5")
    assert code == 1
    assert "not ready" in err and "earlier run ignored" in err
    assert "retrying in 5 seconds" in out or "Starting xuc" in out


async def test_until_ready_since_asks_for_a_line_from_that_time(
    lab: Lab, inventory: Inventory, tmp_path: Path
) -> None:
    from datetime import UTC, datetime

    await restart_xuc(inventory, tmp_path, 0)
    await asyncio.sleep(1.5)  # xuc is ready (fast timings) before the CLI starts
    code, _, err = await logs(inventory, CC, "--until-ready", "--timeout", "10")
    assert code == 0, "the current run is ready: at once"
    since = datetime.now(UTC).isoformat()  # after its readiness line
    code, _, err = await logs(inventory, CC, "--until-ready", "--timeout", "1.5", "--since", since)
    assert code == 1, err
    with pytest.raises(SystemExit) as bad:
        build_parser().parse_args(["logs", CC, "--until-ready", "--since", "x"])
    assert bad.value.code == 2


async def test_no_follow_on_a_stream_that_follows_ends_within_the_command_timeout(
    lab: Lab, tmp_path: Path
) -> None:
    """An inventory stream `tail -F` never ends by itself: --no-follow still does."""

    def edit(text: str) -> str:
        text = text.replace("command_timeout = 60.0", "command_timeout = 2.0")
        stream = (
            'logs = [{ name = "synclog", command = ["tail", "-F", "/var/log/xivo-sync.log"] }]\n'
        )
        return text.replace("[site.demo.xivo.master]\n", "[site.demo.xivo.master]\n" + stream)

    inventory, _ = lab_inventory(lab, tmp_path, edit=edit)
    code, _out, err = await logs(
        inventory, "demo.xivo.master", "--stream", "synclog", "--no-follow"
    )
    assert code == 1
    assert "stopped after 2s: the stream does not end by itself" in err
