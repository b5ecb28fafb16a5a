"""HA pane: each XiVO node's HA mode, the form that changes it, and the four HA scripts.

Reads and actions run in Textual workers (groups `ha-read` and `ha-action`,
`exit_on_error=False`) through `resil_tui.ops.ha`; workers only post messages, the
handlers below update the widgets. One action runs at a time. Every action is confirmed
(a typed confirmation for disabling HA), refused in read-only mode, audited by the pool,
and its full output is kept in the node's history, shown in the console below the form
while that node is selected.

The slave's root password for `xivo-sync -i` is asked in a masked input that appears in
the console only while the PTY waits for it; the value goes straight to the PTY and the
input is cleared at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Log, RadioButton, RadioSet, Static

from resil_tui.core.ha import HaMode
from resil_tui.core.ha_form import (
    DISABLE_WARNING,
    FormValidation,
    HaPreview,
    build_preview,
)
from resil_tui.inventory_model import Inventory, Node, Site
from resil_tui.ops.ha import (
    ActionRecord,
    HaSiteState,
    apply_ha_mode,
    peer_node,
    read_ha_site,
    refused_record,
    restart_services,
    run_check_master,
    run_manage_slave,
    run_replication,
    run_sync,
    run_sync_init,
    slave_start_risk,
    validate_for_node,
)
from resil_tui.remote import commands as cat
from resil_tui.remote.commands import SlaveAction
from resil_tui.remote.errors import RemoteError
from resil_tui.remote.pool import Pool
from resil_tui.ui.panes.base import Pane
from resil_tui.ui.screens.confirm import ConfirmScreen, TypedConfirmScreen
from resil_tui.ui.widgets.ha_node_card import HaNodeCard

READ_GROUP = "ha-read"
ACTION_GROUP = "ha-action"
MODES = (HaMode.DISABLED, HaMode.MASTER, HaMode.SLAVE)
FLUSH_SECONDS = 0.08

Runner = Callable[[Callable[[str], None]], Awaitable[ActionRecord]]


@dataclass
class ConfirmRequest:
    title: str
    command: str
    node: Node
    warnings: list[str]
    action: str
    runner: Runner
    typed: bool = False
    confirm_label: str = "Yes, run it"


class HaPane(Pane):
    PANE_ID = "ha"
    TITLE = "HA"
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
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "next_node", "Next node", id="ha.next_node"),
        Binding("p", "replicate", "Replicate DB", id="ha.replicate"),
        Binding("S", "sync", "xivo-sync", id="ha.sync"),
        Binding("i", "sync_init", "xivo-sync -i", id="ha.sync_init"),
        Binding("c", "check_master", "Check master", id="ha.check"),
        Binding("u", "slave_start", "Slave services start", id="ha.slave_start"),
        Binding("x", "slave_stop", "Slave services stop", id="ha.slave_stop"),
        Binding("R", "restart_services", "Restart services", id="ha.restart"),
    ]

    class StateRead(Message):
        bubble = False

        def __init__(self, site: str, state: HaSiteState | None, error: str | None) -> None:
            super().__init__()
            self.site, self.state, self.error = site, state, error

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
        self.state: HaSiteState | None = None
        self.read_error: str | None = None
        self.selected: str = site.xivo_master.id
        self.history: dict[str, list[ActionRecord]] = {}
        self.live: dict[str, list[str]] = {}
        self.restart_pending: set[str] = set()
        self.busy: str | None = None  # the action running, if any
        self._pending_lines: list[str] = []
        self._password: asyncio.Future[str | None] | None = None

    # --- layout -----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static("", id="ha-pair", markup=False)
        with Horizontal(id="ha-cards"):
            yield HaNodeCard(self.site.xivo_master, id="ha-card-master")
            yield HaNodeCard(self.site.xivo_slave, id="ha-card-slave")
        yield Static("Node to change / act on:", classes="ha-label")
        with RadioSet(id="ha-node"):
            yield RadioButton(self.site.xivo_master.id, value=True, id="ha-node-master")
            yield RadioButton(self.site.xivo_slave.id, id="ha-node-slave")
        yield Static("HA mode:", classes="ha-label")
        with RadioSet(id="ha-mode"):
            for mode in MODES:
                yield RadioButton(mode.value.capitalize(), id=f"ha-mode-{mode.value}")
        yield Static(
            "Peer VoIP IP (the other node; required for Master and Slave):", classes="ha-label"
        )
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
            yield Button("c Check master", id="ha-btn-check")
            yield Button("u Slave start", id="ha-btn-slave-start")
            yield Button("x Slave stop", id="ha-btn-slave-stop")
            yield Button("R Restart services", id="ha-btn-restart")
        yield Static("", id="ha-restart-pending", markup=False)
        yield Static("", id="ha-password-prompt", markup=False)
        yield Input(password=True, id="ha-password", placeholder="slave root password")
        yield Static("", id="ha-history", markup=False)
        yield Log(id="ha-console", max_lines=5000, highlight=False)

    def on_mount(self) -> None:
        self.query_one("#ha-password", Input).display = False
        self.query_one("#ha-password-prompt", Static).display = False
        self.set_interval(FLUSH_SECONDS, self._flush_console)
        # Widgets are queryable once mounted; render then (is_mounted is False in on_mount).
        self.call_after_refresh(self._render_all)
        self.start_read()

    # --- helpers ----------------------------------------------------------------------------

    @property
    def pool(self) -> Pool | None:
        pool = getattr(self.app, "pool", None)
        return pool if isinstance(pool, Pool) else None

    @property
    def inventory(self) -> Inventory | None:
        inv = getattr(self.app, "inventory", None)
        return inv if isinstance(inv, Inventory) else None

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
        ns = self.state.node(self.node.id) if self.state else None
        if not v.ok or ns is None or not ns.reachable:
            return None
        return build_preview(
            self.node.id,
            ns.ha,
            ns.cron,
            v,
            cron_master_path=self.node.paths.cron_master,
            cron_slave_path=self.node.paths.cron_slave,
        )

    def _refuse_read_only(self, what: str) -> bool:
        refuse = getattr(self.app, "refuse_if_read_only", None)
        if callable(refuse):
            return bool(refuse(what))
        if self.read_only:
            self.notify(f"READ-ONLY mode: {what} refused", severity="error", markup=False)
            return True
        return False

    # --- rendering --------------------------------------------------------------------------

    def _render_all(self) -> None:
        if not self.is_mounted:
            return
        self._render_pair()
        for card in self.query(HaNodeCard):
            card.show(
                self.state,
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
        if self.state is None:
            text = (
                "HA of the XiVO pair: reading…"
                if self.read_error is None
                else f"HA of the XiVO pair: not read: {self.read_error}"
            )
            if self.pool is None:
                text = "HA of the XiVO pair: not read (the console has no connection pool)"
            pair.update(text)
            return
        v = self.state.verdicts
        lines = [f"Pair: {v.primary.title} — {v.primary.explanation}"]
        lines.extend(f"  {f}" for f in self.state.ha_findings())
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
            lines.append(f"  {stamp} {rec.action}: {'✔' if rec.ok else '✖'} {rec.summary}")
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
        ns = self.state.node(self.selected) if self.state else None
        ha = ns.ha if ns is not None else None
        if ha is not None and ha.mode in MODES:
            self.query_one(f"#ha-mode-{ha.mode.value}", RadioButton).value = True
            self.query_one("#ha-peer", Input).value = str(ha.peer) if ha.peer else ""
        else:
            other = peer_node(self.site, self.node)
            self.query_one("#ha-peer", Input).value = str(other.ip) if other.ip else ""

    # --- shell hooks ------------------------------------------------------------------------

    def show_site(self, site: Site) -> None:
        super().show_site(site)
        self.state, self.read_error = None, None
        self.selected = site.xivo_master.id
        if self.is_mounted:
            self.query_one("#ha-card-master", HaNodeCard).node = site.xivo_master
            self.query_one("#ha-card-slave", HaNodeCard).node = site.xivo_slave
            self.query_one("#ha-node-master", RadioButton).label = site.xivo_master.id
            self.query_one("#ha-node-slave", RadioButton).label = site.xivo_slave.id
            self.query_one("#ha-node-master", RadioButton).value = True
            self._refill_console()
            self.call_after_refresh(self._render_all)
            self.start_read()

    def refresh_pane(self) -> None:
        self.start_read()

    def can_apply(self) -> bool:
        if self.busy is not None or self.pool is None or not self.is_mounted:
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
        node, pool = self.node, self.pool
        assert pool is not None and v.mode is not None
        command = cat.sysconfd_update_ha_config(v.mode.value, v.peer).line

        async def runner(sink: Callable[[str], None]) -> ActionRecord:
            return await apply_ha_mode(pool, node, v, on_line=sink)

        warnings = [w for w in preview.warnings if w != DISABLE_WARNING]
        warnings += ["sysconfd restarts PostgreSQL on the node"]
        if preview.restart_required:
            warnings.append("all services must be restarted afterwards (xivo-service restart)")
        if v.mode is HaMode.DISABLED:
            self._ask(
                ConfirmRequest(
                    f"Disable HA on {node.id}",
                    command,
                    node,
                    [DISABLE_WARNING, *warnings],
                    "set-mode",
                    runner,
                    typed=True,
                    confirm_label="Disable HA",
                )
            )
        else:
            self._ask(
                ConfirmRequest(
                    f"Set {node.id} to HA {v.mode.value}",
                    command,
                    node,
                    warnings,
                    "set-mode",
                    runner,
                )
            )

    # --- confirmations and workers ----------------------------------------------------------

    def _ask(self, request: ConfirmRequest) -> None:
        screen: ModalScreen[bool]
        if request.typed:
            screen = TypedConfirmScreen(
                request.title,
                request.command,
                request.node.id,
                request.node.id,
                request.warnings,
                confirm_label=request.confirm_label,
            )
        else:
            screen = ConfirmScreen(
                request.title,
                request.command,
                request.node.id,
                request.warnings,
                confirm_label=request.confirm_label,
            )

        def answered(yes: bool | None) -> None:
            if yes:
                self._run_action(request.action, request.node, request.command, request.runner)
            else:
                self.notify(f"{request.title}: cancelled, nothing sent.", markup=False)

        self.app.push_screen(screen, answered)

    def _run_action(self, action: str, node: Node, command: str, runner: Runner) -> None:
        if self._refuse_read_only(f"{action} on {node.id}"):
            return
        if self.busy is not None:
            self.notify(f"HA: wait for {self.busy} to finish.", severity="warning")
            return
        self.busy = f"{action} on {node.id}"
        self.live[node.id] = []
        if node.id == self.selected:
            self._pending_lines.append(f"── running: {self.busy} ──")
        self._render_all()

        async def work() -> None:
            def sink(text: str) -> None:
                self.post_message(self.Line(node.id, text))

            try:
                record = await runner(sink)
            except RemoteError as exc:
                record = refused_record(action, node.id, command, exc)
            except Exception as exc:  # shown to the admin; the worker must not die silently
                record = ActionRecord(action=action, node_id=node.id, command=command)
                record.finish(False, f"unexpected error: {exc.__class__.__name__}: {exc}")
            self.post_message(self.ActionDone(record))

        self.run_worker(
            work(), group=ACTION_GROUP, exit_on_error=False, name=f"ha {action} {node.id}"
        )

    def start_read(self) -> None:
        pool, inventory = self.pool, self.inventory
        if pool is None or inventory is None:
            self.call_after_refresh(self._render_all)
            return
        site = self.site

        async def read() -> None:
            try:
                state = await read_ha_site(pool, inventory, site)
            except Exception as exc:
                self.post_message(self.StateRead(site.name, None, str(exc)))
                return
            self.post_message(self.StateRead(site.name, state, None))

        self.run_worker(
            read(),
            group=READ_GROUP,
            exclusive=True,
            exit_on_error=False,
            name=f"ha read {site.name}",
        )

    @on(StateRead)
    def _state_read(self, message: StateRead) -> None:
        if message.site != self.site.name:
            return
        first = self.state is None
        if message.state is not None:
            self.state, self.read_error = message.state, None
        else:
            self.read_error = message.error
        if first and self.state is not None:
            self._prefill_form()
        self._render_all()

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
            f"{rec.action} on {rec.node_id}: {rec.summary}",
            severity="information" if rec.ok else "error",
            markup=False,
        )
        self._render_all()
        self.start_read()
        if rec.action == "set-mode" and rec.ok and rec.restart_required:
            self.restart_pending.add(rec.node_id)
            self._render_all()
            self._offer_restart(rec.node_id)

    def _offer_restart(self, node_id: str) -> None:
        node = (
            self.site.xivo_master if node_id == self.site.xivo_master.id else (self.site.xivo_slave)
        )
        pool = self.pool
        assert pool is not None

        async def runner(sink: Callable[[str], None]) -> ActionRecord:
            return await restart_services(pool, node, on_line=sink)

        self._ask(
            ConfirmRequest(
                f"Restart all services on {node.id} now?",
                cat.xivo_service("restart").line,
                node,
                [
                    "The seed requires restarting all services after configuring a master or "
                    "disabling a node. If you decline, the pane keeps saying a restart is pending."
                ],
                "restart",
                runner,
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
        ns = self.state.node(node.id) if self.state else None
        if ns is not None and ns.ha is not None and ns.ha.peer is not None:
            return str(ns.ha.peer)
        other = peer_node(self.site, node)
        return str(other.ip) if other.ip else None

    def _role_warning(
        self, node: Node, want: HaMode, state: HaSiteState | None = None
    ) -> list[str]:
        state = state or self.state
        ns = state.node(node.id) if state else None
        mode = ns.mode if ns is not None else HaMode.UNKNOWN
        if mode is want:
            return []
        return [
            f"ha.conf on {node.id} says {mode.value}, not {want.value}: this script is "
            f"meant for the {want.value}."
        ]

    def _guard(self, what: str) -> Pool | None:
        if self._refuse_read_only(what):
            return None
        if self.busy is not None:
            self.notify(f"HA: wait for {self.busy} to finish.", severity="warning")
            return None
        if self.pool is None:
            self.notify("HA: no connection pool.", severity="error")
            return None
        return self.pool

    def action_next_node(self) -> None:
        ids = [self.site.xivo_master.id, self.site.xivo_slave.id]
        self.select_node(ids[(ids.index(self.selected) + 1) % 2])

    def action_replicate(self) -> None:
        node = self.node
        pool = self._guard(f"DB replication on {node.id}")
        slave_ip = self._peer_ip(node)
        if pool is None or slave_ip is None:
            return
        command = cat.db_replication(slave_ip).line

        async def runner(sink: Callable[[str], None]) -> ActionRecord:
            return await run_replication(pool, node, slave_ip, on_line=sink)

        self._ask(
            ConfirmRequest(
                f"Replicate the database to {slave_ip}",
                command,
                node,
                [
                    *self._role_warning(node, HaMode.MASTER),
                    "Overwrites the slave's asterisk database with the master's.",
                ],
                "replicate",
                runner,
            )
        )

    def action_sync(self) -> None:
        node = self.node
        pool = self._guard(f"xivo-sync on {node.id}")
        if pool is None:
            return

        async def runner(sink: Callable[[str], None]) -> ActionRecord:
            return await run_sync(pool, node, on_line=sink)

        self._ask(
            ConfirmRequest(
                "Run xivo-sync",
                cat.xivo_sync().line,
                node,
                [
                    *self._role_warning(node, HaMode.MASTER),
                    "Copies the master's files to the slave (rsync over SSH).",
                ],
                "sync",
                runner,
            )
        )

    def action_sync_init(self) -> None:
        node = self.node
        pool = self._guard(f"xivo-sync -i on {node.id}")
        if pool is None:
            return

        async def runner(sink: Callable[[str], None]) -> ActionRecord:
            return await run_sync_init(pool, node, self._ask_password, on_line=sink)

        self._ask(
            ConfirmRequest(
                "Run xivo-sync -i (create and install the sync key)",
                cat.xivo_sync_init().line,
                node,
                [
                    *self._role_warning(node, HaMode.MASTER),
                    "ssh-copy-id will ask for the SLAVE's root password: type it in the masked "
                    "input that appears below the console.",
                ],
                "sync-init",
                runner,
            )
        )

    def action_check_master(self) -> None:
        node = self.node
        pool = self._guard(f"check master status on {node.id}")
        master_ip = self._peer_ip(node)
        if pool is None or master_ip is None:
            return

        async def runner(sink: Callable[[str], None]) -> ActionRecord:
            return await run_check_master(pool, node, master_ip, on_line=sink)

        self._ask(
            ConfirmRequest(
                f"Check master {master_ip} from {node.id}",
                cat.check_master_status(master_ip).line,
                node,
                [
                    *self._role_warning(node, HaMode.SLAVE),
                    "No ping answer makes the slave START its telephony services (take over).",
                ],
                "check",
                runner,
            )
        )

    def action_slave_start(self) -> None:
        self._slave_services(SlaveAction.START)

    def action_slave_stop(self) -> None:
        self._slave_services(SlaveAction.STOP)

    def _slave_services(self, act: SlaveAction) -> None:
        node = self.node
        pool = self._guard(f"xivo-manage-slave-services {act.value} on {node.id}")
        inventory = self.inventory
        if pool is None or inventory is None:
            return
        site = self.site
        command = cat.manage_slave_services(act).line

        async def runner(sink: Callable[[str], None]) -> ActionRecord:
            return await run_manage_slave(pool, node, act, on_line=sink)

        if act is SlaveAction.STOP:
            self._ask(
                ConfirmRequest(
                    f"Stop the slave's services on {node.id}",
                    command,
                    node,
                    [
                        *self._role_warning(node, HaMode.SLAVE),
                        "If the master is down, this stops the only telephony service.",
                    ],
                    "slave-stop",
                    runner,
                )
            )
            return

        async def prepare() -> None:
            # The split-brain warning comes from the live status, read now.
            try:
                state = await read_ha_site(pool, inventory, site)
            except Exception as exc:
                state = None
                self.post_message(self.StateRead(site.name, None, str(exc)))
            else:
                self.post_message(self.StateRead(site.name, state, None))
            warnings = [
                *slave_start_risk(state, site),
                *self._role_warning(node, HaMode.SLAVE, state),
            ]
            self.post_message(
                self.Confirm(
                    ConfirmRequest(
                        f"Start the slave's services on {node.id}",
                        command,
                        node,
                        warnings,
                        "slave-start",
                        runner,
                    )
                )
            )

        self.run_worker(
            prepare(), group=READ_GROUP, exit_on_error=False, name="ha slave-start check"
        )

    def action_restart_services(self) -> None:
        node = self.node
        if self._guard(f"xivo-service restart on {node.id}") is None:
            return
        self._offer_restart(node.id)
