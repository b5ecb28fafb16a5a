"""Edge pane: where the Edge proxy points, the diff of switching it, apply and rollback.

The `.env` shown is the one the last status poll read (the shell's site state, with its
age); the plan comes from the pure planner, so what is shown is what `a` writes, and the
apply re-reads the file and refuses unless it is still that text. Apply and rollback run
in workers (named groups, `exit_on_error=False`) that only post messages: progress events
from ops.edge, then the outcome; the Edge is polled again as soon as they end. Both are
greyed out in read-only mode, and refused again by the remote layer whatever the UI does.

A site with several Edge nodes (a 3-server Edge) shows each node's targets and diff (the
diff headers name the node and the path); `a` switches them all with one confirmation
(ops.edge.apply_switches: nothing is written unless every node was read and answers), and
`R` asks which backup to restore on each node, then confirms once. A change refused by a
node's stale lock is offered again with the lock broken, behind the node id typed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import RadioButton, RadioSet, Static

from resil_tui.core.edge_env import Direction, EdgeSwitchPlan
from resil_tui.core.edge_side import EDGE_VARIABLES, EdgeSide, VarSide
from resil_tui.core.roles import RoleWords, reword, role_words
from resil_tui.core.site_facts import edge_switch_consequences, site_facts
from resil_tui.inventory_model import Node, Side, Site
from resil_tui.ops.edge import (
    APPLY_STEPS,
    ROLLBACK_STEPS,
    BackupInfo,
    EdgeChange,
    EdgeEvent,
    EdgePreview,
    EdgeSetupError,
    RollbackPreview,
    SiteEdgeOutcome,
    apply_switches,
    default_direction,
    edge_addresses,
    list_edge_backups,
    load_rollback_preview,
    plan_notes,
    preview_from_snapshot,
    rollback_all,
    step_text,
)
from resil_tui.ops.errors import error_text
from resil_tui.ops.site_state import SiteState
from resil_tui.ui.panes.base import Pane
from resil_tui.ui.panes.catalog import EDGE
from resil_tui.ui.screens.confirm import ConfirmScreen
from resil_tui.ui.widgets.edge_backups import EdgeBackupPicker
from resil_tui.ui.widgets.edge_diff import EdgeDiffView
from resil_tui.ui.widgets.edge_progress import EdgeProgress
from resil_tui.ui.widgets.stale_lock import break_stale_lock_screen

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
    PANE_ID = EDGE.pane_id
    TITLE = EDGE.title
    READ_ONLY_EFFECT = "the switch (a) and the rollback (R) are"
    MUTATING_ACTIONS: ClassVar[frozenset[str]] = frozenset({"rollback"})

    # The keys live in the catalog: help, keymap and palette read them before this
    # module is loaded.
    BINDINGS: ClassVar[list[BindingType]] = EDGE.bindings

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
        def __init__(self, outcome: SiteEdgeOutcome | None, error: str | None = None) -> None:
            super().__init__()
            self.outcome = outcome
            self.error = error

    class BackupsListed(Message):
        def __init__(self, backups: dict[str, list[BackupInfo]] | None, error: str | None) -> None:
            super().__init__()
            self.backups = backups  # node id -> its backups, newest first
            self.error = error

    class RollbackPreviewed(Message):
        def __init__(self, previews: list[RollbackPreview] | None, error: str | None) -> None:
            super().__init__()
            self.previews = previews
            self.error = error

    # --- state -----------------------------------------------------------------------------

    def __init__(self, site: Site) -> None:
        super().__init__(site)
        # One preview and plan per Edge node read, in inventory order.
        self.previews: tuple[EdgePreview, ...] = ()
        self.plans: tuple[EdgeSwitchPlan, ...] = ()
        self.direction: Direction = Direction.TO_SLAVE
        self.user_direction: Direction | None = None  # chosen by the admin for this file
        self.busy: str | None = None  # "apply" / "rollback" while a change runs
        self.load_error: str | None = None
        self.last_outcome: SiteEdgeOutcome | None = None
        self._picked: dict[str, str] = {}  # rollback: node id -> the backup chosen
        self._retry: Callable[[frozenset[str]], None] | None = None  # the change refused

    @property
    def preview(self) -> EdgePreview | None:
        """The first Edge node's preview (the only one on a 1-server Edge)."""
        return self.previews[0] if self.previews else None

    @property
    def plan(self) -> EdgeSwitchPlan | None:
        return self.plans[0] if self.plans else None

    @property
    def words(self) -> RoleWords:
        """master/slave, or Main/Standby on a next-LTS site (core/roles.py)."""
        return role_words(self.site.resilience)

    @property
    def several(self) -> bool:
        return len(self.site.edges) > 1

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
                yield RadioButton(f"to {self.words.slave}", value=True, id="edge-to-slave")
                yield RadioButton(f"to {self.words.master}", id="edge-to-master")
        yield Static("", id="edge-summary", markup=False)
        yield EdgeDiffView(id="edge-diff")
        yield Static("", id="edge-notes", markup=False)

    def pane_mounted(self) -> None:
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
        edges = self.site.edges
        if not edges:
            return f"Edge of site {self.site.name}"
        if len(edges) > 1:
            return f"Edge of site {self.site.name} · {len(edges)} nodes switched together: " + (
                ", ".join(e.id for e in edges)
            )
        edge = edges[0]
        return f"Edge {edge.id} · {edge.paths.edge_env} · ssh {edge.ssh.host}"

    def show_state(self, state: SiteState) -> None:
        """Plan from the `.env` the last poll read; the admin's direction is kept as long as
        the file is the same."""
        if state.name != self.site.name or not self.is_mounted:
            return
        self._render_state(state)

    def _render_state(self, state: SiteState) -> None:
        before = tuple(p.text for p in self.previews)
        previews: list[EdgePreview] = []
        why: list[str] = []
        try:
            edge_addresses(self.site)  # refuse early: no Edge, or no CC pair for XIVOCC_HOST
            for node in self.site.edges:
                preview = preview_from_snapshot(self.site, node, state.node(node.id))
                if preview is not None:
                    previews.append(preview)
                else:
                    reason = self._why_not_read(state, node)
                    if reason is not None:
                        why.append(reason)
            self.load_error = "; ".join(why) or None
        except EdgeSetupError as exc:
            previews, self.load_error = [], str(exc)
        self.previews = tuple(previews)
        now = tuple(p.text for p in self.previews)
        if self.previews and now != before:
            self.user_direction = None if before else self.user_direction
            self.direction = self.user_direction or default_direction(self.previews[0].targets)
        self.plans = tuple(p.plan(self.direction) for p in self.previews)
        self._sync_radio()
        self._render_all()
        self.app.refresh_bindings()

    def _edge_ids(self) -> list[str]:
        return [n.id for n in self.site.edges]

    def _why_not_read(self, state: SiteState, node: Node) -> str | None:
        snap = state.node(node.id)
        if snap is None or snap.reachability.state.value == "not_polled":
            return None  # not polled yet: "reading" is shown
        if not snap.reachability.ok:
            return f"{snap.node_id} unreachable ({snap.reachability.state.value}): " + (
                snap.reachability.message or "no answer"
            )
        found = [e for e in snap.errors if "env" in e]
        where = f" on {node.id}" if self.several else ""
        return f"the .env was not read{where}: {found[0] if found else 'see the Status detail'}"

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
        if self.plans:
            # Several nodes: one diff each, its headers naming the node and the path.
            diff.show_diff(
                "".join(
                    plan.unified_diff(f"{p.node.id}:{p.path}" if self.several else p.path)
                    for p, plan in zip(self.previews, self.plans, strict=True)
                )
            )
            diff.display = True
        else:
            diff.display = False
        notes = self._notes()
        notes_widget = self.query_one("#edge-notes", Static)
        notes_widget.update("\n".join(notes))
        notes_widget.display = bool(notes)
        self.query_one("#edge-direction-row").display = bool(self.previews)

    def _state_text(self) -> Text:
        text = Text()
        if self.busy:
            text.append(f"▶ {self.busy} running…", style="bold yellow")
        elif self.load_error and not self.previews:
            text.append(f"✖ {self.load_error}", style="bold red")
        elif not self.previews:
            text.append("… the Edge .env has not been polled yet", style="dim")
        else:
            for index, preview in enumerate(self.previews):
                if index:
                    text.append("\n")
                self._state_of(text, preview)
            if self.load_error:
                text.append(
                    f"\n✖ {self.load_error}: the Edge nodes switch together, so a switch is "
                    "refused until every one is read",
                    style="bold red",
                )
        text.rstrip()
        return text

    def _state_of(self, text: Text, preview: EdgePreview) -> None:
        overall = preview.overall
        node_id = preview.node.id
        text.append(f"{node_id} points to: " if self.several else "Edge points to: ")
        text.append(self.words.of(overall.value).upper(), style=_SIDE_STYLE.get(overall, "bold"))
        text.append(
            f"   {self.state.node_as_of(node_id, time.time())} · sha256 {preview.sha256[:12]}…",
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

    def _targets_text(self) -> Text:
        text = Text()
        for index, (preview, plan) in enumerate(zip(self.previews, self.plans, strict=True)):
            if self.several:
                text.append(
                    f"{'' if index == 0 else chr(10)}{preview.node.id} · {preview.path}\n",
                    style="bold",
                )
            self._targets_of(text, preview, plan)
        text.rstrip()
        return text

    def _targets_of(self, text: Text, preview: EdgePreview, plan: EdgeSwitchPlan) -> None:
        sides = preview.sides
        values = preview.values()
        planned = {e.name: e.new_value for e in plan.entries if e.effective}
        for name in EDGE_VARIABLES:
            side = sides[name]
            value = values.get(name)
            text.append(f"{name:<22} ")
            text.append(f"{self.words.of(side.value):<8}", style=_SIDE_STYLE.get(side, ""))
            text.append(f" {'(not set)' if value is None else value}")
            new = planned.get(name)
            if new is not None and new != value:
                text.append(f"  → {new}", style="bold")
            text.append("\n")

    def _summary_text(self) -> Text:
        text = Text()
        if not self.plans:
            return text
        target = self.words.of(self.direction.target.value)
        errors = [
            (p.node.id, issue.message)
            for p, plan in zip(self.previews, self.plans, strict=True)
            for issue in plan.errors
        ]
        if errors:
            text.append(f"✖ Cannot switch to {target}:\n", style="bold red")
            for node_id, message in errors:
                at = f"{node_id}: " if self.several else ""
                text.append(f"  ✖ {at}{message}\n", style="red")
        elif all(plan.nothing_to_do for plan in self.plans):
            text.append(
                f"✔ Already on the {target} side: nothing to do (d switches the direction).",
                style="green",
            )
        else:
            changed = sum(1 for plan in self.plans for e in plan.entries if e.changed)
            key = "a greyed: read-only" if self.read_only else "press a to apply"
            on = f" on {len(self.plans)} Edge nodes" if self.several else ""
            text.append(
                f"Switch to {target}: {changed} assignment(s) change{on}; {key}.", style="bold"
            )
        text.rstrip()
        return text

    def _notes(self) -> list[str]:
        return [
            f"⚠ {p.node.id}: {note}" if self.several else f"⚠ {note}"
            for p, plan in zip(self.previews, self.plans, strict=True)
            for note in plan_notes(plan)
        ]

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
        self.plans = tuple(p.plan(direction) for p in self.previews)
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
        self.previews, self.plans, self.load_error = (), (), None
        if self.is_mounted:
            self.query_one("#edge-to-slave", RadioButton).label = f"to {self.words.slave}"
            self.query_one("#edge-to-master", RadioButton).label = f"to {self.words.master}"
            self._show_outcome("", None)
            self.query_one(EdgeProgress).display = False
            self.show_state(self.state)

    def refresh_pane(self) -> None:
        if self.busy:
            self.notify("Edge: a change is running; refresh when it ends.", severity="warning")
            return
        edges = self._edge_ids()
        if edges:
            self.shell.repoll(edges, self.site.name)
        else:
            super().refresh_pane()

    def can_apply(self) -> bool:
        """Every Edge node read, none with an error, at least one with a change."""
        return (
            self.busy is None
            and bool(self.previews)
            and len(self.previews) == len(self.site.edges)
            and not any(plan.errors for plan in self.plans)
            and any(plan.applicable for plan in self.plans)
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        allowed = super().check_action(action, parameters)
        if action == "rollback" and allowed and (self.busy or not self.site.edges):
            return None
        if action == "toggle_direction" and not self.previews:
            return None
        return allowed

    def _refused(self, what: str) -> bool:
        return self.shell.refuse_if_read_only(what)

    # --- apply -----------------------------------------------------------------------------

    def apply(self) -> None:
        if self._refused("switching the Edge .env") or not self.can_apply():
            return
        changes = [
            EdgeChange(p.node, plan, p.path)
            for p, plan in zip(self.previews, self.plans, strict=True)
        ]
        lines: list[str] = []
        for change in changes:
            at = f"{change.node.id}: " if self.several else ""
            if change.plan.nothing_to_do:
                lines.append(f"{at}{change.path} already there: nothing written")
                continue
            lines.append(f"{at}back up {change.path}, then replace it atomically with:")
            lines += [
                f"  {e.name}: {e.old_value} → {e.new_value}"
                for e in change.plan.entries
                if e.changed
            ]
        lines.append(
            "then: edge-dcomp up -d (and watch edge-dcomp ps)"
            + (" on each" if self.several else "")
        )
        notes = [n.removeprefix("⚠ ") for n in self._notes()]
        warnings = notes[:4] + ([f"… and {len(notes) - 4} more above"] if len(notes) > 4 else [])
        # Live consequences first, from the console's picture of the site.
        state = self.state
        facts = site_facts(self.site, state.verdicts, state.nodes, time.time())
        found = edge_switch_consequences(facts, self.site, Side(self.direction.target.value))
        screen = ConfirmScreen(
            f"Switch the Edge to the {self.words.of(self.direction.target.value)}",
            "\n".join(lines),
            ", ".join(f"{c.node.id} (ssh {c.node.ssh.host})" for c in changes),
            [reword(w, self.words) for w in (*found.warnings, *warnings)],
            confirm_label="Yes, switch",
            consequences=[reword(line, self.words) for line in found.lines],
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self._start_apply(changes, frozenset())

        self.app.push_screen(screen, callback=answered)

    def _start_apply(self, changes: list[EdgeChange], break_stale: frozenset[str]) -> None:
        pool = self.shell.session.pool
        if self.busy:
            return
        target = self.words.of(changes[0].plan.direction.target.value)
        self._begin(
            "apply",
            f"Switching {', '.join(c.node.id for c in changes)} to {target}",
            [step_text(s, changes[0].path or "") for s in APPLY_STEPS],
            [c.node.id for c in changes],
        )
        self._retry = lambda nodes: self._start_apply(changes, nodes)

        async def work() -> None:
            try:
                outcome = await apply_switches(
                    pool, changes, on_event=self._post_event, break_stale=break_stale
                )
            except Exception as exc:
                log.exception("edge apply failed")
                self.post_message(self.Finished(None, f"unexpected error: {exc!r}"))
            else:
                self.post_message(self.Finished(outcome))

        self.run_worker(work(), group=RUN_GROUP, exit_on_error=False, name="edge apply")

    def _post_event(self, event: EdgeEvent) -> None:
        self.post_message(self.Progress(event))

    def _begin(self, what: str, title: str, steps: list[str], nodes: list[str]) -> None:
        self.busy = what
        self.last_outcome = None
        self._show_outcome("", None)
        self.query_one(EdgeProgress).begin(title, steps, nodes)
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
            said = reword(outcome.message, self.words)
            text = said if self.several else f"{symbol} {said}"
            if outcome.rollback_nodes:
                on = f" ({', '.join(outcome.rollback_nodes)})" if self.several else ""
                text += f"\nPress R to roll back{on} (choose the backup to restore)."
            self._show_outcome(text, outcome.ok)
            self.notify(
                said,
                severity="information" if outcome.ok else "error",
                markup=False,
                timeout=10,
            )
            stale = outcome.stale_lock_nodes
            if stale and self._retry is not None:
                self._offer_break(stale[0], what, outcome, self._retry)
        # The nodes changed (or may have): poll them again; every pane and the default
        # direction follow.
        self.user_direction = None
        edges = self._edge_ids()
        if edges:
            self.shell.repoll(edges, self.site.name)
        self.app.refresh_bindings()

    def _offer_break(
        self,
        node_id: str,
        what: str,
        outcome: SiteEdgeOutcome,
        retry: Callable[[frozenset[str]], None],
    ) -> None:
        """A change refused by a stale lock: break it (typed node id) and retry."""
        refusal = next((o.message for o in outcome.outcomes if o.node_id == node_id), "")
        screen = break_stale_lock_screen(node_id, f"the Edge {what}", refusal)

        def answered(yes: bool | None) -> None:
            if yes and not self._refused(f"breaking the lock of {node_id}"):
                retry(frozenset({node_id}))

        self.app.push_screen(screen, callback=answered)

    def _show_outcome(self, text: str, ok: bool | None) -> None:
        widget = self.query_one("#edge-outcome", Static)
        widget.update(text)
        widget.display = bool(text)
        widget.set_class(ok is True, "-ok")
        widget.set_class(ok is False, "-failed")

    # --- rollback --------------------------------------------------------------------------

    def _rollback_targets(self) -> list[Node]:
        """After a run that did not end well, the nodes it changed; else every Edge node."""
        last = self.last_outcome
        wanted = set(last.rollback_nodes) if last is not None else set()
        return [n for n in self.site.edges if not wanted or n.id in wanted]

    def action_rollback(self) -> None:
        if self._refused("rolling back the Edge .env"):
            return
        if self.busy:
            self.notify("Edge: a change is already running.", severity="warning")
            return
        nodes, pool = self._rollback_targets(), self.shell.session.pool
        if not nodes:
            self.notify("Edge: no Edge node to roll back on this site.", severity="warning")
            return

        async def work() -> None:
            found: dict[str, list[BackupInfo]] = {}
            try:
                for node in nodes:
                    found[node.id] = await list_edge_backups(pool, node)
            except Exception as exc:
                self.post_message(self.BackupsListed(None, error_text(exc)))
            else:
                self.post_message(self.BackupsListed(found, None))

        self.run_worker(
            work(), group=LOAD_GROUP, exclusive=True, exit_on_error=False, name="edge backups"
        )

    @on(BackupsListed)
    def _backups_listed(self, message: BackupsListed) -> None:
        if message.error is not None or message.backups is None:
            self.notify(
                f"Edge: cannot list backups: {message.error}", severity="error", markup=False
            )
            return
        nodes = {n.id: n for n in self.site.edges}
        empty = [nodes[i] for i, found in message.backups.items() if not found and i in nodes]
        if empty:
            self.notify(
                "Edge: no backup of "
                + ", ".join(f"{n.paths.edge_env} on {n.id}" for n in empty)
                + ".",
                severity="warning",
                markup=False,
            )
            return
        self._picked = {}
        self._pick_next([(nodes[i], found) for i, found in message.backups.items() if i in nodes])

    def _pick_next(self, queue: list[tuple[Node, list[BackupInfo]]]) -> None:
        """One picker per node (a 1-server Edge: just one), then one confirmation."""
        if not queue:
            self._load_rollback_previews(dict(self._picked))
            return
        node, backups = queue[0]

        def chosen(path: str | None) -> None:
            if path is None:
                self._picked = {}
                return  # escape cancels the whole rollback
            self._picked[node.id] = path
            self._pick_next(queue[1:])

        self.app.push_screen(
            EdgeBackupPicker(node.id, node.paths.edge_env, backups), callback=chosen
        )

    def _load_rollback_previews(self, picked: dict[str, str]) -> None:
        nodes = [n for n in self.site.edges if n.id in picked]
        pool = self.shell.session.pool

        async def work() -> None:
            try:
                previews = [await load_rollback_preview(pool, n, picked[n.id]) for n in nodes]
            except Exception as exc:
                self.post_message(self.RollbackPreviewed(None, error_text(exc)))
            else:
                self.post_message(self.RollbackPreviewed(previews, None))

        self.run_worker(
            work(),
            group=LOAD_GROUP,
            exclusive=True,
            exit_on_error=False,
            name="edge rollback preview",
        )

    @on(RollbackPreviewed)
    def _rollback_previewed(self, message: RollbackPreviewed) -> None:
        previews = message.previews
        if not previews:
            self.notify(
                f"Edge: cannot read the backup: {message.error}", severity="error", markup=False
            )
            return
        lines: list[str] = []
        for preview in previews:
            changed = [
                line
                for line in preview.diff().splitlines()
                if line[:1] in "+-" and not line.startswith(("+++", "---"))
            ]
            at = f"{preview.node.id}: " if len(previews) > 1 else ""
            lines += [
                f"{at}restore {preview.path} from {preview.name}",
                f"(taken {preview.backup.taken:%Y-%m-%d %H:%M:%S} UTC; the current file is "
                "backed up first)",
                *(changed[:12] or ["(same content as now: only edge-dcomp up -d runs)"]),
            ]
        lines.append("then: edge-dcomp up -d (and watch edge-dcomp ps)")
        screen = ConfirmScreen(
            "Roll back the Edge .env",
            "\n".join(lines),
            ", ".join(f"{p.node.id} (ssh {p.node.ssh.host})" for p in previews),
            confirm_label="Yes, restore",
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self._start_rollback(previews, frozenset())

        self.app.push_screen(screen, callback=answered)

    def _start_rollback(self, previews: list[RollbackPreview], break_stale: frozenset[str]) -> None:
        pool = self.shell.session.pool
        if self.busy:
            return
        names = ", ".join(f"{p.name} on {p.node.id}" for p in previews)
        self._begin(
            "rollback",
            f"Restoring {names}",
            [step_text(s, previews[0].path) for s in ROLLBACK_STEPS],
            [p.node.id for p in previews],
        )
        self._retry = lambda nodes: self._start_rollback(previews, nodes)

        async def work() -> None:
            try:
                outcome = await rollback_all(
                    pool, previews, on_event=self._post_event, break_stale=break_stale
                )
            except Exception as exc:
                log.exception("edge rollback failed")
                self.post_message(self.Finished(None, f"unexpected error: {exc!r}"))
            else:
                self.post_message(self.Finished(outcome))

        self.run_worker(work(), group=RUN_GROUP, exit_on_error=False, name="edge rollback")
