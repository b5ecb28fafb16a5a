"""The Markdown record of a wizard run: who, when, site, direction, the outcome and its
problems (which step, why), every step with its command, output excerpt, result and
duration, skips with their reasons, the final verdict, then what to do next and the live
facts at the start and at the end (who served telephony, xuc ready or not, the Edge side).

The record is a list of sections (`SECTIONS`: each a function of the run returning its
lines, or none); another section is added by inserting its function there.

Written at the end of a run (or its abort) next to the saved run, and linked from the
audit log: the ticket an admin attaches after an incident. Pure: times are formatted
from the epoch values in the run (UTC), nothing is read.

Output, messages and warnings quote what nodes printed: every one is sanitized, one-line
fields stay on one line (a newline could start a fake heading), and an output excerpt is
fenced with more backticks than any run inside it, so no line can close the fence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from resil_tui.core.ha_webui import WebUiCheck, record_section
from resil_tui.core.incident import IncidentFigures, incident_section
from resil_tui.core.roles import RoleWords, reword, role_words
from resil_tui.core.runbook_markdown import code
from resil_tui.core.sanitize import clean, longest_backtick_run
from resil_tui.core.site_facts import SiteFacts
from resil_tui.core.wizard_run import RunStatus, StepRecord, StepState, WizardRun
from resil_tui.inventory_model import Resilience

EXCERPT_LINES = 20

_ICON = {
    StepState.PENDING: "·",
    StepState.RUNNING: "▶",
    StepState.DONE: "✔",
    StepState.FAILED: "✖",
    StepState.SKIPPED: "⤼",
    StepState.AWAITING_DONE: "?",
    StepState.AWAITING_CONFIRM: "!",
    StepState.AWAITING_ACK: "!",
    StepState.INTERRUPTED: "✖",
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


Section = Callable[[WizardRun], list[str]]


def run_words(run: WizardRun) -> RoleWords:
    """The words of the run's site: master/slave, or Main/Standby (next LTS)."""
    try:
        return role_words(Resilience(run.resilience))
    except ValueError:
        return role_words(None)


def header(run: WizardRun) -> list[str]:
    w = run_words(run)
    title = (
        f"Failover to the {w.slave}"
        if run.direction == "failover"
        else (f"Failback to the {w.master}")
    )
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
    out.append(f"- Outcome: {_inline(run.outcome)}")
    return out


def problems(run: WizardRun) -> list[str]:
    if not run.problems:
        return []
    out = ["## Problems", ""]
    for p in run.problems:
        where = f" ({code(p.step_id)})" if p.step_id else ""
        out.append(f"- {_inline(p.title)}{where}: {_inline(p.why)}")
    return out


def final_verdict(run: WizardRun) -> list[str]:
    out = ["## Site verdict at the end", ""]
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
    return out


def steps(run: WizardRun) -> list[str]:
    counts = run.counts()
    summary = ", ".join(f"{n} {state.value}" for state, n in counts.items() if n)
    out = [f"## Steps ({summary})", ""]
    for number, rec in enumerate(run.steps, start=1):
        out += _step(number, rec)
    while out and out[-1] == "":
        out.pop()
    return out


def skipped(run: WizardRun) -> list[str]:
    found = [r for r in run.steps if r.state is StepState.SKIPPED]
    if not found:
        return []
    return ["## Skipped steps", ""] + [
        f"- {_inline(r.title)} ({code(r.step_id)}): {_inline(r.skip_reason or 'no reason')}"
        for r in found
    ]


def warnings(run: WizardRun) -> list[str]:
    warned = [r for r in run.steps if r.warning]
    if not warned:
        return []
    return ["## Warnings", ""] + [
        f"- {_inline(r.title)}: {_inline(r.warning or '')}" for r in warned
    ]


def notes(run: WizardRun) -> list[str]:
    if not run.notes:
        return []
    return ["## Runbook notes", ""] + [f"- {_inline(n)}" for n in run.notes]


def _step_record(run: WizardRun, step_id: str) -> StepRecord | None:
    return next((r for r in run.steps if r.step_id == step_id), None)


def next_steps(run: WizardRun) -> list[str]:
    todo: list[str] = []
    cc_wait = _step_record(run, "cc.wait_xuc_ready")
    if cc_wait is not None and cc_wait.state is not StepState.DONE and cc_wait.node_id:
        todo.append(
            f"Make sure xuc is ready on {code(cc_wait.node_id)} before users reconnect: "
            f"{code(f'resil-tui logs {cc_wait.node_id} --until-ready')}."
        )
    for p in run.problems:
        if p.step_id is None:
            status = code(f"resil-tui status --site {run.site}")
            todo.append(f"Look at the site: {_inline(p.why)} ({status}).")
        elif p.step_id != "cc.wait_xuc_ready":
            todo.append(f"{_inline(p.title)}: {_inline(p.why)}; do it by hand or in a new run.")
    if run.status is RunStatus.ABORTED or run.status is RunStatus.ACTIVE:
        left = [r for r in run.steps if not r.state.settled]
        if left:
            names = ", ".join(code(r.step_id) for r in left)
            todo.append(f"Not done: {names}.")
    w = run_words(run)
    if run.direction == "failover":
        todo.append(
            f"When the {w.master} is back, fail back: "
            f"{code(f'resil-tui plan failback --site {run.site}')}, or the Wizard pane (b)."
        )
    else:
        todo.append(
            f"Check that the {w.slave} stays on standby and the Edge on the {w.master} (Status)."
        )
    if not run.problems and run.status is RunStatus.FINISHED:
        todo.insert(0, "Nothing is left from this run.")
    return ["## Next steps", ""] + [f"- {t}" for t in dict.fromkeys(todo)]


def _facts_cell(facts: SiteFacts | None, row: str) -> str:
    if facts is None:
        return "not read"
    if facts.at is None:
        return "not polled"
    if row == "as of":
        return when(facts.at)
    if row == "telephony":
        return facts.telephony
    if row == "edge":
        return facts.edge_side or "no Edge"
    if row == "verdict":
        return facts.verdict
    if row == "phones":
        return facts.phones or "not counted"
    if row == "calls":
        counted = [f"{n} on {node}" for node, n in facts.calls.items()]
        unknown = [f"{why} on {node}" for node, why in facts.calls_unknown.items()]
        return ", ".join(counted + unknown) or "not counted"
    return facts.xuc.get(row, "-")


def live_facts(run: WizardRun) -> list[str]:
    start, end = run.facts_start, run.facts_end
    ccs = list(dict.fromkeys([*(start.xuc if start else {}), *(end.xuc if end else {})]))
    rows = [
        ("as of", "as of"),
        ("telephony", "Telephony served by"),
        ("edge", "The Edge sends remote users to"),
        ("phones", "Where the phones are"),
        ("calls", "Calls in progress"),
        *((cc, f"xuc on {cc}") for cc in ccs),
        ("verdict", "Site verdict"),
    ]
    out = ["## Live facts at the start and at the end", "", "| | at the start | at the end |"]
    out.append("|---|---|---|")
    w = run_words(run)
    for key, label in rows:
        cells = [_table(reword(_facts_cell(f, key), w)) for f in (start, end)]
        out.append(f"| {label} | {cells[0]} | {cells[1]} |")
    return out


def phones(run: WizardRun) -> list[str]:
    """The phones counted before the move and after it, each with its time."""
    before, after = run.phones_before, run.phones_after
    if before is None and after is None:
        return []
    out = ["## Phones", ""]
    out.append(
        "- Before the move: "
        + (before.describe(when(before.at)) if before is not None else "not counted")
    )
    out.append(
        "- After the move: "
        + (after.describe(when(after.at)) if after is not None else "not counted")
    )
    if before is not None and after is not None and before.count > 0:
        out.append(f"- Share registered on the target: {after.count / before.count * 100:.0f} %")
    return out


def _table(text: str) -> str:
    return _inline(text).replace("|", "\\|")


SECTIONS: tuple[Section, ...] = (
    header,
    problems,
    final_verdict,
    steps,
    skipped,
    warnings,
    notes,
    next_steps,
    phones,
    live_facts,
)


def render_report(
    run: WizardRun,
    web_ui: Sequence[WebUiCheck] = (),
    sections: Sequence[Section] = SECTIONS,
    *,
    incident: IncidentFigures | None = None,
) -> str:
    """The record, section by section. `web_ui`: issue 16's read-back of what the web UI's HA
    save writes (SIP expiry, backup registrar), a section of its own before the next steps.
    `incident`: the journal's figures (core/incident.py), right after the header."""
    chosen = list(sections)
    if incident is not None:
        at = chosen.index(header) + 1 if header in chosen else 0
        chosen.insert(at, lambda _run: incident_section(incident))
    if web_ui:
        at = chosen.index(next_steps) if next_steps in chosen else len(chosen)
        chosen.insert(at, lambda _run: record_section(web_ui))
    out: list[str] = []
    for section in chosen:
        lines = section(run)
        while lines and lines[-1] == "":
            lines = lines[:-1]
        if lines:
            out += [*lines, ""]
    # A last pass over the whole document (idempotent): nothing above may emit a control.
    return clean("\n".join(out).rstrip("\n") + "\n")
