"""The wizard engine against the in-process lab: whole failover and failback runs over real
SSH, a xuc that never gets ready, a console that dies mid-run, the split-brain guard."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from labkit import WIZARD_FAST as FAST
from labkit import drive_wizard as drive
from labkit import eventually, lab_inventory

from resil_tui.audit import AuditLog
from resil_tui.core.runbook import Direction, Part, RunbookOptions
from resil_tui.core.wizard_run import RunStatus, StepState, WizardRun
from resil_tui.inventory_model import Inventory
from resil_tui.lab import xivo
from resil_tui.lab.server import Lab
from resil_tui.ops.wizard import (
    READ_ONLY_REFUSAL,
    RunEnded,
    StepOutput,
    WaitTick,
    WizardEngine,
    WizardError,
    WizardEvent,
)
from resil_tui.ops.wizard_store import RunStore, find_unfinished_runs
from resil_tui.remote.pool import Pool
from tests.lab.conftest import run

MASTER, SLAVE = "demo.xivo.master", "demo.xivo.slave"
CC_SLAVE, EDGE = "demo.cc.slave", "demo.edge"
ENV = "/etc/docker/edge/.env"
SHORT = RunbookOptions(
    telephony_timeout_seconds=15.0,
    standby_timeout_seconds=15.0,
    xuc_ready_timeout_seconds=10.0,
    edge_up_timeout_seconds=10.0,
    phones_timeout_seconds=10.0,
    calls_wait_seconds=5.0,
)


# The site's phones, said in the inventory: the phones wait's count before the move when
# no poll of these tests saw the phones before it (tests/lab/test_wizard_phones.py does).
def with_phones(text: str) -> str:
    head, sep, rest = text.partition("[site.demo]\n")
    assert sep, text
    return f"{head}{sep}phones = {{ expected = 40 }}\n{rest}"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)


@pytest.fixture
def inventory(ticking_lab: Lab, tmp_path: Path) -> Inventory:
    return lab_inventory(ticking_lab, tmp_path, edit=with_phones)[0]


@pytest.fixture
async def pool(tmp_path: Path) -> AsyncIterator[Pool]:
    async with Pool(audit=tmp_path / "audit.jsonl") as p:
        yield p


def engine(
    pool: Pool,
    inventory: Inventory,
    direction: Direction,
    events: list[WizardEvent] | None = None,
    **kw: object,
) -> WizardEngine:
    return WizardEngine.create(
        pool,
        inventory,
        "demo",
        direction,
        runbook_opts=SHORT,
        options=FAST,
        on_event=events.append if events is not None else None,
        **kw,  # type: ignore[arg-type]
    )


def env_text(lab: Lab) -> str:
    return lab.world.resolve(EDGE, ENV).read_text()


def telephony(lab: Lab, node: str) -> str | None:
    return xivo.service_state(lab.world, node, "asterisk")


def sent(lab: Lab, node: str, *argv: str) -> int:
    return sum(1 for c in lab.commands(node) if c.get("argv") == list(argv))


async def master_down(lab: Lab) -> None:
    await lab.power_off(MASTER)
    await eventually(lambda: telephony(lab, SLAVE) == "running", 15, "the slave to take over")


async def test_failover_after_master_powered_off(
    ticking_lab: Lab, inventory: Inventory, pool: Pool, tmp_path: Path
) -> None:
    lab = ticking_lab
    await lab.power_off(MASTER)  # the slave's cron takes over within about a second
    events: list[WizardEvent] = []
    eng = engine(pool, inventory, Direction.FAILOVER, events)
    assert await eng.run_guards()
    assert eng.record("guard.master_not_active").message.startswith("the master does not")
    await drive(eng)

    run = eng.run
    assert run.status is RunStatus.FINISHED and run.final is not None
    assert run.final.verdict == "failed_over", run.final
    # The Edge now names the slave's addresses, and up -d ran once (the switch did it).
    text = env_text(lab)
    assert "XIVO_HOST=10.50.0.12" in text and "XIVOCC_HOST=10.50.0.22" in text
    assert "10.50.0.11" not in text.split("XIVO_MDS_HOST_DEFAULT=")[1].splitlines()[0]
    assert sent(lab, EDGE, "edge-dcomp", "up", "-d") == 1
    # "Apply the Edge settings" was never a step to run: the switch left nothing to apply.
    up = eng.record("edge.up")
    assert up.state is StepState.DONE and up.attempts == 0, up
    assert up.message.startswith("nothing left to apply: edge-dcomp up -d ran in the switch")
    assert sent(lab, CC_SLAVE, "xivocc-dcomp", "restart", "xuc") == 1
    # The wait saw the countdown and the live log.
    assert any(isinstance(e, WaitTick) and e.step_id == "cc.wait_xuc_ready" for e in events)
    assert any(isinstance(e, StepOutput) and e.step_id == "cc.wait_xuc_ready" for e in events)
    assert "ready since" in eng.record("cc.wait_xuc_ready").message

    # Saved, reported, audited.
    saved = RunStore().load(run.run_id)
    assert saved.status is RunStatus.FINISHED and saved.report_path == run.report_path
    assert run.report_path is not None
    report = Path(run.report_path).read_text()
    assert "# Failover to the slave: site demo" in report
    assert "xivocc-dcomp restart xuc" in report and "**failed_over**" in report
    assert "- Outcome: finished\n" in report and not run.problems
    # The record ends with what to do next and the live facts at the start and the end.
    assert report.index("## Next steps") < report.index("## Live facts at the start")
    telephony = next(x for x in report.splitlines() if x.startswith("| Telephony served by |"))
    assert telephony.endswith("| the slave (demo.xivo.slave) |"), telephony
    assert "| xuc on demo.cc.slave | ✔ ready since" in report
    assert run.facts_start is not None and run.facts_end is not None
    assert run.facts_end.edge_side == "slave" and run.facts_start.edge_side == "master"
    # The restart noted the run first; the wait counted only the new run's line.
    restart_rec = eng.record("cc.restart_xuc")
    assert "xuc_mark" in restart_rec.flags and "first noting the current run" in restart_rec.command
    wait = eng.record("cc.wait_xuc_ready")
    assert wait.command.startswith("xivocc-dcomp ps -a; docker inspect")
    assert any(isinstance(e, RunEnded) for e in events)
    records = AuditLog(tmp_path / "audit.jsonl").read()
    restart = [r for r in records if r["command"] == "xivocc-dcomp restart xuc"]
    assert restart and "cc.restart_xuc" in restart[0]["step"]
    # The Edge write and its up -d say which wizard step made them.
    writes = [r for r in records if r["kind"] == "write"]
    assert writes and all("edge.switch" in r["step"] for r in writes), writes
    linked = [r for r in records if r["kind"] == "wizard_report"]
    assert linked and run.report_path in linked[0]["command"]
    assert find_unfinished_runs(inventory) == []


async def test_failback_after_the_master_returns(
    ticking_lab: Lab, inventory: Inventory, pool: Pool
) -> None:
    lab = ticking_lab
    await master_down(lab)
    await drive(engine(pool, inventory, Direction.FAILOVER))
    await lab.power_on(MASTER)
    await eventually(lambda: telephony(lab, MASTER) == "running", 15, "the master to boot")

    eng = engine(pool, inventory, Direction.FAILBACK)
    assert await eng.run_guards()
    await drive(eng)
    assert eng.run.final is not None and eng.run.final.verdict == "normal", eng.run.final
    assert telephony(lab, SLAVE) == "stopped"
    text = env_text(lab)
    assert "XIVO_HOST=10.50.0.11" in text and "XIVOCC_HOST=10.50.0.21" in text
    assert sent(lab, "demo.cc.master", "xivocc-dcomp", "restart", "xuc") == 1


async def test_xuc_never_ready_times_out_then_retry_succeeds(
    ticking_lab: Lab, inventory: Inventory, pool: Pool
) -> None:
    lab = ticking_lab
    await master_down(lab)
    await lab.xuc_never_ready(CC_SLAVE, True)
    opts = RunbookOptions(telephony_timeout_seconds=15.0, xuc_ready_timeout_seconds=1.5)
    eng = WizardEngine.create(
        pool,
        inventory,
        "demo",
        Direction.FAILOVER,
        only=frozenset({Part.CC}),
        runbook_opts=opts,
        options=FAST,
    )
    assert await eng.run_guards()
    await drive(eng, until="cc.wait_xuc_ready")
    rec = await eng.run_step("cc.wait_xuc_ready")
    assert rec.state is StepState.FAILED and "not ready" in rec.message
    # Nothing goes on without the admin: the failed wait stays the current step.
    assert eng.current is not None and eng.current.id == "cc.wait_xuc_ready"
    with pytest.raises(WizardError, match="not the current step"):
        await eng.mark_done("cc.users_open_fqdn")

    await lab.xuc_never_ready(CC_SLAVE, False)
    rec = await eng.retry("cc.wait_xuc_ready")
    assert rec.state is StepState.DONE and rec.attempts == 2, rec.message
    assert "--- attempt 2 ---" in rec.output
    await drive(eng, until="final.cluster_verdict")
    # Only CC was moved: the Edge still names the master, and the verdict says so.
    rec = await eng.run_step("final.cluster_verdict")
    assert rec.state is StepState.FAILED and "Edge points to the master" in "\n".join(rec.output)
    await eng.skip("final.cluster_verdict", "the Edge is switched in a later run")
    assert eng.run.status is RunStatus.FINISHED_WITH_PROBLEMS
    assert eng.run.report_path is not None
    report = Path(eng.run.report_path).read_text()
    assert "Skipped because: the Edge is switched in a later run" in report
    assert "- Outcome: finished with problems" in report
    assert "- Check the site verdict (`final.cluster_verdict`): skipped: the Edge is" in report


async def test_console_dies_mid_run_then_resume(
    ticking_lab: Lab, inventory: Inventory, tmp_path: Path
) -> None:
    lab = ticking_lab
    await master_down(lab)
    store = RunStore()
    pool1 = Pool(audit=tmp_path / "audit.jsonl")
    eng = engine(pool1, inventory, Direction.FAILOVER)
    assert await eng.run_guards()
    await drive(eng, until="cc.wait_xuc_ready")
    saved = store.path(eng.run_id)

    # The wait runs; the links drop; the console process dies with the step running.
    await lab.xuc_never_ready(CC_SLAVE, True)  # keep the wait busy until we "crash"
    task = asyncio.create_task(eng.run_step("cc.wait_xuc_ready"))

    def running_on_disk() -> bool:
        run = WizardRun.from_dict(json.loads(saved.read_text()))
        return run.record("cc.wait_xuc_ready").state is StepState.RUNNING

    await eventually(running_on_disk, 10, "the running step to be saved")
    on_disk_at_crash = saved.read_bytes()
    for node in lab.node_ids():
        if lab.world.is_powered(node):
            await lab.drop_connections(node)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await pool1.close()
    saved.write_bytes(on_disk_at_crash)  # what a killed process leaves behind
    await lab.xuc_never_ready(CC_SLAVE, False)

    unfinished = find_unfinished_runs(inventory)
    assert [r.run_id for r in unfinished] == [eng.run_id]
    async with Pool(audit=tmp_path / "audit.jsonl") as pool2:
        again = WizardEngine.resume(pool2, inventory, unfinished[0], options=FAST)
        rec = again.record("cc.wait_xuc_ready")
        assert rec.state is StepState.INTERRUPTED and "interrupted" in rec.message
        # The guards are checked again before anything else.
        assert again.current is not None and again.current.id == "guard.target_reachable"
        assert await again.run_guards()
        assert again.current is not None and again.current.id == "cc.wait_xuc_ready"
        assert again.record("cc.restart_xuc").state is StepState.DONE  # not run again
        await again.retry("cc.wait_xuc_ready")
        await drive(again)
        assert again.run.status is RunStatus.FINISHED and again.run.resumed_at
        assert sent(lab, CC_SLAVE, "xivocc-dcomp", "restart", "xuc") == 1
        assert again.run.report_path is not None
        assert "- Resumed:" in Path(again.run.report_path).read_text()
    assert find_unfinished_runs(inventory) == []


async def test_split_brain_guard_needs_the_typed_word(
    ticking_lab: Lab, inventory: Inventory, pool: Pool, tmp_path: Path
) -> None:
    lab = ticking_lab
    await lab.cut_link("demo")  # the slave cannot ping the master: both run telephony
    await eventually(lambda: telephony(lab, SLAVE) == "running", 15, "split brain")
    eng = engine(pool, inventory, Direction.FAILOVER)
    assert not await eng.run_guards()
    split = eng.record("guard.split_brain")
    assert split.state is StepState.DONE and split.warning and "SPLIT BRAIN" in split.warning
    guard = eng.record("guard.master_not_active")
    assert guard.state is StepState.AWAITING_CONFIRM and "ACTIVE" in guard.message
    assert eng.current is not None and eng.current.id == "guard.master_not_active"
    with pytest.raises(WizardError, match="typed confirmation"):
        await eng.run_step("guard.master_not_active")
    with pytest.raises(WizardError, match="cannot be skipped"):
        await eng.skip("guard.master_not_active", "I know")
    with pytest.raises(WizardError, match="does not match"):
        await eng.confirm_guard("guard.master_not_active", "yes")
    rec = await eng.confirm_guard("guard.master_not_active", MASTER)
    assert rec.state is StepState.DONE and rec.confirmed
    # Then the calls on the master (none here): the guards pass.
    assert eng.current is not None and eng.current.id == "guard.calls_in_progress"
    assert await eng.run_guards()
    assert eng.record("guard.calls_in_progress").message == "0 call(s) in progress on " + MASTER
    assert eng.current is not None and eng.current.id == "xivo.wait_target_telephony"

    path = await eng.abort("testing the guard only")
    assert eng.run.status is RunStatus.ABORTED
    text = path.read_text()
    assert "aborted: testing the guard only" in text and "split_brain" in text
    # Nothing that changes a node was sent: the audit log only links the report.
    kinds = [r["kind"] for r in AuditLog(tmp_path / "audit.jsonl").read()]
    assert kinds == ["wizard_report"]


async def test_the_split_brain_guard_never_reads_an_unknown_state_as_not_running(
    ticking_lab: Lab, inventory: Inventory, pool: Pool
) -> None:
    # Newer xivo-service prints `unknown` (XIVO.md): the slave answers, and whether it
    # runs telephony is not known. The guard warns (split brain not ruled out); then,
    # with the master down, it says the master's state is not known either.
    lab = ticking_lab
    xivo.set_services(lab.world, SLAVE, {"asterisk"}, "unknown")
    eng = engine(pool, inventory, Direction.FAILBACK)
    await eng.run_step("guard.target_reachable")
    split = await eng.run_step("guard.split_brain")
    assert split.warning and "telephony state of demo.xivo.slave is unknown" in split.warning
    await eng.abort("testing the guard only")
    xivo.set_services(lab.world, SLAVE, {"asterisk"}, "running")
    await master_down(lab)
    eng = engine(pool, inventory, Direction.FAILOVER)
    await eng.run_step("guard.target_reachable")
    down = await eng.run_step("guard.split_brain")
    assert down.state is StepState.DONE and not down.warning, down.message
    assert f"{MASTER} does not answer: whether it runs telephony is not known" in down.message


async def test_a_failback_beside_a_slave_that_does_not_answer_is_warned(
    ticking_lab: Lab, inventory: Inventory, pool: Pool
) -> None:
    lab = ticking_lab
    await lab.hang(SLAVE)  # accepts TCP, never answers: it may still run telephony
    eng = engine(pool, inventory, Direction.FAILBACK)
    await eng.run_step("guard.target_reachable")
    split = await eng.run_step("guard.split_brain")
    assert split.warning and f"{SLAVE} does not answer" in split.warning, split.message
    assert "split brain is not ruled out" in split.warning
    await eng.abort("testing the guard only")
    await lab.hang(SLAVE, False)


async def test_the_xivo_waits_read_services_ready_and_a_standby_on_purpose(
    ticking_lab: Lab, inventory: Inventory, pool: Pool
) -> None:
    # The seed waits for the target's services ready, not Asterisk alone; a slave whose
    # telephony stopped without /var/lib/xivo/disabled is down, not on standby.
    from resil_tui.core.runbook import Condition, ConditionKind

    lab = ticking_lab
    eng = engine(pool, inventory, Direction.FAILBACK)
    running = Condition(ConditionKind.XIVO_TELEPHONY_RUNNING, MASTER)
    assert (await eng.prober.probe(running)).holds
    xivo.set_services(lab.world, MASTER, {"xivo-agid"}, "failed")
    sick = await eng.prober.probe(running)
    assert not sick.holds and "telephony running, but xivo-agid failed" in sick.detail
    standby = Condition(ConditionKind.XIVO_TELEPHONY_STOPPED, SLAVE)
    on_purpose = await eng.prober.probe(standby)
    assert on_purpose.holds and "on standby" in on_purpose.detail, on_purpose.detail
    lab.world.resolve(SLAVE, "/var/lib/xivo/disabled").unlink()
    crashed = await eng.prober.probe(standby)
    assert not crashed.holds and "down, not on standby" in crashed.detail
    await eng.abort("testing the conditions only")


async def test_read_only_runs_checks_and_refuses_actions(
    ticking_lab: Lab, inventory: Inventory, tmp_path: Path
) -> None:
    lab = ticking_lab
    await master_down(lab)
    async with Pool(read_only=True, audit=tmp_path / "audit.jsonl") as ro:
        eng = WizardEngine.create(
            ro,
            inventory,
            "demo",
            Direction.FAILOVER,
            only=frozenset({Part.CC}),
            runbook_opts=SHORT,
            options=FAST,
        )
        assert eng.read_only and await eng.run_guards()
        await drive(eng, until="cc.restart_xuc")
        rec = await eng.run_step("cc.restart_xuc")
        assert rec.state is StepState.PENDING and rec.message == READ_ONLY_REFUSAL
        assert sent(lab, CC_SLAVE, "xivocc-dcomp", "restart", "xuc") == 0
        with pytest.raises(WizardError, match="say why"):
            await eng.skip("cc.restart_xuc", "  ")
        await eng.skip("cc.restart_xuc", "read-only rehearsal")
        assert eng.record("cc.restart_xuc").skip_reason == "read-only rehearsal"


async def test_failback_refused_while_the_master_is_down(
    ticking_lab: Lab, inventory: Inventory, pool: Pool
) -> None:
    await master_down(ticking_lab)
    eng = engine(pool, inventory, Direction.FAILBACK)
    assert not await eng.run_guards()
    rec = eng.record("guard.target_reachable")
    assert rec.state is StepState.FAILED and "unreachable" in rec.message
    with pytest.raises(WizardError, match="cannot be skipped"):
        await eng.skip("guard.target_reachable", "go")
    assert eng.record("cc.restart_xuc").attempts == 0


async def test_skipped_xuc_wait_needs_acknowledgements_and_ends_with_problems(
    ticking_lab: Lab, inventory: Inventory, pool: Pool
) -> None:
    lab = ticking_lab
    await master_down(lab)
    await lab.xuc_never_ready(CC_SLAVE, True)
    opts = RunbookOptions(
        telephony_timeout_seconds=15.0,
        xuc_ready_timeout_seconds=1.5,
        edge_up_timeout_seconds=10.0,
        phones_timeout_seconds=10.0,
    )
    eng = WizardEngine.create(
        pool, inventory, "demo", Direction.FAILOVER, runbook_opts=opts, options=FAST
    )
    assert await eng.run_guards()
    await drive(eng, until="cc.wait_xuc_ready")
    rec = await eng.run_step("cc.wait_xuc_ready")
    assert rec.state is StepState.FAILED and "starting for" in rec.message, rec.message
    await eng.skip("cc.wait_xuc_ready", "xuc will come up later")

    # Sending users to that CC waits for an acknowledgement, and so does the Edge switch.
    users = await eng.run_step("cc.users_open_fqdn")
    assert users.state is StepState.AWAITING_ACK
    assert "'Wait until xuc is ready on the CC slave' was skipped" in users.message
    with pytest.raises(WizardError, match="acknowledge"):
        await eng.mark_done("cc.users_open_fqdn")
    await eng.acknowledge("cc.users_open_fqdn")
    await eng.mark_done("cc.users_open_fqdn")
    switch = await eng.run_step("edge.switch_env")
    assert switch.state is StepState.AWAITING_ACK
    assert sent(lab, EDGE, "edge-dcomp", "up", "-d") == 0  # nothing ran before the ack
    await eng.acknowledge("edge.switch_env")
    assert (await eng.run_step("edge.switch_env")).state is StepState.DONE
    assert eng.current is not None and eng.current.id == "edge.check_points_to"  # up: settled
    await drive(eng, until="final.refresh_browsers")
    assert (await eng.run_step("final.refresh_browsers")).state is StepState.AWAITING_ACK
    await eng.acknowledge("final.refresh_browsers")
    await drive(eng)

    run = eng.run
    assert run.status is RunStatus.FINISHED_WITH_PROBLEMS, run.problems
    why = {(p.step_id, p.why.split(":")[0]) for p in run.problems}
    assert ("cc.wait_xuc_ready", "skipped") in why
    acked = [p.why for p in run.problems if p.step_id == "cc.users_open_fqdn"]
    assert acked and acked[0].startswith("done although 'Wait until xuc is ready"), acked
    assert any(
        p.step_id is None and "xuc on the active side not ready" in p.why for p in run.problems
    )
    assert run.report_path is not None
    report = Path(run.report_path).read_text()
    assert "- Outcome: finished with problems" in report
    assert "## Problems" in report
    assert (
        "- Wait until xuc is ready on the CC slave (`cc.wait_xuc_ready`): skipped: xuc will"
        in report
    )
    assert "`resil-tui logs demo.cc.slave --until-ready`" in report  # a next step


async def test_resume_checks_earlier_conditions_again(lab: Lab, tmp_path: Path) -> None:
    # No cron here: the slave takes over, and later stops, when this test says so.
    inventory = lab_inventory(lab, tmp_path, edit=with_phones)[0]
    await lab.power_off(MASTER)
    assert (await run(lab, SLAVE, "xivo-manage-slave-services start")).exit_status == 0
    pool1 = Pool(audit=tmp_path / "audit.jsonl")
    eng = engine(pool1, inventory, Direction.FAILOVER)
    assert await eng.run_guards()
    await drive(eng, until="cc.restart_xuc")
    assert eng.record("xivo.wait_target_telephony").state is StepState.DONE
    await pool1.close()
    # While the console is away the slave goes back to standby: its telephony wait no
    # longer holds, although it was done.
    assert (await run(lab, SLAVE, "xivo-manage-slave-services stop")).exit_status == 0
    async with Pool(audit=tmp_path / "audit.jsonl") as pool2:
        again = WizardEngine.resume(
            pool2, inventory, find_unfinished_runs(inventory)[0], options=FAST
        )
        assert await again.run_guards()
        rec = again.record("xivo.wait_target_telephony")
        assert rec.state is StepState.PENDING and "no longer true" in rec.message, rec.message
        assert again.current is not None and again.current.id == "xivo.wait_target_telephony"
        mds = again.record("xds.mds_ok.mds1")
        assert any(
            "checked again on resume" in line and "still true" in line for line in mds.output
        )
        await again.abort("testing the resume only")


async def test_failover_completes_its_xuc_wait_with_plain_logs(
    ticking_lab: Lab, inventory: Inventory, pool: Pool
) -> None:
    # The wrapper drops docker's -t and --since: the wait still tells the new run's line.
    lab = ticking_lab
    await lab.apply_fault(["xuc-logs-plain", "cc.slave", "on"])
    await lab.apply_fault(["xuc-ready-delay", "cc.slave", "1.0"])
    await master_down(lab)
    eng = WizardEngine.create(
        pool,
        inventory,
        "demo",
        Direction.FAILOVER,
        only=frozenset({Part.CC}),
        runbook_opts=SHORT,
        options=FAST,
    )
    assert await eng.run_guards()
    await drive(eng, until="cc.wait_xuc_ready")
    rec = await eng.run_step("cc.wait_xuc_ready")
    assert rec.state is StepState.DONE, rec.message
    assert "Listening for HTTP on" in rec.message
    assert any(line.startswith("look: … starting") for line in rec.output), rec.output


async def test_edge_settings_left_to_apply_make_up_a_step(
    ticking_lab: Lab, inventory: Inventory, pool: Pool
) -> None:
    lab = ticking_lab
    await master_down(lab)
    # Someone switched the .env by hand and did not run up -d: the containers lag behind.
    path = lab.world.resolve(EDGE, ENV)
    head, marker, body = path.read_text().partition("# Installed against")
    for old, new in (("10.50.0.11", "10.50.0.12"), ("10.50.0.21", "10.50.0.22")):
        body = re.sub(rf"(?<![\d.]){re.escape(old)}(?![\d])", new, body)
    path.write_text(head + marker + body)
    assert "10.50.0.11" not in body.split("\n", 1)[1]
    eng = WizardEngine.create(
        pool,
        inventory,
        "demo",
        Direction.FAILOVER,
        only=frozenset({Part.EDGE}),
        runbook_opts=SHORT,
        options=FAST,
    )
    assert await eng.run_guards()
    await drive(eng, until="edge.up")
    assert "nothing written" in eng.record("edge.switch_env").message
    assert any("still use other values" in x for x in eng.record("edge.switch_env").output)
    up = await eng.run_step("edge.up")
    assert up.state is StepState.DONE and up.command == "edge-dcomp up -d"
    assert sent(lab, EDGE, "edge-dcomp", "up", "-d") == 1
