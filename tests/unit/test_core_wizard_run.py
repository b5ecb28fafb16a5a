"""The wizard's run state (saved after every step) and its Markdown record, as plain data."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from resil_tui.core.wizard_report import render_report
from resil_tui.core.wizard_run import (
    FinalVerdict,
    RunStatus,
    StepRecord,
    StepState,
    WizardRun,
)

T0 = 1_795_600_000.0


def a_run() -> WizardRun:
    steps = [
        StepRecord(
            "guard.target_reachable",
            "check",
            "Check the slave is reachable",
            node_id="demo.xivo.slave",
            guard=True,
            state=StepState.DONE,
            attempts=1,
            started_at=T0,
            finished_at=T0 + 1,
            duration=1.0,
            message="reachable",
        ),
        StepRecord(
            "cc.restart_xuc",
            "action",
            "Restart xuc on the CC slave",
            node_id="demo.cc.slave",
            command="xivocc-dcomp restart xuc",
            state=StepState.FAILED,
            attempts=2,
            duration=3.5,
            message="exit 1",
            output=[f"line {i}" for i in range(30)] + ["```tricky fence"],
        ),
        StepRecord(
            "cc.users_open_fqdn",
            "manual",
            "Users open https://cc2.demo.example",
            state=StepState.SKIPPED,
            skip_reason="done by phone already",
        ),
        StepRecord("final.verdict", "check", "Check the site verdict"),
    ]
    return WizardRun(
        run_id="demo-failover-1",
        site="demo",
        direction="failover",
        user="alice",
        started_at=T0,
        site_key="k",
        steps=steps,
        resumed_at=[T0 + 60],
        final=FinalVerdict(
            "failed_over",
            "critical",
            "Failed over",
            findings=["critical: Edge points to the master"],
        ),
    )


def test_run_round_trips_through_json() -> None:
    run = a_run()
    again = WizardRun.from_dict(json.loads(json.dumps(run.to_dict())))
    assert again.to_dict() == run.to_dict()
    assert again.record("cc.restart_xuc").state is StepState.FAILED


def test_current_step_is_the_first_not_settled() -> None:
    run = a_run()
    # done and skipped are settled; the failed restart blocks everything after it.
    current = run.current()
    assert current is not None and current.step_id == "cc.restart_xuc"
    run.record("cc.restart_xuc").state = StepState.DONE
    current = run.current()
    assert current is not None and current.step_id == "final.verdict"
    assert run.counts()[StepState.DONE] == 2 and not run.finished


def test_report_says_who_when_what_and_why() -> None:
    run = a_run()
    run.status = RunStatus.ABORTED
    run.abort_reason = "xuc image broken"
    run.finished_at = T0 + 300
    text = render_report(run)
    assert text.startswith("# Failover to the slave: site demo")
    assert "- Who: alice" in text
    assert "- Outcome: aborted: xuc image broken" in text
    assert "- Resumed:" in text
    assert "**failed_over** (critical)" in text
    assert "- Command: `xivocc-dcomp restart xuc`" in text
    assert "- Skipped because: done by phone already" in text
    # Only an excerpt of long output, in a fence longer than any backtick run inside.
    assert "last 20 of 31 lines" in text and "line 10" not in text and "line 29" in text
    assert "````" in text
    assert "5 min 00 s" in text


@settings(max_examples=50)
@given(st.lists(st.text(max_size=40), max_size=40), st.sampled_from(list(StepState)))
def test_any_output_renders_and_round_trips(lines: list[str], state: StepState) -> None:
    run = a_run()
    rec = run.record("final.verdict")
    rec.output, rec.state = lines, state
    assert "Check the site verdict" in render_report(run)
    assert WizardRun.from_dict(run.to_dict()).record("final.verdict").output == lines
