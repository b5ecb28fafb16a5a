"""The wizard's run state (saved after every step) and its Markdown record, as plain data."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from resil_tui.core.site_facts import SiteFacts
from resil_tui.core.wizard_report import SECTIONS, render_report
from resil_tui.core.wizard_run import (
    FinalVerdict,
    RunStatus,
    StepRecord,
    StepState,
    WizardRun,
    find_problems,
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


# --- the outcome is the truth ---------------------------------------------------------------


def finished_run(**final: object) -> WizardRun:
    run = a_run()
    run.record("cc.restart_xuc").state = StepState.DONE
    run.record("final.verdict").state = StepState.DONE
    values: dict[str, object] = {
        "verdict": "failed_over",
        "severity": "warning",
        "title": "Failed over",
        "expected": "failed_over",
    }
    values.update(final)
    run.final = FinalVerdict(**values)  # type: ignore[arg-type]
    run.status, run.finished_at = RunStatus.FINISHED, T0 + 200
    return run


def test_problems_name_the_step_and_why() -> None:
    run = finished_run()
    found = find_problems(run)
    assert [(p.step_id, p.why) for p in found] == [
        ("cc.users_open_fqdn", "skipped: done by phone already")
    ]
    run.record("cc.users_open_fqdn").state = StepState.DONE
    run.record("cc.users_open_fqdn").flags["acknowledged"] = "'Wait' was skipped (slow)"
    run.record("guard.target_reachable").confirmed = True
    run.record("guard.target_reachable").warning = "the master still looks ACTIVE"
    whys = {p.why for p in find_problems(run)}
    assert "done although 'Wait' was skipped (slow)" in whys
    assert "went on against the check: the master still looks ACTIVE" in whys


def test_a_clean_run_has_no_problem_and_a_bad_end_is_one() -> None:
    run = finished_run()
    run.record("cc.users_open_fqdn").state = StepState.DONE
    assert find_problems(run) == []
    assert run.final is not None and run.final.healthy
    wrong = finished_run(verdict="normal", severity="ok", title="Normal")
    wrong.record("cc.users_open_fqdn").state = StepState.DONE
    (p,) = find_problems(wrong)
    assert p.step_id is None and "expected failed_over" in p.why
    sick = finished_run(new_side=["warning: xuc on the active side not ready"])
    sick.record("cc.users_open_fqdn").state = StepState.DONE
    assert [p.why for p in find_problems(sick)] == ["warning: xuc on the active side not ready"]
    assert sick.final is not None and not sick.final.healthy
    unchecked = finished_run(error="no answer in time")
    unchecked.record("cc.users_open_fqdn").state = StepState.DONE
    assert [p.why for p in find_problems(unchecked)] == ["not checked: no answer in time"]


def test_record_with_problems_next_steps_and_live_facts() -> None:
    run = finished_run()
    run.problems = find_problems(run)
    run.status = RunStatus.FINISHED_WITH_PROBLEMS
    run.facts_start = SiteFacts(
        T0,
        "slave",
        "the slave (demo.xivo.slave)",
        "master",
        {"demo.cc.slave": "… starting for 3s"},
        {"demo.cc.slave": False},
        "Failed over (critical)",
    )
    run.facts_end = SiteFacts(
        T0 + 200,
        "slave",
        "the slave (demo.xivo.slave)",
        "slave",
        {"demo.cc.slave": "✔ ready since 10:00:00"},
        {"demo.cc.slave": True},
        "Failed over (warning)",
        calls={"demo.xivo.slave": 2},
        calls_unknown={"demo.xivo.master": "not known (unreachable: timeout)"},
    )
    text = render_report(run)
    assert "- Outcome: finished with problems" in text
    problems = text.index("## Problems")
    assert (
        text.index("- Users open https://cc2.demo.example (`cc.users_open_fqdn`): skipped")
        > problems
    )
    # The record ends with the next steps, then the live facts at the start and the end.
    assert text.index("## Next steps") < text.index("## Live facts at the start and at the end")
    assert "resil-tui plan failback --site demo" in text
    assert "| The Edge sends remote users to | master | slave |" in text
    assert "| xuc on demo.cc.slave | … starting for 3s | ✔ ready since 10:00:00 |" in text
    assert (
        "| Calls in progress | not counted | 2 on demo.xivo.slave, not known (unreachable: "
        "timeout) on demo.xivo.master |" in text
    )
    again = WizardRun.from_dict(json.loads(json.dumps(run.to_dict())))
    assert again.problems == run.problems and again.facts_end == run.facts_end
    assert again.status is RunStatus.FINISHED_WITH_PROBLEMS


def test_report_sections_are_a_list_others_extend() -> None:
    run = finished_run()

    def journal(r: WizardRun) -> list[str]:
        return ["## Outage figures", "", f"- site {r.site}"]

    text = render_report(run, sections=(*SECTIONS[:3], journal, *SECTIONS[3:]))
    assert text.index("## Site verdict at the end") < text.index("## Outage figures")
    assert text.index("## Outage figures") < text.index("## Steps")


def test_the_record_holds_the_phones_before_and_after_with_their_times() -> None:
    from resil_tui.core.telephony import PhoneMark

    run = a_run()
    assert "## Phones" not in render_report(run)  # nothing counted: no section
    run.phones_before = PhoneMark("master", 412, 1_764_000_000.0, "paris.xivo.master")
    run.phones_after = PhoneMark("slave", 400, 1_764_000_300.0, "paris.xivo.slave")
    again = WizardRun.from_dict(json.loads(json.dumps(run.to_dict())))
    assert again.phones_before == run.phones_before and again.phones_after == run.phones_after
    text = render_report(again)
    assert "- Before the move: 412 phones on paris.xivo.master (2025-11-24 16:00:00 UTC)" in text
    assert "- After the move: 400 phones on paris.xivo.slave (2025-11-24 16:05:00 UTC)" in text
    assert "- Share registered on the target: 97 %" in text
    run.phones_after = None
    run.phones_before = PhoneMark("master", 412, 1_764_000_000.0, basis="expected")
    text = render_report(run)
    assert "412 phones expected (inventory) on the master" in text
    assert "- After the move: not counted" in text
