"""Edge pane: where the Edge proxy points, the diff of switching it, apply and rollback.

The `.env` shown is the one the last status poll read (the shell's site state, with its
age); the plan comes from the pure planner, so what is shown is what `a` writes, and the
apply re-reads the file and refuses unless it is still that text. Apply and rollback run
in workers (named groups, `exit_on_error=False`) that only post messages: progress events
from ops.edge, then the outcome; the Edge is polled again as soon as they end. Both are
greyed out in read-only mode, and refused again by the remote layer whatever the UI does.
"""

from __future__ import annotations

import logging
import time
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import RadioButton, RadioSet, Static

from resil_tui.core.edge_env import Direction, EdgeSwitchPlan
from resil_tui.core.edge_side import EDGE_VARIABLES, EdgeSide, VarSide
from resil_tui.core.site_facts import edge_switch_consequences, site_facts
from resil_tui.inventory_model import Side, Site
from resil_tui.ops.edge import (
    APPLY_STEPS,
    ROLLBACK_STEPS,
    BackupInfo,
    EdgeEvent,
    EdgeOutcome,
    EdgePreview,
    EdgeSetupError,
    RollbackPreview,
    apply_switch,
    default_direction,
    edge_addresses,
    list_edge_backups,
    load_rollback_preview,
    plan_notes,
    preview_from_snapshot,
    rollback,
    step_text,
)
from resil_tui.ops.errors import error_text
from resil_tui.ops.site_state import SiteState
from resil_tui.ui.panes.base import Pane
from resil_tui.ui.screens.confirm import ConfirmScreen
from resil_tui.ui.widgets.edge_backups import EdgeBackupPicker
from resil_tui.ui.widgets.edge_diff import EdgeDiffView
from resil_tui.ui.widgets.edge_progress import EdgeProgress

log = logging.getLogger(__name__)

LOAD_GROUP = "edge-load"
RUN_GROUP = "edge-run"  # apply and rollback: never exclusive, a change is never cancelled

_SIDE_STYLE: dict[str, str] = {
    EdgeSide.UNKNOWN: "bold red",
    VarSide.MASTER: "bold cyan",
    VarSide.SLAVE: "bold magenta",
    VarSide.MIXED: "bold yellow",
    VarSide.NEITHER: "bold red",
    VarSide.MISSING: "bold red",
}


class EdgePane(Pane):
    PANE_ID = "edge"
    TITLE = "Edge"
    READ_ONLY_EFFECT = "the switch (a) and the rollback (R) are"
    MUTATING_ACTIONS: ClassVar[frozenset[str]] = frozenset({"rollback"})

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("d", "toggle_direction", "Direction", id="edge.direction"),
        Binding("R", "rollback", "Rollback", id="edge.rollback"),
    ]

    DEFAULT_CSS = """
    EdgePane .edge-title { text-style: bold; }
    EdgePane #edge-state { margin-top: 1; }
    EdgePane #edge-targets { margin-top: 1; height: auto; }
    EdgePane #edge-direction-row { height: auto; margin-top: 1; }
    EdgePane #edge-direction-label { width: auto; padding: 1 1 0 0; }
    EdgePane #edge-direction { width: auto; layout: horizontal; }
    EdgePane #edge-direction RadioButton { width: auto; margin-right: 2; }
    EdgePane #edge-summary { margin-top: 1; }
    EdgePane #edge-notes { margin-top: 1; color: $warning; }
    EdgePane #edge-outcome { margin-top: 1; height: auto; }
    EdgePane #edge-outcome.-ok { color: $success; }
    EdgePane #edge-outcome.-failed { color: $error; text-style: bold; }
    """

    # --- messages (posted by workers, handled here) ----------------------------------------

    class Progress(Message):
        def __init__(self, event: EdgeEvent) -> None:
            super().__init__()
            self.event = event

    class Finished(Message):
        def __init__(self, outcome: EdgeOutcome | None, error: str | None = None) -> None:
            super().__init__()
            self.outcome = outcome
            self.error = error

    class BackupsListed(Message):
        def __init__(self, backups: list[BackupInfo] | None, error: str | None) -> None:
            super().__init__()
            self.backups = backups
            self.error = error

    class RollbackPreviewed(Message):
        def __init__(self, preview: RollbackPreview | None, error: str | None) -> None:
            super().__init__()
            self.preview = preview
            self.error = error

    # --- state -----------------------------------------------------------------------------

    def __init__(self, site: Site) -> None:
        super().__init__(site)
        self.preview: EdgePreview | None = None
        self.plan: EdgeSwitchPlan | None = None
        self.direction: Direction = Direction.TO_SLAVE
        self.user_direction: Direction | None = None  # chosen by the admin for this file
        self.busy: str | None = None  # "apply" / "rollback" while a change runs
        self.load_error: str | None = None
        self.last_outcome: EdgeOutcome | None = None

    # --- layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(self._title(), id="edge-title", classes="edge-title", markup=False)
        # Drawn with the first frame: a state line filled only in on_mount may miss it.
        yield Static(self._state_text(), id="edge-state", markup=False)
        # The last run first: after an apply its outcome matters more than the next diff.
        progress = EdgeProgress(id="edge-progress")
        progress.display = False
        yield progress
        outcome = Static("", id="edge-outcome", markup=False)
        outcome.display = False
        yield outcome
        yield Static("", id="edge-targets", markup=False)
        with Horizontal(id="edge-direction-row"):
            yield Static("Switch", id="edge-direction-label", markup=False)
            with RadioSet(id="edge-direction"):
                yield RadioButton("to slave", value=True, id="edge-to-slave")
                yield RadioButton("to master", id="edge-to-master")
        yield Static("", id="edge-summary", markup=False)
        yield EdgeDiffView(id="edge-diff")
        yield Static("", id="edge-notes", markup=False)

    def on_mount(self) -> None:
        self._render_state(self.state)
        self.set_interval(1.0, self._render_state_line)

    def on_show(self) -> None:
        # After the tab switch has settled (it may move or clear the focus itself).
        self.call_after_refresh(self._take_focus)

    def _take_focus(self) -> None:
        """The pane's keys (d, R) and its footer hints need the focus inside the pane."""
        if not self.display or not self.is_on_screen:
            return
        focused = self.app.focused
        if focused is None or self not in focused.ancestors_with_self:
            self.focus()

    # --- loading ---------------------------------------------------------------------------

    def _title(self) -> str:
        edge = self.site.edge
        if edge is None:
            return f"Edge of site {self.site.name}"
        return f"Edge {edge.id} · {edge.paths.edge_env} · ssh {edge.ssh.host}"

    def show_state(self, state: SiteState) -> None:
        """Plan from the `.env` the last poll read; the admin's direction is kept as long as
        the file is the same."""
        if state.name != self.site.name or not self.is_mounted:
            return
        self._render_state(state)

    def _render_state(self, state: SiteState) -> None:
        before = self.preview
        try:
            edge_addresses(self.site)  # refuse early: no Edge, or no CC pair for XIVOCC_HOST
            self.preview = preview_from_snapshot(self.site, state.node(self._edge_id()))
            self.load_error = None
        except EdgeSetupError as exc:
            self.preview, self.load_error = None, str(exc)
        if self.preview is None and self.load_error is None:
            self.load_error = self._why_not_read(state)
        if self.preview is not None and (before is None or before.text != self.preview.text):
            self.user_direction = None if before is not None else self.user_direction
            self.direction = self.user_direction or default_direction(self.preview.targets)
        self.plan = self.preview.plan(self.direction) if self.preview is not None else None
        self._sync_radio()
        self._render_all()
        self.app.refresh_bindings()

    def _edge_id(self) -> str | None:
        return self.site.edge.id if self.site.edge is not None else None

    def _why_not_read(self, state: SiteState) -> str | None:
        snap = state.node(self._edge_id())
        if snap is None or snap.reachability.state.value == "not_polled":
            return None  # not polled yet: "reading" is shown
        if not snap.reachability.ok:
            return f"{snap.node_id} unreachable ({snap.reachability.state.value}): " + (
                snap.reachability.message or "no answer"
            )
        found = [e for e in snap.errors if "env" in e]
        return f"the .env was not read: {found[0] if found else 'see the Status detail'}"

    def _render_state_line(self) -> None:
        if self.is_mounted:
            self.query_one("#edge-state", Static).update(self._state_text())

    # --- rendering -------------------------------------------------------------------------

    def _render_all(self) -> None:
        if not self.is_mounted:
            return
        self.query_one("#edge-title", Static).update(self._title())
        self.query_one("#edge-state", Static).update(self._state_text())
        self.query_one("#edge-targets", Static).update(self._targets_text())
        self.query_one("#edge-summary", Static).update(self._summary_text())
        diff = self.query_one(EdgeDiffView)
        if self.plan is not None and self.preview is not None:
            diff.show_diff(self.plan.unified_diff(self.preview.path))
            diff.display = True
        else:
            diff.display = False
        notes = self._notes()
        notes_widget = self.query_one("#edge-notes", Static)
        notes_widget.update("\n".join(notes))
        notes_widget.display = bool(notes)
        self.query_one("#edge-direction-row").display = self.preview is not None

    def _state_text(self) -> Text:
        text = Text()
        if self.busy:
            text.append(f"▶ {self.busy} running…", style="bold yellow")
        elif self.load_error:
            text.append(f"✖ {self.load_error}", style="bold red")
        elif self.preview is None:
            text.append("… the Edge .env has not been polled yet", style="dim")
        else:
            overall = self.preview.overall
            text.append("Edge points to: ")
            text.append(overall.value.upper(), style=_SIDE_STYLE.get(overall, "bold"))
            node_id = self.preview.node.id
            text.append(
                f"   {self.state.node_as_of(node_id, time.time())}"
                f" · sha256 {self.preview.sha256[:12]}…",
                style="dim",
            )
            snap = self.state.node(node_id)
            if snap is not None and not snap.reachability.ok:
                # The last .env read is kept, but the node does not answer now: say so.
                text.append(
                    f"\n✖ {node_id} unreachable now ({snap.reachability.state.value}): this is "
                    "the last .env read; a switch is refused until it answers",
                    style="bold red",
                )
        text.rstrip()
        return text

    def _targets_text(self) -> Text:
        text = Text()
        if self.preview is None:
            return text
        sides = self.preview.sides
        values = self.preview.values()
        planned = (
            {e.name: e.new_value for e in self.plan.entries if e.effective}
            if self.plan is not None
            else {}
        )
        for name in EDGE_VARIABLES:
            side = sides[name]
            value = values.get(name)
            text.append(f"{name:<22} ")
            text.append(f"{side.value:<8}", style=_SIDE_STYLE.get(side, ""))
            text.append(f" {'(not set)' if value is None else value}")
            new = planned.get(name)
            if new is not None and new != value:
                text.append(f"  → {new}", style="bold")
            text.append("\n")
        text.rstrip()
        return text

    def _summary_text(self) -> Text:
        text = Text()
        plan = self.plan
        if plan is None:
            return text
        target = plan.direction.target.value
        if plan.errors:
            text.append(f"✖ Cannot switch to {target}:\n", style="bold red")
            for issue in plan.errors:
                text.append(f"  ✖ {issue.message}\n", style="red")
        elif plan.nothing_to_do:
            text.append(
                f"✔ Already on the {target} side: nothing to do (d switches the direction).",
                style="green",
            )
        else:
            changed = sum(1 for e in plan.entries if e.changed)
            key = "a greyed: read-only" if self.read_only else "press a to apply"
            text.append(f"Switch to {target}: {changed} assignment(s) change; {key}.", style="bold")
        text.rstrip()
        return text

    def _notes(self) -> list[str]:
        if self.plan is None:
            return []
        return [f"⚠ {note}" for note in plan_notes(self.plan)]

    def _sync_radio(self) -> None:
        if not self.is_mounted:
            return
        wanted = "#edge-to-slave" if self.direction is Direction.TO_SLAVE else "#edge-to-master"
        button = self.query_one(wanted, RadioButton)
        if not button.value:
            button.value = True

    # --- direction -------------------------------------------------------------------------

    @on(RadioSet.Changed, "#edge-direction")
    def _direction_changed(self, event: RadioSet.Changed) -> None:
        chosen = Direction.TO_MASTER if event.pressed.id == "edge-to-master" else Direction.TO_SLAVE
        if chosen is self.direction:
            return  # our own _sync_radio
        self.set_direction(chosen)

    def set_direction(self, direction: Direction) -> None:
        self.direction = direction
        self.user_direction = direction
        if self.preview is not None:
            self.plan = self.preview.plan(direction)
        self._sync_radio()
        self._render_all()
        self.app.refresh_bindings()

    def action_toggle_direction(self) -> None:
        self.set_direction(
            Direction.TO_MASTER if self.direction is Direction.TO_SLAVE else Direction.TO_SLAVE
        )

    # --- shell hooks -----------------------------------------------------------------------

    def show_site(self, site: Site) -> None:
        super().show_site(site)
        self.user_direction = None
        self.last_outcome = None
        self.preview, self.plan, self.load_error = None, None, None
        if self.is_mounted:
            self._show_outcome("", None)
            self.query_one(EdgeProgress).display = False
            self.show_state(self.state)

    def refresh_pane(self) -> None:
        if self.busy:
            self.notify("Edge: a change is running; refresh when it ends.", severity="warning")
            return
        edge = self._edge_id()
        if edge is not None:
            self.shell.repoll([edge], self.site.name)
        else:
            super().refresh_pane()

    def can_apply(self) -> bool:
        return (
            self.busy is None
            and self.preview is not None
            and self.plan is not None
            and self.plan.applicable
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        allowed = super().check_action(action, parameters)
        if action == "rollback" and allowed and (self.busy or self.site.edge is None):
            return None
        if action == "toggle_direction" and self.preview is None:
            return None
        return allowed

    def _refused(self, what: str) -> bool:
        return self.shell.refuse_if_read_only(what)

    # --- apply -----------------------------------------------------------------------------

    def apply(self) -> None:
        if self._refused("switching the Edge .env") or not self.can_apply():
            return
        preview, plan = self.preview, self.plan
        assert preview is not None and plan is not None
        changes = [f"  {e.name}: {e.old_value} → {e.new_value}" for e in plan.entries if e.changed]
        command = "\n".join(
            [
                f"back up {preview.path}, then replace it atomically with:",
                *changes,
                "then: edge-dcomp up -d (and watch edge-dcomp ps)",
            ]
        )
        notes = plan_notes(plan)
        warnings = notes[:4] + ([f"… and {len(notes) - 4} more above"] if len(notes) > 4 else [])
        # Live consequences first, from the console's picture of the site.
        state = self.state
        facts = site_facts(self.site, state.verdicts, state.nodes, time.time())
        found = edge_switch_consequences(facts, self.site, Side(plan.direction.target.value))
        screen = ConfirmScreen(
            f"Switch the Edge to {plan.direction.target.value}",
            command,
            f"{preview.node.id} (ssh {preview.node.ssh.host})",
            [*found.warnings, *warnings],
            confirm_label="Yes, switch",
            consequences=found.lines,
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self._start_apply(preview, plan)

        self.app.push_screen(screen, callback=answered)

    def _start_apply(self, preview: EdgePreview, plan: EdgeSwitchPlan) -> None:
        pool = self.shell.session.pool
        if self.busy:
            return
        self._begin(
            "apply",
            f"Switching {preview.node.id} to {plan.direction.target.value}",
            [step_text(s, preview.path) for s in APPLY_STEPS],
        )

        async def work() -> None:
            try:
                outcome = await apply_switch(
                    pool, preview.node, plan, path=preview.path, on_event=self._post_event
                )
            except Exception as exc:
                log.exception("edge apply failed")
                self.post_message(self.Finished(None, f"unexpected error: {exc!r}"))
            else:
                self.post_message(self.Finished(outcome))

        self.run_worker(work(), group=RUN_GROUP, exit_on_error=False, name="edge apply")

    def _post_event(self, event: EdgeEvent) -> None:
        self.post_message(self.Progress(event))

    def _begin(self, what: str, title: str, steps: list[str]) -> None:
        self.busy = what
        self.last_outcome = None
        self._show_outcome("", None)
        self.query_one(EdgeProgress).begin(title, steps)
        self._render_all()
        self.app.refresh_bindings()

    @on(Progress)
    def _progress(self, message: Progress) -> None:
        self.query_one(EdgeProgress).feed(message.event)

    @on(Finished)
    def _finished(self, message: Finished) -> None:
        what = self.busy or "change"
        self.busy = None
        self.query_one(EdgeProgress).end()
        outcome = message.outcome
        self.last_outcome = outcome
        if outcome is None:
            text = f"✖ {what} failed: {message.error}"
            self._show_outcome(text, False)
            self.notify(text, severity="error", markup=False)
        else:
            symbol = "✔" if outcome.ok else "✖"
            text = f"{symbol} {outcome.message}"
            if outcome.rollback_offered:
                text += "\nPress R to roll back (choose the backup to restore)."
            self._show_outcome(text, outcome.ok)
            self.notify(
                outcome.message,
                severity="information" if outcome.ok else "error",
                markup=False,
                timeout=10,
            )
        # The node changed (or may have): poll it again; every pane and the default
        # direction follow.
        self.user_direction = None
        edge = self._edge_id()
        if edge is not None:
            self.shell.repoll([edge], self.site.name)
        self.app.refresh_bindings()

    def _show_outcome(self, text: str, ok: bool | None) -> None:
        widget = self.query_one("#edge-outcome", Static)
        widget.update(text)
        widget.display = bool(text)
        widget.set_class(ok is True, "-ok")
        widget.set_class(ok is False, "-failed")

    # --- rollback --------------------------------------------------------------------------

    def action_rollback(self) -> None:
        if self._refused("rolling back the Edge .env"):
            return
        if self.busy:
            self.notify("Edge: a change is already running.", severity="warning")
            return
        node, pool = self.site.edge, self.shell.session.pool
        if node is None:
            self.notify("Edge: no Edge node to roll back on this site.", severity="warning")
            return

        async def work() -> None:
            try:
                backups = await list_edge_backups(pool, node)
            except Exception as exc:
                self.post_message(self.BackupsListed(None, error_text(exc)))
            else:
                self.post_message(self.BackupsListed(backups, None))

        self.run_worker(
            work(), group=LOAD_GROUP, exclusive=True, exit_on_error=False, name="edge backups"
        )

    @on(BackupsListed)
    def _backups_listed(self, message: BackupsListed) -> None:
        node = self.site.edge
        if message.error is not None or node is None:
            self.notify(
                f"Edge: cannot list backups: {message.error}", severity="error", markup=False
            )
            return
        if not message.backups:
            self.notify(
                f"Edge: no backup of {node.paths.edge_env} on {node.id}.",
                severity="warning",
                markup=False,
            )
            return
        picker = EdgeBackupPicker(node.id, node.paths.edge_env, message.backups)
        self.app.push_screen(picker, callback=self._backup_chosen)

    def _backup_chosen(self, path: str | None) -> None:
        node, pool = self.site.edge, self.shell.session.pool
        if path is None or node is None:
            return

        async def work() -> None:
            try:
                preview = await load_rollback_preview(pool, node, path)
            except Exception as exc:
                self.post_message(self.RollbackPreviewed(None, error_text(exc)))
            else:
                self.post_message(self.RollbackPreviewed(preview, None))

        self.run_worker(
            work(),
            group=LOAD_GROUP,
            exclusive=True,
            exit_on_error=False,
            name="edge rollback preview",
        )

    @on(RollbackPreviewed)
    def _rollback_previewed(self, message: RollbackPreviewed) -> None:
        preview = message.preview
        if preview is None:
            self.notify(
                f"Edge: cannot read the backup: {message.error}", severity="error", markup=False
            )
            return
        changed = [
            line
            for line in preview.diff().splitlines()
            if line[:1] in "+-" and not line.startswith(("+++", "---"))
        ]
        command = "\n".join(
            [
                f"restore {preview.path} from {preview.name}",
                f"(taken {preview.backup.taken:%Y-%m-%d %H:%M:%S} UTC; the current file is "
                "backed up first)",
                *(changed[:12] or ["(same content as now: only edge-dcomp up -d runs)"]),
                "then: edge-dcomp up -d (and watch edge-dcomp ps)",
            ]
        )
        screen = ConfirmScreen(
            "Roll back the Edge .env",
            command,
            f"{preview.node.id} (ssh {preview.node.ssh.host})",
            confirm_label="Yes, restore",
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self._start_rollback(preview)

        self.app.push_screen(screen, callback=answered)

    def _start_rollback(self, preview: RollbackPreview) -> None:
        pool = self.shell.session.pool
        if self.busy:
            return
        self._begin(
            "rollback",
            f"Restoring {preview.name} on {preview.node.id}",
            [step_text(s, preview.path) for s in ROLLBACK_STEPS],
        )

        async def work() -> None:
            try:
                outcome = await rollback(
                    pool,
                    preview.node,
                    backup=preview.backup.path,
                    expected_sha256=preview.current_sha256,
                    path=preview.path,
                    on_event=self._post_event,
                )
            except Exception as exc:
                log.exception("edge rollback failed")
                self.post_message(self.Finished(None, f"unexpected error: {exc!r}"))
            else:
                self.post_message(self.Finished(outcome))

        self.run_worker(work(), group=RUN_GROUP, exit_on_error=False, name="edge rollback")
