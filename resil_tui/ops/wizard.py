"""The guided failover / failback: run a runbook step by step, save after every step,
resume after a crash, and write the record at the end.

The engine never decides to go on by itself: every step runs because the admin asked
(`run_step`), a failed step stays the current one until it is retried, skipped with a
reason, or the run is aborted. Guards (safety checks) come first in every runbook; a
failed STOP guard cannot be skipped, a CONFIRM guard (failover while the master still
looks active: split brain ahead) needs the typed word. In read-only mode checks and waits
run, actions are refused before anything reaches the pool.

Step kinds map to real work here: conditions through ``ops.wizard_probe`` (the status
collector), ``xivocc_restart`` through the catalog (after noting the current run and the
log's end: ``ops.xuc_wait.take_mark``), the xuc readiness wait through
``ops.xuc_wait.wait_for_xuc`` (the readiness of the run the restart started), the Edge
switch through ``ops.edge`` (which runs ``edge-dcomp up -d`` itself: the ``edge_up`` step is
then settled as "nothing left to apply", and appears as a step to run only when the running
containers still differ from the ``.env``, or that cannot be told).

What a step shows is what it sends: ``step_plan`` builds the commands once per attempt
(the xuc restart's ``XucRestart``, the wait's ``XucWaitPlan``), the step's record keeps
``plan.text`` and the executor runs those objects.

The outcome is the truth: ``finished`` only when every step succeeded and the site verdict
at the end is healthy for the new side; otherwise ``finished with problems``, each problem
naming its step and why (``core.wizard_run.find_problems``). A step that depends on a
skipped wait (``Step.depends_on``) waits for an acknowledgement. A step running when the
console quits or dies is recorded ``interrupted``; on resume the guards run again and every
check or wait done earlier is checked again against the live state.

Progress goes to ``on_event`` (a plain callable; the UI posts messages, the CLI and tests
collect them). No Textual here.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import fields, replace
from datetime import UTC, datetime
from pathlib import Path

from resil_tui.audit import AuditLog, local_user
from resil_tui.core.cluster import Severity, Topology, Verdict
from resil_tui.core.compose import parse_compose_ps
from resil_tui.core.edge_side import containers_behind
from resil_tui.core.ha_webui import WebUiCheck, site_sip_expiry
from resil_tui.core.incident import LOOKBACK_SECONDS, IncidentFigures, incident_figures
from resil_tui.core.journal_event import EventKind, JournalEvent
from resil_tui.core.records import record
from resil_tui.core.roles import reword
from resil_tui.core.runbook import (
    DEFAULT_OPTIONS,
    ActionName,
    ConditionKind,
    Direction,
    OnFail,
    Part,
    Runbook,
    RunbookOptions,
    Step,
    StepKind,
    build_runbook,
)
from resil_tui.core.site_facts import SiteFacts, site_facts
from resil_tui.core.telephony import PhoneMark, PhonePlacement, count_before_move
from resil_tui.core.wizard_report import render_report
from resil_tui.core.wizard_run import (
    FinalVerdict,
    RunStatus,
    StepRecord,
    StepState,
    WizardRun,
    find_problems,
    make_run_id,
    new_record,
    records_match,
)
from resil_tui.core.xuc_readiness import Anchor, XucReadiness
from resil_tui.inventory_model import Inventory, Node, Site
from resil_tui.journal import Journal
from resil_tui.ops.edge import (
    UP_TIMEOUT,
    ContainersPolled,
    ContainerWait,
    EdgeChange,
    EdgeEvent,
    EdgeSetupError,
    NodeState,
    StepFinished,
    StepStarted,
    apply_switches,
    load_previews,
    plan_notes,
)
from resil_tui.ops.node_reads import pair_addresses
from resil_tui.ops.session import journal_for
from resil_tui.ops.status import StatusCollector
from resil_tui.ops.status_events import SiteReport
from resil_tui.ops.wizard_probe import ConditionProber, Probe, describe_containers
from resil_tui.ops.wizard_store import RunStore, site_key
from resil_tui.ops.xuc_wait import (
    XucRestart,
    XucWaitPlan,
    plan_xuc_restart,
    plan_xuc_wait,
    take_mark,
    wait_for_xuc,
)
from resil_tui.remote import commands as cat
from resil_tui.remote.commands import Command, CommandError
from resil_tui.remote.errors import ErrorKind, RemoteError
from resil_tui.remote.lock import node_lock
from resil_tui.remote.pool import Pool, Result

log = logging.getLogger(__name__)

READ_ONLY_REFUSAL = "refused: READ-ONLY mode; nothing was sent (skip it with a reason, or abort)"


class WizardError(Exception):
    """An operation the run does not allow now (wrong step, busy, finished, bad word...)."""


@record
class EngineOptions:
    poll_interval: float = 2.0  # between two probes of a wait's condition
    tick: float = 1.0  # between two countdown events
    xuc_recheck: float = 5.0  # the xuc wait looks again this often while it follows the log
    edge_wait_timeout: float = 60.0  # containers up after the switch's `up -d`
    final_timeout: float = 60.0  # the end-of-run verdict poll


# --- events --------------------------------------------------------------------------------


@record
class StepBegan:
    step_id: str
    title: str
    command: str
    node: str | None  # NodeRef.describe() of the node, when the step has one
    attempt: int


@record
class StepOutput:
    step_id: str
    lines: tuple[str, ...]


@record
class WaitTick:
    step_id: str
    condition: str
    remaining: float
    timeout: float
    last: str  # what the last probe said


@record
class StepChanged:
    step_id: str
    state: StepState
    message: str


@record
class RunEnded:
    run_id: str
    status: RunStatus
    final: FinalVerdict | None
    report_path: Path


WizardEvent = StepBegan | StepOutput | WaitTick | StepChanged | RunEnded
EventSink = Callable[[WizardEvent], None]


def run_op(run_id: str) -> str:
    """The audit `op` of a run's record, the same whenever it is asked (a resumed run has
    no memory of it): links the journal's wizard entries to the audit log."""
    return "w" + hashlib.sha256(run_id.encode()).hexdigest()[:11]


def incident_of(run: WizardRun, journal: Journal, site: Site) -> IncidentFigures:
    """The journal's figures of the run's incident (core/incident.py)."""
    events = journal.events(site=run.site, since=run.started_at - LOOKBACK_SECONDS)
    return incident_figures(run, events, Topology.from_site(site))


def journal_run(journal: Journal, run: WizardRun, what: str, at: float, detail: str) -> None:
    journal.record(
        [
            JournalEvent(
                time=at,
                site=run.site,
                node=None,
                kind=EventKind.WIZARD,
                before=None,
                after=what,
                evidence=f"wizard {run.direction} run {run.run_id}: {detail}",
                user=run.user,
                op=run_op(run.run_id),
            )
        ]
    )


def runbook_options(values: dict[str, object]) -> RunbookOptions:
    known = {f.name for f in fields(RunbookOptions)}
    return RunbookOptions(**{k: v for k, v in values.items() if k in known})  # type: ignore[arg-type]


def _options_dict(options: RunbookOptions) -> dict[str, object]:
    return {f.name: getattr(options, f.name) for f in fields(RunbookOptions)}


def _lines(text: str) -> list[str]:
    return [line for line in text.replace("\r\n", "\n").split("\n") if line.strip()]


def _result_lines(result: Result) -> list[str]:
    return _lines(result.stdout) + _lines(result.stderr)


def _last_line(result: Result) -> str:
    lines = _result_lines(result)
    return lines[-1] if lines else ""


StepPlan = XucRestart | XucWaitPlan | Command | str


def step_plan(step: Step, inventory: Inventory) -> StepPlan:
    """What a step sends, built once: a command object (or, for what is not one command, the
    text of what runs). The step's record and the screen show its text; the engine sends it."""
    node = inventory.node(step.node_id) if step.node_id else None
    if step.command is not None:
        name, args = step.command.name, step.command.args
        if name is ActionName.XIVOCC_RESTART:
            assert node is not None
            return plan_xuc_restart(node, args.get("service", "xuc"))
        if name is ActionName.MANAGE_SERVICES:  # issue 16: manual resilience mode
            return cat.manage_slave_services(args.get("action", ""))
        if name is ActionName.EDGE_SWITCH:
            changes = "; ".join(str(c) for c in step.env_changes) or "the Edge variables"
            edges = inventory.site(node.site).edges if node is not None else ()
            if len(edges) > 1:  # a 3-server Edge: every node, one confirmation
                where = ", ".join(f"{e.paths.edge_env} on {e.id}" for e in edges)
                return (
                    f"on every Edge node ({where}): back up the .env and replace it "
                    f"atomically ({changes}), then {cat.edge_up().line} on each"
                )
            return (
                f"back up {args.get('env_path', '.env')} and replace it atomically "
                f"({changes}), then {cat.edge_up().line}"
            )
        return cat.edge_up()
    cond = step.condition
    if cond is not None and cond.kind is ConditionKind.XUC_READY:
        assert node is not None
        return plan_xuc_wait(node)
    if step.kind is StepKind.MANUAL:
        return ""
    return step.shell or str(cond)


def plan_text(plan: StepPlan) -> str:
    if isinstance(plan, str):
        return plan
    if isinstance(plan, Command):
        return plan.line
    return plan.text


class WizardEngine:
    def __init__(
        self,
        pool: Pool,
        inventory: Inventory,
        site: Site,
        runbook: Runbook,
        *,
        on_event: EventSink | None = None,
        run: WizardRun | None = None,
        store: RunStore | None = None,
        options: EngineOptions | None = None,
        clock: Callable[[], float] = time.time,
        collector: StatusCollector | None = None,
        journal: Journal | None = None,
    ) -> None:
        self.pool = pool
        self.inventory = inventory
        self.site = site
        self.runbook = runbook
        self.on_event = on_event
        self.store = store or RunStore()
        self.options = options or EngineOptions()
        self.clock = clock
        self.read_only = bool(pool.read_only or inventory.read_only)
        # The console's collector: the wizard's checks then update every pane too.
        self.collector = collector or StatusCollector(inventory, pool)
        self.prober = ConditionProber(self.collector, inventory, site)
        self.busy: str | None = None  # the step running now
        self._task: asyncio.Task[object] | None = None  # the step's task, to interrupt it
        # A resumed run checks again, once its guards pass, what earlier steps found true.
        self.recheck_pending = False
        # Nodes whose stale lock the admin chose to break, for the next attempt of a step
        # (`retry_breaking_stale_lock`): used once, then forgotten.
        self._break_once: dict[str, frozenset[str]] = {}
        # The Edge files whose diff the admin confirmed (confirm_edge_diff), by node id:
        # the Edge switch writes only a file that is still the one shown.
        self._edge_shown: dict[str, str | None] | None = None
        # The incident journal: the run's start and end go in, its figures come out.
        self.journal = journal or journal_for(inventory)
        resumed = run is not None
        if run is None:
            run = self._new_run()
        elif not records_match(run, runbook):
            raise WizardError(
                f"run {run.run_id} does not match the {runbook.direction.value} runbook of "
                f"site {site.name} any more (the inventory changed): it cannot be resumed"
            )
        self.run = run
        self.prober.phones_before = run.phones_before
        self.save()
        if resumed:
            journal_run(self.journal, run, "resumed", self.clock(), f"resumed by {local_user()}")
        else:
            journal_run(self.journal, run, "started", run.started_at, f"started by {run.user}")

    # --- construction ------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        pool: Pool,
        inventory: Inventory,
        site: str | None,
        direction: Direction | str,
        *,
        only: frozenset[Part] | None = None,
        runbook_opts: RunbookOptions = DEFAULT_OPTIONS,
        **kwargs: object,
    ) -> WizardEngine:
        chosen = inventory.site(site)
        runbook = build_runbook(chosen, Direction(direction), only, runbook_opts)
        return cls(pool, inventory, chosen, runbook, **kwargs)  # type: ignore[arg-type]

    @classmethod
    def resume(
        cls, pool: Pool, inventory: Inventory, run: WizardRun, **kwargs: object
    ) -> WizardEngine:
        """Take a saved run up again: what was running when the console died is marked
        failed (it may or may not have happened: the admin decides), and the guards are
        set back to pending so that they are checked again before anything else."""
        if run.finished:
            raise WizardError(f"run {run.run_id} is {run.status.value}: nothing to resume")
        if run.site not in inventory.sites:
            raise WizardError(f"run {run.run_id} is for site {run.site}, not in the inventory")
        site = inventory.sites[run.site]
        if run.site_key != site_key(site):
            raise WizardError(
                f"site {run.site} has other nodes than when run {run.run_id} "
                "started: it cannot be resumed"
            )
        only = frozenset(Part(p) for p in run.only) if run.only is not None else None
        runbook = build_runbook(site, Direction(run.direction), only, runbook_options(run.options))
        now = time.time()
        for rec in run.steps:
            if rec.state is StepState.RUNNING:
                rec.state = StepState.INTERRUPTED
                rec.message = (
                    "interrupted: the console or the SSH link went away while it "
                    "ran; check the node, then retry or skip it"
                )
                stamp = datetime.fromtimestamp(now, UTC).strftime("%H:%M:%S UTC")
                rec.add_output([f"--- interrupted (resumed {stamp}) ---"])
            if rec.guard and rec.state is not StepState.PENDING:
                rec.add_output(
                    [f"--- was {rec.state.value}: {rec.message}; checked again on resume ---"]
                )
                rec.state, rec.confirmed, rec.warning = StepState.PENDING, False, None
                rec.message = "checked again on resume"
        run.resumed_at.append(now)
        engine = cls(pool, inventory, site, runbook, run=run, **kwargs)  # type: ignore[arg-type]
        engine.recheck_pending = True
        return engine

    def _new_run(self) -> WizardRun:
        now = self.clock()
        stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ")
        rb = self.runbook
        run = WizardRun(
            run_id=make_run_id(rb.site, rb.direction.value, stamp, secrets.token_hex(2)),
            site=rb.site,
            direction=rb.direction.value,
            user=local_user(),
            started_at=now,
            site_key=site_key(self.site),
            only=sorted(p.value for p in rb.selected) if rb.selected != frozenset(Part) else None,
            options=_options_dict(rb.options),
            read_only=self.read_only,
            inventory_path=str(self.inventory.path) if self.inventory.path else None,
            notes=list(rb.notes),
            resilience=self.site.resilience.value,
        )
        run.steps = [new_record(s, "") for s in rb.steps]
        for rec, step in zip(run.steps, rb.steps, strict=True):
            rec.command = self.command_text(step, run)
        return run

    # --- queries -----------------------------------------------------------------------

    @property
    def run_id(self) -> str:
        return self.run.run_id

    def step(self, step_id: str) -> Step:
        return self.runbook.step(step_id)

    def record(self, step_id: str) -> StepRecord:
        return self.run.record(step_id)

    @property
    def current(self) -> Step | None:
        rec = self.run.current()
        return self.step(rec.step_id) if rec is not None else None

    def node(self, step: Step) -> Node | None:
        return self.inventory.node(step.node_id) if step.node_id else None

    def refused(self, step: Step) -> bool:
        """Read-only mode refuses this step (actions only)."""
        return self.read_only and step.kind is StepKind.ACTION

    def command_text(self, step: Step, run: WizardRun | None = None) -> str:
        """The exact command (or what is checked) shown before the step runs: the text of
        the very plan the step sends (`step_plan`)."""
        return plan_text(step_plan(step, self.inventory))

    def unacknowledged(self, step: Step) -> list[str]:
        """Why this step needs an acknowledgement first: the waits it depends on that were
        skipped (with their reasons); [] when none, or when already acknowledged."""
        rec = self.run.record(step.id)
        if rec.flags.get("acknowledged"):
            return []
        out: list[str] = []
        for dep in step.depends_on:
            other = self.run.record(dep)
            if other.state is StepState.SKIPPED:
                out.append(f"'{other.title}' was skipped ({other.skip_reason or 'no reason'})")
        return out

    def facts(self, report: SiteReport) -> SiteFacts:
        return site_facts(self.site, report.verdicts, report.snapshot.nodes, self.clock())

    # --- events and saving -------------------------------------------------------------

    def emit(self, event: WizardEvent) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(event)
        except Exception:  # a UI bug must not break a half-done step
            log.exception("wizard event callback failed on %r", event)

    def save(self) -> None:
        self.run.updated_at = self.clock()
        self.store.save(self.run)

    def _output(self, rec: StepRecord, lines: list[str] | tuple[str, ...]) -> None:
        if not lines:
            return
        rec.add_output(list(lines))
        self.emit(StepOutput(rec.step_id, tuple(lines)))

    def _changed(self, rec: StepRecord) -> None:
        self.save()
        self.emit(StepChanged(rec.step_id, rec.state, rec.message))

    def _require_open(self) -> None:
        if self.run.finished:
            raise WizardError(f"the run is {self.run.status.value}")
        if self.busy is not None:
            raise WizardError(f"step {self.busy} is running; wait for it (or cancel it)")

    def _require_current(self, step_id: str) -> tuple[Step, StepRecord]:
        self._require_open()
        step = self.step(step_id)
        current = self.run.current()
        if current is None or current.step_id != step_id:
            now = f"the current step is {current.step_id}" if current else "every step is done"
            raise WizardError(f"{step_id} is not the current step ({now}); steps run in order")
        return step, self.run.record(step_id)

    # --- the admin's commands ----------------------------------------------------------

    async def run_step(self, step_id: str) -> StepRecord:
        """Run the current step. Manual steps wait for `mark_done`; in read-only mode an
        action is refused (nothing sent) and stays where it is; a step that depends on a
        skipped wait waits for `acknowledge` first."""
        step, rec = self._require_current(step_id)
        if rec.state is StepState.AWAITING_CONFIRM:
            raise WizardError(
                f"{step_id} waits for the typed confirmation "
                f"({step.confirm_word}), a retry, or an abort"
            )
        if self._needs_ack(step, rec):
            return rec
        if step.kind is StepKind.MANUAL:
            if rec.state is not StepState.AWAITING_DONE:
                rec.state, rec.started_at = StepState.AWAITING_DONE, self.clock()
                rec.message = "a person does this: say done when it is done"
                self._changed(rec)
            return rec
        plan = step_plan(step, self.inventory)
        if self.refused(step):
            rec.message = READ_ONLY_REFUSAL
            self._output(rec, [f"{READ_ONLY_REFUSAL}: {plan_text(plan)}"])
            self._changed(rec)
            return rec
        rec.command = plan_text(plan)
        rec.state = StepState.RUNNING
        rec.attempts += 1
        rec.started_at = self.clock()
        rec.finished_at = rec.duration = None
        rec.message, rec.warning = "", None
        if rec.attempts > 1:
            self._output(rec, [f"--- attempt {rec.attempts} ---"])
        self.busy = step_id
        self._task = asyncio.current_task()
        self.save()
        self.emit(
            StepBegan(step_id, step.title, rec.command, self.runbook.nodes_text(step), rec.attempts)
        )
        started = time.monotonic()
        try:
            if step.kind is StepKind.CHECK:
                await self._check(step, rec)
            elif step.kind is StepKind.WAIT:
                await self._wait(step, rec, plan)
            else:
                await self._action(step, rec, plan)
        except asyncio.CancelledError:
            rec.state = StepState.INTERRUPTED
            rec.message = (
                "interrupted while it ran (the console quit, or the step was cancelled); "
                "check the node, then retry, skip or abort"
            )
            raise
        except (RemoteError, EdgeSetupError, CommandError, KeyError, ValueError) as exc:
            message = exc.message if isinstance(exc, RemoteError) else str(exc).strip("'\"")
            self._fail(rec, message)
        finally:
            self._step_over(rec, started)
        await self._maybe_finish()
        return rec

    def _step_over(self, rec: StepRecord, started: float) -> None:
        """A step (or a guard's wait) has ended, however it ended: timed, not busy."""
        rec.finished_at = self.clock()
        rec.duration = time.monotonic() - started
        self.busy = None
        self._task = None
        self._changed(rec)

    def _needs_ack(self, step: Step, rec: StepRecord) -> bool:
        reasons = self.unacknowledged(step)
        if not reasons:
            return False
        if rec.state is not StepState.AWAITING_ACK:
            rec.state = StepState.AWAITING_ACK
            rec.message = (
                "it depends on " + "; ".join(reasons) + ": acknowledge to go on, or skip it"
            )
            self._output(rec, [f"waits for an acknowledgement: {rec.message}"])
            self._changed(rec)
        return True

    async def acknowledge(self, step_id: str) -> StepRecord:
        """Go on with a step although a wait it depends on was skipped (recorded)."""
        step, rec = self._require_current(step_id)
        reasons = self.unacknowledged(step)
        if not reasons:
            raise WizardError(f"{step.title} does not wait for an acknowledgement")
        rec.flags["acknowledged"] = "; ".join(reasons) + f" (acknowledged by {self.run.user})"
        rec.state = StepState.PENDING
        rec.message = f"acknowledged by {self.run.user}: " + "; ".join(reasons)
        self._output(rec, [rec.message])
        self._changed(rec)
        return rec

    async def interrupt(self) -> None:
        """Stop the running step now (the console quits): it is recorded `interrupted`."""
        task = self._task
        if task is None or task.done():
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait({task}, timeout=5.0)

    def confirm_edge_diff(self, shown: Mapping[str, str | None]) -> None:
        """What the confirmation of the Edge switch showed: by Edge node id, the digest of
        the `.env` its diff was made from (`EdgePreview.shown_sha256`; None: not read, no
        diff shown). From then on the step writes a node's file only while it is still
        that one: a file changed since, or never shown, is refused with nothing written,
        and a new confirmation (its diff as the file is now) replaces this one."""
        self._edge_shown = dict(shown)

    async def retry(self, step_id: str) -> StepRecord:
        """Run a failed (or refused, or unconfirmed) current step again."""
        step, rec = self._require_current(step_id)
        if rec.state is StepState.AWAITING_CONFIRM:
            rec.state = StepState.PENDING  # re-check: the master may have stopped meanwhile
        return await self.run_step(step.id)

    def stale_locks(self, step_id: str) -> tuple[str, ...]:
        """The nodes whose stale lock refused this step's last attempt (empty: none)."""
        found = self.record(step_id).flags.get("stale_lock", "")
        return tuple(n for n in found.split(",") if n)

    async def retry_breaking_stale_lock(self, step_id: str, typed_node: str) -> StepRecord:
        """Run the step again, breaking the stale lock of the node the admin typed (its id
        exactly). The lock layer audits the break, naming whose lock it was; the step's
        output says who broke it."""
        step, rec = self._require_current(step_id)
        stale = self.stale_locks(step.id)
        node_id = typed_node.strip()
        if node_id not in stale:
            raise WizardError(
                f"{step.title}: type the id of the node whose stale lock to break exactly "
                f"({', '.join(stale) or 'no stale lock refused this step'})"
            )
        self._break_once[step.id] = frozenset({node_id})
        self._output(
            rec, [f"{self.run.user} typed {node_id}: its stale lock is broken and the step retried"]
        )
        return await self.retry(step.id)

    def _break_stale(self, step: Step) -> frozenset[str]:
        return self._break_once.pop(step.id, frozenset())

    def _lock_refusal(self, rec: StepRecord, stale: tuple[str, ...]) -> None:
        """Remember which nodes' stale lock refused the step (the console offers to break
        it); a later attempt that was not refused so forgets it."""
        if stale:
            rec.flags["stale_lock"] = ",".join(stale)
        else:
            rec.flags.pop("stale_lock", None)

    async def skip(self, step_id: str, reason: str) -> StepRecord:
        step, rec = self._require_current(step_id)
        why = " ".join(reason.split())
        if not why:
            raise WizardError("say why the step is skipped: the reason goes into the record")
        if step.guard:
            raise WizardError(
                f"{step.title}: a safety check cannot be skipped"
                + (f"; type {step.confirm_word} to go on anyway" if step.confirm_word else "")
                + ", retry it, or abort the run"
            )
        rec.state, rec.skip_reason = StepState.SKIPPED, why
        rec.finished_at = self.clock()
        rec.message = f"skipped by {self.run.user}: {why}"
        self._changed(rec)
        await self._maybe_finish()
        return rec

    async def mark_done(self, step_id: str) -> StepRecord:
        step, rec = self._require_current(step_id)
        if step.kind is not StepKind.MANUAL:
            raise WizardError(f"{step.title}: only a manual step is marked done by hand")
        if self._needs_ack(step, rec):
            raise WizardError(f"{step.title}: {rec.message}")
        now = self.clock()
        rec.started_at = rec.started_at or now
        rec.finished_at = now
        rec.duration = now - rec.started_at
        rec.attempts = max(rec.attempts, 1)
        rec.state, rec.message = StepState.DONE, f"done, said {self.run.user}"
        self._changed(rec)
        await self._maybe_finish()
        return rec

    async def confirm_guard(self, step_id: str, typed_word: str) -> StepRecord:
        step, rec = self._require_current(step_id)
        if rec.state is not StepState.AWAITING_CONFIRM or step.confirm_word is None:
            raise WizardError(f"{step.title} does not wait for a confirmation")
        if typed_word.strip() != step.confirm_word:
            raise WizardError(f"the typed word does not match: type {step.confirm_word} exactly")
        rec.state, rec.confirmed = StepState.DONE, True
        rec.warning = rec.message
        rec.message = f"{rec.message}; {self.run.user} typed {step.confirm_word} to go on anyway"
        self._changed(rec)
        await self._maybe_finish()
        return rec

    async def run_guards(self) -> bool:
        """Run the pending safety checks in order; True when every guard passed (the run
        stands at the first step after them). The first call notes the live facts; on a
        resumed run, what earlier steps found true is then checked again."""
        if self.run.facts_start is None:
            with contextlib.suppress(TimeoutError, RemoteError):
                report = await asyncio.wait_for(
                    self.prober.site_report(), self.options.final_timeout
                )
                self.run.facts_start = self.facts(report)
                self._note_phones_before(report)
                self.save()
        for step in self.runbook.guards:
            rec = self.record(step.id)
            if rec.state.settled:
                continue
            if rec.state is StepState.PENDING:
                rec = await self.run_step(step.id)
            if not rec.state.settled:
                return False
        if self.recheck_pending:
            self.recheck_pending = False
            await self.recheck()
        return True

    async def recheck(self) -> list[str]:
        """Check again every check or wait done earlier (before the current step): a
        condition that no longer holds sets its step back to pending, so it is the current
        step again. Returns the ids set back."""
        back: list[str] = []
        for step in self.runbook.steps:
            rec = self.record(step.id)
            if not rec.state.settled:
                break
            if step.guard or step.condition is None or rec.state is not StepState.DONE:
                continue
            if step.condition.kind is ConditionKind.CLUSTER_VERDICT:
                continue
            try:
                holds, detail = await self._holds_now(step)
            except (RemoteError, TimeoutError, ValueError) as exc:
                holds, detail = False, str(exc) or "no answer in time"
            stamp = datetime.fromtimestamp(self.clock(), UTC).strftime("%H:%M:%S UTC")
            if holds:
                self._output(rec, [f"--- checked again on resume ({stamp}): still true: {detail}"])
                self.save()
                continue
            self._output(rec, [f"--- checked again on resume ({stamp}): no longer true: {detail}"])
            rec.state, rec.warning = StepState.PENDING, None
            rec.message = f"was done; checked again on resume: no longer true: {detail}"
            back.append(step.id)
            self._changed(rec)
        return back

    async def _holds_now(self, step: Step) -> tuple[bool, str]:
        assert step.condition is not None
        if step.condition.kind is ConditionKind.XUC_READY:
            assert step.node_id is not None
            snap = await asyncio.wait_for(
                self.prober.snapshot(step.node_id), self.options.final_timeout
            )
            xuc = snap.cc.xuc if snap.cc is not None else None
            if not snap.reachability.ok:
                return False, f"{snap.node_id}: unreachable ({snap.reachability.state.value})"
            if xuc is None:
                return False, f"{snap.node_id}: xuc readiness not read"
            return xuc.ready, f"{snap.node_id}: xuc {xuc.describe(self.clock())}"
        probe = await asyncio.wait_for(
            self.prober.probe(step.condition), self.options.final_timeout
        )
        return probe.holds, probe.detail

    async def abort(self, reason: str) -> Path:
        if self.run.finished:
            raise WizardError(f"the run is already {self.run.status.value}")
        if self.busy is not None:
            raise WizardError(f"step {self.busy} is running: cancel it first")
        why = " ".join(reason.split()) or "no reason given"
        return await self._end(RunStatus.ABORTED, why)

    # --- ending ------------------------------------------------------------------------

    async def _maybe_finish(self) -> None:
        if not self.run.finished and self.run.current() is None:
            await self._end(RunStatus.FINISHED, None)

    def _web_ui_checks(self) -> list[WebUiCheck]:
        """Issue 16: the XiVO pair's SIP expiry and backup registrar as last polled."""
        ha_on = site_sip_expiry(self.site)
        checks = []
        for node in (self.site.xivo_master, self.site.xivo_slave):
            snap = self.collector.last(node.id)
            if snap is not None and snap.xivo is not None and snap.reachability.ok:
                check = snap.xivo.web_ui_check(node.id, ha_on)
                checks.append(replace(check, read_at=snap.last_success_at))
        return checks

    async def _end(self, status: RunStatus, reason: str | None) -> Path:
        report = await self._final_report()
        self.run.final = self._final_verdict(report)
        if isinstance(report, SiteReport):
            self.run.facts_end = self.facts(report)
            if self.run.phones_after is None:
                side = self.runbook.direction.target
                count = report.verdicts.phones.on(side.value)
                if count is not None:
                    self.run.phones_after = PhoneMark(
                        side.value, count, self.clock(), self.site.xivo(side).id
                    )
        self.run.status, self.run.abort_reason = status, reason
        self.run.finished_at = self.clock()
        self.run.problems = find_problems(self.run)
        if status is RunStatus.FINISHED and self.run.problems:
            self.run.status = RunStatus.FINISHED_WITH_PROBLEMS
        path = self.store.report_path(self.run.run_id)
        self.run.report_path = str(path)
        incident = incident_of(self.run, self.journal, self.site)
        report = render_report(self.run, self._web_ui_checks(), incident=incident)
        self.store.write_report(self.run, report)
        self.save()
        final = self.run.final
        verdict = (
            f"verdict {final.verdict} ({final.severity})"
            if final and not final.error
            else "verdict not checked"
        )
        problems = f"; {len(self.run.problems)} problem(s)" if self.run.problems else ""
        self.pool.audit.record(
            site=self.run.site,
            node="-",
            kind="wizard_report",
            command=f"report {path}",
            exit_status=None,
            duration=self.run.finished_at - self.run.started_at,
            step=f"wizard {self.run.direction} run {self.run.run_id}",
            result=f"{self.run.outcome}; {verdict}{problems}",
            op=run_op(self.run.run_id),
        )
        journal_run(
            self.journal,
            self.run,
            self.run.status.value,
            self.run.finished_at,
            f"{verdict}; {path}",
        )
        self.emit(RunEnded(self.run.run_id, self.run.status, final, path))
        return path

    async def _final_report(self) -> SiteReport | str:
        try:
            return await asyncio.wait_for(self.prober.site_report(), self.options.final_timeout)
        except (TimeoutError, RemoteError) as exc:
            return str(exc) or "no answer in time"

    def _final_verdict(self, report: SiteReport | str) -> FinalVerdict:
        expected = (
            Verdict.FAILED_OVER if self.runbook.direction is Direction.FAILOVER else Verdict.NORMAL
        )
        if isinstance(report, str):
            return FinalVerdict("", "", "", error=report, expected=expected.value)
        v = report.verdicts
        side = self.runbook.direction.target
        cc = self.site.cc(side)
        new_side = {self.site.xivo(side).id, *(n.id for n in (cc,) if n)}
        new_side |= {n.id for n in self.site.edges}
        return FinalVerdict(
            verdict=v.primary.code.value,
            severity=v.severity.value,
            title=v.primary.title,
            findings=[f"{f.severity.value}: {f.title}" for f in v.findings[1:]],
            expected=expected.value,
            new_side=[
                f"{f.severity.value}: {f.title}"
                for f in v.findings[1:]
                if f.severity.rank >= Severity.WARNING.rank and new_side & set(f.nodes)
            ],
        )

    # --- step kinds --------------------------------------------------------------------

    def _fail(self, rec: StepRecord, message: str) -> None:
        rec.state, rec.message = StepState.FAILED, message

    def _done(self, rec: StepRecord, message: str) -> None:
        rec.state, rec.message = StepState.DONE, message

    async def _check(self, step: Step, rec: StepRecord) -> None:
        assert step.condition is not None
        probe = await self.prober.probe(step.condition)
        self._output(rec, probe.lines)
        if probe.holds:
            self._done(rec, probe.detail)
        elif step.on_fail is OnFail.WARN:
            self._done(rec, f"{probe.detail} (noted; the run goes on)")
            rec.warning = probe.detail
        elif step.on_fail is OnFail.CONFIRM:
            rec.state = StepState.AWAITING_CONFIRM
            rec.message = probe.detail
            wait = (
                f", wait (up to {step.wait_seconds:g}s) for it to hold"
                if step.wait_seconds is not None
                else ""
            )
            self._output(rec, [f"type {step.confirm_word} to go on anyway{wait}, retry, or abort"])
        else:
            self._fail(rec, probe.detail)

    @contextlib.contextmanager
    def _countdown(self, step: Step, timeout: float, last: list[str]) -> Iterator[None]:
        """WaitTick events every `tick` seconds while a wait runs in the same task."""
        deadline = time.monotonic() + timeout
        condition = str(step.condition)

        async def tick() -> None:
            while True:
                remaining = max(0.0, deadline - time.monotonic())
                self.emit(WaitTick(step.id, condition, remaining, timeout, last[-1]))
                await asyncio.sleep(self.options.tick)

        task = asyncio.create_task(tick(), name=f"wizard countdown {step.id}")
        try:
            yield
        finally:
            task.cancel()

    async def _wait(self, step: Step, rec: StepRecord, plan: StepPlan) -> None:
        assert step.condition is not None and step.timeout_seconds is not None
        timeout = step.timeout_seconds
        if isinstance(plan, XucWaitPlan):
            await self._wait_xuc(step, rec, timeout, plan)
            return
        phones = step.condition.kind is ConditionKind.PHONES_REGISTERED
        if phones and self.run.phones_before is None:
            self._note_phones_before(None)
        if phones and self.run.phones_before is not None:
            before = self.run.phones_before
            self._output(rec, [f"before the move: {before.describe(_utc(before.at))}"])
        probe, detail = await self._poll_until(step, rec, timeout)
        if probe is not None and probe.holds:
            if phones and probe.count is not None and step.node_id is not None:
                self._note_phones_after(step.node_id, probe.count)
            self._done(rec, detail)
        elif probe is not None and probe.hopeless:
            self._fail(rec, f"cannot be checked: {detail}")
        else:
            self._fail(rec, f"still not true after {timeout:g}s: {detail}")

    async def _poll_until(
        self, step: Step, rec: StepRecord, timeout: float
    ) -> tuple[Probe | None, str]:
        """Probe the step's condition every `poll_interval` until it holds or `timeout`
        passes (a countdown meanwhile); the last probe (None: none answered) and what it
        said."""
        assert step.condition is not None
        last = ["first check…"]
        deadline = time.monotonic() + timeout
        started = time.monotonic()
        with self._countdown(step, timeout, last):
            while True:
                remaining = deadline - time.monotonic()
                probe: Probe | None
                try:
                    probe = await asyncio.wait_for(
                        self.prober.probe(step.condition),
                        max(remaining, self.options.poll_interval) + 1.0,
                    )
                except TimeoutError:
                    probe, detail = None, "no complete answer in time"
                    lines: tuple[str, ...] = ()
                else:
                    detail, lines = probe.detail, probe.lines
                if detail != last[-1]:
                    stamp = f"[+{time.monotonic() - started:.0f}s]"
                    self._output(rec, [f"{stamp} {detail}", *lines])
                    last.append(detail)
                if probe is not None and (probe.holds or probe.hopeless):
                    return probe, detail  # hopeless: waiting would only delay the admin
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return probe, detail
                await asyncio.sleep(min(self.options.poll_interval, remaining))

    # --- phones before and after the move ------------------------------------------------

    def _note_phones_before(self, report: SiteReport | None) -> None:
        """The count the phones wait compares with: from what the collector's polls saw
        of the phones (before the move, or now on the side left), else the inventory's
        `phones.expected`. Kept in the run (it survives a resume)."""
        if self.run.phones_before is not None:
            return
        d = self.runbook.direction
        placement = report.verdicts.phones if report is not None else PhonePlacement(None, None)
        mark = count_before_move(
            self.collector.phone_history(self.site.name),
            placement,
            d.source.value,
            d.target.value,
            self.clock(),
            self.site.phones.expected,
        )
        if mark is not None:
            source = self.site.xivo(d.source)
            self.run.phones_before = replace(mark, node=source.id)
            self.prober.phones_before = self.run.phones_before
            self.save()

    def _note_phones_after(self, node_id: str, count: int) -> None:
        side = self.runbook.direction.target.value
        self.run.phones_after = PhoneMark(side, count, self.clock(), node_id)
        self.save()

    async def wait_guard(self, step_id: str) -> StepRecord:
        """A guard that waits for its typed word may instead wait (up to its
        `wait_seconds`, with a countdown) for its condition: calls that end. It is done
        when the condition holds; otherwise it waits for the word again."""
        step, rec = self._require_current(step_id)
        if rec.state is not StepState.AWAITING_CONFIRM or step.wait_seconds is None:
            raise WizardError(f"{step.title} does not wait for its condition")
        timeout = step.wait_seconds
        rec.state = StepState.RUNNING
        rec.started_at = self.clock()
        self.busy = step_id
        self._task = asyncio.current_task()
        self._output(rec, [f"--- waiting up to {timeout:g}s for it to hold ---"])
        self.save()
        self.emit(
            StepBegan(step_id, step.title, rec.command, self.runbook.nodes_text(step), rec.attempts)
        )
        started = time.monotonic()
        try:
            probe, detail = await self._poll_until(step, rec, timeout)
            if probe is not None and probe.holds:
                self._done(rec, f"{detail} (after waiting {time.monotonic() - started:.0f}s)")
            else:
                rec.state = StepState.AWAITING_CONFIRM
                rec.message = f"still after {timeout:g}s: {detail}"
                self._output(
                    rec, [f"type {step.confirm_word} to go on anyway, wait again, or abort"]
                )
        except asyncio.CancelledError:
            rec.state = StepState.AWAITING_CONFIRM
            rec.message = "the wait was cancelled: type the word, wait again, or abort"
            raise
        except (RemoteError, ValueError) as exc:
            rec.state = StepState.AWAITING_CONFIRM
            rec.message = exc.message if isinstance(exc, RemoteError) else str(exc)
        finally:
            self._step_over(rec, started)
        await self._maybe_finish()
        return rec

    def restart_mark(self) -> Anchor | None:
        """The run and log end noted before this run's xuc restart, when it was done."""
        try:
            rec = self.run.record("cc.restart_xuc")
        except KeyError:
            return None
        raw = rec.flags.get("xuc_mark")
        if rec.state is not StepState.DONE or not raw:
            return None
        try:
            return Anchor.from_dict(json.loads(raw))
        except (ValueError, TypeError, KeyError):
            return None

    async def _wait_xuc(
        self, step: Step, rec: StepRecord, timeout: float, plan: XucWaitPlan
    ) -> None:
        mark = self.restart_mark()
        if mark is not None:
            noted = "the run noted before the restart" + (
                f" (started {_utc(mark.run.started_at)})"
                if mark.run is not None and mark.run.started_at is not None
                else ""
            )
            self._output(rec, [f"counting only the new run's readiness: not {noted}"])
        last = ["first look…"]
        looks: list[str] = []

        def on_line(line: str) -> None:
            self._output(rec, [line])

        def on_look(readiness: XucReadiness) -> None:
            text = f"{readiness.describe(self.clock())}: {readiness.basis}"
            if not looks or looks[-1] != text:
                looks.append(text)
                self._output(rec, [f"look: {text}"])
            last.append(text)

        with self._countdown(step, timeout, last):
            result = await wait_for_xuc(
                self.pool,
                plan,
                timeout=timeout,
                anchor=mark,
                on_line=on_line,
                on_look=on_look,
                recheck=self.options.xuc_recheck,
            )
        if result.ready:
            self._done(rec, result.summary(self.clock()))
        else:
            self._fail(rec, result.summary(self.clock()))

    # --- actions -----------------------------------------------------------------------

    def _audit_step(self, step: Step) -> str:
        return f"wizard {self.run.direction} {step.id} (run {self.run.run_id})"

    async def _action(self, step: Step, rec: StepRecord, plan: StepPlan) -> None:
        assert step.command is not None
        name = step.command.name
        node = self.node(step)
        assert node is not None
        if isinstance(plan, XucRestart):
            result = await self._run_locked(node, plan.command, step, rec, "xuc restart", plan)
            if result is None:
                return
            self._output(rec, _result_lines(result))
            if result.ok:
                self._done(rec, f"{plan.command.line}: ok on {node.id}")
            else:
                summary = f"{plan.command.line}: {result.summary()} {_last_line(result)}"
                self._fail(rec, summary.strip())
        elif name is ActionName.MANAGE_SERVICES:  # issue 16: manual resilience mode
            assert isinstance(plan, Command)
            result = await self._run_locked(node, plan, step, rec, plan.line)
            if result is None:
                return
            self._output(rec, _result_lines(result))
            if result.ok:
                self._done(rec, f"{plan.line}: ok on {node.id}")
            else:
                self._fail(rec, f"{plan.line}: {result.summary()} {_last_line(result)}".strip())
        elif name is ActionName.EDGE_SWITCH:
            await self._edge_switch(step, rec)
        else:
            assert isinstance(plan, Command)
            await self._edge_up(step, rec, node, plan)

    async def _run_locked(
        self,
        node: Node,
        command: Command,
        step: Step,
        rec: StepRecord,
        action: str,
        restart: XucRestart | None = None,
    ) -> Result | None:
        """Run a changing command under the node's lock; None (the step failed, nothing
        sent) when the lock cannot be taken: another console is changing that node. A xuc
        restart first notes the current run and the log's end (read-only), so that the
        wait after it counts only the new run's readiness line."""
        entered = False
        force = node.id in self._break_stale(step)
        try:
            async with node_lock(
                self.pool, node, f"wizard {action}", force=force, step=self._audit_step(step)
            ):
                entered = True
                self._lock_refusal(rec, ())
                if restart is not None:
                    mark = await take_mark(self.pool, restart, self.clock())
                    if mark is None:
                        # Nor an earlier try's mark: this restart's lines follow it too.
                        rec.flags.pop("xuc_mark", None)
                        noted = (
                            "the xuc log could not be read before the restart: only the "
                            "log's times can place the new run's readiness line"
                        )
                    else:
                        rec.flags["xuc_mark"] = json.dumps(mark.to_dict())
                        start = mark.run.started_at if mark.run is not None else None
                        end = mark.lines[-1] if mark.lines else "(empty log)"
                        noted = f"current run: started {_utc(start)}; the log ends with: {end}"
                    self._output(rec, [noted])
                    rec.flags["restart_at"] = repr(self.clock())
                    self.save()
                return await self.pool.run(
                    node,
                    command,
                    step=self._audit_step(step),
                    timeout=max(UP_TIMEOUT, node.ssh.command_timeout)
                    if command.name == "edge_up"
                    else None,
                )
        except RemoteError as err:
            if entered:
                raise
            self._lock_refusal(rec, (node.id,) if err.kind is ErrorKind.STALE_LOCK else ())
            self._fail(rec, f"{command.line} not run: {err.message}")
            return None

    async def _edge_switch(self, step: Step, rec: StepRecord) -> None:
        """Every Edge node of the site, with the one confirmation the step had: all read
        first (one unreadable: nothing written), then `ops.edge.apply_switches`."""
        direction = self.runbook.direction.edge_direction
        previews = await load_previews(self.pool, self.site)
        several = len(previews) > 1
        shown = self._edge_shown or {}
        moved = [
            p
            for p in previews
            if self._edge_shown is not None and shown.get(p.node.id) != p.shown_sha256
        ]
        if moved:
            self._fail(
                rec,
                "; ".join(
                    f"{p.node.id if several else p.path}: "
                    + (
                        "not read when you confirmed (no diff was shown)"
                        if shown.get(p.node.id) is None
                        else "changed since the diff you confirmed"
                    )
                    for p in moved
                )
                + ": nothing written; run the step again to see the diff as it is now",
            )
            # Read again now, so that the next confirmation shows the file as it is.
            with contextlib.suppress(RemoteError, TimeoutError):
                await self.collector.poll_nodes(self.site, [p.node.id for p in moved])
            return
        changes = [EdgeChange.of(p, direction) for p in previews]
        for change in changes:
            at = f"{change.node.id}: " if several else ""
            self._output(rec, [f"note: {at}{n}" for n in plan_notes(change.plan)])
        target = self.runbook.direction.target.value
        broken = [c for c in changes if c.plan.errors]
        if broken:
            self._fail(
                rec,
                "cannot switch: "
                + "; ".join(
                    (f"{c.node.id}: " if several else "") + e.message
                    for c in broken
                    for e in c.plan.errors
                ),
            )
            return
        if all(c.plan.nothing_to_do for c in changes):
            paths = ", ".join(p.path for p in previews)
            on = f" on {', '.join(p.node.id for p in previews)}" if several else ""
            self._done(rec, f"{paths}{on} already point(s) to the {target}: nothing written")
            for preview in previews:
                left, why = await self._left_to_apply(preview.node, preview.path)
                self._output(
                    rec,
                    [
                        f"{preview.node.id if several else 'edge-dcomp'}"
                        f"{' edge-dcomp' if several else ''} up -d: {why}"
                    ],
                )
                if left is False:
                    self._settle_edge_up(f"nothing left to apply: {why}", preview.node.id)
            return
        for change in changes:
            at = f"{change.node.id} " if several else ""
            self._output(
                rec,
                [
                    f"{at}{e.name}: {e.old_value} -> {e.new_value}"
                    for e in change.plan.entries
                    if e.changed
                ],
            )

        def on_edge(event: EdgeEvent) -> None:
            at = f"{event.node_id} " if several else ""
            if isinstance(event, StepStarted):
                self._output(rec, [f"{at}{event.index}/{event.total} {event.text}"])
            elif isinstance(event, StepFinished):
                self._output(rec, [f"    {at}{'ok' if event.ok else 'FAILED'}: {event.detail}"])
            elif isinstance(event, ContainersPolled):
                text = event.error or (describe_containers(event.ps) if event.ps else "?")
                self._output(rec, [f"    {at}ps #{event.attempt}: {text}"])

        done = await apply_switches(
            self.pool,
            changes,
            on_event=on_edge,
            wait=ContainerWait(self.options.edge_wait_timeout, self.options.poll_interval),
            step=self._audit_step(step),
            break_stale=self._break_stale(step),
        )
        stamp = datetime.fromtimestamp(self.clock(), UTC).strftime("%H:%M:%S UTC")
        for outcome in done.outcomes:
            self._output(rec, _lines(outcome.up_output))
            if outcome.state is NodeState.APPLIED:
                rec.flags[f"edge_up_done:{outcome.node_id}"] = stamp
                rec.flags["edge_up_done"] = stamp
        # ops.edge says master/slave; a next-LTS site reads Main/Standby.
        said = reword(done.message, self.runbook.words)
        if done.ok:
            self._done(rec, said)
            for outcome in done.outcomes:
                if outcome.state is NodeState.APPLIED:
                    self._settle_edge_up(
                        f"nothing left to apply: edge-dcomp up -d ran in the switch step at "
                        f"{stamp}",
                        outcome.node_id,
                    )
        else:
            self._lock_refusal(rec, done.stale_lock_nodes)
            nodes = done.rollback_nodes
            hint = f" The Edge pane (3) can roll back {', '.join(nodes)}." if nodes else ""
            self._fail(rec, said + hint)

    def _settle_edge_up(self, why: str, node_id: str) -> None:
        """An Edge node's `edge.up` step has nothing left to do: it is settled, never offered
        as a step to run."""
        step = next(
            (
                s
                for s in self.runbook.steps
                if s.command is not None
                and s.command.name is ActionName.EDGE_UP
                and s.node_id == node_id
            ),
            None,
        )
        if step is None:
            return
        try:
            rec = self.run.record(step.id)
        except KeyError:
            return
        if rec.state.settled:
            return
        now = self.clock()
        rec.state, rec.message = StepState.DONE, why
        rec.started_at = rec.finished_at = now
        rec.duration = 0.0
        rec.command = ""
        rec.flags["nothing_left"] = "1"
        self._output(rec, [why])
        self._changed(rec)

    async def _left_to_apply(self, node: Node, path: str) -> tuple[bool | None, str]:
        """Whether the running Edge containers still use other values than the `.env`
        (docker inspect's Config.Env against the file): True, False, or None (cannot tell)."""
        ps_result = await self.pool.run(node, cat.edge_ps())
        ps = parse_compose_ps(ps_result.stdout) if ps_result.ok else None
        names = [c.name for c in ps.containers] if ps is not None else []
        if not names:
            return None, "edge-dcomp ps listed no container: cannot tell what is applied"
        try:
            inspect = await self.pool.run(node, cat.docker_inspect(names))
        except CommandError as exc:
            return None, f"cannot inspect the containers: {exc}"
        if inspect.incomplete:
            return None, f"docker inspect gave no whole answer: {inspect.note or inspect.summary()}"
        env = await self.pool.run(node, cat.cat(path))
        if not env.ok:
            return None, f"{path} could not be read again: {env.summary()}"
        behind = containers_behind(env.stdout, inspect.stdout, pair_addresses(self.site))
        if behind is None:
            return None, (
                "the containers' environment does not show the Edge variables: cannot tell "
                "whether they use the current .env"
            )
        if behind:
            return True, "the running containers still use other values: " + "; ".join(behind)
        return False, "the running containers already use the .env's values"

    async def _edge_up(self, step: Step, rec: StepRecord, node: Node, command: Command) -> None:
        done = await self._run_locked(node, command, step, rec, "edge up -d")
        if done is None:
            return
        self._output(rec, _result_lines(done))
        if done.ok:
            rec.flags["edge_up_done"] = datetime.fromtimestamp(self.clock(), UTC).strftime(
                "%H:%M:%S UTC"
            )
            self._done(rec, f"{command.line}: ok on {node.id}")
        else:
            self._fail(rec, f"{command.line}: {done.summary()} {_last_line(done)}".strip())


def _utc(epoch: float | None) -> str:
    if epoch is None:
        return "?"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def discard_run(
    run: WizardRun,
    *,
    store: RunStore | None = None,
    audit: AuditLog | None = None,
    reason: str = "",
    journal: Journal | None = None,
    site: Site | None = None,
) -> Path:
    """Close an unfinished run without resuming it: marked aborted, its report written
    (what happened until it stopped) and linked from the audit log. Nothing is sent."""
    if run.finished:
        raise WizardError(f"run {run.run_id} is already {run.status.value}")
    store = store or RunStore()
    why = reason or f"discarded by {local_user()} instead of resuming"
    run.status, run.abort_reason = RunStatus.ABORTED, why
    run.finished_at = run.updated_at = time.time()
    run.problems = find_problems(run)
    path = store.report_path(run.run_id)
    run.report_path = str(path)
    journal = journal or Journal()
    incident = incident_of(run, journal, site) if site is not None else None
    store.write_report(run, render_report(run, incident=incident))
    store.save(run)
    (audit or AuditLog()).record(
        site=run.site,
        node="-",
        kind="wizard_report",
        command=f"report {path}",
        exit_status=None,
        duration=run.finished_at - run.started_at,
        step=f"wizard {run.direction} run {run.run_id}",
        result=f"aborted: {why}",
        op=run_op(run.run_id),
    )
    journal_run(journal, run, RunStatus.ABORTED.value, run.finished_at, why)
    return path
