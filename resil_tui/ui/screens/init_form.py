"""The `resil-tui init` form: one site, its nodes, checked by the loader, tested live.

What the form accepts is what the inventory loader accepts: every check runs the draft's
TOML through `parse_inventory` and puts each located error under its field ("refused in
place"). ctrl+t tests every SSH target through a read-only pool (reachable, host key,
auth, the programs the console needs); an unknown host key is shown with its fingerprint
and written to known_hosts only on y. ctrl+s writes the file (never over an existing one
unless the app was started with --force, which keeps a backup).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Checkbox, Input, Label, Static
from textual.worker import Worker, WorkerState

from resil_tui.core.records import record
from resil_tui.inventory import InventoryError
from resil_tui.inventory_draft import (
    DEFAULT_EDGE_ENV,
    DEFAULT_KNOWN_HOSTS,
    Checked,
    Draft,
    TargetExists,
    Written,
    check_draft,
    write_inventory,
)
from resil_tui.inventory_model import Node
from resil_tui.ops.probe import Outcome, Probe, describe_target, probe_inventory
from resil_tui.ops.trust import TrustOffer
from resil_tui.ui.errors import log, one_line
from resil_tui.ui.screens.confirm import trust_screen
from resil_tui.ui.widgets.footer import StableFooter


@record
class FieldSpec:
    id: str
    label: str
    placeholder: str = ""
    default: str = ""


SECTIONS: tuple[tuple[str, tuple[FieldSpec, ...]], ...] = (
    ("Site", (FieldSpec("site", "Site name", "paris (letters, digits, - or _)"),)),
    (
        "SSH: defaults for every node (user@host:port below overrides the user)",
        (
            FieldSpec("user", "User", "root", "root"),
            FieldSpec("identity", "Identity file", "~/.ssh/id_ed25519 (empty: ssh's defaults)"),
            FieldSpec("known-hosts", "known_hosts", DEFAULT_KNOWN_HOSTS, DEFAULT_KNOWN_HOSTS),
            FieldSpec("jump", "Jump host", "admin@bastion:22 (optional)"),
        ),
    ),
    (
        "XiVO master (required)",
        (
            FieldSpec("xivo-master-ssh", "SSH target", "user@host[:port] or an ssh alias"),
            FieldSpec("xivo-master-ip", "VoIP IP", "10.10.0.11 (data, never connected to)"),
        ),
    ),
    (
        "XiVO slave (required)",
        (
            FieldSpec("xivo-slave-ssh", "SSH target", "user@host[:port] or an ssh alias"),
            FieldSpec("xivo-slave-ip", "VoIP IP", "10.10.0.12"),
        ),
    ),
    (
        "CC master (optional; then the CC slave too)",
        (
            FieldSpec("cc-master-ssh", "SSH target", "user@host[:port]"),
            FieldSpec("cc-master-ip", "IP", "10.10.0.21"),
            FieldSpec("cc-master-fqdn", "FQDN", "cc1.example.com (what users open)"),
        ),
    ),
    (
        "CC slave",
        (
            FieldSpec("cc-slave-ssh", "SSH target", "user@host[:port]"),
            FieldSpec("cc-slave-ip", "IP", "10.10.0.22"),
            FieldSpec("cc-slave-fqdn", "FQDN", "cc2.example.com"),
        ),
    ),
    (
        "Edge (optional)",
        (
            FieldSpec("edge-ssh", "SSH target", "user@host[:port]"),
            FieldSpec("edge-fqdn", "FQDN", "edge.example.com"),
            FieldSpec("edge-env", ".env path", f"{DEFAULT_EDGE_ENV} (default)"),
        ),
    ),
    (
        "Media servers (optional)",
        (
            FieldSpec("mds1-name", "MDS 1 name", "mds1"),
            FieldSpec("mds1-ssh", "MDS 1 SSH target", "user@host[:port]"),
            FieldSpec("mds1-ip", "MDS 1 IP", "10.10.0.31 (optional)"),
            FieldSpec("mds2-name", "MDS 2 name", "mds2"),
            FieldSpec("mds2-ssh", "MDS 2 SSH target", "user@host[:port]"),
            FieldSpec("mds2-ip", "MDS 2 IP", "10.10.0.32 (optional)"),
        ),
    ),
)
FIELD_IDS: tuple[str, ...] = tuple(f.id for _, specs in SECTIONS for f in specs)


class InitFormScreen(Screen[Written | None]):
    """Dismisses with what was written, or None when the admin quits."""

    DEFAULT_CSS = """
    InitFormScreen { layout: vertical; }
    #init-title { height: 1; text-style: bold; background: $panel; color: $primary;
                  padding: 0 1; }
    #init-message { height: auto; max-height: 4; padding: 0 1; }
    #init-message.-error { color: $error; text-style: bold; }
    #init-message.-ok { color: $success; text-style: bold; }
    #init-form { height: 1fr; padding: 0 1; }
    .init-section { text-style: bold underline; margin-top: 1; }
    .init-field { height: 1; }
    .init-field Label { width: 18; height: 1; }
    .init-field Input { width: 1fr; height: 1; border: none; padding: 0 1;
                        background: $boost; }
    .init-field Input:focus { background: $accent 35%; border: none; }
    .init-field Input.-invalid { background: $error 25%; border: none; }
    .init-field Input.-invalid:focus { background: $error 40%; border: none; }
    .init-error { color: $error; height: auto; display: none; padding-left: 18; }
    .init-error.-shown { display: block; }
    #f-ssh-config { margin-top: 1; height: auto; border: none; padding: 0; }
    #init-results { height: auto; max-height: 9; display: none; border-top: solid $primary;
                    padding: 0 1; }
    #init-results.-shown { display: block; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+t", "test", "Test SSH", id="init.test"),
        Binding("ctrl+s", "write", "Write file", id="init.write"),
        Binding("escape", "cancel_test", "Cancel test", id="init.cancel"),
        Binding("down", "app.focus_next", "Next field", show=False, id="init.next"),
        Binding("up", "app.focus_previous", "Previous field", show=False, id="init.previous"),
    ]

    def __init__(self, target: Path, *, force: bool = False) -> None:
        super().__init__()
        self.target = target
        self.force = force
        self.checked: Checked | None = None
        self.submitted = False  # after the first ctrl+s / ctrl+t, errors show as you type
        self.probes: list[Probe] = []
        self.testing: Node | None = None
        self.test_started = 0.0
        self.test_count = (0, 0)
        self._ticker: Timer | None = None

    # --- layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        replace = " (replaces it, keeps a backup)" if self.force and self.target.exists() else ""
        yield Static(f"resil-tui init → {self.target}{replace}", id="init-title", markup=False)
        yield Static(
            "Fill in the site; tab / ↑↓ move. ctrl+t tests every SSH target, ctrl+s writes.",
            id="init-message",
            markup=False,
        )
        with VerticalScroll(id="init-form"):
            for title, specs in SECTIONS:
                yield Static(title, classes="init-section", markup=False)
                for spec in specs:
                    with Horizontal(classes="init-field"):
                        yield Label(spec.label, markup=False)
                        yield Input(
                            value=spec.default,
                            placeholder=spec.placeholder,
                            id=f"f-{spec.id}",
                            select_on_focus=False,
                        )
                    yield Static("", id=f"e-{spec.id}", classes="init-error", markup=False)
                if specs[-1].id == "jump":
                    yield Checkbox(
                        "Use ~/.ssh/config (host aliases, ports, ProxyJump)",
                        value=True,
                        id="f-ssh-config",
                    )
        yield Static("", id="init-results", markup=False)
        yield StableFooter()

    def on_mount(self) -> None:
        self.query_one("#f-site", Input).focus()

    # --- the draft -------------------------------------------------------------------------

    def draft(self) -> Draft:
        values = {fid: self.query_one(f"#f-{fid}", Input).value for fid in FIELD_IDS}
        return Draft(values, use_ssh_config=self.query_one("#f-ssh-config", Checkbox).value)

    def check(self) -> Checked:
        """Run the loader on the draft; show each error under its field."""
        checked = check_draft(self.draft())
        self.checked = checked
        for fid in FIELD_IDS:
            errors = checked.field_errors.get(fid, [])
            box = self.query_one(f"#f-{fid}", Input)
            label = self.query_one(f"#e-{fid}", Static)
            box.set_class(bool(errors), "-invalid")
            label.set_class(bool(errors), "-shown")
            label.update("\n".join(f"✗ {e}" for e in errors))
        return checked

    def field_errors(self) -> dict[str, list[str]]:
        return dict(self.checked.field_errors) if self.checked else {}

    def say(self, text: str, kind: str = "") -> None:
        message = self.query_one("#init-message", Static)
        message.update(text)
        message.set_class(kind == "error", "-error")
        message.set_class(kind == "ok", "-ok")

    def _refuse(self, checked: Checked) -> None:
        count = sum(len(v) for v in checked.field_errors.values()) + len(checked.other_errors)
        extra = "; ".join(checked.other_errors)
        self.say(
            f"✗ {count} problem(s): fix the fields marked ✗" + (f"; {extra}" if extra else ""),
            "error",
        )
        first = next((f for f in FIELD_IDS if f in checked.field_errors), None)
        if first is not None:
            widget = self.query_one(f"#f-{first}", Input)
            widget.focus()
            self.query_one("#init-form", VerticalScroll).scroll_to_widget(widget)

    @on(Input.Changed)
    def _changed(self) -> None:
        # Once the admin asked for a check, keep the marks in step with the typing.
        if self.submitted:
            self.check()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.app.action_focus_next()

    # --- actions ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_test":
            return self.testing is not None or bool(self.workers_running())
        if action == "test" and self.workers_running():
            return None
        return True

    def workers_running(self) -> list[Worker[Any]]:
        return [w for w in self.workers if w.group == "init-test" and not w.is_finished]

    def action_write(self) -> None:
        self.submitted = True
        checked = self.check()
        if not checked.ok:
            self._refuse(checked)
            return
        try:
            written = write_inventory(self.target, checked.text, force=self.force)
        except TargetExists as exc:
            self.say(f"✗ not written: {exc}", "error")
            return
        except InventoryError as exc:
            self.say(f"✗ not written: {exc}", "error")
            return
        except OSError as exc:
            log.warning("init: cannot write %s", self.target, exc_info=exc)
            self.say(
                f"✗ cannot write {self.target}: {exc.strerror or exc}; choose another "
                "FILE (resil-tui init FILE)",
                "error",
            )
            return
        self.dismiss(written)

    def action_test(self) -> None:
        self.submitted = True
        checked = self.check()
        if not checked.ok or checked.inventory is None:
            self._refuse(checked)
            return
        self.probes = []
        self.query_one("#init-results", Static).update("")
        self.query_one("#init-results").add_class("-shown")
        self.run_probe(checked)

    def action_cancel_test(self) -> None:
        for worker in self.workers_running():
            worker.cancel()

    # --- the live test ---------------------------------------------------------------------

    @work(group="init-test", exclusive=True, exit_on_error=False, name="init: test SSH targets")
    async def run_probe(self, checked: Checked) -> None:
        assert checked.inventory is not None
        nodes = checked.inventory.nodes()
        self.test_count = (0, len(nodes))
        self._ticker = self.set_interval(0.25, self._show_progress)
        self.refresh_bindings()
        try:
            await probe_inventory(
                checked.inventory, self._ask_trust, on_start=self._started, on_done=self._done
            )
        finally:
            self.testing = None
            if self._ticker is not None:
                self._ticker.stop()
            self.refresh_bindings()

    def _started(self, node: Node) -> None:
        self.testing = node
        self.test_started = time.monotonic()
        self.test_count = (self.test_count[0] + 1, self.test_count[1])
        self._show_progress()

    def _show_progress(self) -> None:
        node = self.testing
        if node is None:
            return
        done, total = self.test_count
        self.say(
            f"Testing {node.id} ({describe_target(node)}) · "
            f"{time.monotonic() - self.test_started:.1f} s · node {done} of {total} · "
            "esc cancels"
        )

    def _done(self, probe: Probe) -> None:
        self.probes.append(probe)
        self.query_one("#init-results", Static).update("\n".join(p.line() for p in self.probes))

    async def _ask_trust(self, offer: TrustOffer) -> bool:
        screen = trust_screen(offer)
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        def answered(accepted: bool | None) -> None:
            if not answer.done():  # the test may have been cancelled meanwhile
                answer.set_result(bool(accepted))

        self.app.push_screen(screen, answered)
        return await answer

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "init-test":
            return
        total = len(self.probes)
        good = sum(p.outcome is Outcome.OK for p in self.probes)
        if event.state is WorkerState.SUCCESS:
            if total and good == total:
                self.say(
                    f"✓ all {total} node(s) answered as expected; ctrl+s writes the file", "ok"
                )
            else:
                self.say(
                    f"⚠ {good} of {total} node(s) OK (see below). Fix and ctrl+t again, "
                    "or ctrl+s to write anyway",
                    "error",
                )
        elif event.state is WorkerState.CANCELLED:
            self.say(f"Test cancelled after {total} node(s); nothing was changed on any node.")
        elif event.state is WorkerState.ERROR and event.worker.error is not None:
            self.say(
                f"✗ the test stopped: {one_line(event.worker.error)} (details in the debug log)",
                "error",
            )
