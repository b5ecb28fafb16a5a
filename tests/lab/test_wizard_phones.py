"""Issue 18 against the lab: the phones follow the XiVO that serves, the wizard's phones
wait reads them from the status poll, and the calls guard stops a failback that would cut
calls in progress until the admin types the word or the calls end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from labkit import WIZARD_FAST as FAST
from labkit import drive_wizard as drive
from labkit import eventually, lab_inventory

from resil_tui.core.journal_event import EventKind
from resil_tui.core.runbook import Direction, RunbookOptions
from resil_tui.core.wizard_run import RunStatus, StepState
from resil_tui.inventory_model import Inventory
from resil_tui.journal import Journal
from resil_tui.lab import phones, xivo
from resil_tui.lab.server import Lab
from resil_tui.ops.journal_feed import JournalRecorder
from resil_tui.ops.status import StatusCollector
from resil_tui.ops.wizard import WaitTick, WizardEngine, WizardError, WizardEvent
from resil_tui.remote.pool import Pool

MASTER, SLAVE = "demo.xivo.master", "demo.xivo.slave"
CALLS = "guard.calls_in_progress"
PHONES = "xivo.wait_phones_registered"
SHORT = RunbookOptions(
    telephony_timeout_seconds=15.0,
    standby_timeout_seconds=15.0,
    xuc_ready_timeout_seconds=10.0,
    edge_up_timeout_seconds=10.0,
    phones_timeout_seconds=15.0,
    calls_wait_seconds=1.0,
)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)


@pytest.fixture
def inventory(ticking_lab: Lab, tmp_path: Path) -> Inventory:
    # No phones.expected: the count before the move comes from the polls alone.
    return lab_inventory(ticking_lab, tmp_path)[0]


@pytest.fixture
async def pool(tmp_path: Path) -> AsyncIterator[Pool]:
    async with Pool(audit=tmp_path / "audit.jsonl") as p:
        yield p


def registered(lab: Lab, node: str) -> int:
    return phones.registered_on(lab.world, "demo").get(node, 0)


def telephony(lab: Lab, node: str) -> str | None:
    return xivo.service_state(lab.world, node, "asterisk")


def engine(
    pool: Pool,
    inventory: Inventory,
    direction: Direction,
    collector: StatusCollector,
    events: list[WizardEvent] | None = None,
) -> WizardEngine:
    return WizardEngine.create(
        pool,
        inventory,
        "demo",
        direction,
        runbook_opts=SHORT,
        options=FAST,
        collector=collector,
        on_event=events.append if events is not None else None,
    )


async def test_master_powered_off_phones_move_and_the_wait_passes(
    ticking_lab: Lab, inventory: Inventory, pool: Pool, tmp_path: Path
) -> None:
    lab = ticking_lab
    # The console was watching the site: the journal hears each judged poll.
    collector = StatusCollector(inventory, pool)
    journal = Journal(tmp_path / "journal.jsonl")
    recorder = JournalRecorder(journal, collector)
    (report,) = await collector.poll()
    assert report.verdicts.phones.text() == "phones: 40 on master · 0 on slave"
    seen_before = report.verdicts.evaluated_at

    await lab.power_off(MASTER)
    await eventually(lambda: registered(lab, SLAVE) == 40, 15, "the phones on the slave")
    eng = engine(pool, inventory, Direction.FAILOVER, collector)
    assert await eng.run_guards()
    # A master that does not answer carries no call: the calls guard says so and passes.
    assert "does not answer" in eng.record(CALLS).message
    await drive(eng)

    run = eng.run
    assert run.status is RunStatus.FINISHED, run.problems
    before, after = run.phones_before, run.phones_after
    assert before is not None and after is not None
    assert (before.node, before.side, before.count, before.basis) == (
        MASTER,
        "master",
        40,
        "counted",
    )
    assert before.at == pytest.approx(seen_before)  # the last poll that saw them there
    assert (after.node, after.side, after.count) == (SLAVE, "slave", 40)
    wait = eng.record(PHONES)
    assert wait.message.startswith(f"40 phones registered on {SLAVE}: 100 % of 40 phones")
    assert run.report_path is not None
    text = Path(run.report_path).read_text()
    assert f"- Before the move: 40 phones on {MASTER} (" in text
    assert f"- After the move: 40 phones on {SLAVE} (" in text
    assert "- Time until the phones registered on the slave: " in text
    phones_row = next(x for x in text.splitlines() if x.startswith("| Where the phones are |"))
    assert phones_row.endswith("| phones: 40 on slave · master unknown |"), phones_row
    # Status and the journal follow the phones.
    final = await collector.poll()
    assert final[0].verdicts.phones.text() == "phones: 40 on slave · master unknown"
    moves = [e for e in journal.events(site="demo") if e.kind is EventKind.PHONES]
    assert [(e.before, e.after) for e in moves] == [(None, "master"), ("master", "slave")]
    assert moves[-1].evidence.startswith("phones: 40 on slave")
    recorder.close()


async def failed_over_with_calls(lab: Lab, count: int) -> None:
    """The master down, the slave serving with the phones and `count` calls, then the
    master back while the slave cannot ping it (it keeps telephony for now)."""
    await lab.power_off(MASTER)
    await eventually(lambda: registered(lab, SLAVE) == 40, 15, "the phones on the slave")
    await lab.hold_calls(SLAVE, count)
    await lab.cut_link("demo")
    await lab.power_on(MASTER)
    await eventually(lambda: telephony(lab, MASTER) == "running", 15, "the master to boot")


async def test_failback_with_calls_in_progress_stops_until_confirmed(
    ticking_lab: Lab, inventory: Inventory, pool: Pool
) -> None:
    lab = ticking_lab
    await failed_over_with_calls(lab, 3)
    collector = StatusCollector(inventory, pool)
    eng = engine(pool, inventory, Direction.FAILBACK, collector)
    assert not await eng.run_guards()
    rec = eng.record(CALLS)
    assert rec.state is StepState.AWAITING_CONFIRM
    assert rec.message == f"3 call(s) in progress on {SLAVE}: switching now cuts them"
    assert eng.current is not None and eng.current.id == CALLS
    with pytest.raises(WizardError, match="typed confirmation"):
        await eng.run_step(CALLS)
    with pytest.raises(WizardError, match="cannot be skipped"):
        await eng.skip(CALLS, "go")
    with pytest.raises(WizardError, match="does not match"):
        await eng.confirm_guard(CALLS, "yes")
    assert phones.node_calls(lab.world, SLAVE)[0], "the calls are still there"
    rec = await eng.confirm_guard(CALLS, "cut-calls")
    assert rec.state is StepState.DONE and rec.confirmed
    assert eng.run.phones_before is not None and eng.run.phones_before.count == 40

    # The slave pings the master again and stops; the phones come back to the master.
    assert await eng.run_guards()
    await lab.heal_link("demo")
    await drive(eng)
    run = eng.run
    assert run.status is RunStatus.FINISHED_WITH_PROBLEMS
    assert any(p.step_id == CALLS and "went on against" in p.why for p in run.problems)
    assert run.phones_after is not None and run.phones_after.node == MASTER
    assert run.phones_after.count >= 36
    assert registered(lab, MASTER) == 40


async def test_the_calls_guard_waits_for_the_calls_to_end(
    ticking_lab: Lab, inventory: Inventory, pool: Pool
) -> None:
    lab = ticking_lab
    await failed_over_with_calls(lab, 2)
    events: list[WizardEvent] = []
    eng = WizardEngine.create(
        pool,
        inventory,
        "demo",
        Direction.FAILBACK,
        runbook_opts=replace(SHORT, calls_wait_seconds=3.0),
        options=FAST,
        on_event=events.append,
    )
    assert eng.step(CALLS).wait_seconds == 3.0
    assert not await eng.run_guards()
    # Waiting while the calls go on: the wait ends, the guard waits for the word again.
    rec = await eng.wait_guard(CALLS)
    assert rec.state is StepState.AWAITING_CONFIRM and rec.message.startswith("still after 3s")
    assert any(isinstance(e, WaitTick) and e.step_id == CALLS for e in events)
    # Waiting again, and the calls end meanwhile: the guard holds, no word typed.
    task = asyncio.create_task(eng.wait_guard(CALLS))
    await eventually(lambda: eng.busy == CALLS, 5, "the wait to start")
    await lab.hold_calls(SLAVE, 0)
    rec = await task
    assert rec.state is StepState.DONE and not rec.confirmed, rec.message
    assert rec.message.startswith(f"0 call(s) in progress on {SLAVE}")
    await eng.abort("testing the calls guard only")
    assert not any(p.step_id == CALLS for p in eng.run.problems)


async def test_phones_that_do_not_follow_make_the_wait_fail_and_skipping_it_is_a_problem(
    ticking_lab: Lab, pool: Pool, tmp_path: Path
) -> None:
    lab = ticking_lab

    def no_grace(text: str) -> str:
        return text.replace("[site.demo]\n", "[site.demo]\nphones = { move_grace = 0 }\n", 1)

    inventory = lab_inventory(lab, tmp_path, edit=no_grace, name="stuck.toml")[0]
    collector = StatusCollector(inventory, pool)
    await collector.poll()  # 40 phones seen on the master
    await lab.phones_stuck(MASTER)  # no backup registrar: they will not move
    await lab.power_off(MASTER)
    await eventually(lambda: telephony(lab, SLAVE) == "running", 15, "the slave to take over")
    eng = WizardEngine.create(
        pool,
        inventory,
        "demo",
        Direction.FAILOVER,
        runbook_opts=replace(SHORT, phones_timeout_seconds=1.0),
        options=FAST,
        collector=collector,
    )
    assert await eng.run_guards()
    await eng.run_step("xivo.wait_target_telephony")
    rec = await eng.run_step(PHONES)
    assert rec.state is StepState.FAILED
    assert rec.message.startswith("still not true after 1s: 0 phones registered on")
    assert "0 % of 40 phones on demo.xivo.master" in rec.message
    await eng.skip(PHONES, "the phones have no backup registrar yet")
    await drive(eng)
    run = eng.run
    assert run.status is RunStatus.FINISHED_WITH_PROBLEMS
    whys = {(p.step_id, p.why) for p in run.problems}
    assert (PHONES, "skipped: the phones have no backup registrar yet") in whys
    # The site verdict at the end says it too: far fewer phones on the serving slave.
    assert run.final is not None
    assert any("Only 0 phones on the serving slave" in f for f in run.final.new_side), run.final
    assert run.phones_after is not None and run.phones_after.count == 0


async def test_without_a_count_before_the_move_the_phones_wait_ends_at_once(
    ticking_lab: Lab, inventory: Inventory, pool: Pool
) -> None:
    # No poll saw the phones before the master went down and the inventory gives no
    # phones.expected: nothing to compare with, however long it waits. The wait says so
    # at once (the admin skips it with a reason) rather than after its ten minutes.
    lab = ticking_lab
    await lab.power_off(MASTER)
    await eventually(lambda: registered(lab, SLAVE) == 40, 15, "the phones on the slave")
    long = replace(SHORT, phones_timeout_seconds=600.0)
    eng = WizardEngine.create(
        pool, inventory, "demo", Direction.FAILOVER, runbook_opts=long, options=FAST
    )
    assert await eng.run_guards()
    while (step := eng.current) is not None and step.id != PHONES:
        if step.kind.value == "manual":
            await eng.mark_done(step.id)
        else:
            await eng.run_step(step.id)
    assert eng.current is not None and eng.current.id == PHONES
    await asyncio.wait_for(eng.run_step(PHONES), 60)  # not its 600 s
    rec = eng.record(PHONES)
    assert rec.state is StepState.FAILED
    assert "no count before the move is known" in rec.message, rec.message
    assert "phones.expected" in rec.message
