"""Audit before acting: a change is recorded before it is sent; when the audit log cannot
be written (a directory in its place, a file where its directory should be, a full disk)
nothing is sent and the caller is told why (RemoteError kind AUDIT)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from resil_tui.core.edge_env import Direction
from resil_tui.inventory import load_inventory
from resil_tui.lab import facts
from resil_tui.lab.server import Lab
from resil_tui.ops import edge as edge_ops
from resil_tui.ops import ha as ha_ops
from resil_tui.ops.session import make_pool
from resil_tui.remote import commands as cat
from resil_tui.remote import sftp
from resil_tui.remote.errors import ErrorKind, RemoteError
from resil_tui.remote.pool import Pool

EDGE = "demo.edge"
MASTER = "demo.xivo.master"


def _directory(tmp: Path) -> Path:
    path = tmp / "audit.jsonl"
    path.mkdir()
    return path


def _under_a_file(tmp: Path) -> Path:
    (tmp / "state").write_text("not a directory")
    return tmp / "state" / "audit.jsonl"


def _disk_full(tmp: Path) -> Path:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    return Path("/dev/full")


BROKEN: dict[str, Callable[[Path], Path]] = {
    "a directory in its place": _directory,
    "its directory is a file": _under_a_file,
    "disk full": _disk_full,
}


@pytest.fixture(params=sorted(BROKEN))
def broken_audit(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    return BROKEN[request.param](tmp_path)


def _changes(lab: Lab, node_id: str) -> list[dict[str, object]]:
    return [
        c
        for c in lab.commands(node_id)
        if c.get("kind") == "sftp" or (c.get("kind") == "exec" and c["argv"][0] != "cat")
    ]


async def test_nothing_is_sent_when_the_audit_cannot_be_written(
    lab: Lab, broken_audit: Path
) -> None:
    inventory = load_inventory(lab.inventory_path)
    pool: Pool = make_pool(inventory, audit_path=broken_audit)
    edge, master = inventory.node(EDGE), inventory.node(MASTER)
    env = lab.world.resolve(EDGE, facts.EDGE_ENV)
    before = env.read_bytes()
    try:
        # A plain mutating command.
        with pytest.raises(RemoteError) as info:
            await pool.run(edge, cat.edge_up(), step="test")
        err = info.value
        assert err.kind is ErrorKind.AUDIT
        assert "cannot be written" in err.message and "nothing was sent" in err.message
        assert str(broken_audit) in err.message

        # A direct SFTP replace.
        with pytest.raises(RemoteError) as info:
            await sftp.replace_file(pool, edge, facts.EDGE_ENV, before + b"X=1\n", step="t")
        assert info.value.kind is ErrorKind.AUDIT

        # The Edge switch: refused at its first step, the file untouched.
        preview = await edge_ops.load_preview(
            pool, inventory.site("demo"), inventory.site("demo").edges[0]
        )
        outcome = await edge_ops.apply_switch(
            pool, edge, preview.plan(Direction.TO_SLAVE), wait=edge_ops.ContainerWait(1, 0.2)
        )
        assert not outcome.ok and outcome.state is edge_ops.NodeState.UNCHANGED
        assert outcome.error is not None and outcome.error.kind is ErrorKind.AUDIT
        assert outcome.failed_step is edge_ops.EdgeStep.CHECK
        assert "nothing was written" in outcome.message
        assert env.read_bytes() == before

        # An HA script: a refused record, nothing run.
        rec = await ha_ops.run_replication(pool, master, "10.50.0.12")
        assert not rec.ok and rec.refused and "cannot be written" in rec.summary
    finally:
        await pool.close()
    assert _changes(lab, EDGE) == []
    assert _changes(lab, MASTER) == []


async def test_started_then_result_in_the_normal_case(lab: Lab, tmp_path: Path) -> None:
    inventory = load_inventory(lab.inventory_path)
    audit = tmp_path / "audit.jsonl"
    pool = make_pool(inventory, audit_path=audit)
    try:
        result = await pool.run(inventory.node(EDGE), cat.edge_up(), step="test")
    finally:
        await pool.close()
    assert result.ok
    records = [json.loads(x) for x in audit.read_text().splitlines()]
    assert [(r["command"], r["result"]) for r in records] == [
        ("edge-dcomp up -d", "started"),
        ("edge-dcomp up -d", "ok"),
    ]
    assert records[0]["op"] == records[1]["op"] and records[0]["time"] <= records[1]["time"]
    # The started record was on disk before the node received the command.
    (sent,) = [c for c in lab.commands(EDGE) if c.get("argv") == ["edge-dcomp", "up", "-d"]]
    started = records[0]["time"]
    from datetime import datetime

    assert datetime.fromisoformat(started).timestamp() <= float(sent["t"])  # type: ignore[arg-type]


async def test_a_read_only_stream_still_runs_without_an_audit(
    lab: Lab, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    inventory = load_inventory(lab.inventory_path)
    pool = make_pool(inventory, audit_path=_directory(tmp_path))
    try:
        async with pool.stream(inventory.node(MASTER), cat.tail(facts.SYNC_LOG, 3)) as lines:
            got = [line async for line in lines]
    finally:
        await pool.close()
    assert got  # it changes nothing: refusing it would only blind the admin
    assert any("not audited" in r.getMessage() for r in caplog.records)
