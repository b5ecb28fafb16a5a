"""Pilot tests of the Wizard pane against the in-process lab (real SSH): a failover driven
with keys, the resume offer at start-up, read-only mode."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from labkit import WIZARD_FAST as FAST
from labkit import console
from textual.pilot import Pilot
from textual.widgets import RichLog, Static

from resil_tui.core.runbook import Direction, RunbookOptions
from resil_tui.core.wizard_run import RunStatus, StepState
from resil_tui.inventory import load_inventory
from resil_tui.inventory_model import Inventory
from resil_tui.lab import xivo
from resil_tui.lab.server import Lab
from resil_tui.ops.wizard import WizardEngine
from resil_tui.ops.wizard_store import RunStore, find_unfinished_runs
from resil_tui.remote.pool import Pool
from resil_tui.ui.app import ResilApp
from resil_tui.ui.panes.wizard import WizardPane
from resil_tui.ui.screens.confirm import ConfirmScreen, TypedConfirmScreen
from resil_tui.ui.widgets.read_only import ReadOnlyNotice
from resil_tui.ui.widgets.wizard_dialogs import ReasonScreen, ResumeScreen
from resil_tui.ui.widgets.wizard_plan import WizardPlan

SIZE = (140, 50)
MASTER, SLAVE = "demo.xivo.master", "demo.xivo.slave"
SHORT = RunbookOptions(
    telephony_timeout_seconds=15.0,
    standby_timeout_seconds=15.0,
    xuc_ready_timeout_seconds=10.0,
    edge_up_timeout_seconds=10.0,
    phones_timeout_seconds=10.0,
    calls_wait_seconds=5.0,
)


# The slave's check-master-status cron runs: the site follows the lab's faults.
pytestmark = pytest.mark.lab(ticker=True)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)


@pytest.fixture
def inventory(lab: Lab, tmp_path: Path) -> Inventory:
    # The master is off before the console starts: no poll saw the phones before the
    # move, so the site says how many it has (the phones wait's count before the move).
    text = lab.inventory_path.read_text()
    head, sep, rest = text.partition("[site.demo]\n")
    assert sep
    path = tmp_path / "hosts.toml"
    path.write_text(f"{head}{sep}phones = {{ expected = 40 }}\n{rest}")
    return load_inventory(path)


async def until(pilot: Pilot[int], check: Callable[[], bool], what: str, rounds: int = 600) -> None:
    """Let the app run until `check` holds (a generous bound, no timing assertion)."""
    for _ in range(rounds):
        if check():
            return
        await pilot.pause(0.025)
    raise AssertionError(f"timed out waiting for {what}")


async def master_off(lab: Lab) -> None:
    await lab.power_off(MASTER)
    await until_slave_serves(lab)


async def until_slave_serves(lab: Lab) -> None:
    for _ in range(400):
        if xivo.service_state(lab.world, SLAVE, "asterisk") == "running":
            return
        await asyncio.sleep(0.025)
    raise AssertionError("the slave did not take over")


async def show_wizard(app: ResilApp, pilot: Pilot[int]) -> WizardPane:
    for _ in range(20):  # see test_edge_pane.show_edge: leave Status with nothing focused
        app.screen.set_focus(None)
        await pilot.pause(0.05)
        if app.focused is None:
            break
    await pilot.press("4")
    await until(pilot, lambda: app.active_pane_id == "wizard", "the Wizard tab")
    pane = app.query_one(WizardPane)
    pane.engine_options, pane.runbook_options = FAST, SHORT
    await until(pilot, lambda: app.focused is pane, "the pane to take the focus")
    return pane


def text(pane: WizardPane, selector: str) -> str:
    return str(pane.query_one(selector, Static).content)


def output_text(pane: WizardPane) -> str:
    return "\n".join(strip.text for strip in pane.query_one("#wizard-output", RichLog).lines)


def confirm_text(app: ResilApp) -> str:
    return " ".join(str(s.content) for s in app.screen.query(Static))


async def test_failover_driven_with_keys(lab: Lab, inventory: Inventory, tmp_path: Path) -> None:
    await master_off(lab)
    async with Pool(audit=tmp_path / "audit.jsonl") as pool:
        app = console(inventory, read_only=False, pool=pool)
        async with app.run_test(size=SIZE) as pilot:
            pane = await show_wizard(app, pilot)
            assert "f: start the failover" in text(pane, "#wizard-keys")
            assert "Check the XiVO slave is reachable" in pane.query_one(WizardPlan).plain
            await pilot.press("f")
            await until(pilot, lambda: pane.engine is not None and not pane.working, "the guards")
            engine = pane.engine
            assert engine is not None
            assert engine.current is not None and engine.current.id == "xivo.wait_target_telephony"
            assert "✔" in pane.query_one(WizardPlan).plain
            # The current step shows its command and node before it runs.
            current = text(pane, "#wizard-current")
            assert "Command: xivo-service status all" in current and "demo.xivo.slave" in current

            seen_countdown = False
            skipped_once = False
            while (step := engine.current) is not None:
                if step.id == "xds.mds_ok.mds2" and not skipped_once:
                    skipped_once = True
                    await pilot.press("k")
                    await until(pilot, lambda: isinstance(app.screen, ReasonScreen), "why?")
                    await pilot.press(*"rebooting it later", "enter")
                elif step.kind.value == "manual":
                    await pilot.press("d")
                elif step.id == "cc.restart_xuc":
                    await lab.xuc_never_ready("demo.cc.slave", True)
                    await pilot.press("g")
                    await until(
                        pilot,
                        lambda: isinstance(app.screen, ConfirmScreen),
                        "the restart's confirmation",
                    )
                    # The confirmation leads with the live consequences.
                    shown = confirm_text(app)
                    assert shown.index("Now: telephony is served by the slave") < shown.index(
                        "Command"
                    )
                    assert "every session on it (UC, CCAgent, Switchboard) is cut" in shown
                    await pilot.press("y")
                else:
                    await pilot.press("g")
                    if step.kind.value == "action" and step.id != "edge.up":
                        await until(
                            pilot,
                            lambda: isinstance(app.screen, ConfirmScreen),
                            f"the confirmation of {step.id}",
                        )
                        shown = confirm_text(app)
                        assert engine.command_text(step).split(" (")[0] in shown
                        if step.id == "edge.switch_env":
                            assert "After this change: remote users go to the slave" in shown
                            assert "calls relayed through the Edge" in shown
                            # The diff of the file, as the last poll read it.
                            assert "+XIVO_HOST=10.50.0.12" in shown
                            assert "demo.edge, /etc/docker/edge/.env as read at" in shown
                            # Edited after the diff was shown: refused, nothing written.
                            env = lab.world.resolve("demo.edge", "/etc/docker/edge/.env")
                            edited = env.read_text() + "XIVO_HOST=10.50.0.11\n"
                            env.write_text(edited)
                            await pilot.press("y")
                            await until(
                                pilot,
                                lambda: engine.record("edge.switch_env").state is StepState.FAILED,
                                "the refusal of a file changed since its diff",
                            )
                            assert "changed since the diff you confirmed" in (
                                engine.record("edge.switch_env").message
                            )
                            assert env.read_text() == edited
                            # A retry shows the diff again, of the file as it is now.
                            await pilot.press("t")
                            await until(
                                pilot,
                                lambda: isinstance(app.screen, ConfirmScreen),
                                "the retry's confirmation",
                            )
                            again = confirm_text(app)
                            assert again.count("+XIVO_HOST=10.50.0.12") == 2, again
                        await pilot.press("y")
                await pilot.pause(0.05)
                if step.id == "cc.wait_xuc_ready":
                    # xuc is held at start-up (fault set before the restart): the wait
                    # shows its condition and countdown until the fault is lifted.
                    await until(
                        pilot, lambda: "⏱" in text(pane, "#wizard-current"), "the countdown"
                    )
                    current = text(pane, "#wizard-current")
                    assert "Condition: xuc_ready(node=demo.cc.slave" in current
                    assert "left of 10s" in current
                    seen_countdown = True
                    await lab.xuc_never_ready("demo.cc.slave", False)
                # Settled, not merely "not working": on a loaded machine the step may not
                # have started yet when the key was handled.
                await until(
                    pilot,
                    lambda: (
                        not pane.working
                        and not isinstance(app.screen, ConfirmScreen | ReasonScreen)
                        and engine.record(step.id).state.settled
                    ),
                    f"{step.id} to end",
                )
                rec = engine.record(step.id)
                assert rec.state.settled, f"{step.id}: {rec.state.value}: {rec.message}"

            assert seen_countdown
            run = engine.run
            # A skipped step: the outcome says so, and which step and why.
            assert run.status is RunStatus.FINISHED_WITH_PROBLEMS
            assert engine.record("xds.mds_ok.mds2").skip_reason == "rebooting it later"
            assert "skipped: rebooting it later" in pane.query_one(WizardPlan).plain
            final = text(pane, "#wizard-final")
            assert "Run finished with problems" in final and "site verdict: failed_over" in final
            assert "(xds.mds_ok.mds2): skipped: rebooting it later" in final
            assert run.report_path is not None and run.report_path in final
            assert "rebooting it later" in Path(run.report_path).read_text()
            assert "Run finished with problems" in output_text(pane)
    env = lab.world.resolve("demo.edge", "/etc/docker/edge/.env").read_text()
    assert "XIVO_HOST=10.50.0.12" in env


async def test_unfinished_run_is_offered_at_start_and_resumed(
    lab: Lab, inventory: Inventory, tmp_path: Path
) -> None:
    await master_off(lab)
    async with Pool(audit=tmp_path / "audit.jsonl") as pool:
        eng = WizardEngine.create(
            pool, inventory, "demo", Direction.FAILOVER, runbook_opts=SHORT, options=FAST
        )
        assert await eng.run_guards()
        await eng.run_step("xivo.wait_target_telephony")
        await eng.run_step("xivo.wait_phones_registered")  # then the console "dies"
        assert eng.run.phones_before is not None and eng.run.phones_before.basis == "expected"
        run_id = eng.run_id
    assert [r.run_id for r in find_unfinished_runs(inventory)] == [run_id]

    async with Pool(audit=tmp_path / "audit.jsonl") as pool:
        app = console(inventory, read_only=False, pool=pool)
        async with app.run_test(size=SIZE) as pilot:
            await until(
                pilot,
                lambda: (
                    isinstance(app.screen, ResumeScreen) and bool(app.screen.query("#resume-text"))
                ),
                "the offer",
            )
            offer = str(app.screen.query_one("#resume-text", Static).content)
            assert "Site demo, failover" in offer and "Check media server" in offer
            pane = app.query_one(WizardPane)
            pane.engine_options = FAST
            await pilot.press("r")
            await until(
                pilot,
                lambda: (
                    pane.engine is not None and not pane.working and app.active_pane_id == "wizard"
                ),
                "the resume and its guards",
            )
            engine = pane.engine
            assert engine is not None and engine.run_id == run_id and engine.run.resumed_at
            assert engine.current is not None and engine.current.id == "xds.mds_ok.mds1"
            assert engine.record("guard.target_reachable").attempts == 2  # checked again
            assert "does not answer" in output_text(pane)  # the guards, checked again

            # Abort: asks why, writes the report.
            await pilot.press("X")
            await until(pilot, lambda: isinstance(app.screen, ReasonScreen), "why?")
            await pilot.press(*"drill over", "enter")
            await until(pilot, lambda: engine.run.finished and not pane.working, "the abort")
            assert engine.run.status is RunStatus.ABORTED
            assert "Run aborted (drill over)" in text(pane, "#wizard-final")
    assert find_unfinished_runs(inventory) == []
    assert RunStore().load(run_id).abort_reason == "drill over"


async def test_split_brain_opens_the_typed_confirmation_and_read_only_greys_actions(
    lab: Lab, inventory: Inventory, tmp_path: Path
) -> None:
    # The master is up and serving, the slave cannot ping it: both run telephony.
    await lab.cut_link("demo")
    await until_slave_serves(lab)
    async with Pool(read_only=True, audit=tmp_path / "audit.jsonl") as pool:
        app = console(inventory, read_only=True, pool=pool)
        async with app.run_test(size=SIZE) as pilot:
            pane = await show_wizard(app, pilot)
            assert "READ-ONLY" in str(pane.query_one(ReadOnlyNotice).content)
            await pilot.press("f")
            await until(
                pilot, lambda: isinstance(app.screen, TypedConfirmScreen), "the typed confirmation"
            )
            engine = pane.engine
            assert engine is not None
            rec = engine.record("guard.master_not_active")
            assert rec.state is StepState.AWAITING_CONFIRM
            shown = " ".join(str(s.content) for s in app.screen.query(Static))
            assert MASTER in shown and "ACTIVE" in shown
            await pilot.press(*MASTER, "enter")
            await until(
                pilot,
                lambda: rec.state is StepState.DONE and not pane.working,
                "the confirmation to count",
            )
            assert rec.confirmed
            # Checks run in read-only mode...
            while (step := engine.current) is not None and step.kind.value != "action":
                if step.id == "xivo.wait_phones_registered":
                    # Split brain: the phones stay on the master; the admin skips the wait.
                    await pilot.press("k")
                    await until(pilot, lambda: isinstance(app.screen, ReasonScreen), "why?")
                    await pilot.press(*"phones stay on the master", "enter")
                    await until(pilot, lambda: not pane.working, "the skip")
                    assert engine.record(step.id).state is StepState.SKIPPED
                    continue
                await pilot.press("g")
                await pilot.pause(0.05)
                await until(pilot, lambda: not pane.working, f"{step.id}")
                assert engine.record(step.id).state.settled
            # ...actions are greyed and refused.
            assert step is not None and step.id == "cc.restart_xuc"
            assert app.active_bindings["g"].enabled is False
            await pilot.press("g")
            await pilot.pause(0.1)
            assert not isinstance(app.screen, ConfirmScreen)
            assert engine.record("cc.restart_xuc").attempts == 0
    assert not any(
        c.get("argv", [""])[0] == "xivocc-dcomp" and "restart" in c["argv"]
        for c in lab.commands("demo.cc.slave")
    )


async def finish_step(app: ResilApp, pane: WizardPane, pilot: Pilot[int], what: str) -> None:
    await until(
        pilot,
        lambda: not pane.working and not isinstance(app.screen, ConfirmScreen | ReasonScreen),
        what,
    )


async def test_xuc_never_ready_wait_skipped_finishes_with_problems(
    lab: Lab, inventory: Inventory, tmp_path: Path
) -> None:
    await master_off(lab)
    await lab.xuc_never_ready("demo.cc.slave", True)
    async with Pool(audit=tmp_path / "audit.jsonl") as pool:
        app = console(inventory, read_only=False, pool=pool)
        async with app.run_test(size=SIZE) as pilot:
            pane = await show_wizard(app, pilot)
            pane.runbook_options = RunbookOptions(
                telephony_timeout_seconds=15.0,
                xuc_ready_timeout_seconds=1.5,
                edge_up_timeout_seconds=10.0,
            )
            await pilot.press("f")
            await until(pilot, lambda: pane.engine is not None and not pane.working, "guards")
            engine = pane.engine
            assert engine is not None
            acknowledged: list[str] = []
            while (step := engine.current) is not None:
                rec = engine.record(step.id)
                if step.id == "cc.wait_xuc_ready" and rec.state is StepState.FAILED:
                    await pilot.press("k")
                    await until(pilot, lambda: isinstance(app.screen, ReasonScreen), "why?")
                    await pilot.press(*"xuc is slow today", "enter")
                elif engine.unacknowledged(step):
                    # Sending users to that CC, switching the Edge: ask first, and say why.
                    await pilot.press("d" if step.kind.value == "manual" else "g")
                    await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the ack")
                    shown = confirm_text(app)
                    assert "'Wait until xuc is ready on the CC slave' was skipped" in shown
                    assert "xuc is slow today" in shown
                    acknowledged.append(step.id)
                    await pilot.press("y")
                elif step.kind.value == "manual":
                    await pilot.press("d")
                else:
                    await pilot.press("g")
                    if step.kind.value == "action":
                        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "ask")
                        await pilot.press("y")
                await pilot.pause(0.05)
                await finish_step(app, pane, pilot, f"{step.id} to end")
            assert acknowledged == [
                "cc.users_open_fqdn",
                "edge.switch_env",
                "final.refresh_browsers",
            ]
            run = engine.run
            assert run.status is RunStatus.FINISHED_WITH_PROBLEMS
            # The screen says which step and why.
            final = text(pane, "#wizard-final")
            assert final.startswith("Run finished with problems")
            assert (
                "Wait until xuc is ready on the CC slave (cc.wait_xuc_ready): skipped: "
                "xuc is slow today"
            ) in final
            assert "xuc on the active side not ready" in final  # the site at the end
            assert "Run finished with problems" in text(pane, "#wizard-keys")
            # So does the record.
            assert run.report_path is not None
            report = Path(run.report_path).read_text()
            assert "- Outcome: finished with problems" in report
            assert (
                "- Wait until xuc is ready on the CC slave (`cc.wait_xuc_ready`): skipped: "
                "xuc is slow today"
            ) in report
            # The output box followed the newest lines and wrapped the long ones.
            box = pane.query_one("#wizard-output", RichLog)
            assert box.lines and box.scroll_y == box.max_scroll_y
            assert (
                max(len(strip.text) for strip in box.lines) <= box.scrollable_content_region.width
            )


async def test_quit_during_a_step_asks_and_records_it_interrupted(
    lab: Lab, inventory: Inventory, tmp_path: Path
) -> None:
    await master_off(lab)
    await lab.xuc_never_ready("demo.cc.slave", True)
    async with Pool(audit=tmp_path / "audit.jsonl") as pool:
        app = console(inventory, read_only=False, pool=pool)
        async with app.run_test(size=SIZE) as pilot:
            pane = await show_wizard(app, pilot)
            pane.runbook_options = RunbookOptions(
                telephony_timeout_seconds=15.0, xuc_ready_timeout_seconds=60.0
            )
            await pilot.press("f")
            await until(pilot, lambda: pane.engine is not None and not pane.working, "guards")
            engine = pane.engine
            assert engine is not None
            while (step := engine.current) is not None and step.id != "cc.wait_xuc_ready":
                await pilot.press("d" if step.kind.value == "manual" else "g")
                if step.kind.value == "action":
                    await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "ask")
                    await pilot.press("y")
                await pilot.pause(0.05)
                await finish_step(app, pane, pilot, f"{step.id}")
            await pilot.press("g")
            await until(pilot, lambda: pane.step_running() is not None, "the wait to run")
            await pilot.press("q")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "quit asks first")
            assert "Quit while a wizard step runs?" in confirm_text(app)
            await pilot.press("n")  # not now: the step goes on
            await pilot.pause(0.2)
            assert pane.step_running() is not None
            await pilot.press("q")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "asked again")
            await pilot.press("y")
            for _ in range(200):
                if not app.is_running:
                    break
                await asyncio.sleep(0.025)
    saved = RunStore().load(engine.run_id)
    rec = saved.record("cc.wait_xuc_ready")
    assert rec.state is StepState.INTERRUPTED and "interrupted" in rec.message
    assert [r.run_id for r in find_unfinished_runs(inventory)] == [engine.run_id]


async def test_a_step_refused_by_a_stale_lock_offers_the_break(
    lab: Lab, inventory: Inventory, tmp_path: Path
) -> None:
    import json
    from datetime import UTC, datetime, timedelta

    from textual.widgets import Input

    cc = "demo.cc.slave"
    await master_off(lab)
    async with Pool(audit=tmp_path / "audit.jsonl") as pool:
        app = console(inventory, read_only=False, pool=pool)
        async with app.run_test(size=SIZE) as pilot:
            pane = await show_wizard(app, pilot)
            await pilot.press("f")
            await until(pilot, lambda: pane.engine is not None and not pane.working, "the guards")
            engine = pane.engine
            assert engine is not None
            while (step := engine.current) is not None and step.id != "cc.restart_xuc":
                await engine.run_step(step.id)
            when = (datetime.now(UTC) - timedelta(minutes=30)).isoformat(timespec="seconds")
            lock = lab.world.resolve(cc, "/var/lock/resil-tui")
            lock.mkdir(parents=True)
            holder = {"user": "bob", "host": "jump2", "action": "wizard xuc restart"}
            (lock / "holder.json").write_text(
                json.dumps({**holder, "since": when, "refreshed": when, "token": "0" * 32})
            )
            await pilot.press("g")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
            await pilot.press("y")
            await until(
                pilot, lambda: isinstance(app.screen, TypedConfirmScreen), "the offer to break"
            )
            assert engine.record("cc.restart_xuc").state is StepState.FAILED
            assert "t: break the stale lock of demo.cc.slave and retry" in text(
                pane, "#wizard-keys"
            )
            app.screen.query_one(Input).value = cc
            await pilot.press("enter")
            await until(
                pilot,
                lambda: engine.record("cc.restart_xuc").state is StepState.DONE,
                "the restart with the lock broken",
            )
    restarts = [c for c in lab.commands(cc) if c.get("argv") == ["xivocc-dcomp", "restart", "xuc"]]
    assert len(restarts) == 1


async def test_calls_in_progress_stop_the_failback_until_they_end(
    lab: Lab, inventory: Inventory, tmp_path: Path
) -> None:
    from resil_tui.lab import phones

    # Failed over with the phones on the slave and two calls there; the master is back
    # but the slave cannot ping it yet, so it keeps telephony (and the calls).
    await master_off(lab)
    for _ in range(400):
        if phones.registered_on(lab.world, "demo").get(SLAVE) == 40:
            break
        await asyncio.sleep(0.025)
    await lab.hold_calls(SLAVE, 2)
    await lab.cut_link("demo")
    await lab.power_on(MASTER)
    async with Pool(audit=tmp_path / "audit.jsonl") as pool:
        app = console(inventory, read_only=False, pool=pool)
        async with app.run_test(size=SIZE) as pilot:
            pane = await show_wizard(app, pilot)
            await pilot.press("b")
            await until(
                pilot, lambda: isinstance(app.screen, TypedConfirmScreen), "the typed confirmation"
            )
            shown = confirm_text(app)
            assert f"2 call(s) in progress on {SLAVE}: switching now cuts them" in shown
            assert "press w" in shown
            await pilot.press("escape")  # not cutting them: wait for the calls to end
            await until(pilot, lambda: not isinstance(app.screen, TypedConfirmScreen), "closed")
            engine = pane.engine
            assert engine is not None
            rec = engine.record("guard.calls_in_progress")
            assert rec.state is StepState.AWAITING_CONFIRM
            assert "w: wait up to 5s" in text(pane, "#wizard-keys")
            await pilot.press("w")
            await until(pilot, lambda: "left of 5s" in pane.countdown, "the countdown")
            await lab.hold_calls(SLAVE, 0)
            await until(pilot, lambda: rec.state is StepState.DONE and not pane.working, "done")
            assert not rec.confirmed and rec.message.startswith(f"0 call(s) in progress on {SLAVE}")
            assert not isinstance(app.screen, TypedConfirmScreen)


async def test_a_failed_action_is_confirmed_again_before_it_is_sent_again(
    lab: Lab, inventory: Inventory, tmp_path: Path
) -> None:
    cc = "demo.cc.slave"

    def restarts() -> int:
        return sum(
            1
            for c in lab.commands(cc)
            if (c.get("argv") or [])[:3] == ["xivocc-dcomp", "restart", "xuc"]
        )

    await master_off(lab)
    async with Pool(audit=tmp_path / "audit.jsonl") as pool:
        app = console(inventory, read_only=False, pool=pool)
        async with app.run_test(size=SIZE) as pilot:
            pane = await show_wizard(app, pilot)
            await pilot.press("f")
            await until(pilot, lambda: pane.engine is not None and not pane.working, "the guards")
            engine = pane.engine
            assert engine is not None
            while (step := engine.current) is not None and step.id != "cc.restart_xuc":
                if step.kind.value in ("wait", "manual"):
                    await engine.skip(step.id, "not under test")
                else:
                    await engine.run_step(step.id)
            if engine.unacknowledged(engine.step("cc.restart_xuc")):
                await engine.acknowledge("cc.restart_xuc")
            await lab.power_off(cc)
            await pilot.press("g")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
            await pilot.press("y")
            await until(
                pilot,
                lambda: (
                    not pane.working and engine.record("cc.restart_xuc").state is StepState.FAILED
                ),
                "the restart to fail with the CC off",
                rounds=2000,
            )
            await lab.power_on(cc)
            sent = restarts()
            await pilot.press("t")
            await until(
                pilot, lambda: isinstance(app.screen, ConfirmScreen), "the retry's confirmation"
            )
            assert restarts() == sent  # nothing sent before the answer
            await pilot.press("n")
            await pilot.pause(0.2)
            assert restarts() == sent and engine.record("cc.restart_xuc").state is StepState.FAILED
