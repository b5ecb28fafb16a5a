"""Wizard pane: the guided failover / failback, one step at a time, resumable.

Before a run the pane shows the plan of the current site (the failover runbook; f starts
it, b starts the failback). A run starts with its safety checks (guards, read-only); then
the admin runs each step with g / enter, sees the exact command and node first, the output
live, and for waits the condition with a countdown. A failed step stays current until it
is retried (t), skipped with a reason (k) or the run is aborted (X); manual steps need d
("done"); a guard that needs the typed word opens the typed confirmation (c opens it
again). Work runs in workers (group `wizard-run`, `exit_on_error=False`) that call
``ops.wizard.WizardEngine``; the engine's events come back as messages.

In read-only mode the checks run and actions are greyed out (the engine refuses them too).

Confirmations lead with the live consequences (core/site_facts.py, from the console's site
state): who serves telephony now, where remote users go after the change, what restarts
and what drops. A step that depends on a skipped wait asks for an acknowledgement (c, or
the step's own key) before it runs. The output box follows the newest lines and wraps long
ones. Quitting while a step runs asks first (ResilApp.action_quit), and the step is then
recorded interrupted. At the end the outcome is shown as recorded: `finished`, or
`finished with problems` with each problem's step and why.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import RichLog, Static

from resil_tui.core.freshness import clock
from resil_tui.core.roles import role_words
from resil_tui.core.runbook import (
    DEFAULT_OPTIONS,
    Direction,
    Runbook,
    RunbookOptions,
    Step,
    StepKind,
    build_runbook,
)
from resil_tui.core.site_facts import (
    Consequences,
    SiteFacts,
    edge_switch_consequences,
    edge_up_consequences,
    site_facts,
    xuc_restart_consequences,
)
from resil_tui.core.wizard_run import RunStatus, StepState, WizardRun
from resil_tui.inventory_model import Site
from resil_tui.ops.edge import EdgeSetupError, preview_from_snapshot
from resil_tui.ops.site_state import SiteState
from resil_tui.ops.wizard import (
    EngineOptions,
    RunEnded,
    StepBegan,
    StepChanged,
    StepOutput,
    WaitTick,
    WizardEngine,
    WizardError,
    WizardEvent,
    discard_run,
    plan_text,
    step_plan,
)
from resil_tui.ops.wizard_store import find_unfinished_runs
from resil_tui.ui.panes.base import Pane
from resil_tui.ui.panes.catalog import WIZARD
from resil_tui.ui.screens.confirm import ConfirmScreen, TypedConfirmScreen
from resil_tui.ui.widgets.stale_lock import break_stale_lock_screen
from resil_tui.ui.widgets.wizard_dialogs import DISCARD, RESUME, ReasonScreen, ResumeScreen
from resil_tui.ui.widgets.wizard_plan import WizardPlan

if TYPE_CHECKING:
    from resil_tui.ui.app import ResilApp

log = logging.getLogger(__name__)

RUN_GROUP = "wizard-run"


class WizardPane(Pane):
    PANE_ID = WIZARD.pane_id
    TITLE = WIZARD.title
    READ_ONLY_EFFECT = "the wizard's actions are (its checks still run)"

    # The keys live in the catalog: help, keymap and palette read them before this
    # module is loaded.
    BINDINGS: ClassVar[list[BindingType]] = WIZARD.bindings

    DEFAULT_CSS = """
    WizardPane #wizard-title { text-style: bold; }
    WizardPane #wizard-keys { color: $foreground 70%; }
    WizardPane #wizard-current { margin-top: 1; height: auto; border: round $primary;
                                 padding: 0 1; }
    WizardPane #wizard-output { height: 12; border: round $panel; }
    WizardPane #wizard-final { margin-top: 1; height: auto; text-style: bold; }
    WizardPane #wizard-final.-ok { color: $success; }
    WizardPane #wizard-final.-bad { color: $error; }
    """

    class Event(Message):
        bubble = False

        def __init__(self, event: WizardEvent) -> None:
            super().__init__()
            self.event = event

    class WorkDone(Message):
        bubble = False

        def __init__(self, error: str | None) -> None:
            super().__init__()
            self.error = error

    def __init__(self, site: Site) -> None:
        super().__init__(site)
        self.engine: WizardEngine | None = None
        self.preview: Runbook = build_runbook(site, Direction.FAILOVER)
        self.engine_options = EngineOptions()
        self.runbook_options: RunbookOptions = DEFAULT_OPTIONS
        self.working = False  # a worker is on the engine now
        self.countdown = ""
        self.problem = ""  # the last refusal or error, shown under the current step
        self._confirm_shown_for: str | None = None
        self._working_on: str | None = None

    @property
    def active(self) -> bool:
        return self.engine is not None and not self.engine.run.finished

    # --- layout ------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static("", id="wizard-title", markup=False)
        yield Static("", id="wizard-site", markup=False)
        yield Static("", id="wizard-keys", markup=False)
        yield WizardPlan(id="wizard-plan")
        yield Static("", id="wizard-current", markup=False)
        # Follows the newest lines (auto_scroll) and wraps long ones: a readiness line or an
        # error is never off screen or cut.
        yield RichLog(
            id="wizard-output",
            max_lines=2000,
            wrap=True,
            auto_scroll=True,
            markup=False,
            highlight=False,
        )
        yield Static("", id="wizard-final", markup=False)

    def pane_mounted(self) -> None:
        self.call_after_refresh(self._render_all)
        self.set_interval(1.0, self._render_site_line)

    def on_show(self) -> None:
        self.call_after_refresh(self._take_focus)

    def show_state(self, state: SiteState) -> None:
        if state.name == self.site.name and self.is_mounted:
            self._render_site_line()

    def _render_site_line(self) -> None:
        state = self.state
        verdicts = state.verdicts
        now = "not polled yet" if verdicts is None else verdicts.primary.title
        self.query_one("#wizard-site", Static).update(
            f"Site now: {now} · {state.as_of(time.time())}"
        )

    def _take_focus(self) -> None:
        if not self.display or not self.is_on_screen:
            return
        focused = self.app.focused
        if focused is None or self not in focused.ancestors_with_self:
            self.focus()

    # --- rendering ---------------------------------------------------------------------

    @property
    def output(self) -> RichLog:
        return self.query_one("#wizard-output", RichLog)

    def write_output(self, *lines: str) -> None:
        for line in lines:
            self.output.write(Text(line))

    @property
    def runbook(self) -> Runbook:
        return self.engine.runbook if self.engine is not None else self.preview

    @property
    def run(self) -> WizardRun | None:
        return self.engine.run if self.engine is not None else None

    def current_step(self) -> Step | None:
        if self.engine is None:
            return None
        return self.engine.current

    def _render_all(self) -> None:
        if not self.is_mounted:
            return
        runbook, run = self.runbook, self.run
        target = role_words(self.site.resilience).of(runbook.direction.target)
        title = f"Wizard · site {runbook.site} · {runbook.direction.value} to the {target}"
        if run is not None:
            title += f" · run {run.run_id} ({run.status.value})"
        else:
            title += " (plan: nothing runs until you start)"
        self.query_one("#wizard-title", Static).update(title)
        self._render_site_line()
        self.query_one("#wizard-keys", Static).update(self._keys_text())
        self.query_one(WizardPlan).show(runbook, run)
        self.query_one("#wizard-current", Static).update(self._current_text())
        self._render_final()

    def _keys_text(self) -> str:
        run = self.run
        if run is not None and run.finished:
            final = run.final
            verdict = (
                f"site verdict: {final.verdict} ({final.severity})"
                if final is not None and not final.error
                else "site verdict unknown"
            )
            return f"Run {run.outcome} · {verdict} · f / b: start another run"
        if not self.active:
            return "f: start the failover · b: start the failback"
        step = self.current_step()
        if self.working:
            return "running… X aborts (cancels the step first)"
        if step is None:
            return ""
        rec = self.engine.record(step.id) if self.engine else None
        keys = []
        needs_ack = self.engine is not None and bool(self.engine.unacknowledged(step))
        if rec is not None and rec.state is StepState.AWAITING_CONFIRM:
            keys.append(f"c: type {step.confirm_word} to go on anyway")
            if step.wait_seconds is not None:
                keys.append(f"w: wait up to {step.wait_seconds:g}s for it to hold")
            keys.append("t: check again")
        elif needs_ack:
            keys.append("c: acknowledge the skipped wait and go on")
        elif step.kind is StepKind.MANUAL:
            keys.append("d: done (when it is done)")
        elif rec is not None and rec.state in (StepState.FAILED, StepState.INTERRUPTED):
            stale = self.engine.stale_locks(step.id) if self.engine is not None else ()
            keys.append(f"t: break the stale lock of {stale[0]} and retry" if stale else "t: retry")
        elif self.engine is not None and self.engine.refused(step):
            keys.append("g: refused (READ-ONLY)")
        else:
            keys.append("g / enter: run this step")
        if not step.guard:
            keys.append("k: skip (asks why)")
        keys.append("X: abort")
        return " · ".join(keys)

    def _current_text(self) -> Text:
        text = Text()
        engine = self.engine
        step = self.current_step() if engine is not None else self.runbook.steps[0]
        if step is None:
            text.append("Every step is settled.", style="bold")
            return text
        rec = engine.record(step.id) if engine is not None else None
        state = rec.state.value if rec is not None else "pending"
        text.append(f"{step.title}", style="bold")
        text.append(
            f"   [{step.kind.value}{', guard' if step.guard else ''}] {state}\n", style="dim"
        )
        text.append(f"{step.detail}\n")
        node = self.runbook.nodes_text(step)
        if node:
            text.append("Node: ", style="bold")
            text.append(f"{node}\n")
        command = (
            engine.command_text(step)
            if engine is not None
            else plan_text(step_plan(step, self.shell.session.inventory))
        )
        if rec is not None and rec.state is not StepState.PENDING and rec.command:
            command = rec.command
        if command:
            text.append("Command: ", style="bold")
            text.append(f"{command}\n")
        if step.condition is not None:
            text.append("Condition: ", style="bold")
            text.append(f"{step.condition}")
            if step.timeout_seconds is not None:
                text.append(f" · timeout {step.timeout_seconds:g}s")
            text.append("\n")
        if self.countdown and rec is not None and rec.state is StepState.RUNNING:
            text.append(f"⏱ {self.countdown}\n", style="bold yellow")
        if rec is not None and rec.message:
            style = {
                StepState.FAILED: "bold red",
                StepState.INTERRUPTED: "bold red",
                StepState.AWAITING_CONFIRM: "bold red",
                StepState.AWAITING_ACK: "bold yellow",
                StepState.DONE: "green",
            }.get(rec.state, "")
            text.append(f"→ {rec.message}\n", style=style)
        if self.problem:
            text.append(f"✖ {self.problem}\n", style="bold red")
        text.rstrip()
        return text

    def final_text(self) -> str:
        run = self.run
        if run is None or not run.finished:
            return ""
        final = run.final
        if final is None or final.error:
            verdict = f"site verdict not checked ({final.error if final else 'no data'})"
        else:
            verdict = f"site verdict: {final.verdict} ({final.severity}) — {final.title}"
        what = {
            RunStatus.FINISHED: "Run finished",
            RunStatus.FINISHED_WITH_PROBLEMS: "Run finished with problems",
        }.get(run.status, f"Run aborted ({run.abort_reason})")
        lines = [f"{what} · {verdict}"]
        for p in run.problems:
            where = f" ({p.step_id})" if p.step_id else ""
            lines.append(f"  ✖ {p.title}{where}: {p.why}")
        lines.append(f"Report: {run.report_path}")
        return "\n".join(lines)

    def _render_final(self) -> None:
        widget = self.query_one("#wizard-final", Static)
        run = self.run
        if run is None or not run.finished:
            widget.update("")
            widget.display = False
            return
        widget.update(self.final_text())
        widget.display = True
        ok = run.status is RunStatus.FINISHED
        widget.set_class(ok, "-ok")
        widget.set_class(not ok, "-bad")

    # --- shell hooks -------------------------------------------------------------------

    def show_site(self, site: Site) -> None:
        super().show_site(site)
        if not self.active:
            self.engine = None
            self.preview = build_runbook(site, Direction.FAILOVER)
            if self.is_mounted:
                self.output.clear()
        self._render_all()

    def refresh_pane(self) -> None:
        self._render_all()

    # --- bindings ----------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        engine = self.engine
        if action == "start":
            return None if self.active else True
        if action == "abort":
            return True if self.active else None
        if engine is None or not self.active or self.working:
            return (
                None
                if action in ("run_step", "retry", "skip", "done", "confirm", "wait_guard")
                else True
            )
        step = engine.current
        if step is None:
            return None
        state = engine.record(step.id).state
        needs_ack = bool(engine.unacknowledged(step))
        if action == "run_step":
            if state is StepState.AWAITING_CONFIRM:
                return None
            return None if engine.refused(step) else True
        if action == "retry":
            retryable = (StepState.FAILED, StepState.INTERRUPTED, StepState.AWAITING_CONFIRM)
            return True if state in retryable else None
        if action == "skip":
            return None if step.guard else True
        if action == "done":
            return True if step.kind is StepKind.MANUAL else None
        if action == "confirm":
            return True if state is StepState.AWAITING_CONFIRM or needs_ack else None
        if action == "wait_guard":
            waits = state is StepState.AWAITING_CONFIRM and step.wait_seconds is not None
            return True if waits else None
        return True

    def _refresh(self) -> None:
        self._render_all()
        self.app.refresh_bindings()

    # --- workers -----------------------------------------------------------------------

    def _work(self, name: str, job: Callable[[], Awaitable[object]]) -> None:
        self.working = True
        self._working_on = name
        self.problem = ""
        self._refresh()

        async def work() -> None:
            error: str | None = None
            try:
                await job()
            except WizardError as exc:
                error = str(exc)
            except asyncio.CancelledError:
                error = "cancelled"
                self.post_message(self.WorkDone(error))
                raise
            except Exception as exc:  # shown and logged: a bug must not kill the app
                log.exception("wizard %s failed", name)
                error = f"unexpected error: {exc!r}"
            self.post_message(self.WorkDone(error))

        self.run_worker(work(), group=RUN_GROUP, exit_on_error=False, name=f"wizard {name}")

    def _on_engine_event(self, event: WizardEvent) -> None:
        self.post_message(self.Event(event))

    @on(WorkDone)
    def _work_done(self, message: WorkDone) -> None:
        self.working = False
        # An action changed its node (or may have): every pane follows a poll of it, now.
        step = next((s for s in self.runbook.steps if s.id == self._working_on), None)
        if step is not None and step.kind is StepKind.ACTION and step.node_ids:
            self.shell.repoll(list(step.node_ids), self.runbook.site)
        if message.error and message.error != "cancelled":
            self.problem = message.error
            self.notify(message.error, severity="warning", markup=False)
        self._refresh()
        self._offer_confirm()
        engine = self.engine
        stack = self.app.screen_stack  # empty while the console shuts down
        modal = not stack or isinstance(stack[-1], ModalScreen)
        if step is not None and engine is not None and not modal:
            stale = engine.stale_locks(step.id)
            if stale and engine.record(step.id).state is StepState.FAILED:
                self._offer_break(engine, step, stale[0])

    @on(Event)
    def _event(self, message: Event) -> None:
        event = message.event
        if isinstance(event, StepBegan):
            self.countdown = ""
            self.output.clear()
            where = f"  (on {event.node})" if event.node else ""
            self.write_output(f"$ {event.command}{where}")
        elif isinstance(event, StepOutput):
            self.write_output(*event.lines)
        elif isinstance(event, WaitTick):
            self.countdown = f"{event.remaining:.0f}s left of {event.timeout:g}s · {event.last}"
            self.query_one("#wizard-current", Static).update(self._current_text())
            return
        elif isinstance(event, StepChanged):
            self.countdown = ""
            if event.state in (StepState.DONE, StepState.SKIPPED) or event.message:
                self.write_output(f"→ {event.state.value}: {event.message}")
        elif isinstance(event, RunEnded):
            self.write_output(f"Run {event.status.value}; report: {event.report_path}")
            self.notify(
                f"Wizard run {event.status.value}. Report: {event.report_path}",
                severity="information" if event.status is RunStatus.FINISHED else "warning",
                markup=False,
                timeout=15,
            )
        self._render_all()

    # --- starting and resuming ---------------------------------------------------------

    def action_start(self, direction: str) -> None:
        session = self.shell.session
        if self.active:
            self.notify("Wizard: a run is in progress; abort it first.", severity="warning")
            return
        try:
            self.engine = WizardEngine.create(
                session.pool,
                session.inventory,
                self.site.name,
                Direction(direction),
                runbook_opts=self.runbook_options,
                options=self.engine_options,
                on_event=self._on_engine_event,
                collector=session.collector,
                journal=session.journal,
            )
        except (WizardError, OSError, ValueError) as exc:
            self.notify(f"Wizard: cannot start: {exc}", severity="error", markup=False)
            return
        self.output.clear()
        self._confirm_shown_for = None
        self._work("guards", self.engine.run_guards)

    def resume_run(self, run: WizardRun) -> None:
        session = self.shell.session
        try:
            self.engine = WizardEngine.resume(
                session.pool,
                session.inventory,
                run,
                options=self.engine_options,
                on_event=self._on_engine_event,
                collector=session.collector,
                journal=session.journal,
            )
        except (WizardError, OSError, ValueError) as exc:
            self.notify(f"Wizard: cannot resume: {exc}", severity="error", markup=False)
            return
        self.output.clear()
        self.write_output(
            f"Resuming run {run.run_id}: checking the guards, then what earlier steps found, again."
        )
        self._confirm_shown_for = None
        self._work("guards", self.engine.run_guards)

    # --- the admin's keys --------------------------------------------------------------

    def _current(self) -> tuple[WizardEngine, Step] | None:
        engine = self.engine
        if engine is None or not self.active or self.working:
            return None
        step = engine.current
        return (engine, step) if step is not None else None

    def facts(self) -> SiteFacts:
        """The live facts of the pane's site, from the console's site state."""
        state = self.state
        return site_facts(self.site, state.verdicts, state.nodes, time.time())

    def consequences(self, step: Step) -> Consequences:
        facts = self.facts()
        node = self.shell.session.inventory.node(step.node_id) if step.node_id else None
        if step.id == "cc.restart_xuc" and node is not None:
            return xuc_restart_consequences(facts, self.site, node)
        if step.id == "edge.switch_env":
            return edge_switch_consequences(facts, self.site, self.runbook.direction.target)
        if step.id == "edge.up" or step.id.startswith("edge.up."):
            return edge_up_consequences(facts, self.site)
        return Consequences(tuple(f"Now: {line}" for line in facts.lines()))

    def _edge_diffs(self) -> tuple[str, dict[str, str | None]]:
        """The switch's diff on each Edge node, from the last poll's `.env`, and the digest
        of each file a diff was made from (None: not read). The step reads every file again
        and writes only one still as shown (WizardEngine.confirm_edge_diff)."""
        shown: dict[str, str | None] = {}
        direction = self.runbook.direction.edge_direction
        several = len(self.site.edges) > 1
        parts: list[str] = []
        for node in self.site.edges:
            snap = self.state.node(node.id)
            try:
                preview = preview_from_snapshot(self.site, node, snap)
            except EdgeSetupError:
                preview = None
            shown[node.id] = preview.shown_sha256 if preview is not None else None
            if preview is None:
                parts.append(f"{node.id}: its .env has not been read yet (the step will refuse it)")
                continue
            title = f"{node.id}:{preview.path}" if several else preview.path
            diff = preview.plan(direction).unified_diff(title).rstrip("\n")
            read = f"{node.id}, {preview.path} as read at {clock(preview.as_of)}"
            parts.append(f"{read}:\n{diff}" if diff else f"{read}: already there, nothing to write")
        head = "\n\nThe diff on each Edge node (the step reads each file again first):\n"
        return (head + "\n".join(parts) if parts else ""), shown

    def _confirm_then(self, engine: WizardEngine, step: Step, then: str) -> None:
        """Ask first (live consequences, skipped waits it depends on), then run `then`:
        "run" (the step), "retry" (it again) or "done" (a manual step)."""
        reasons = engine.unacknowledged(step)
        found = self.consequences(step)
        warnings = [f"{r}: it may not serve" for r in reasons] + list(found.warnings)
        if step.kind is StepKind.ACTION:
            title, label = step.title, "Yes, run it"
        elif then == "done":
            title, label = f"{step.title}: say it is done", "Yes, it is done"
        else:
            title, label = step.title, "Yes, go on"
        if reasons:
            title = f"{title} (a wait it depends on was skipped)"
        command = engine.command_text(step) or "(a person does this)"
        node = self.runbook.nodes_text(step) or "-"
        shown: dict[str, str | None] = {}
        if step.id == "edge.switch_env":
            diffs, shown = self._edge_diffs()
            command += diffs
        screen = ConfirmScreen(
            title, command, node, warnings, confirm_label=label, consequences=found.lines
        )

        async def job() -> None:
            if reasons:
                await engine.acknowledge(step.id)
            if step.id == "edge.switch_env":
                engine.confirm_edge_diff(shown)  # what this confirmation showed, nothing else
            if then == "done":
                await engine.mark_done(step.id)
            elif then == "retry":
                await engine.retry(step.id)
            else:
                await engine.run_step(step.id)

        def answered(yes: bool | None) -> None:
            if yes:
                self._work(step.id, job)

        self.app.push_screen(screen, callback=answered)

    def action_run_step(self) -> None:
        found = self._current()
        if found is None:
            return
        engine, step = found
        if engine.refused(step):
            self.shell.refuse_if_read_only(f"the wizard step '{step.title}'")
            return
        if step.kind is StepKind.ACTION or engine.unacknowledged(step):
            self._confirm_then(engine, step, "run")
            return
        self._work(step.id, lambda: engine.run_step(step.id))

    def action_retry(self) -> None:
        found = self._current()
        if found is None:
            return
        engine, step = found
        if engine.refused(step):
            self.action_run_step()
            return
        self._confirm_shown_for = None
        stale = engine.stale_locks(step.id)
        if stale:
            self._offer_break(engine, step, stale[0])
            return
        if step.kind is StepKind.ACTION:
            # A change sent again is confirmed again, with its consequences as they are now
            # (the Edge switch: the diff of the file as it is now).
            self._confirm_then(engine, step, "retry")
            return
        self._work(step.id, lambda: engine.retry(step.id))

    def _offer_break(self, engine: WizardEngine, step: Step, node_id: str) -> None:
        """The step was refused by a stale lock: break it (the node id typed), then retry."""
        screen = break_stale_lock_screen(node_id, f"'{step.title}'", engine.record(step.id).message)

        def answered(yes: bool | None) -> None:
            if yes and not engine.refused(step):
                self._work(step.id, lambda: engine.retry_breaking_stale_lock(step.id, node_id))

        self.app.push_screen(screen, callback=answered)

    def action_done(self) -> None:
        found = self._current()
        if found is None:
            return
        engine, step = found
        if step.kind is not StepKind.MANUAL:
            self.notify("Wizard: only a manual step is marked done by hand.", severity="warning")
            return
        if engine.unacknowledged(step):
            self._confirm_then(engine, step, "done")
            return
        self._work(step.id, lambda: engine.mark_done(step.id))

    def action_skip(self) -> None:
        found = self._current()
        if found is None:
            return
        engine, step = found
        if step.guard:
            self.notify(
                "Wizard: a safety check cannot be skipped: retry it or abort.", severity="warning"
            )
            return

        def answered(reason: str | None) -> None:
            if reason:
                self._work(step.id, lambda: engine.skip(step.id, reason))

        self.app.push_screen(
            ReasonScreen(
                f"Skip: {step.title}",
                "Why is this step skipped? The reason is recorded in the run's report.",
            ),
            callback=answered,
        )

    def action_confirm(self) -> None:
        found = self._current()
        if found is not None and found[0].unacknowledged(found[1]):
            engine, step = found
            self._confirm_then(engine, step, "done" if step.kind is StepKind.MANUAL else "run")
            return
        self._confirm_shown_for = None
        self._offer_confirm(force=True)

    def action_wait_guard(self) -> None:
        """A guard that may wait for its condition (calls in progress that end)."""
        engine = self.engine
        if engine is None or not self.active or self.working:
            return
        step = engine.current
        if step is None or step.wait_seconds is None:
            return
        self._confirm_shown_for = step.id  # the typed confirmation is not offered again now
        self._work(step.id, lambda: engine.wait_guard(step.id))

    def _offer_confirm(self, force: bool = False) -> None:
        """A guard waits for its typed word: open the typed confirmation (once per wait)."""
        engine = self.engine
        if engine is None or not self.active or self.working:
            return
        step = engine.current
        if step is None or step.confirm_word is None:
            return
        rec = engine.record(step.id)
        if rec.state is not StepState.AWAITING_CONFIRM:
            return
        if self._confirm_shown_for == step.id and not force:
            return
        self._confirm_shown_for = step.id
        word = step.confirm_word
        if step.wait_seconds is not None:
            wait_keys = self.shell.keys_for("wizard.wait").split()
            wait_key = wait_keys[0] if wait_keys else "w"
            lines = [
                rec.message,
                f"Or cancel this and press {wait_key}: the run waits (up to "
                f"{step.wait_seconds:g} s, with a countdown) until the condition holds.",
            ]
        else:
            lines = [
                rec.message,
                "If both XiVO run telephony, phones and calls are split between "
                f"them (split brain): stop the {role_words(self.site.resilience).master} "
                "first if you can.",
            ]
        screen = TypedConfirmScreen(
            f"{step.title}: it does not hold",
            f"go on with the {engine.runbook.direction.value}: the next actions move CC and "
            f"Edge users to the {engine.runbook.direction.target.value}",
            self.runbook.nodes_text(step) or "-",
            word,
            lines,
            confirm_label="Go on anyway",
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self._work(step.id, lambda: engine.confirm_guard(step.id, word))

        self.app.push_screen(screen, callback=answered)

    def step_running(self) -> str | None:
        """The title of the step running now (a worker is on it), else None."""
        engine = self.engine
        if engine is None or not self.working or engine.busy is None:
            return None
        return engine.step(engine.busy).title

    async def interrupt(self) -> None:
        """The console quits: stop the running step; it is recorded interrupted (saved)."""
        engine = self.engine
        if engine is None:
            return
        self.workers.cancel_group(self, RUN_GROUP)
        for _ in range(100):  # the cancelled step saves itself, then frees the engine
            if engine.busy is None:
                return
            await asyncio.sleep(0.05)

    def action_abort(self) -> None:
        engine = self.engine
        if engine is None or not self.active:
            return

        def answered(reason: str | None) -> None:
            if not reason:
                return
            self.workers.cancel_group(self, RUN_GROUP)

            async def abort() -> None:
                for _ in range(100):  # the cancelled step saves itself, then frees the engine
                    if engine.busy is None:
                        break
                    await asyncio.sleep(0.05)
                await engine.abort(reason)

            self._work("abort", abort)

        self.app.push_screen(
            ReasonScreen(
                "Abort the run",
                "Why is the run aborted? Nothing more will run; "
                "the report records where it stopped.",
            ),
            callback=answered,
        )


# --- start-up: offer to resume ----------------------------------------------------------


def offer_resume(app: ResilApp) -> None:
    """Called once by the app after mounting: an unfinished run for this inventory is
    offered (resume / discard / later). Without polling (layout tests), nothing."""
    if not app.poller.enabled:
        return
    try:
        runs = find_unfinished_runs(app.inventory)
    except OSError as exc:
        log.warning("cannot look for unfinished wizard runs: %s", exc)
        return
    if not runs:
        return
    run = runs[0]

    def chosen(choice: str | None) -> None:
        if choice == RESUME:
            if app.site_name != run.site:
                app.site_name = run.site
            app.action_show_pane(WizardPane.PANE_ID)
            app.query_one(WizardPane).resume_run(run)
        elif choice == DISCARD:
            path = discard_run(
                run,
                audit=app.session.audit,
                journal=app.session.journal,
                site=app.inventory.sites.get(run.site),
            )
            app.notify(f"Wizard run {run.run_id} discarded; report: {path}", markup=False)

    app.push_screen(ResumeScreen(run, len(runs) - 1), callback=chosen)
