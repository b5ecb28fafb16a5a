"""`init`'s live test of a node (ops/probe.py) against the lab: what it found, and never
"not found" for what it could not check."""

from __future__ import annotations

from labkit import hurried

from resil_tui.inventory_model import Inventory
from resil_tui.lab.server import Lab
from resil_tui.ops.probe import Outcome, probe_node
from resil_tui.remote.pool import Pool

EDGE = "demo.edge"


async def test_a_node_that_answers_is_ok(inventory: Inventory, pool: Pool) -> None:
    probe = await probe_node(pool, inventory.node(EDGE), None)
    assert probe.outcome is Outcome.OK, probe.checks
    assert all(ok for ok, _ in probe.checks)


async def test_a_check_with_no_answer_is_not_read_as_missing(
    lab: Lab, inventory: Inventory, pool: Pool
) -> None:
    node = inventory.node(EDGE)
    assert (await probe_node(pool, node, None)).outcome is Outcome.OK  # connected
    await lab.apply_fault(["slow", "edge", "2"])
    probe = await probe_node(pool, hurried(node), None)
    assert probe.outcome is Outcome.WARNING
    failed = [text for ok, text in probe.checks if not ok]
    assert failed and all("not checked (timeout)" in text for text in failed), failed
    assert not any("not found" in text or "missing" in text for text in failed)
