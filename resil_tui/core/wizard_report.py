"""The Markdown record of a wizard run: who, when, site, direction, every step with its
command, output excerpt, result and duration, skips with their reasons, the final verdict.

Written at the end of a run (or its abort) next to the saved run, and linked from the
audit log: the ticket an admin attaches after an incident. Pure: times are formatted
from the epoch values in the run (UTC), nothing is read.

Output, messages and warnings quote what nodes printed: every one is sanitized, one-line
fields stay on one line (a newline could start a fake heading), and an output excerpt is
fenced with more backticks than any run inside it, so no line can close the fence.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from resil_tui.core.ha_webui import WebUiCheck, record_section
from resil_tui.core.incident import IncidentFigures, incident_section
from resil_tui.core.runbook_markdown import code
from resil_tui.core.sanitize import clean, longest_backtick_run
from resil_tui.core.wizard_run import RunStatus, StepRecord, StepState, WizardRun

EXCERPT_LINES = 20

_ICON = {
    StepState.PENDING: "·",
    StepState.RUNNING: "▶",
    StepState.DONE: "✔",
    StepState.FAILED: "✖",
    StepState.SKIPPED: "⤼",
    StepState.AWAITING_DONE: "?",
    StepState.AWAITING_CONFIRM: "!",
}


def when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def _result(rec: StepRecord) -> str:
    text = rec.state.value
    if rec.confirmed:
        text += " (confirmed by typing the word)"
    if rec.warning:
        text += " with a warning"
    return text


def _fence(lines: list[str]) -> list[str]:
    # Longer than any backtick run anywhere in the block, not only at line starts: a
    # closing fence may be indented, and a line's own run must never match it.
    body = [clean(line, one_line=True) for line in lines]
    longest = max((longest_backtick_run(line) for line in body), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence, *body, fence]


def _inline(text: str) -> str:
    return clean(text, one_line=True)


def _step(number: int, rec: StepRecord) -> list[str]:
    guard = ", guard" if rec.guard else ""
    out = [f"### {number}. {_ICON[rec.state]} {_inline(rec.title)}", ""]
    out.append(f"- Step: {code(rec.step_id)} ({rec.kind}{guard})")
    if rec.node_id:
        out.append(f"- Node: {code(rec.node_id)}")
    if rec.command:
        out.append(f"- Command: {code(rec.command)}")
    out.append(f"- Result: {_result(rec)}")
    if rec.message:
        out.append(f"- Detail: {_inline(rec.message)}")
    if rec.warning:
        out.append(f"- Warning: {_inline(rec.warning)}")
    if rec.skip_reason is not None:
        out.append(f"- Skipped because: {_inline(rec.skip_reason)}")
    if rec.attempts:
        out.append(
            f"- Attempts: {rec.attempts}; last started {when(rec.started_at)}, "
            f"took {duration(rec.duration)}"
        )
    if rec.output:
        excerpt = rec.output[-EXCERPT_LINES:]
        cut = len(rec.output) - len(excerpt)
        head = f"last {len(excerpt)} of {len(rec.output)} lines" if cut else "output"
        out += ["", f"Output ({head}):", "", *_fence(excerpt)]
    out.append("")
    return out


def render_report(
    run: WizardRun, web_ui: Sequence[WebUiCheck] = (), *, incident: IncidentFigures | None = None
) -> str:
    title = "Failover to the slave" if run.direction == "failover" else "Failback to the master"
    if run.status is RunStatus.FINISHED:
        outcome = "finished"
    elif run.status is RunStatus.ABORTED:
        outcome = f"aborted: {_inline(run.abort_reason or 'no reason given')}"
    else:
        outcome = "not finished (interrupted)"
    out = [f"# {title}: site {run.site}", ""]
    out.append(f"- Run: {code(run.run_id)}")
    out.append(f"- Who: {run.user}")
    out.append(f"- Started: {when(run.started_at)}")
    out.append(f"- Ended: {when(run.finished_at)}")
    if run.finished_at is not None:
        out.append(f"- Total time: {duration(run.finished_at - run.started_at)}")
    out.append(f"- Site: {run.site}")
    out.append(f"- Direction: {run.direction}")
    if run.only:
        out.append(f"- Parts: {', '.join(run.only)}")
    if run.read_only:
        out.append("- Mode: READ-ONLY (actions were refused)")
    for stamp in run.resumed_at:
        out.append(f"- Resumed: {when(stamp)}")
    out.append(f"- Outcome: {outcome}")
    out.append("")
    out += incident_section(incident)  # the journal's figures (core/incident.py)

    out += ["## Site verdict at the end", ""]
    final = run.final
    if final is None:
        out.append("Not checked.")
    elif final.error:
        out.append(f"Could not be checked: {_inline(final.error)}")
    else:
        out.append(f"**{final.verdict}** ({final.severity}): {_inline(final.title)}")
        if final.findings:
            out.append("")
            out += [f"- {_inline(f)}" for f in final.findings]
    out.append("")

    counts = run.counts()
    summary = ", ".join(f"{n} {state.value}" for state, n in counts.items() if n)
    out += [f"## Steps ({summary})", ""]
    for number, rec in enumerate(run.steps, start=1):
        out += _step(number, rec)

    skipped = [r for r in run.steps if r.state is StepState.SKIPPED]
    if skipped:
        out += ["## Skipped steps", ""]
        out += [
            f"- {_inline(r.title)} ({code(r.step_id)}): {_inline(r.skip_reason or 'no reason')}"
            for r in skipped
        ]
        out.append("")
    warned = [r for r in run.steps if r.warning]
    if warned:
        out += ["## Warnings", ""]
        out += [f"- {_inline(r.title)}: {_inline(r.warning or '')}" for r in warned]
        out.append("")
    if run.notes:
        out += ["## Runbook notes", ""]
        out += [f"- {_inline(n)}" for n in run.notes]
        out.append("")
    out += record_section(web_ui)  # issue 16's section: SIP expiry and backup registrar
    # A last pass over the whole document (idempotent): nothing above may emit a control.
    return clean("\n".join(out).rstrip("\n") + "\n")
