"""Readiness of xuc's current run against the in-process lab, over real SSH: the status
poll's CC reads, `logs --until-ready` and the wait the wizard uses, with docker's `-t` and
`--since` passed through or dropped by the wrapper (issue 15)."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest
from labkit import eventually, hurried, run_cli

from resil_tui.core.xuc_readiness import XucState
from resil_tui.inventory import load_inventory
from resil_tui.inventory_model import Inventory
from resil_tui.lab.containers import READY_LINE
from resil_tui.lab.server import Lab
from resil_tui.ops.session import make_pool
from resil_tui.ops.status import StatusCollector
from resil_tui.ops.xuc_wait import plan_xuc_restart, plan_xuc_wait, take_mark, wait_for_xuc
from resil_tui.remote.pool import Pool
from tests.lab.conftest import run

CC = "demo.cc.master"


def sent_argvs(lab: Lab, node_id: str = CC) -> list[list[str]]:
    """Every simple command the node ran: those inside a batched poll's script too."""
    return [argv for c in lab.commands(node_id) for argv in c.get("commands") or [c["argv"]]]


def running(lab: Lab, node_id: str = CC) -> int:
    return len(lab._server(node_id).tasks)


async def restart(lab: Lab) -> float:
    before = time.time()
    done = await run(lab, CC, "xivocc-dcomp restart xuc")
    assert done.exit_status == 0, done.stderr
    return before


async def new_run_ready(lab: Lab) -> bool:
    """The lab's own view (its log, read by a plain client): the last start logged its line."""
    text = str((await run(lab, CC, "xivocc-dcomp logs xuc")).stdout)
    return READY_LINE in text.rsplit("Starting xuc", 1)[-1]


@pytest.mark.parametrize("plain", [False, True], ids=["timestamps", "plain"])
async def test_long_running_xuc_is_ready_at_once(
    lab: Lab, inventory: Inventory, plain: bool
) -> None:
    if plain:
        await lab.apply_fault(["xuc-logs-plain", "cc.master", "on"])
    res = await run_cli(inventory, "logs", CC, "--until-ready", "--timeout", "20")
    assert res.code == 0, res.err
    assert "ready" in res.err and "not ready" not in res.err
    if plain:  # no docker time on the line: the run's start is what is said
        assert "the run started" in res.err and "application times" in res.err
    else:
        assert "ready since" in res.err and "docker times" in res.err
    assert READY_LINE in res.out
    await eventually(lambda: running(lab) == 0, what="no follow left on the node")


@pytest.mark.parametrize("plain", [False, True], ids=["timestamps", "plain"])
async def test_until_ready_after_a_restart_waits_for_the_new_line(
    lab: Lab, inventory: Inventory, plain: bool
) -> None:
    if plain:
        await lab.apply_fault(["xuc-logs-plain", "cc.master", "on"])
    await lab.apply_fault(["xuc-ready-delay", "cc.master", "1.5"])
    await restart(lab)
    assert not await new_run_ready(lab)
    res = await run_cli(inventory, "logs", CC, "--until-ready", "--timeout", "20")
    assert res.code == 0, res.err
    assert await new_run_ready(lab)  # it ended once the new run's line was there
    # The line it counted is the new run's: after that run's "Starting xuc".
    tail = res.out.rsplit("Starting xuc", 1)
    assert len(tail) == 2 or "while following" in res.err, res.out
    assert READY_LINE in res.out.splitlines()[-1]


async def test_until_ready_when_the_new_line_is_already_there(
    lab: Lab, inventory: Inventory
) -> None:
    await lab.apply_fault(["xuc-logs-plain", "cc.master", "on"])
    await restart(lab)
    await eventually(lambda: new_run_ready(lab), what="the new run's readiness line")
    res = await run_cli(inventory, "logs", CC, "--until-ready", "--timeout", "20")
    assert res.code == 0, res.err


@pytest.mark.parametrize("plain", [False, True], ids=["timestamps", "plain"])
async def test_never_ready_times_out_and_the_old_line_does_not_count(
    lab: Lab, pool: Pool, inventory: Inventory, plain: bool
) -> None:
    if plain:
        await lab.apply_fault(["xuc-logs-plain", "cc.master", "on"])
    await lab.xuc_never_ready(CC)
    await restart(lab)
    node = inventory.node(CC)
    result = await wait_for_xuc(pool, plan_xuc_wait(node), timeout=2.0)
    assert not result.ready and result.timed_out, result.summary()
    assert result.readiness is not None and result.readiness.state is XucState.STARTING
    assert "not ready within" in result.summary()
    res = await run_cli(inventory, "logs", CC, "--until-ready", "--timeout", "1.5")
    assert res.code == 1 and "not ready" in res.err
    await eventually(lambda: running(lab) == 0, what="no follow left on the node")


async def test_wait_after_the_products_own_restart_uses_the_mark(
    lab: Lab, pool: Pool, inventory: Inventory
) -> None:
    # No timestamps, no --since, and no logback times either would leave only order: the
    # mark taken before the restart says where the new run's lines begin.
    await lab.apply_fault(["xuc-logs-plain", "cc.master", "on"])
    await lab.apply_fault(["xuc-ready-delay", "cc.master", "1.0"])
    node = inventory.node(CC)
    planned = plan_xuc_restart(node)
    mark = await take_mark(pool, planned, time.time())
    assert mark is not None and mark.lines
    assert mark.run is not None and mark.run.started_at is not None
    assert (await pool.run(node, planned.command)).ok
    lines: list[str] = []
    result = await wait_for_xuc(
        pool, plan_xuc_wait(node), timeout=15.0, anchor=mark, on_line=lines.append
    )
    assert result.ready, result.summary()
    assert result.readiness is not None and result.readiness.run is not None
    assert result.readiness.run.started_at is not None
    assert result.readiness.run.started_at > mark.run.started_at
    assert lines and READY_LINE in lines[-1]


async def test_a_mark_whose_log_could_not_be_read_is_no_mark(
    lab: Lab, pool: Pool, inventory: Inventory
) -> None:
    # A mark without lines says the log was empty: every line of it, the old run's
    # readiness line too, would then count as the new run's.
    node = inventory.node(CC)
    await lab.apply_fault(["slow", "cc.master", "2"])
    assert await take_mark(pool, plan_xuc_restart(hurried(node)), time.time()) is None
    await lab.apply_fault(["slow", "cc.master", "0"])
    mark = await take_mark(pool, plan_xuc_restart(node), time.time())
    assert mark is not None and mark.lines


async def test_status_poll_follows_a_restart(lab: Lab, pool: Pool, inventory: Inventory) -> None:
    await lab.apply_fault(["xuc-ready-delay", "cc.master", "1.5"])
    collector = StatusCollector(inventory, pool)
    node = inventory.node(CC)
    first = await collector.poll_node(node)
    assert first.cc is not None and first.cc.xuc is not None
    assert first.cc.xuc.state is XucState.READY
    await restart(lab)
    polled = await collector.poll_node(node)
    assert polled.cc is not None and polled.cc.xuc is not None
    assert polled.cc.xuc.state is XucState.STARTING
    # The next polls read the log --since the start they saw (the wrapper passes it on).
    logs = [a for a in sent_argvs(lab) if a[:2] == ["xivocc-dcomp", "logs"]]
    assert "--since" in logs[-1]

    async def ready() -> bool:
        snap = await collector.poll_node(node)
        return snap.cc is not None and snap.cc.xuc is not None and snap.cc.xuc.ready

    await eventually(ready, what="ready after the restart")


async def test_docker_compose_v1_refusing_since_is_remembered(tmp_path: Path) -> None:
    from resil_tui.lab.spec import COMPOSE_V1, LabSpec, LabTiming

    spec = LabSpec.demo(compose=COMPOSE_V1)  # passes --since through: docopt refuses it
    lab = await Lab.start(tmp_path / "lab", spec=spec, timing=LabTiming.fast(), ticker=False)
    try:
        inventory = load_inventory(lab.inventory_path)
        async with make_pool(inventory, audit_path=tmp_path / "audit.jsonl") as pool:
            collector = StatusCollector(inventory, pool)
            node = inventory.node(CC)
            for _ in range(3):
                snap = await collector.poll_node(node)
                assert snap.cc is not None and snap.cc.xuc is not None
                assert snap.cc.xuc.state is XucState.READY, snap.cc.xuc
            logs = [a for a in sent_argvs(lab) if a[:2] == ["xivocc-dcomp", "logs"]]
            with_since = [a for a in logs if "--since" in a]
            assert len(with_since) == 1, logs  # refused once, retried without, not again
            assert snap.cc.logs_since_ok is False
    finally:
        await lab.stop()


async def test_probe_when_configured(lab: Lab, tmp_path: Path) -> None:
    from labkit import lab_inventory

    def with_probe(text: str) -> str:
        return (
            text + '\n[site.demo.cc.master.xuc]\nprobe_url = "http://127.0.0.1:8090/xuc/api/2.0/"\n'
        )

    inventory, _ = lab_inventory(lab, tmp_path, edit=with_probe)
    assert inventory.node(CC).xuc.probe_url is not None
    async with make_pool(inventory, audit_path=tmp_path / "audit.jsonl") as pool:
        snap = await StatusCollector(inventory, pool).poll_node(inventory.node(CC))
        assert snap.cc is not None and snap.cc.xuc is not None and snap.cc.xuc.probe is not None
        assert snap.cc.xuc.probe.code == 401
        curls = [a for a in sent_argvs(lab) if a[0] == "curl"]
        assert curls and curls[0][:2] == ["curl", "-q"]
        await lab.stop_container(CC, "xuc")
        down = await StatusCollector(inventory, pool).poll_node(inventory.node(CC))
        assert down.cc is not None and down.cc.xuc is not None
        assert down.cc.xuc.state is XucState.DOWN
        assert down.cc.xuc.probe is not None and not down.cc.xuc.probe.answered


async def test_the_wait_sends_what_its_plan_shows(
    lab: Lab, pool: Pool, inventory: Inventory
) -> None:
    node = inventory.node(CC)
    plan = plan_xuc_wait(node)
    await lab.xuc_never_ready(CC)
    await restart(lab)
    before = len(lab.commands(CC))
    await wait_for_xuc(pool, plan, timeout=1.0, recheck=0.3)
    sent = {tuple(c["argv"]) for c in lab.commands(CC)[before:]}
    # Every command it sends is one its plan shows (the deeper read only when needed).
    assert {c.argv for c in plan.commands if c is not plan.deep} <= sent
    assert sent <= {c.argv for c in plan.commands}
    shown = plan.text
    assert all(c.line in shown for c in plan.commands)
    await asyncio.sleep(0)


def test_demo_until_ready_exits_0_at_once(tmp_path: Path) -> None:
    """The issue's command as a user types it: the demo's xuc has run for days."""
    import subprocess
    import sys

    from labkit import ROOT

    env = {
        "XDG_STATE_HOME": str(tmp_path / "s"),
        "XDG_CONFIG_HOME": str(tmp_path / "c"),
        "HOME": str(tmp_path),
        "PATH": "/usr/bin:/bin",
    }
    argv = ["--demo", "logs", "demo.cc.master", "--until-ready", "--timeout", "20"]
    proc = subprocess.run(
        [sys.executable, "-m", "resil_tui", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,  # a bound on a hang, not a timing assertion
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    assert "demo.cc.master: ready since" in proc.stderr
    assert "Listening for HTTP on" in proc.stdout


async def test_start_up_out_of_view_is_read_deeper_once(tmp_path: Path) -> None:
    # A busy xuc: its start-up soon scrolls out of the poll's 400 lines.
    from resil_tui.lab.spec import LabTiming

    timing = LabTiming.fast().with_(xuc_traffic=0.001)
    lab = await Lab.start(tmp_path / "lab", timing=timing, ticker=False)
    try:
        inventory = load_inventory(lab.inventory_path)
        node = inventory.node(CC)
        async with make_pool(inventory, audit_path=tmp_path / "audit.jsonl") as pool:
            console_poll = StatusCollector(inventory, pool)
            first = await console_poll.poll_node(node)
            assert first.cc is not None and first.cc.xuc is not None and first.cc.xuc.ready
            for _ in range(3):  # the lab catches a log up by 200 lines per read
                await asyncio.sleep(0.3)
                kept = await console_poll.poll_node(node)
            # The console saw this run's line before: still ready, saying when it saw it.
            assert kept.cc is not None and kept.cc.xuc is not None
            assert kept.cc.xuc.ready and "seen at" in kept.cc.xuc.basis, kept.cc.xuc
            # A one-shot look has not: it reads deeper once, and is ready at once (a status
            # of a busy xuc up for days never reads "unknown" for ever).
            deep_argv = list(plan_xuc_wait(node).deep.argv)
            before = sum(a == deep_argv for a in sent_argvs(lab))
            one_shot = StatusCollector(inventory, pool)
            fresh = await one_shot.poll_node(node)
            assert fresh.cc is not None and fresh.cc.xuc is not None
            assert fresh.cc.xuc.ready, fresh.cc.xuc
            assert sum(a == deep_argv for a in sent_argvs(lab)) == before + 1
            # Once per run: the next polls keep the line seen, without the deep read.
            again = await one_shot.poll_node(node)
            assert again.cc is not None and again.cc.xuc is not None and again.cc.xuc.ready
            assert sum(a == deep_argv for a in sent_argvs(lab)) == before + 1
            # --until-ready reads deeper once: ready at once.
            waited = await wait_for_xuc(pool, plan_xuc_wait(node), timeout=10)
            assert waited.ready and not waited.live, waited.summary()
            assert sum(a == deep_argv for a in sent_argvs(lab)) == before + 2
    finally:
        await lab.stop()


async def test_a_wrapper_printing_no_time_at_all(tmp_path: Path) -> None:
    # xivocc-dcomp drops -t and --since, and xuc's logback pattern has no date: nothing in
    # the log can be placed in time. A xuc up for long with its one readiness line is ready
    # (said assumed); after our own restart, order decides (the wizard's wait).
    from resil_tui.lab.spec import LabSpec, LabTiming, XucSpec

    bare = XucSpec(logs_timestamps=False, logs_since=False, app_times=False)
    lab = await Lab.start(
        tmp_path / "lab", spec=LabSpec.demo(xuc=bare), timing=LabTiming.fast(), ticker=False
    )
    try:
        inventory = load_inventory(lab.inventory_path)
        node = inventory.node(CC)
        async with make_pool(inventory, audit_path=tmp_path / "audit.jsonl") as pool:
            snap = await StatusCollector(inventory, pool).poll_node(node)
            assert snap.cc is not None and snap.cc.xuc is not None
            assert snap.cc.xuc.state is XucState.READY and "assumed" in snap.cc.xuc.basis
            raw = next(v for k, v in snap.raw.items() if "logs" in k)
            assert "xuc-1  | INFO  [" in raw and not re.search(r"\d{4}-\d\d-\d\d", raw), raw
            planned = plan_xuc_restart(node)
            mark = await take_mark(pool, planned, time.time())
            assert (await pool.run(node, planned.command)).ok
            waited = await wait_for_xuc(pool, plan_xuc_wait(node), timeout=20, anchor=mark)
            assert waited.ready, waited.summary()
    finally:
        await lab.stop()


async def test_a_deep_read_that_fails_leaves_the_poll_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The deeper read of a busy xuc's log does not answer in time (here: a follow that
    # never ends): the node is still up with the poll's own answer, the error says which
    # read failed, and after a few tries the run is left be.
    from labkit import lab_inventory, short_timeouts

    from resil_tui.lab.spec import LabTiming
    from resil_tui.ops import cc_status
    from resil_tui.ops import status as status_mod
    from resil_tui.remote import commands as cat

    timing = LabTiming.fast().with_(xuc_traffic=0.001)
    lab = await Lab.start(tmp_path / "lab", timing=timing, ticker=False)
    try:
        inventory, _ = lab_inventory(lab, tmp_path, edit=lambda t: short_timeouts(t, 2.0, 1.0))
        hang = cat.compose_logs("xivocc-dcomp", "xuc", follow=True, tail=5, timestamps=True)
        monkeypatch.setattr(cc_status, "deep_logs_command", lambda: hang)
        node = inventory.node(CC)
        async with make_pool(inventory, audit_path=tmp_path / "audit.jsonl") as pool:
            warm = StatusCollector(inventory, pool)
            for _ in range(4):  # the lab catches the busy log up, 200 lines per read
                await warm.poll_node(node)
                await asyncio.sleep(0.3)
            collector = StatusCollector(inventory, pool)  # a fresh look: start out of view
            # (the warm polls may have tried deeper reads too, when the log outgrew the
            # window before their first look: only this collector's count here)
            before = sum(a == list(hang.argv) for a in sent_argvs(lab))
            snaps = [await collector.poll_node(node) for _ in range(5)]
            for snap in snaps:
                assert snap.reachability.ok, snap.reachability
            failed = [s for s in snaps if any(hang.line in e for e in s.errors)]
            assert 1 <= len(failed) <= status_mod.DEEP_READ_TRIES, [s.errors for s in snaps]
            follows = sum(a == list(hang.argv) for a in sent_argvs(lab)) - before
            assert follows == len(failed)
    finally:
        await lab.stop()
