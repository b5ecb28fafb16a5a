"""Reads through one shell kept open per connection (remote/read_shell.py), against the lab."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from resil_tui.inventory import load_inventory
from resil_tui.inventory_model import Inventory
from resil_tui.lab.server import Lab
from resil_tui.ops.status import StatusCollector
from resil_tui.remote import commands as cat
from resil_tui.remote import pool as pool_module
from resil_tui.remote.pool import Pool, Result
from tests.lab.test_status_batch import comparable as without_times
from tests.lab.test_status_batch import execs as received  # both kinds: see "via"
from tests.labkit import open_pool, shell_kept

MASTER, SLAVE, EDGE = "demo.xivo.master", "demo.xivo.slave", "demo.edge"


@pytest.fixture(autouse=True)
def _xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


@pytest.fixture
def inv(lab: Lab) -> Inventory:
    return load_inventory(lab.inventory_path)


@pytest.fixture
async def kept(inv: Inventory, tmp_path: Path) -> AsyncIterator[Pool]:
    async with open_pool(inv, tmp_path / "audit.jsonl", keep_shells=True) as pool:
        yield pool


@pytest.fixture
async def plain(inv: Inventory, tmp_path: Path) -> AsyncIterator[Pool]:
    async with open_pool(inv, tmp_path / "audit-plain.jsonl") as pool:
        yield pool


def comparable(doc: Any) -> Any:
    """A snapshot's JSON without its times, those written in sentences too ("seen at
    09:26:53": two collectors poll a second apart)."""
    if isinstance(doc, dict):
        return {k: comparable(v) for k, v in without_times(doc).items()}
    if isinstance(doc, list):
        return [comparable(v) for v in doc]
    return re.sub(r"\b\d\d:\d\d:\d\d\b", "HH:MM:SS", doc) if isinstance(doc, str) else doc


async def test_a_console_reads_through_one_kept_shell(
    lab: Lab, inv: Inventory, kept: Pool, plain: Pool
) -> None:
    for node in inv.nodes():
        await shell_kept(kept, node)
    collector, alone_collector = StatusCollector(inv, kept), StatusCollector(inv, plain)
    for _ in range(3):
        (alone,) = await alone_collector.poll()  # the same history, one execution per read
        before = {n: len(received(lab, n)) for n in lab.node_ids()}
        (report,) = await collector.poll()
        lines = {n: received(lab, n)[before[n] :] for n in lab.node_ids()}
        # One line per node and refresh, on the shell's stdin: no new execution.
        assert {n: [c.get("via") for c in got] for n, got in lines.items()} == {
            n: ["stdin"] for n in lab.node_ids()
        }
        assert all(s.reachability.ok and s.errors == [] for s in report.snapshot.nodes.values())
    # What the console shows is what one execution per read shows.
    for node_id, snap in report.snapshot.nodes.items():
        assert comparable(snap.to_dict()) == comparable(alone.snapshot.nodes[node_id].to_dict())
    assert comparable(report.verdicts.to_dict()) == comparable(alone.verdicts.to_dict())


async def test_exit_status_and_both_streams_come_back_as_sent(
    inv: Inventory, kept: Pool, plain: Pool
) -> None:
    node = inv.node(MASTER)
    await shell_kept(kept, node)
    reads = [
        cat.test_exists("/nonexistent"),  # exit 1, no output
        cat.tail("/nonexistent"),  # stderr only
        cat.tail_files(["/etc/xivo/ha.conf", "/nonexistent"], 5),  # both streams, exit 1
        cat.cat("/etc/xivo/ha.conf"),
    ]

    def shown(r: Result) -> tuple[int | None, str, str]:
        return r.exit_status, r.stdout, r.stderr

    for read in reads:
        through_shell = await kept.run(node, read)
        assert kept.kept_shell(node.id), read.line
        assert shown(through_shell) == shown(await plain.run(node, read)), read.line
        assert through_shell.round_trip is not None


async def test_a_node_that_runs_no_shell_gets_one_execution_per_read(
    lab: Lab, inv: Inventory, kept: Pool
) -> None:
    # A ForceCommand that splits the line into words knows no `sh`: the readiness check
    # fails once, and the reads go on as executions of their own, whole.
    await lab.words_only(MASTER)
    node = inv.node(MASTER)
    collector = StatusCollector(inv, kept)
    for _ in range(4):
        snap = await collector.poll_node(node)
        assert snap.reachability.ok and snap.xivo is not None and snap.xivo.ha is not None
        await asyncio.sleep(0.1)
    assert not kept.kept_shell(MASTER)
    got = received(lab, MASTER)
    assert [c["line"] for c in got if c["line"] == "sh"] == ["sh"]  # tried once
    assert all(c.get("via") is None for c in got)


async def test_a_read_that_hangs_times_out_and_the_shell_is_replaced(
    lab: Lab, inv: Inventory, kept: Pool
) -> None:
    node = inv.node(EDGE)
    await shell_kept(kept, node)
    await lab.hang(EDGE)
    hung = await kept.run(node, cat.cat(node.paths.edge_env), timeout=0.5)
    assert hung.timed_out and not hung.ok and "closed the shell" in hung.note
    assert not kept.kept_shell(EDGE)
    # The shell given up on is closed, its channel slot given back (not left to leak one
    # slot per timeout until the connection has none).
    async with asyncio.timeout(5):
        while free_channels(kept, EDGE) < kept.max_channels:
            await asyncio.sleep(0.02)
    await lab.hang(EDGE, False)
    again = await kept.run(node, cat.cat(node.paths.edge_env))
    assert again.ok and again.stdout
    await shell_kept(kept, node)  # a new one, on the same connection
    assert (await kept.run(node, cat.cat(node.paths.edge_env))).stdout == again.stdout


async def test_a_readiness_check_that_times_out_is_tried_again(
    lab: Lab, inv: Inventory, kept: Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A node hung for a while is not a node without a shell: once it answers again, the
    # connection gets its kept shell.
    monkeypatch.setattr(pool_module, "SHELL_READY_TIMEOUT", 0.3)
    node = inv.node(EDGE)
    read = cat.cat(node.paths.edge_env)
    assert (await kept.run(node, read)).ok  # connected; the shell is opened from the next read
    await lab.hang(EDGE)
    assert (await kept.run(node, read, timeout=0.6)).timed_out  # its readiness check too
    assert not kept.kept_shell(EDGE)
    await lab.hang(EDGE, False)
    await shell_kept(kept, node)
    assert (await kept.run(node, read)).ok


async def test_a_dropped_connection_is_read_again_on_a_new_one(
    lab: Lab, inv: Inventory, kept: Pool
) -> None:
    node = inv.node(SLAVE)
    await shell_kept(kept, node)
    assert await lab.drop_connections(SLAVE) >= 1
    result = await kept.run(node, cat.cat("/etc/xivo/ha.conf"))
    assert result.ok and "slave" in result.stdout
    await shell_kept(kept, node)
    assert (await kept.run(node, cat.cat("/etc/xivo/ha.conf"))).stdout == result.stdout


async def test_a_change_never_goes_through_the_kept_shell(
    lab: Lab, inv: Inventory, kept: Pool
) -> None:
    node = inv.node(MASTER)
    await shell_kept(kept, node)
    before = len(received(lab, MASTER))
    result = await kept.run(node, cat.xivo_sync())
    assert result.exit_status is not None
    (sent,) = received(lab, MASTER)[before:]
    assert sent["line"] == "xivo-sync" and sent.get("via") is None


def free_channels(pool: Pool, node_id: str) -> int:
    return pool._links[node_id].channels._value  # the slots are the point


async def test_a_shell_that_ends_between_reads_gives_its_channel_back(
    inv: Inventory, kept: Pool
) -> None:
    # The node's sh killed (OOM killer, an admin) while the connection stays: each time,
    # the next read goes on its own, a new shell is kept, and no channel slot is lost.
    node = inv.node(MASTER)
    await shell_kept(kept, node)
    held = free_channels(kept, MASTER)
    assert held == kept.max_channels - 1
    for _ in range(kept.max_channels + 2):
        shell = kept._links[MASTER].shell
        assert shell is not None
        shell._chan.write(b"exit\n")  # what a kill on the node does
        # Given back with the shell's end (on the loop turn after asyncssh's own callback:
        # a check that lands between the two would see the slot a turn early), no read
        # needed to take it back.
        async with asyncio.timeout(5):
            while kept.kept_shell(MASTER) or free_channels(kept, MASTER) < kept.max_channels:
                await asyncio.sleep(0.02)
        assert (await kept.run(node, cat.cat("/etc/xivo/ha.conf"))).ok
        await shell_kept(kept, node)
        assert free_channels(kept, MASTER) == held


async def test_closing_the_pool_ends_the_kept_shells(lab: Lab, inv: Inventory, kept: Pool) -> None:
    node = inv.node(MASTER)
    await shell_kept(kept, node)
    assert free_channels(kept, MASTER) == kept.max_channels - 1
    await kept.close()
    assert not kept.kept_shell(MASTER)
    assert free_channels(kept, MASTER) == kept.max_channels


async def test_keep_shell_false_keeps_one_session_per_read(lab: Lab, tmp_path: Path) -> None:
    # The inventory's `keep_shell = false`: a policy that wants every command in a session
    # of its own gets it, from the console's pool too.
    text = lab.inventory_path.read_text().replace(
        "use_ssh_config = false", "use_ssh_config = false\nkeep_shell = false", 1
    )
    assert "keep_shell = false" in text
    path = tmp_path / "no-kept-shell.toml"
    path.write_text(text)
    inv = load_inventory(path)
    node = inv.node(MASTER)
    assert not node.ssh.keep_shell
    async with open_pool(inv, tmp_path / "audit.jsonl", keep_shells=True) as pool:
        collector = StatusCollector(inv, pool)
        for _ in range(4):
            snap = await collector.poll_node(node)
            assert snap.reachability.ok and snap.errors == []
            await asyncio.sleep(0.1)
        assert not pool.kept_shell(MASTER)
    got = received(lab, MASTER)
    assert len(got) == 4 and all(c.get("via") is None and c["line"] != "sh" for c in got)
