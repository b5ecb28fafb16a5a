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

from resil_tui.core.runbook import Runbook, Step

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

    @property
    def settled(self) -> bool:
        """The run may go past a step in this state."""
        return self in (StepState.DONE, StepState.SKIPPED)


class RunStatus(StrEnum):
    ACTIVE = "active"  # not finished: resumable
    FINISHED = "finished"
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "severity": self.severity,
            "title": self.title,
            "findings": list(self.findings),
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FinalVerdict:
        return cls(
            verdict=str(data.get("verdict", "")),
            severity=str(data.get("severity", "")),
            title=str(data.get("title", "")),
            findings=[str(x) for x in data.get("findings", [])],
            error=data.get("error"),
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

    @property
    def finished(self) -> bool:
        return self.status is not RunStatus.ACTIVE

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


def records_match(run: WizardRun, runbook: Runbook) -> bool:
    """The saved run has exactly the runbook's steps (same ids, same order, same kinds)."""
    return [(r.step_id, r.kind) for r in run.steps] == [(s.id, s.kind.value) for s in runbook.steps]
