"""A CC poll reads the xuc log's short tail once the run is seen ready, and the usual
window again, in the same poll, when the run it finds is another one: over SSH, against
the lab, with and without docker's times reaching the log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from labkit import eventually, lab_inventory, short_timeouts

from resil_tui.core.xuc_readiness import XucReadiness, XucState
from resil_tui.inventory import load_inventory
from resil_tui.lab.faults import apply_fault
from resil_tui.lab.server import Lab
from resil_tui.ops import cc_status as cc
from resil_tui.ops.session import make_pool
from resil_tui.ops.status import StatusCollector
from resil_tui.remote import commands as cat
from resil_tui.remote.pool import Pool
from tests.lab.conftest import run

CC = "demo.cc.master"


@pytest.fixture(autouse=True)
def _xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


@pytest.fixture
async def collector(lab: Lab, tmp_path: Path) -> AsyncIterator[StatusCollector]:
    inv = load_inventory(lab.inventory_path)
    pool: Pool = make_pool(inv, audit_path=tmp_path / "audit.jsonl")
    try:
        yield StatusCollector(inv, pool)
    finally:
        await pool.close()


def log_tails(lab: Lab, since: int) -> list[list[str]]:
    """Per execution on the CC node since the `since`-th: the --tail of each xuc log read."""
    sent = [c for c in lab.commands(CC) if c.get("kind") == "exec"][since:]
    return [
        [argv[argv.index("--tail") + 1] for argv in entry["commands"] if argv[1:2] == ["logs"]]
        for entry in sent
    ]


def execs(lab: Lab) -> int:
    return sum(c.get("kind") == "exec" for c in lab.commands(CC))


async def xuc(collector: StatusCollector) -> XucReadiness:
    (report,) = await collector.poll()
    snap = report.snapshot.nodes[CC]
    assert snap.reachability.ok and snap.cc is not None and snap.cc.xuc is not None
    return snap.cc.xuc


async def ready_with_line(collector: StatusCollector) -> bool:
    state = await xuc(collector)
    return state.ready and state.line is not None


@pytest.mark.parametrize("plain", [False, True], ids=["docker-times", "no-times"])
async def test_short_reads_while_ready_and_the_window_for_a_new_run(
    lab: Lab, collector: StatusCollector, plain: bool
) -> None:
    if plain:  # a wrapper that drops -t and --since: order and anchors decide
        await apply_fault(lab, ["xuc-logs-plain", "cc.master", "on"])
    usual, short = str(cc.XUC_LOG_LINES), str(cc.STEADY_LOG_LINES)
    await eventually(lambda: ready_with_line(collector), what="xuc ready with its line")
    for _ in range(2):
        n = execs(lab)
        before = await xuc(collector)
        assert before.ready and log_tails(lab, n) == [[short]]  # one execution, a short read
    await apply_fault(lab, ["xuc-ready-delay", "cc.master", "3.0"])
    assert (await run(lab, CC, "xivocc-dcomp restart xuc")).exit_status == 0
    n = execs(lab)
    after = await xuc(collector)
    # The short read found another run: the usual window, read at once, judged it.
    assert log_tails(lab, n) == [[short], [usual]]
    assert after.state is XucState.STARTING and after.run is not None
    assert not after.run.same_run(before.run)
    n = execs(lab)
    await xuc(collector)  # not seen ready yet: the usual window, one execution
    assert log_tails(lab, n) == [[usual]]
    await eventually(lambda: ready_with_line(collector), what="the new run ready")
    n = execs(lab)
    assert (await xuc(collector)).ready and log_tails(lab, n) == [[short]]


async def test_a_slow_node_s_second_read_does_not_turn_its_answer_into_a_timeout(
    lab: Lab, tmp_path: Path
) -> None:
    # Each command takes 3 s of the node's 5 s deadline (connect 1 s + command 4 s): the
    # batch fits, the batch and the second read together would not.
    inv, _ = lab_inventory(lab, tmp_path, edit=lambda t: short_timeouts(t, 1.0, 4.0))
    async with make_pool(inv, audit_path=tmp_path / "audit.jsonl") as pool:
        collector = StatusCollector(inv, pool)
        await eventually(lambda: ready_with_line(collector), what="xuc ready with its line")
        before = await xuc(collector)
        await apply_fault(lab, ["xuc-ready-delay", "cc.master", "60"])
        assert (await run(lab, CC, "xivocc-dcomp restart xuc")).exit_status == 0
        await apply_fault(lab, ["slow", "cc.master", "3.0"])
        n = execs(lab)
        after = await xuc(collector)  # reachable (xuc() says so), judged from the window
        assert log_tails(lab, n) == [[str(cc.STEADY_LOG_LINES)], [str(cc.XUC_LOG_LINES)]]
        assert after.state is XucState.STARTING and after.run is not None
        assert not after.run.same_run(before.run)
        n = execs(lab)
        assert (await xuc(collector)).state is XucState.STARTING
        assert log_tails(lab, n) == [[str(cc.XUC_LOG_LINES)]]


async def test_a_second_read_that_fails_leaves_the_new_run_unknown(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hang = cat.compose_logs("xivocc-dcomp", "xuc", follow=True, tail=5, timestamps=True)
    monkeypatch.setattr(cc, "window_command", lambda previous: hang)
    inv, _ = lab_inventory(lab, tmp_path, edit=lambda t: short_timeouts(t, 1.0, 1.0))
    async with make_pool(inv, audit_path=tmp_path / "audit.jsonl") as pool:
        collector = StatusCollector(inv, pool)
        await eventually(lambda: ready_with_line(collector), what="xuc ready with its line")
        await apply_fault(lab, ["xuc-ready-delay", "cc.master", "60"])
        assert (await run(lab, CC, "xivocc-dcomp restart xuc")).exit_status == 0
        (report,) = await collector.poll()
        snap = report.snapshot.nodes[CC]
        assert snap.reachability.ok and snap.cc is not None and snap.cc.xuc is not None
        assert any(hang.line in e for e in snap.errors), snap.errors
        # Not judged from the 20 lines: as with a log that could not be read.
        xuc_now = snap.cc.xuc
        assert xuc_now.state is XucState.UNKNOWN and "could not be read" in xuc_now.basis
        assert xuc_now.run is not None
        assert snap.cc.log_tail  # the short read's end: still the log's end, for an anchor
        n = execs(lab)
        assert not (await xuc(collector)).ready
        assert log_tails(lab, n) == [[str(cc.XUC_LOG_LINES)]]  # the usual window, in the batch
