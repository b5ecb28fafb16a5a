"""Lab nodes whose every output carries terminal escapes, C1 and bidi controls: the text
our remote and ops layers return (status, HA state, Edge preview/diff/outcome, log lines,
script output, error text, the audit log) holds none of them.

Every byte a lab command writes (stdout and stderr, on a PTY or not) gets the payloads
appended to each line and prepended to the output; the Edge `.env` and the xivo-sync log
hold them too. The lab computes the real output first: the injection only adds to it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hostile import ALL, escapes, leaks

from resil_tui.core.edge_env import Direction
from resil_tui.inventory import load_inventory
from resil_tui.inventory_model import Inventory
from resil_tui.lab import facts
from resil_tui.lab import server as lab_server
from resil_tui.lab.server import Lab
from resil_tui.ops import edge as edge_ops
from resil_tui.ops import ha as ha_ops
from resil_tui.ops.logs import LogFollower, LogLines, find_stream
from resil_tui.ops.session import make_pool
from resil_tui.ops.status import StatusCollector
from resil_tui.remote.pool import Pool

PAYLOAD = ALL.encode("utf-8")
EDGE = "demo.edge"
MASTER = "demo.xivo.master"
SLAVE = "demo.xivo.slave"
FAST = edge_ops.ContainerWait(timeout=1.0, interval=0.2)


def _inject(data: bytes) -> bytes:
    return PAYLOAD + data.replace(b"\n", b" " + PAYLOAD + b"\n")


@pytest.fixture
def hostile_outputs(monkeypatch: pytest.MonkeyPatch) -> None:
    io = lab_server._ProcessIO
    write, write_err = io.write, io.write_err
    monkeypatch.setattr(io, "write", lambda self, data: write(self, _inject(data)))
    monkeypatch.setattr(io, "write_err", lambda self, data: write_err(self, _inject(data)))


@pytest.fixture
async def hostile_lab(lab: Lab, hostile_outputs: None) -> Lab:
    env = lab.world.resolve(EDGE, facts.EDGE_ENV)
    env.write_bytes(
        env.read_bytes()
        + f"# note {ALL}\nEDGE_BANNER=hello{ALL}\n".encode()
        + b"RAW_BYTES=\x9b\xff\xfe\n"
    )
    log = lab.world.resolve(MASTER, facts.SYNC_LOG)
    with log.open("ab") as f:
        f.write(f"2026-11-25 10:00:00,000 [42] (INFO): sync {ALL}\n".encode())
    return lab


@pytest.fixture
def inventory(hostile_lab: Lab) -> Inventory:
    return load_inventory(hostile_lab.inventory_path)


@pytest.fixture
async def pool(inventory: Inventory, tmp_path: Path) -> AsyncIterator[Pool]:
    p = make_pool(inventory, audit_path=tmp_path / "audit.jsonl")
    try:
        yield p
    finally:
        await p.close()


def _audit_text(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "audit.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


async def test_status_and_ha_state_hold_no_escape(
    inventory: Inventory, pool: Pool, hostile_lab: Lab
) -> None:
    reports = await StatusCollector(inventory, pool).poll()
    doc = [r.to_dict(include_raw=True) for r in reports]
    text = json.dumps(doc, ensure_ascii=False)
    assert "␛" in text  # the payloads did arrive, made visible
    assert leaks(doc) == 0 and escapes(text) == 0
    site = inventory.site("demo")
    state = await ha_ops.read_ha_site(StatusCollector(inventory, pool), site)
    assert leaks(state.to_dict()) == 0


async def test_edge_preview_diff_and_apply_hold_no_escape(
    inventory: Inventory, pool: Pool, hostile_lab: Lab, tmp_path: Path
) -> None:
    site = inventory.site("demo")
    preview = await edge_ops.load_preview(pool, site, site.edges[0])
    assert leaks(preview.values()) == 0
    plan = preview.plan(Direction.TO_SLAVE)
    diff = plan.unified_diff(preview.path)
    assert leaks(diff) == 0 and leaks(edge_ops.plan_notes(plan)) == 0
    before = hostile_lab.world.resolve(EDGE, facts.EDGE_ENV).read_bytes()
    outcome = await edge_ops.apply_switch(pool, site.edges[0], plan, wait=FAST)
    assert outcome.state in (edge_ops.NodeState.APPLIED, edge_ops.NodeState.WRITTEN)
    fields = [outcome.message, outcome.up_output, *(s.detail for s in outcome.steps)]
    assert leaks(fields) == 0
    if outcome.error is not None:
        assert leaks(outcome.error.message) == 0
    # Sanitized for display only: the bytes written keep every payload byte as it was.
    after = hostile_lab.world.resolve(EDGE, facts.EDGE_ENV).read_bytes()
    assert f"EDGE_BANNER=hello{ALL}\n".encode() in after and b"RAW_BYTES=\x9b\xff\xfe\n" in after
    assert after == plan.new_text.encode("utf-8", "surrogateescape") != before
    assert leaks(_audit_text(tmp_path)) == 0


async def test_log_lines_and_script_output_hold_no_escape(
    inventory: Inventory, pool: Pool, tmp_path: Path
) -> None:
    master = inventory.node(MASTER)
    follower = LogFollower(pool, master, find_stream(master, "xivo-sync"), follow=False, tail=20)
    lines: list[str] = []
    async with follower:
        async for event in follower:
            if isinstance(event, LogLines):
                lines += event.lines
    assert any("sync" in line for line in lines) and leaks(lines) == 0

    slave_ip = inventory.node(SLAVE).ip
    assert slave_ip is not None
    rec = await ha_ops.run_replication(pool, master, slave_ip)
    assert len(rec.lines) > 1 and leaks(rec.lines) == 0 and leaks(rec.summary) == 0
    rec = await ha_ops.run_check_master(pool, inventory.node(SLAVE), master.ip or "10.0.0.1")
    assert leaks(rec.lines) == 0 and leaks(rec.summary) == 0
    assert leaks(_audit_text(tmp_path)) == 0


async def test_error_text_from_a_node_holds_no_escape(inventory: Inventory, pool: Pool) -> None:
    from resil_tui.remote.commands import Command

    node = inventory.node(MASTER)
    result = await pool.run(node, Command("t", ("no-such-program", "x"), mutates=False))
    assert result.exit_status not in (0, None)
    assert "␛" in result.stderr and leaks(result.stderr) == 0
