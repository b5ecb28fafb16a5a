"""A CC poll reads the xuc log's short tail once the run is seen ready, and the usual
window again, in the same poll, when the run it finds is another one: over SSH, against
the lab, with and without docker's times reaching the log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from labkit import eventually

from resil_tui.core.xuc_readiness import XucReadiness, XucState
from resil_tui.inventory import load_inventory
from resil_tui.lab.faults import apply_fault
from resil_tui.lab.server import Lab
from resil_tui.ops import cc_status as cc
from resil_tui.ops.session import make_pool
from resil_tui.ops.status import StatusCollector
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
