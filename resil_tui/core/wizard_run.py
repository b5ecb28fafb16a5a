"""The state of one guided failover / failback run, as plain data that survives a crash.

The ops engine (``ops/wizard.py``) mutates a :class:`WizardRun` and saves it as JSON after
every step, so a console or SSH link that dies mid-run loses nothing: ``resil-tui``
offers to resume it. Each step's record carries what the report needs (title, kind,
node, the exact command, an output excerpt, timings, skip reasons), so the Markdown
record (``core/wizard_report.py``) renders from this alone, without the inventory.

Pure: no I/O; JSON goes through :meth:`WizardRun.to_dict` / :meth:`WizardRun.from_dict`,
which are lenient (unknown keys ignored, unknown states read as pending).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from resil_tui.core.records import record
from resil_tui.core.runbook import Runbook, Step
from resil_tui.core.site_facts import SiteFacts
from resil_tui.core.telephony import PhoneMark

SCHEMA = 1
# Lines of output kept per step in the saved run (the report shows the last ~20).
KEEP_OUTPUT_LINES = 200


class StepState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    AWAITING_DONE = "awaiting done"  # manual: the admin says when it is done
    AWAITING_CONFIRM = "awaiting confirmation"  # a guard that needs the typed word
    # It depends on a wait that was skipped: the admin acknowledges before it runs.
    AWAITING_ACK = "awaiting acknowledgement"
    # It was running when the console quit or died: it may or may not have happened.
    INTERRUPTED = "interrupted"

    @property
    def settled(self) -> bool:
        """The run may go past a step in this state."""
        return self in (StepState.DONE, StepState.SKIPPED)


class RunStatus(StrEnum):
    ACTIVE = "active"  # not finished: resumable
    FINISHED = "finished"  # every step succeeded and the site is healthy for the new side
    FINISHED_WITH_PROBLEMS = "finished with problems"  # see WizardRun.problems
    ABORTED = "aborted"


@dataclass
class StepRecord:
    step_id: str
    kind: str
    title: str
    node_id: str | None = None
    guard: bool = False
    command: str = ""  # what runs (or ran): the exact command line, or what is checked
    state: StepState = StepState.PENDING
    attempts: int = 0
    started_at: float | None = None  # epoch seconds of the last attempt
    finished_at: float | None = None
    duration: float | None = None  # seconds, last attempt
    message: str = ""  # one line: the result
    warning: str | None = None  # a check with on_fail=warn that did not hold
    skip_reason: str | None = None
    confirmed: bool = False  # a guard passed by the typed confirmation
    output: list[str] = field(default_factory=list)
    flags: dict[str, str] = field(default_factory=dict)  # engine facts ("edge_up_done")

    def add_output(self, lines: list[str]) -> None:
        self.output.extend(lines)
        if len(self.output) > KEEP_OUTPUT_LINES:
            del self.output[: len(self.output) - KEEP_OUTPUT_LINES]

    def to_dict(self) -> dict[str, Any]:
        return {
            "step_id": self.step_id,
            "kind": self.kind,
            "title": self.title,
            "node_id": self.node_id,
            "guard": self.guard,
            "command": self.command,
            "state": self.state.value,
            "attempts": self.attempts,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration": self.duration,
            "message": self.message,
            "warning": self.warning,
            "skip_reason": self.skip_reason,
            "confirmed": self.confirmed,
            "output": list(self.output),
            "flags": dict(self.flags),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepRecord:
        try:
            state = StepState(data.get("state", "pending"))
        except ValueError:
            state = StepState.PENDING
        return cls(
            step_id=str(data["step_id"]),
            kind=str(data.get("kind", "")),
            title=str(data.get("title", "")),
            node_id=data.get("node_id"),
            guard=bool(data.get("guard", False)),
            command=str(data.get("command", "")),
            state=state,
            attempts=int(data.get("attempts", 0)),
            started_at=_float(data.get("started_at")),
            finished_at=_float(data.get("finished_at")),
            duration=_float(data.get("duration")),
            message=str(data.get("message", "")),
            warning=data.get("warning"),
            skip_reason=data.get("skip_reason"),
            confirmed=bool(data.get("confirmed", False)),
            output=[str(x) for x in data.get("output", [])],
            flags={str(k): str(v) for k, v in dict(data.get("flags", {})).items()},
        )


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


@dataclass
class FinalVerdict:
    verdict: str  # cluster Verdict code of the primary finding
    severity: str
    title: str
    findings: list[str] = field(default_factory=list)  # "severity: title" of the others
    error: str | None = None  # the poll itself failed
    expected: str = ""  # the verdict the direction leads to (failed_over / normal)
    # "severity: title" of the findings (warning or worse) about the new side's nodes:
    # the target XiVO and CC, the Edge. Any one means "not healthy for the new side".
    new_side: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        """The site is healthy for the side the run moved to."""
        return (
            self.error is None
            and (not self.expected or self.verdict == self.expected)
            and self.severity in ("ok", "warning")
            and not self.new_side
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "severity": self.severity,
            "title": self.title,
            "findings": list(self.findings),
            "error": self.error,
            "expected": self.expected,
            "new_side": list(self.new_side),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FinalVerdict:
        return cls(
            verdict=str(data.get("verdict", "")),
            severity=str(data.get("severity", "")),
            title=str(data.get("title", "")),
            findings=[str(x) for x in data.get("findings", [])],
            error=data.get("error"),
            expected=str(data.get("expected", "")),
            new_side=[str(x) for x in data.get("new_side", [])],
        )


@record
class Problem:
    """Why a run is not simply "finished": which step (None: the site at the end) and why."""

    step_id: str | None
    title: str
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {"step_id": self.step_id, "title": self.title, "why": self.why}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Problem:
        step = data.get("step_id")
        return cls(
            str(step) if step is not None else None,
            str(data.get("title", "")),
            str(data.get("why", "")),
        )


@dataclass
class WizardRun:
    run_id: str
    site: str
    direction: str  # core.runbook.Direction value
    user: str
    started_at: float
    site_key: str  # identifies the site's nodes: a run resumes only on the same inventory
    only: list[str] | None = None  # Part values, or None for every part
    options: dict[str, Any] = field(default_factory=dict)  # RunbookOptions fields
    read_only: bool = False
    status: RunStatus = RunStatus.ACTIVE
    updated_at: float | None = None
    finished_at: float | None = None
    abort_reason: str | None = None
    inventory_path: str | None = None
    notes: list[str] = field(default_factory=list)
    steps: list[StepRecord] = field(default_factory=list)
    resumed_at: list[float] = field(default_factory=list)
    final: FinalVerdict | None = None
    report_path: str | None = None
    problems: list[Problem] = field(default_factory=list)  # set when the run ends
    facts_start: SiteFacts | None = None  # the live facts when the run started
    facts_end: SiteFacts | None = None  # and when it ended
    resilience: str = "classic"  # the site's mode (Resilience value): the record's words
    # Phones: counted on the side left before the move, and on the target after it.
    phones_before: PhoneMark | None = None
    phones_after: PhoneMark | None = None

    @property
    def finished(self) -> bool:
        return self.status is not RunStatus.ACTIVE

    @property
    def outcome(self) -> str:
        """`finished`, `finished with problems`, `aborted: why`, or `not finished`."""
        if self.status is RunStatus.ABORTED:
            return f"aborted: {self.abort_reason or 'no reason given'}"
        if self.status is RunStatus.ACTIVE:
            return "not finished (interrupted)"
        return self.status.value

    def record(self, step_id: str) -> StepRecord:
        for rec in self.steps:
            if rec.step_id == step_id:
                return rec
        raise KeyError(f"no step {step_id!r} in run {self.run_id}")

    def current(self) -> StepRecord | None:
        """The first step the run may not go past yet (None: every step is settled)."""
        return next((r for r in self.steps if not r.state.settled), None)

    def counts(self) -> dict[StepState, int]:
        found = dict.fromkeys(StepState, 0)
        for rec in self.steps:
            found[rec.state] += 1
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "run_id": self.run_id,
            "site": self.site,
            "direction": self.direction,
            "user": self.user,
            "started_at": self.started_at,
            "site_key": self.site_key,
            "only": list(self.only) if self.only is not None else None,
            "options": dict(self.options),
            "read_only": self.read_only,
            "status": self.status.value,
            "updated_at": self.updated_at,
            "finished_at": self.finished_at,
            "abort_reason": self.abort_reason,
            "inventory_path": self.inventory_path,
            "notes": list(self.notes),
            "steps": [s.to_dict() for s in self.steps],
            "resumed_at": list(self.resumed_at),
            "final": self.final.to_dict() if self.final else None,
            "report_path": self.report_path,
            "problems": [p.to_dict() for p in self.problems],
            "facts_start": self.facts_start.to_dict() if self.facts_start else None,
            "facts_end": self.facts_end.to_dict() if self.facts_end else None,
            "resilience": self.resilience,
            "phones_before": self.phones_before.to_dict() if self.phones_before else None,
            "phones_after": self.phones_after.to_dict() if self.phones_after else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WizardRun:
        if not isinstance(data, dict) or "run_id" not in data:
            raise ValueError("not a wizard run (no run_id)")
        try:
            status = RunStatus(data.get("status", "active"))
        except ValueError:
            status = RunStatus.ACTIVE
        only = data.get("only")
        final = data.get("final")
        start, end = data.get("facts_start"), data.get("facts_end")
        before, after = data.get("phones_before"), data.get("phones_after")
        return cls(
            run_id=str(data["run_id"]),
            site=str(data.get("site", "")),
            direction=str(data.get("direction", "")),
            user=str(data.get("user", "")),
            started_at=float(data.get("started_at", 0.0)),
            site_key=str(data.get("site_key", "")),
            only=[str(p) for p in only] if isinstance(only, list) else None,
            options=dict(data.get("options") or {}),
            read_only=bool(data.get("read_only", False)),
            status=status,
            updated_at=_float(data.get("updated_at")),
            finished_at=_float(data.get("finished_at")),
            abort_reason=data.get("abort_reason"),
            inventory_path=data.get("inventory_path"),
            notes=[str(n) for n in data.get("notes", [])],
            steps=[StepRecord.from_dict(s) for s in data.get("steps", [])],
            resumed_at=[float(t) for t in data.get("resumed_at", [])],
            final=FinalVerdict.from_dict(final) if isinstance(final, dict) else None,
            report_path=data.get("report_path"),
            problems=[
                Problem.from_dict(p) for p in data.get("problems", []) if isinstance(p, dict)
            ],
            facts_start=SiteFacts.from_dict(start) if isinstance(start, dict) else None,
            facts_end=SiteFacts.from_dict(end) if isinstance(end, dict) else None,
            resilience=str(data.get("resilience", "classic")),
            phones_before=PhoneMark.from_dict(before) if isinstance(before, dict) else None,
            phones_after=PhoneMark.from_dict(after) if isinstance(after, dict) else None,
        )


_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def make_run_id(site: str, direction: str, stamp: str, suffix: str) -> str:
    """``20250101T120000Z-paris-failover-a1b2``: sortable, safe as a file name."""
    return "-".join(_UNSAFE.sub("_", part) for part in (stamp, site, direction, suffix))


def new_record(step: Step, command: str) -> StepRecord:
    return StepRecord(
        step_id=step.id,
        kind=step.kind.value,
        title=step.title,
        node_id=step.node_id,
        guard=step.guard,
        command=command,
    )


def find_problems(run: WizardRun) -> list[Problem]:
    """Everything that keeps a run from being simply "finished": a step skipped, failed or
    interrupted (an aborted run), a check that did not hold but let the run go on, a guard
    passed by the typed word, a step done although a wait it depends on was skipped, and a
    site verdict at the end that is not healthy for the new side."""
    found: list[Problem] = []
    for rec in run.steps:
        if rec.state is StepState.SKIPPED:
            found.append(Problem(rec.step_id, rec.title, f"skipped: {rec.skip_reason or '?'}"))
        elif rec.state in (StepState.FAILED, StepState.INTERRUPTED):
            found.append(Problem(rec.step_id, rec.title, f"{rec.state.value}: {rec.message}"))
        elif rec.state is not StepState.DONE and run.finished:
            found.append(Problem(rec.step_id, rec.title, f"not done ({rec.state.value})"))
        if rec.confirmed:
            found.append(
                Problem(rec.step_id, rec.title, f"went on against the check: {rec.warning}")
            )
        elif rec.warning and rec.state is StepState.DONE:
            found.append(Problem(rec.step_id, rec.title, f"did not hold: {rec.warning}"))
        acknowledged = rec.flags.get("acknowledged")
        if acknowledged and rec.state is StepState.DONE:
            found.append(Problem(rec.step_id, rec.title, f"done although {acknowledged}"))
    final = run.final
    if final is None:
        found.append(Problem(None, "Site verdict at the end", "not checked"))
    elif final.error:
        found.append(Problem(None, "Site verdict at the end", f"not checked: {final.error}"))
    else:
        if final.expected and final.verdict != final.expected:
            found.append(
                Problem(
                    None,
                    "Site verdict at the end",
                    f"{final.verdict} ({final.severity}), expected {final.expected}: {final.title}",
                )
            )
        elif final.severity not in ("ok", "warning"):
            found.append(
                Problem(None, "Site verdict at the end", f"{final.severity}: {final.title}")
            )
        found += [Problem(None, "Site verdict at the end", f) for f in final.new_side]
    return found


def records_match(run: WizardRun, runbook: Runbook) -> bool:
    """The saved run has exactly the runbook's steps (same ids, same order, same kinds)."""
    return [(r.step_id, r.kind) for r in run.steps] == [(s.id, s.kind.value) for s in runbook.steps]
