"""A lock per node for every change: two consoles never change one node at once; the
second is told who holds it; stale locks are broken only on request; ours is released by
token; backups of two runs never collide."""

from __future__ import annotations

import asyncio
import json
import posixpath
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from labkit import run_cli

from resil_tui.audit import local_user
from resil_tui.core.edge_env import Direction
from resil_tui.core.runbook import Direction as RunDirection
from resil_tui.core.runbook import Part, RunbookOptions
from resil_tui.core.wizard_run import StepState
from resil_tui.inventory import load_inventory
from resil_tui.inventory_model import Inventory
from resil_tui.lab import facts
from resil_tui.lab.server import Lab
from resil_tui.lab.spec import LabTiming
from resil_tui.ops import edge as edge_ops
from resil_tui.ops import ha as ha_ops
from resil_tui.ops.session import make_pool
from resil_tui.ops.wizard import EngineOptions, WizardEngine
from resil_tui.remote import commands as cat
from resil_tui.remote import lock as node_lock
from resil_tui.remote import sftp
from resil_tui.remote.errors import ErrorKind, RemoteError
from resil_tui.remote.pool import Pool

EDGE, MASTER, SLAVE, CC_SLAVE = "demo.edge", "demo.xivo.master", "demo.xivo.slave", "demo.cc.slave"
LOCK = "/var/lock/resil-tui"
FAST = edge_ops.ContainerWait(timeout=10.0, interval=0.2)


@pytest.fixture
async def consoles(inventory: Inventory, tmp_path: Path) -> AsyncIterator[tuple[Pool, Pool]]:
    """Two admins: two pools, two audit logs."""
    a = make_pool(inventory, audit_path=tmp_path / "a.jsonl")
    b = make_pool(inventory, audit_path=tmp_path / "b.jsonl")
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


def _ups(lab: Lab) -> int:
    return sum(1 for c in lab.commands(EDGE) if c.get("argv") == ["edge-dcomp", "up", "-d"])


def _backups(lab: Lab) -> list[str]:
    env = lab.world.resolve(EDGE, facts.EDGE_ENV)
    return sorted(
        p.name for p in env.parent.iterdir() if ".resil-" in p.name and p.name.endswith(".bak")
    )


def _lock_dir(lab: Lab, node: str) -> Path:
    return lab.world.resolve(node, LOCK)


def _plant(lab: Lab, node: str, *, age: timedelta, action: str = "edge apply") -> dict[str, object]:
    when = (datetime.now(UTC) - age).isoformat(timespec="seconds")
    holder = {
        "user": "admin",
        "host": "jump1",
        "action": action,
        "since": when,
        "refreshed": when,
        "token": "0" * 32,
        "pid": 4242,
    }
    directory = _lock_dir(lab, node)
    directory.mkdir(parents=True)
    (directory / "holder.json").write_text(json.dumps(holder))
    return holder


async def test_two_concurrent_applies_exactly_one_proceeds(
    lab: Lab, inventory: Inventory, consoles: tuple[Pool, Pool]
) -> None:
    a, b = consoles
    site = inventory.site("demo")
    edge = inventory.node(EDGE)
    plan_a = (await edge_ops.load_preview(a, site, site.edges[0])).plan(Direction.TO_SLAVE)
    plan_b = (await edge_ops.load_preview(b, site, site.edges[0])).plan(Direction.TO_SLAVE)
    in_write = asyncio.Event()
    release = asyncio.Event()

    async def hold_in_write(event: edge_ops.EdgeEvent) -> None:
        # Console A stops inside its change (lock held) until B has been answered.
        if isinstance(event, edge_ops.StepStarted) and event.step is edge_ops.EdgeStep.WRITE:
            in_write.set()
            await release.wait()

    first = asyncio.create_task(
        edge_ops.apply_switch(a, edge, plan_a, on_event=hold_in_write, wait=FAST)
    )
    await asyncio.wait_for(in_write.wait(), 30)
    second = await edge_ops.apply_switch(b, edge, plan_b, wait=FAST)
    release.set()
    done = await first

    assert done.ok, done.message
    assert not second.ok and second.state is edge_ops.NodeState.UNCHANGED
    assert second.error is not None and second.error.kind is ErrorKind.LOCKED
    who = f"edge apply by {local_user()}@{node_lock.local_host()} since "
    assert who in second.message and "UTC" in second.message, second.message
    assert second.failed_step is edge_ops.EdgeStep.CHECK
    assert _ups(lab) == 1 and len(_backups(lab)) == 1
    assert not _lock_dir(lab, EDGE).exists()  # released


async def test_two_racing_applies_never_both_write(
    lab: Lab, inventory: Inventory, consoles: tuple[Pool, Pool]
) -> None:
    a, b = consoles
    site = inventory.site("demo")
    edge = inventory.node(EDGE)
    plans = [
        (await edge_ops.load_preview(p, site, site.edges[0])).plan(Direction.TO_SLAVE)
        for p in (a, b)
    ]
    outcomes = await asyncio.gather(
        *(
            edge_ops.apply_switch(p, edge, plan, wait=FAST)
            for p, plan in zip((a, b), plans, strict=True)
        )
    )
    assert sorted(o.ok for o in outcomes) == [False, True]
    loser = next(o for o in outcomes if not o.ok)
    # Either it met the lock, or (started after the winner was done) the changed file.
    assert loser.error is not None and loser.error.kind in (ErrorKind.LOCKED, ErrorKind.CONFLICT)
    assert loser.state is edge_ops.NodeState.UNCHANGED
    assert _ups(lab) == 1 and len(_backups(lab)) == 1


async def test_backups_of_two_runs_in_the_same_second_never_collide(
    lab: Lab, inventory: Inventory, consoles: tuple[Pool, Pool]
) -> None:
    a, _ = consoles
    site, edge = inventory.site("demo"), inventory.node(EDGE)
    for direction in (Direction.TO_SLAVE, Direction.TO_MASTER, Direction.TO_SLAVE):
        plan = (await edge_ops.load_preview(a, site, site.edges[0])).plan(direction)
        outcome = await edge_ops.apply_switch(a, edge, plan, wait=FAST)
        assert outcome.ok, outcome.message
    names = _backups(lab)
    assert len(names) == 3 == len(set(names))
    listed = await edge_ops.list_edge_backups(a, edge)
    assert [posixpath.basename(b.path) for b in listed] == sorted(names, reverse=True)
    # Rollback still finds and restores the newest.
    preview = await edge_ops.load_rollback_preview(a, edge)
    assert preview.backup.path == listed[0].path


async def test_backups_are_pruned_to_the_newest_n(
    lab: Lab, inventory: Inventory, tmp_path: Path
) -> None:
    edge = inventory.node(EDGE)
    env = lab.world.resolve(EDGE, facts.EDGE_ENV)
    old = [f".env.resil-2026010{i}T000000Z.bak" for i in range(1, 6)]  # older naming
    for name in old:
        (env.parent / name).write_bytes(b"old\n")
    async with make_pool(inventory, audit_path=tmp_path / "a.jsonl") as pool:
        data = env.read_bytes()
        result = await sftp.replace_file(
            pool, edge, facts.EDGE_ENV, data + b"# one\n", step="t", keep_backups=3
        )
    kept = _backups(lab)
    assert result.backup is not None and posixpath.basename(result.backup) in kept
    assert len(kept) == 3 and len(result.pruned) == 3
    assert kept == sorted([posixpath.basename(result.backup), *old[-2:]])  # the newest kept
    record = [json.loads(x) for x in (tmp_path / "a.jsonl").read_text().splitlines()][-1]
    assert "pruned 3 old backup(s)" in record["result"]


async def test_a_fresh_lock_of_another_console_is_never_broken(
    lab: Lab, inventory: Inventory, consoles: tuple[Pool, Pool]
) -> None:
    a, _ = consoles
    _plant(lab, EDGE, age=timedelta(minutes=2))
    site, edge = inventory.site("demo"), inventory.node(EDGE)
    before = lab.world.resolve(EDGE, facts.EDGE_ENV).read_bytes()
    plan = (await edge_ops.load_preview(a, site, site.edges[0])).plan(Direction.TO_SLAVE)
    for force in (False, True):
        outcome = await edge_ops.apply_switch(a, edge, plan, wait=FAST, force=force)
        assert not outcome.ok and outcome.error is not None
        assert outcome.error.kind is ErrorKind.LOCKED
        assert "edge apply by admin@jump1 since" in outcome.message
    assert lab.world.resolve(EDGE, facts.EDGE_ENV).read_bytes() == before
    assert _ups(lab) == 0 and _lock_dir(lab, EDGE).exists()


async def test_a_stale_lock_needs_force_and_the_break_is_audited(
    lab: Lab, inventory: Inventory, consoles: tuple[Pool, Pool], tmp_path: Path
) -> None:
    a, _ = consoles
    _plant(lab, EDGE, age=timedelta(minutes=20))
    site, edge = inventory.site("demo"), inventory.node(EDGE)
    plan = (await edge_ops.load_preview(a, site, site.edges[0])).plan(Direction.TO_SLAVE)
    refused = await edge_ops.apply_switch(a, edge, plan, wait=FAST)
    assert not refused.ok and refused.error is not None
    assert refused.error.kind is ErrorKind.STALE_LOCK and "stale lock" in refused.message
    assert "--break-stale-lock" in refused.message and _ups(lab) == 0
    forced = await edge_ops.apply_switch(a, edge, plan, wait=FAST, force=True)
    assert forced.ok, forced.message
    locks = [
        json.loads(x)["result"]
        for x in (tmp_path / "a.jsonl").read_text().splitlines()
        if json.loads(x)["kind"] == "lock"
    ]
    assert any(
        r.startswith("acquired after breaking a stale lock (edge apply by admin@jump1")
        for r in locks
    )
    assert not _lock_dir(lab, EDGE).exists()


async def test_a_lock_taken_over_is_not_released_by_us(
    lab: Lab, inventory: Inventory, consoles: tuple[Pool, Pool]
) -> None:
    a, _ = consoles
    site, edge = inventory.site("demo"), inventory.node(EDGE)
    plan = (await edge_ops.load_preview(a, site, site.edges[0])).plan(Direction.TO_SLAVE)

    def someone_else(event: edge_ops.EdgeEvent) -> None:
        # While ours runs, the holder file is replaced by another console's (as after a
        # forced break): release must check the token and leave that lock alone.
        if isinstance(event, edge_ops.StepStarted) and event.step is edge_ops.EdgeStep.UP:
            holder = _lock_dir(lab, EDGE) / "holder.json"
            data = json.loads(holder.read_text())
            holder.write_text(json.dumps({**data, "token": "f" * 32, "user": "other"}))

    outcome = await edge_ops.apply_switch(a, edge, plan, on_event=someone_else, wait=FAST)
    assert outcome.ok
    holder = json.loads((_lock_dir(lab, EDGE) / "holder.json").read_text())
    assert holder["token"] == "f" * 32 and holder["user"] == "other"


async def test_our_lock_left_by_a_lost_link_is_removed_by_our_next_change_only(
    lab: Lab, inventory: Inventory, consoles: tuple[Pool, Pool], tmp_path: Path
) -> None:
    a, b = consoles
    node = inventory.node(MASTER)
    async with node_lock.node_lock(a, node, "HA set-mode slave"):
        await lab.power_off(MASTER)  # the link dies as the change ends: release fails
    await lab.power_on(MASTER)
    left = json.loads((_lock_dir(lab, MASTER) / "holder.json").read_text())
    assert left["action"] == "HA set-mode slave"
    # Another console still sees a change in progress, and is refused.
    with pytest.raises(RemoteError) as refused:
        await node_lock.acquire(b, node, "edge apply")
    assert refused.value.kind is ErrorKind.LOCKED
    # Ours takes it again at once (no force, no 15 minutes): the token is ours.
    again = await node_lock.acquire(a, node, "HA set-mode master")
    assert again.reclaimed is not None and again.reclaimed.token == left["token"]
    assert await node_lock.release(a, again) is None
    assert not _lock_dir(lab, MASTER).exists()
    audit = (tmp_path / "a.jsonl").read_text()
    assert "not released" in audit
    assert "removing our own lock that a lost connection left" in audit


async def test_our_lock_after_a_change_of_unknown_outcome_waits_to_go_stale(
    lab: Lab, inventory: Inventory, consoles: tuple[Pool, Pool]
) -> None:
    # The restart was given up on: it may still run on the node. Its lock is not taken
    # back by our next change, even though it is ours.
    a, _ = consoles
    node = inventory.node(MASTER)
    async with node_lock.node_lock(a, node, "HA restart"):
        await lab.slow(MASTER, 3.0)
        result = await a.run(node, cat.xivo_service("restart"), timeout=0.3)
        assert result.timed_out
        await lab.slow(MASTER, 0.0)
        await lab.power_off(MASTER)
    await lab.power_on(MASTER)
    with pytest.raises(RemoteError) as refused:
        await node_lock.acquire(a, node, "HA restart")
    assert refused.value.kind is ErrorKind.LOCKED


async def test_a_changing_command_cancelled_midway_counts_as_unsure(
    lab: Lab, inventory: Inventory, consoles: tuple[Pool, Pool]
) -> None:
    a, _ = consoles
    node = inventory.node(MASTER)
    await lab.slow(MASTER, 3.0)
    task = asyncio.create_task(a.run(node, cat.xivo_service("restart"), timeout=10.0))
    await asyncio.sleep(0.5)  # sent: the lab sits on it
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert a.unsure_changes.get(MASTER) == 1
    await lab.slow(MASTER, 0.0)
    assert (await a.run(node, cat.xivo_service_status())).ok
    assert a.unsure_changes.get(MASTER) == 1  # reads never count


async def test_every_kind_of_change_takes_the_lock(
    lab: Lab, inventory: Inventory, consoles: tuple[Pool, Pool]
) -> None:
    a, _ = consoles
    master, slave = inventory.node(MASTER), inventory.node(SLAVE)
    _plant(lab, MASTER, age=timedelta(seconds=5), action="HA set-mode slave")
    _plant(lab, SLAVE, age=timedelta(seconds=5), action="xivo-check-master-status")
    records = [
        await ha_ops.run_replication(a, master, "10.50.0.12"),
        await ha_ops.run_sync(a, master),
        await ha_ops.restart_services(a, master),
        await ha_ops.run_check_master(a, slave, "10.50.0.11"),
        await ha_ops.run_manage_slave(a, slave, "stop"),
    ]
    for rec in records:
        assert not rec.ok and rec.refused, rec.summary
        assert "is locked:" in rec.summary and "by admin@jump1 since" in rec.summary
    for node in (MASTER, SLAVE):
        assert [c for c in lab.commands(node) if c.get("kind") == "exec"] == []
    # Free again: the same action runs and leaves no lock behind.
    for node in (MASTER, SLAVE):
        directory = _lock_dir(lab, node)
        (directory / "holder.json").unlink()
        directory.rmdir()
    rec = await ha_ops.run_replication(a, master, "10.50.0.12")
    assert rec.ok, rec.lines
    assert not _lock_dir(lab, MASTER).exists()


@pytest.fixture
async def ticking(tmp_path: Path) -> AsyncIterator[Lab]:
    lab = await Lab.start(tmp_path / "tlab", timing=LabTiming.fast(), ticker=True)
    try:
        yield lab
    finally:
        await lab.stop()


async def test_the_wizard_restart_of_xuc_takes_the_lock(ticking: Lab, tmp_path: Path) -> None:
    inventory = load_inventory(ticking.inventory_path)
    await ticking.power_off(MASTER)
    _plant(ticking, CC_SLAVE, age=timedelta(seconds=5), action="xuc restart")
    async with make_pool(inventory, audit_path=tmp_path / "w.jsonl") as pool:
        eng = WizardEngine.create(
            pool,
            inventory,
            "demo",
            RunDirection.FAILOVER,
            only=frozenset({Part.CC}),
            runbook_opts=RunbookOptions(
                telephony_timeout_seconds=15.0,
                standby_timeout_seconds=15.0,
                xuc_ready_timeout_seconds=10.0,
                edge_up_timeout_seconds=10.0,
            ),
            options=EngineOptions(poll_interval=0.1, tick=0.2, final_timeout=20.0),
        )
        for _ in range(100):
            if await eng.run_guards():
                break
            await asyncio.sleep(0.2)
        while (step := eng.current) is not None and step.id != "cc.restart_xuc":
            if step.kind.value == "manual":
                await eng.mark_done(step.id)
            else:
                await eng.run_step(step.id)
        rec = await eng.run_step("cc.restart_xuc")
    assert rec.state is StepState.FAILED
    assert "not run" in rec.message and "xuc restart by admin@jump1 since" in rec.message
    assert not any(
        c.get("argv", [""])[:2] == ["xivocc-dcomp", "restart"] for c in ticking.commands(CC_SLAVE)
    )


async def test_a_node_without_the_lock_parent_gets_it_created(
    lab: Lab, inventory: Inventory, consoles: tuple[Pool, Pool]
) -> None:
    a, _ = consoles
    parent = lab.world.resolve(EDGE, "/var/lock")
    if parent.exists():
        parent.rmdir()
    async with node_lock.node_lock(a, inventory.node(EDGE), "test") as held:
        holder = json.loads((_lock_dir(lab, EDGE) / "holder.json").read_text())
        assert holder["token"] == held.token and holder["action"] == "test"
        assert holder["user"] == local_user() and holder["host"] == node_lock.local_host()
        assert datetime.fromisoformat(holder["since"]).tzinfo is not None
    assert not _lock_dir(lab, EDGE).exists()


async def test_the_cli_breaks_a_stale_lock_only_when_asked(lab: Lab, inventory: Inventory) -> None:
    _plant(lab, EDGE, age=timedelta(minutes=20))
    refused = await run_cli(inventory, "edge", "apply", "--to", "slave", "--yes")
    assert refused.code == 2 and "stale lock" in refused.err
    assert "--break-stale-lock" in refused.err and _ups(lab) == 0
    done = await run_cli(inventory, "edge", "apply", "--to", "slave", "--yes", "--break-stale-lock")
    assert done.code == 0, done.err
    assert _ups(lab) == 1 and not _lock_dir(lab, EDGE).exists()
    _plant(lab, "demo.xivo.master", age=timedelta(minutes=20), action="HA set-mode master")
    ha = await run_cli(inventory, "ha", "replicate", "--yes")
    assert ha.code != 0 and "stale lock" in ha.out + ha.err
    ha = await run_cli(inventory, "ha", "replicate", "--yes", "--break-stale-lock")
    assert ha.code == 0, ha.out + ha.err
