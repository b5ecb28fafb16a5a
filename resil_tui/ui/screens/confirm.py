"""The two confirmation dialogs every mutating action goes through.

`ConfirmScreen`: y / n / esc, for an ordinary change. `TypedConfirmScreen`: the admin must
type a word (the node's name) first, for what breaks service (disabling HA on a node in
production, a failover). Both show the exact command and the node it runs on, so what is
confirmed is what runs; both dismiss with True only on an explicit yes.

Everything shown comes from data (node names, commands, .env values): it is rendered with
markup off so a "[" in a command cannot restyle or hide part of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from resil_tui.ops.trust import TrustOffer
from resil_tui.ui.panes.catalog import CONFIRM_BINDINGS, TYPED_CONFIRM_BINDINGS


def _details(
    command: str, node: str, warnings: Sequence[str], consequences: Sequence[str] = ()
) -> ComposeResult:
    # Live consequences first: who serves now, where users go, what restarts and drops.
    if consequences:
        yield Static("What this does now", classes="confirm-label")
        yield Static(
            "\n".join(f"• {line}" for line in consequences),
            classes="confirm-consequences",
            markup=False,
        )
    yield Static("Node", classes="confirm-label")
    yield Static(node, classes="confirm-node", markup=False)
    yield Static("Command", classes="confirm-label")
    yield Static(command, classes="confirm-command", markup=False)
    for warning in warnings:
        yield Static(f"⚠ WARNING: {warning}", classes="confirm-warning", markup=False)


class ConfirmScreen(ModalScreen[bool]):
    """Ask yes or no before running `command` on `node`; dismisses True only on yes."""

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    """

    # In the catalog: the keymap check reads them before this module is loaded.
    BINDINGS: ClassVar[list[BindingType]] = CONFIRM_BINDINGS

    def __init__(
        self,
        title: str,
        command: str,
        node: str,
        warnings: Sequence[str] = (),
        *,
        confirm_label: str = "Yes, run it",
        consequences: Sequence[str] = (),
    ) -> None:
        super().__init__()
        self.confirm_title = title
        self.command = command
        self.node = node
        self.warnings = tuple(warnings)
        self.confirm_label = confirm_label
        self.consequences = tuple(consequences)

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog", classes="dialog"):
            yield Static(f"? {self.confirm_title}", classes="dialog-title", markup=False)
            yield from _details(self.command, self.node, self.warnings, self.consequences)
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"y  {self.confirm_label}", id="confirm-yes", variant="warning")
                yield Button("n  No", id="confirm-no", variant="primary")
            yield Static("esc cancels", classes="dialog-hint")

    def on_mount(self) -> None:
        # Enter on the focused button must be the harmless answer.
        self.query_one("#confirm-no", Button).focus()

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)

    @on(Button.Pressed, "#confirm-yes")
    def _yes(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#confirm-no")
    def _no(self) -> None:
        self.dismiss(False)


class TypedConfirmScreen(ModalScreen[bool]):
    """Confirm only after `word` (usually the node's name) has been typed exactly."""

    DEFAULT_CSS = """
    TypedConfirmScreen { align: center middle; }
    """

    BINDINGS: ClassVar[list[BindingType]] = TYPED_CONFIRM_BINDINGS

    def __init__(
        self,
        title: str,
        command: str,
        node: str,
        word: str,
        warnings: Sequence[str] = (),
        *,
        confirm_label: str = "Run it",
    ) -> None:
        if not word.strip():
            raise ValueError("TypedConfirmScreen needs a non-empty word to type")
        super().__init__()
        self.confirm_title = title
        self.command = command
        self.node = node
        self.word = word.strip()
        self.warnings = tuple(warnings)
        self.confirm_label = confirm_label

    def compose(self) -> ComposeResult:
        with Vertical(id="typed-confirm-dialog", classes="dialog -danger"):
            yield Static(f"!! {self.confirm_title}", classes="dialog-title", markup=False)
            yield from _details(self.command, self.node, self.warnings)
            yield Static(f"Type {self.word} to confirm:", classes="confirm-label", markup=False)
            yield Input(placeholder=self.word, id="typed-confirm-input", select_on_focus=False)
            yield Static("", id="typed-confirm-feedback", classes="dialog-hint", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(
                    f"{self.confirm_label}", id="confirm-yes", variant="error", disabled=True
                )
                yield Button("Cancel", id="confirm-no", variant="primary")
            yield Static("esc cancels", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#typed-confirm-input", Input).focus()

    def _matches(self) -> bool:
        return self.query_one("#typed-confirm-input", Input).value.strip() == self.word

    @on(Input.Changed, "#typed-confirm-input")
    def _typed(self) -> None:
        matches = self._matches()
        self.query_one("#confirm-yes", Button).disabled = not matches
        feedback = self.query_one("#typed-confirm-feedback", Static)
        feedback.update("✓ matches: Enter confirms" if matches else "")

    @on(Input.Submitted, "#typed-confirm-input")
    def _submitted(self) -> None:
        if self._matches():
            self.dismiss(True)
            return
        self.app.bell()
        self.query_one("#typed-confirm-feedback", Static).update(
            f"✗ does not match: type {self.word} exactly, or press esc"
        )

    def action_cancel(self) -> None:
        self.dismiss(False)

    @on(Button.Pressed, "#confirm-yes")
    def _yes(self) -> None:
        # The button is disabled until the word matches; check again anyway.
        if self._matches():
            self.dismiss(True)

    @on(Button.Pressed, "#confirm-no")
    def _no(self) -> None:
        self.dismiss(False)


def trust_screen(offer: TrustOffer) -> ConfirmScreen:
    """The one question of the host-key trust flow (Status pane and init form alike)."""
    return ConfirmScreen(
        f"Trust this host key of {offer.label}?",
        f"append to {offer.known_hosts}: {offer.line}",
        f"{offer.label} ({offer.info.host_pattern})",
        [offer.advice()],
        confirm_label="Yes, trust this key",
    )
