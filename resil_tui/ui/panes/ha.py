"""HA pane: each XiVO node's HA mode, the form that changes it, and the four HA scripts.

It renders the XiVO pair from the shell's site state (the status poll: ha.conf, cron,
services, SIP expiry) with its age, and polls nothing itself. Actions are planned by
`resil_tui.ops.ha` (an `HaAction` holds the one command object: the confirmation shows it,
`run_action` sends it) and run in Textual workers (group `ha-action`,
`exit_on_error=False`) that only post messages. One action runs at a time. Every action is
confirmed (a typed confirmation for disabling HA), refused in read-only mode, audited by
the pool, and its full output is kept in the node's history, shown in the console below
the form while that node is selected; the node is polled again as soon as it ends.

The slave's root password for `xivo-sync -i` is asked in a masked input that appears in
the console only while the PTY waits for it; the value goes straight to the PTY and the
input is cleared at once.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Log, RadioButton, RadioSet, Static

from resil_tui.core.ha import HaMode
from resil_tui.core.ha_form import DISABLE_WARNING, FormValidation, HaPreview
from resil_tui.core.ha_webui import site_sip_expiry
from resil_tui.core.roles import reword, role_words
from resil_tui.inventory_model import Node, Site
from resil_tui.ops.errors import error_text
from resil_tui.ops.ha import (
    ActionRecord,
    HaAction,
    HaSiteState,
    SlaveAction,
    ha_site_state,
    peer_node,
    plan_check_master,
    plan_manage_slave,
    plan_replication,
    plan_restart,
    plan_set_mode,
    plan_sync,
    plan_sync_init,
    preview_for,
    read_ha_site,
    run_action,
    slave_start_risk,
    validate_for_node,
)
from resil_tui.ops.site_state import SiteState
from resil_tui.ui.panes.base import Pane
from resil_tui.ui.panes.catalog import HA
from resil_tui.ui.screens.confirm import ConfirmScreen, TypedConfirmScreen
from resil_tui.ui.widgets.ha_node_card import HaNodeCard
from resil_tui.ui.widgets.stale_lock import break_stale_lock_screen

ACTION_GROUP = "ha-action"
MODES = (HaMode.DISABLED, HaMode.MASTER, HaMode.SLAVE)
FLUSH_SECONDS = 0.08


@dataclass
class ConfirmRequest:
    title: str
    action: HaAction  # what runs: its command is what the confirmation shows
    warnings: list[str]
    typed: bool = False
    confirm_label: str = "Yes, run it"

    @property
    def node(self) -> Node:
        return self.action.node


class HaPane(Pane):
    PANE_ID = HA.pane_id
    TITLE = HA.title
    READ_ONLY_EFFECT = "the HA form (a) and the scripts (p S i c u x R) are"
    DEFAULT_CSS = """
    HaPane #ha-cards { height: auto; }
    HaPane RadioSet { layout: horizontal; width: auto; height: auto; }
    HaPane #ha-form-buttons, HaPane #ha-actions { height: auto; }
    HaPane #ha-actions Button { min-width: 8; margin-right: 1; }
    HaPane #ha-form-issues.-error { color: $error; }
    HaPane #ha-peer.-invalid { border: tall $error; }
    HaPane #ha-console { height: 16; border: round $primary; }
    HaPane .ha-label { margin-top: 1; }
    """
    MUTATING_ACTIONS: ClassVar[frozenset[str]] = frozenset(
        {
            "replicate",
            "sync",
            "sync_init",
            "check_master",
            "slave_start",
            "slave_stop",
            "restart_services",
        }
    )
    # The keys live in the catalog: help, keymap and palette read them before this
    # module is loaded.
    BINDINGS: ClassVar[list[BindingType]] = HA.bindings

    class Line(Message):
        bubble = False

        def __init__(self, node_id: str, text: str) -> None:
            super().__init__()
            self.node_id, self.text = node_id, text

    class ActionDone(Message):
        bubble = False

        def __init__(self, record: ActionRecord) -> None:
            super().__init__()
            self.record = record

    class Confirm(Message):
        bubble = False

        def __init__(self, request: ConfirmRequest) -> None:
            super().__init__()
            self.request = request

    class PasswordWanted(Message):
        bubble = False

        def __init__(self, prompt: str) -> None:
            super().__init__()
            self.prompt = prompt

    def __init__(self, site: Site) -> None:
        super().__init__(site)
        self.selected: str = site.xivo_master.id
        self._prefilled = False
        self.history: dict[str, list[ActionRecord]] = {}
        self.live: dict[str, list[str]] = {}
        self.restart_pending: set[str] = set()
        self._planned: dict[str, HaAction] = {}  # node id -> the action running there
        self.busy: str | None = None  # the action running, if any
        self._pending_lines: list[str] = []
        self._password: asyncio.Future[str | None] | None = None

    # --- layout -----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static("", id="ha-as-of", markup=False)
        yield Static("", id="ha-pair", markup=False)
        with Horizontal(id="ha-cards"):
            yield HaNodeCard(self.site.xivo_master, id="ha-card-master")
            yield HaNodeCard(self.site.xivo_slave, id="ha-card-slave")
        yield Static("Node to change / act on:", classes="ha-label")
        with RadioSet(id="ha-node"):
            yield RadioButton(self.site.xivo_master.id, value=True, id="ha-node-master")
            yield RadioButton(self.site.xivo_slave.id, id="ha-node-slave")
        yield Static("HA mode:", classes="ha-label")
        modes, peer = self._mode_labels(self.site)
        with RadioSet(id="ha-mode"):
            for mode, label in zip(MODES, modes, strict=True):
                yield RadioButton(label, id=f"ha-mode-{mode.value}")
        yield Static(peer, id="ha-peer-label", classes="ha-label", markup=False)
        yield Input(placeholder="e.g. 10.0.0.12", id="ha-peer")
        yield Static("", id="ha-form-issues", markup=False)
        yield Static("", id="ha-preview", markup=False)
        with Horizontal(id="ha-form-buttons"):
            yield Button("a  Apply", id="ha-apply", variant="warning", disabled=True)
        yield Static("Scripts (on the selected node):", classes="ha-label")
        with Horizontal(id="ha-actions"):
            yield Button("p Replicate DB", id="ha-btn-replicate")
            yield Button("S xivo-sync", id="ha-btn-sync")
            yield Button("i xivo-sync -i", id="ha-btn-sync-init")
            w = role_words(self.site.resilience)
            yield Button(f"c Check {w.master}", id="ha-btn-check")
            yield Button(f"u {w.slave.capitalize()} start", id="ha-btn-slave-start")
            yield Button(f"x {w.slave.capitalize()} stop", id="ha-btn-slave-stop")
            yield Button("R Restart services", id="ha-btn-restart")
        yield Static("", id="ha-restart-pending", markup=False)
        # Hidden until a script asks for the slave's password (set here, not in on_mount:
        # a pane mounted while the console closes has no children left to query).
        prompt = Static("", id="ha-password-prompt", markup=False)
        prompt.display = False
        yield prompt
        password = Input(
            password=True,
            id="ha-password",
            placeholder=f"{role_words(self.site.resilience).slave} root password",
        )
        password.display = False
        yield password
        yield Static("", id="ha-history", markup=False)
        yield Log(id="ha-console", max_lines=5000, highlight=False)

    def pane_mounted(self) -> None:
        self.set_interval(FLUSH_SECONDS, self._flush_console)
        # Widgets are queryable once mounted; render then (is_mounted is False in on_mount).
        self.call_after_refresh(self._render_all)
        self.set_interval(1.0, self._render_as_of)

    # --- the site state ---------------------------------------------------------------------

    @property
    def ha_state(self) -> HaSiteState | None:
        """The XiVO pair as the last poll of the site saw it (None before the first)."""
        report = self.state.report
        return ha_site_state(self.site, report) if report is not None else None

    def show_state(self, state: SiteState) -> None:
        if state.name != self.site.name or not self.is_mounted:
            return
        if not self._prefilled and self.ha_state is not None:
            self._prefilled = True
            self._prefill_form()
        self._render_all()

    @property
    def node(self) -> Node:
        return (
            self.site.xivo_master
            if self.selected == self.site.xivo_master.id
            else (self.site.xivo_slave)
        )

    def select_node(self, node_id: str) -> None:
        if node_id not in (self.site.xivo_master.id, self.site.xivo_slave.id):
            raise KeyError(node_id)
        self.selected = node_id
        button = "#ha-node-master" if node_id == self.site.xivo_master.id else "#ha-node-slave"
        self.query_one(button, RadioButton).value = True
        self._prefill_form()
        self._render_all()
        self._refill_console()

    def form_mode(self) -> HaMode | None:
        pressed = self.query_one("#ha-mode", RadioSet).pressed_index
        return MODES[pressed] if 0 <= pressed < len(MODES) else None

    def set_form(self, mode: HaMode, peer: str | None = None) -> None:
        self.query_one(f"#ha-mode-{mode.value}", RadioButton).value = True
        if peer is not None:
            self.query_one("#ha-peer", Input).value = peer
        self._render_form()

    def validation(self) -> FormValidation:
        return validate_for_node(
            self.site, self.node, self.form_mode(), self.query_one("#ha-peer", Input).value
        )

    def preview(self) -> HaPreview | None:
        v = self.validation()
        state = self.ha_state
        ns = state.node(self.node.id) if state else None
        if not v.ok or state is None or ns is None or not ns.reachable:
            return None
        return preview_for(self.site, self.node, state, v)

    def _refuse_read_only(self, what: str) -> bool:
        return self.shell.refuse_if_read_only(what)

    # --- rendering --------------------------------------------------------------------------

    def _render_as_of(self) -> None:
        if self.is_mounted:
            self.query_one("#ha-as-of", Static).update(self.state.as_of(time.time()))

    def _render_all(self) -> None:
        if not self.is_mounted:
            return
        self._render_as_of()
        self._render_pair()
        state = self.ha_state
        for card in self.query(HaNodeCard):
            card.show(
                state,
                selected=card.node.id == self.selected,
                restart_pending=card.node.id in self.restart_pending,
            )
        self._render_form()
        self._render_history()
        pending = sorted(self.restart_pending)
        self.query_one("#ha-restart-pending", Static).update(
            f"⚠ Restart pending on {', '.join(pending)}: the seed requires `xivo-service "
            "restart` after configuring a master or disabling a node (R restarts)."
            if pending
            else ""
        )
        self.query_one("#ha-actions").disabled = self.read_only
        self.query_one("#ha-actions").set_class(self.busy is not None, "-busy")

    def _render_pair(self) -> None:
        pair = self.query_one("#ha-pair", Static)
        state = self.ha_state
        if state is None:
            text = "HA of the XiVO pair: not polled yet…"
            if not self.shell.poller.enabled:
                text = "HA of the XiVO pair: not read (polling is off in this console)"
            pair.update(text)
            return
        v = state.verdicts
        lines = [f"Pair: {v.primary.title} — {v.primary.explanation}"]
        lines.extend(f"  {f}" for f in state.ha_findings())
        if self.busy:
            lines.append(f"  … running: {self.busy}")
        pair.update("\n".join(lines))

    def _render_form(self) -> None:
        if not self.is_mounted:
            return
        v = self.validation()
        issues = self.query_one("#ha-form-issues", Static)
        text = [f"✖ {e}" for e in v.errors] + [f"⚠ {w}" for w in v.warnings]
        if v.mode is None:
            text = ["choose a mode"]
        issues.update("\n".join(text))
        issues.set_class(bool(v.errors), "-error")
        self.query_one("#ha-peer", Input).set_class(
            any(i.field == "peer" and i.level.value == "error" for i in v.issues), "-invalid"
        )
        preview = self.preview()
        self.query_one("#ha-preview", Static).update(
            "\n".join(["Preview:", *preview.lines()]) if preview is not None else ""
        )
        self.query_one("#ha-apply", Button).disabled = not self.can_apply() or self.read_only
        self.app.refresh_bindings()

    def _render_history(self) -> None:
        records = self.history.get(self.selected, [])
        lines = [f"History of {self.selected} ({len(records)} action(s)); full output below:"]
        for rec in records[-6:]:
            stamp = time.strftime("%H:%M:%S", time.localtime(rec.started_at))
            said = reword(rec.summary, role_words(self.site.resilience))
            lines.append(f"  {stamp} {rec.action}: {'✔' if rec.ok else '✖'} {said}")
        self.query_one("#ha-history", Static).update("\n".join(lines))

    def _refill_console(self) -> None:
        log = self.query_one("#ha-console", Log)
        log.clear()
        self._pending_lines.clear()
        lines: list[str] = []
        for rec in self.history.get(self.selected, []):
            stamp = time.strftime("%H:%M:%S", time.localtime(rec.started_at))
            lines.append(f"── {stamp} {rec.action} on {rec.node_id} ──")
            lines.extend(rec.lines)
        if self.selected in self.live:
            lines.append(f"── running: {self.busy} ──")
            lines.extend(self.live[self.selected])
        if lines:
            log.write_lines(lines)

    def _flush_console(self) -> None:
        if self._pending_lines:
            lines, self._pending_lines = self._pending_lines, []
            self.query_one("#ha-console", Log).write_lines(lines)

    def console_text(self) -> str:
        """Everything the console holds for the selected node (tests, copy)."""
        self._flush_console()
        return "\n".join(str(line) for line in self.query_one("#ha-console", Log).lines)

    def _prefill_form(self) -> None:
        state = self.ha_state
        ns = state.node(self.selected) if state else None
        ha = ns.ha if ns is not None else None
        if ha is not None and ha.mode in MODES:
            self.query_one(f"#ha-mode-{ha.mode.value}", RadioButton).value = True
            self.query_one("#ha-peer", Input).value = str(ha.peer) if ha.peer else ""
        else:
            other = peer_node(self.site, self.node)
            self.query_one("#ha-peer", Input).value = str(other.ip) if other.ip else ""

    # --- shell hooks ------------------------------------------------------------------------

    @staticmethod
    def _mode_labels(site: Site) -> tuple[list[str], str]:
        """The mode radios' labels and the peer field's, in the site's words (Main /
        Standby on a next-LTS site)."""
        words = role_words(site.resilience)

        def shown(mode: str) -> str:
            label = words.mode(mode)
            return label[:1].upper() + label[1:]

        peer = (
            f"Peer VoIP IP (the other node; required for {shown('master')} and {shown('slave')}):"
        )
        return [shown(mode.value) for mode in MODES], peer

    def show_site(self, site: Site) -> None:
        super().show_site(site)
        self._prefilled = False
        self.selected = site.xivo_master.id
        if self.is_mounted:
            modes, peer = self._mode_labels(site)
            for mode, label in zip(MODES, modes, strict=True):
                self.query_one(f"#ha-mode-{mode.value}", RadioButton).label = label
            self.query_one("#ha-peer-label", Static).update(peer)
            self.query_one("#ha-card-master", HaNodeCard).node = site.xivo_master
            self.query_one("#ha-card-slave", HaNodeCard).node = site.xivo_slave
            self.query_one("#ha-node-master", RadioButton).label = site.xivo_master.id
            self.query_one("#ha-node-slave", RadioButton).label = site.xivo_slave.id
            self.query_one("#ha-node-master", RadioButton).value = True
            self._refill_console()
            self.call_after_refresh(self._render_all)

    def can_apply(self) -> bool:
        if self.busy is not None or not self.is_mounted:
            return False
        return self.preview() is not None

    def apply(self) -> None:
        if self._refuse_read_only("changing the HA mode"):
            return
        if self.busy is not None:
            self.notify(f"HA: wait for {self.busy} to finish.", severity="warning")
            return
        v = self.validation()
        preview = self.preview()
        if not v.ok or preview is None:
            self.notify(
                "HA: " + ("; ".join(v.errors) or "state not read yet"),
                severity="error",
                markup=False,
            )
            return
        node = self.node
        assert v.mode is not None
        action = plan_set_mode(node, v, site_sip_expiry(self.site))
        first = [preview.risk] if preview.risk else []  # split brain / none: said first
        warnings = [w for w in preview.warnings if w != DISABLE_WARNING]
        warnings += ["sysconfd restarts PostgreSQL on the node"]
        if preview.restart_required:
            warnings.append("all services must be restarted afterwards (xivo-service restart)")
        warnings.append(
            "sysconfd does not write the SIP expiry nor the phones' backup registrar: "
            "they are read back afterwards (the web UI's HA save does them)"
        )
        if v.mode is HaMode.DISABLED:
            self._ask(
                ConfirmRequest(
                    f"Disable HA on {node.id}",
                    action,
                    [*first, DISABLE_WARNING, *warnings],
                    typed=True,
                    confirm_label="Disable HA",
                )
            )
        else:
            self._ask(
                ConfirmRequest(
                    f"Set {node.id} to HA {preview.mode_label}",
                    action,
                    [*first, *warnings],
                    typed=preview.typed_confirmation,
                )
            )

    # --- confirmations and workers ----------------------------------------------------------

    def _ask(self, request: ConfirmRequest) -> None:
        # The site's words in what is said (never in the command: it is what is sent).
        w = role_words(self.site.resilience)
        request = replace(
            request,
            title=reword(request.title, w),
            warnings=[reword(text, w) for text in request.warnings],
        )
        screen: ModalScreen[bool]
        if request.typed:
            screen = TypedConfirmScreen(
                request.title,
                request.action.line,
                request.node.id,
                request.node.id,
                request.warnings,
                confirm_label=request.confirm_label,
            )
        else:
            screen = ConfirmScreen(
                request.title,
                request.action.line,
                request.node.id,
                request.warnings,
                confirm_label=request.confirm_label,
            )

        def answered(yes: bool | None) -> None:
            if yes:
                self._run_action(request.action)
            else:
                self.notify(f"{request.title}: cancelled, nothing sent.", markup=False)

        self.app.push_screen(screen, answered)

    def _run_action(self, planned: HaAction, *, force: bool = False) -> None:
        node, action = planned.node, planned.kind.value
        if self._refuse_read_only(f"{action} on {node.id}"):
            return
        if self.busy is not None:
            self.notify(f"HA: wait for {self.busy} to finish.", severity="warning")
            return
        self.busy = f"{action} on {node.id}"
        self._planned[node.id] = planned
        self.live[node.id] = []
        if node.id == self.selected:
            self._pending_lines.append(f"── running: {self.busy} ──")
        self._render_all()

        async def work() -> None:
            def sink(text: str) -> None:
                self.post_message(self.Line(node.id, text))

            try:
                record = await run_action(
                    self.shell.session.pool,
                    planned,
                    on_line=sink,
                    ask_password=self._ask_password,
                    force=force,
                )
            except Exception as exc:  # shown to the admin; the worker must not die silently
                record = ActionRecord(action=action, node_id=node.id, command=planned.line)
                record.finish(False, error_text(exc))
                for line in record.lines[-1:]:
                    sink(line)
            self.post_message(self.ActionDone(record))

        self.run_worker(
            work(), group=ACTION_GROUP, exit_on_error=False, name=f"ha {action} {node.id}"
        )

    @on(Line)
    def _line(self, message: Line) -> None:
        self.live.setdefault(message.node_id, []).append(message.text)
        if message.node_id == self.selected:
            self._pending_lines.append(message.text)

    @on(ActionDone)
    def _done(self, message: ActionDone) -> None:
        rec = message.record
        self.busy = None
        self.live.pop(rec.node_id, None)
        self.history.setdefault(rec.node_id, []).append(rec)
        if rec.refused and rec.node_id == self.selected:
            self._pending_lines.extend(rec.lines)
        if rec.action == "restart" and rec.ok:
            self.restart_pending.discard(rec.node_id)
        self.notify(
            f"{rec.action} on {rec.node_id}: "
            f"{reword(rec.summary, role_words(self.site.resilience))}",
            severity="information" if rec.ok else "error",
            markup=False,
        )
        self._render_all()
        # The node's facts changed: every pane follows the next poll of it, now.
        self.shell.repoll([rec.node_id], self.site.name)
        if rec.action == "set-mode" and rec.ok and rec.restart_required:
            self.restart_pending.add(rec.node_id)
            self._render_all()
            self._offer_restart(rec.node_id)
        planned = self._planned.pop(rec.node_id, None)
        if rec.stale_lock and planned is not None:
            self._offer_break(rec, planned)

    def _offer_break(self, rec: ActionRecord, planned: HaAction) -> None:
        """Refused by the node's stale lock: break it (node id typed) and run it again."""
        screen = break_stale_lock_screen(rec.node_id, f"{rec.action}", rec.summary)

        def answered(yes: bool | None) -> None:
            if yes:
                self._run_action(planned, force=True)

        self.app.push_screen(screen, answered)

    def _offer_restart(self, node_id: str) -> None:
        node = (
            self.site.xivo_master if node_id == self.site.xivo_master.id else (self.site.xivo_slave)
        )
        self._ask(
            ConfirmRequest(
                f"Restart all services on {node.id} now?",
                plan_restart(node),
                [
                    "The seed requires restarting all services after configuring a master or "
                    "disabling a node. If you decline, the pane keeps saying a restart is pending."
                ],
                confirm_label="Restart now",
            )
        )

    @on(Confirm)
    def _confirm(self, message: Confirm) -> None:
        self._ask(message.request)

    # --- form events ------------------------------------------------------------------------

    @on(RadioSet.Changed, "#ha-node")
    def _node_changed(self, event: RadioSet.Changed) -> None:
        node_id = self.site.xivo_master.id if event.index == 0 else self.site.xivo_slave.id
        if node_id != self.selected:
            self.selected = node_id
            self._prefill_form()
            self._render_all()
            self._refill_console()

    @on(RadioSet.Changed, "#ha-mode")
    @on(Input.Changed, "#ha-peer")
    def _form_changed(self) -> None:
        self._render_form()

    @on(Button.Pressed, "#ha-apply")
    def _apply_pressed(self) -> None:
        # The button belongs to this pane: apply it even if another tab is active.
        self.apply()

    @on(Button.Pressed, "#ha-actions Button")
    def _action_pressed(self, event: Button.Pressed) -> None:
        name = (event.button.id or "").removeprefix("ha-btn-")
        handler = {
            "replicate": self.action_replicate,
            "sync": self.action_sync,
            "sync-init": self.action_sync_init,
            "check": self.action_check_master,
            "slave-start": self.action_slave_start,
            "slave-stop": self.action_slave_stop,
            "restart": self.action_restart_services,
        }.get(name)
        if handler is not None:
            handler()

    # --- password -----------------------------------------------------------------------

    async def _ask_password(self, prompt: str) -> str | None:
        loop = asyncio.get_running_loop()
        self._password = loop.create_future()
        self.post_message(self.PasswordWanted(prompt))
        try:
            return await self._password
        finally:
            self._password = None

    @on(PasswordWanted)
    def _password_wanted(self, message: PasswordWanted) -> None:
        label = self.query_one("#ha-password-prompt", Static)
        label.update(f"{message.prompt}  (Enter sends it, masked and never stored; esc cancels)")
        label.display = True
        box = self.query_one("#ha-password", Input)
        box.value = ""
        box.display = True
        box.focus()

    def _answer_password(self, value: str | None) -> None:
        box = self.query_one("#ha-password", Input)
        box.value = ""
        box.display = False
        self.query_one("#ha-password-prompt", Static).display = False
        if self._password is not None and not self._password.done():
            self._password.set_result(value)

    @on(Input.Submitted, "#ha-password")
    def _password_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._answer_password(event.value)

    def key_escape(self) -> None:
        if self._password is not None:
            self._answer_password(None)

    # --- actions ------------------------------------------------------------------------

    def _peer_ip(self, node: Node) -> str | None:
        state = self.ha_state
        ns = state.node(node.id) if state else None
        if ns is not None and ns.ha is not None and ns.ha.peer is not None:
            return str(ns.ha.peer)
        other = peer_node(self.site, node)
        return str(other.ip) if other.ip else None

    def _role_warning(
        self, node: Node, want: HaMode, state: HaSiteState | None = None
    ) -> list[str]:
        state = state or self.ha_state
        ns = state.node(node.id) if state else None
        mode = ns.mode if ns is not None else HaMode.UNKNOWN
        if mode is want:
            return []
        return [
            f"ha.conf on {node.id} says {mode.value}, not {want.value}: this script is "
            f"meant for the {want.value}."
        ]

    def _guard(self, what: str) -> bool:
        """True when an action may start now (not read-only, nothing else running)."""
        if self._refuse_read_only(what):
            return False
        if self.busy is not None:
            self.notify(f"HA: wait for {self.busy} to finish.", severity="warning")
            return False
        return True

    def action_next_node(self) -> None:
        ids = [self.site.xivo_master.id, self.site.xivo_slave.id]
        self.select_node(ids[(ids.index(self.selected) + 1) % 2])

    def action_replicate(self) -> None:
        node = self.node
        slave_ip = self._peer_ip(node)
        if not self._guard(f"DB replication on {node.id}") or slave_ip is None:
            return
        self._ask(
            ConfirmRequest(
                f"Replicate the database to {slave_ip}",
                plan_replication(node, slave_ip),
                [
                    *self._role_warning(node, HaMode.MASTER),
                    "Overwrites the slave's asterisk database with the master's.",
                ],
            )
        )

    def action_sync(self) -> None:
        node = self.node
        if not self._guard(f"xivo-sync on {node.id}"):
            return
        self._ask(
            ConfirmRequest(
                "Run xivo-sync",
                plan_sync(node),
                [
                    *self._role_warning(node, HaMode.MASTER),
                    "Copies the master's files to the slave (rsync over SSH).",
                ],
            )
        )

    def action_sync_init(self) -> None:
        node = self.node
        if not self._guard(f"xivo-sync -i on {node.id}"):
            return
        self._ask(
            ConfirmRequest(
                "Run xivo-sync -i (create and install the sync key)",
                plan_sync_init(node),
                [
                    *self._role_warning(node, HaMode.MASTER),
                    "ssh-copy-id will ask for the SLAVE's root password: type it in the masked "
                    "input that appears below the console.",
                ],
            )
        )

    def action_check_master(self) -> None:
        node = self.node
        master_ip = self._peer_ip(node)
        if not self._guard(f"check master status on {node.id}") or master_ip is None:
            return
        self._ask(
            ConfirmRequest(
                f"Check master {master_ip} from {node.id}",
                plan_check_master(node, master_ip),
                [
                    *self._role_warning(node, HaMode.SLAVE),
                    "No ping answer makes the slave START its telephony services (take over).",
                ],
            )
        )

    def action_slave_start(self) -> None:
        self._slave_services(SlaveAction.START)

    def action_slave_stop(self) -> None:
        self._slave_services(SlaveAction.STOP)

    def _slave_services(self, act: SlaveAction) -> None:
        node = self.node
        if not self._guard(f"xivo-manage-slave-services {act.value} on {node.id}"):
            return
        site = self.site
        action = plan_manage_slave(node, act)
        if act is SlaveAction.STOP:
            self._ask(
                ConfirmRequest(
                    f"Stop the slave's services on {node.id}",
                    action,
                    [
                        *self._role_warning(node, HaMode.SLAVE),
                        "If the master is down, this stops the only telephony service.",
                    ],
                )
            )
            return
        collector = self.shell.session.collector

        async def prepare() -> None:
            # The split-brain warning comes from the live status, polled now (every pane
            # follows that poll too).
            state: HaSiteState | None
            try:
                state = await read_ha_site(collector, site)
            except Exception:
                state = None
            warnings = [
                *slave_start_risk(state, site),
                *self._role_warning(node, HaMode.SLAVE, state),
            ]
            self.post_message(
                self.Confirm(
                    ConfirmRequest(f"Start the slave's services on {node.id}", action, warnings)
                )
            )

        self.run_worker(
            prepare(), group=ACTION_GROUP, exit_on_error=False, name="ha slave-start check"
        )

    def action_restart_services(self) -> None:
        node = self.node
        if not self._guard(f"xivo-service restart on {node.id}"):
            return
        self._offer_restart(node.id)
