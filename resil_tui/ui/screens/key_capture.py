"""Rebind one key from the console: press the new key, it is saved to the preferences.

Opened from the command palette ("keys: rebind ..."). The next key pressed becomes the
binding's key; escape cancels (so escape itself cannot be bound from here: edit the
preferences file for that).
"""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static


class KeyCaptureScreen(ModalScreen[str | None]):
    """Dismisses with the Textual name of the next key pressed, or None on escape."""

    DEFAULT_CSS = """
    KeyCaptureScreen { align: center middle; }
    """
    # No bindings: every key but escape is an answer.
    BINDINGS: ClassVar[list[BindingType]] = []

    def __init__(self, binding_id: str, description: str, current: str) -> None:
        super().__init__()
        self.binding_id = binding_id
        self.description = description
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="key-capture-dialog", classes="dialog"):
            yield Static(f"? Rebind {self.binding_id}", classes="dialog-title", markup=False)
            yield Static(f"{self.description}; now: {self.current or '(no key)'}", markup=False)
            yield Static("Press the new key.", classes="confirm-node")
            yield Static(
                "esc cancels; the change is saved to your preferences", classes="dialog-hint"
            )

    def on_key(self, event: events.Key) -> None:
        event.stop()
        event.prevent_default()
        self.dismiss(None if event.key == "escape" else event.key)
