"""The help screen: every binding (id and current key), the safety model, where logs go."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

SAFETY_MODEL: tuple[str, ...] = (
    "1. READ-ONLY (--read-only, or read_only = true in hosts.toml) refuses every command "
    "that changes a node; such actions are greyed out.",
    "2. Every change shows the node and the exact command and waits for y; changes that "
    "break service make you type the node's name first.",
    "3. Every remote command comes from one catalogue that marks which ones change a node; "
    "read-only is enforced there, once, whatever the screens do.",
    "4. Every command that changes a node is recorded in the audit log below.",
    "5. Host keys are checked strictly against known_hosts; VoIP IPs are data only and are "
    "never connected to.",
)


@dataclass(frozen=True)
class HelpRow:
    keys: str  # as displayed, e.g. "? f1"
    binding_id: str
    description: str
    context: str


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,f1", "close", "Close help", id="help.close"),
    ]

    def __init__(
        self,
        rows: Sequence[HelpRow],
        *,
        read_only: bool,
        audit_log: Path,
        debug_log: Path,
        inventory_path: Path | None,
    ) -> None:
        super().__init__()
        self.rows = tuple(rows)
        self.read_only = read_only
        self.audit_log = audit_log
        self.debug_log = debug_log
        self.inventory_path = inventory_path

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body"):
            yield Static("? Help  (esc closes)", classes="help-title")
            yield Static(
                'Keys (rebind: palette "keys: rebind", or [keys] by binding id in '
                "preferences.toml or hosts.toml; hosts.toml wins)",
                classes="help-heading",
                markup=False,
            )
            table: DataTable[Text] = DataTable(
                id="help-keys", cursor_type="row", zebra_stripes=True, show_cursor=False
            )
            # The page scrolls as a whole (arrows, PgUp/PgDn), not the table on its own.
            table.can_focus = False
            yield table
            yield Static(
                "Ctrl+Q always quits; Ctrl+P opens the command palette.", classes="help-note"
            )
            yield Static("Safety model", classes="help-heading")
            mode = (
                "This session: ■ READ-ONLY, no command that changes a node will run."
                if self.read_only
                else "This session: changes allowed, each one after confirmation."
            )
            yield Static(mode, id="help-mode", markup=False)
            for line in SAFETY_MODEL:
                yield Static(line, classes="help-safety", markup=False)
            yield Static("Files", classes="help-heading")
            yield Static(self.files_text(), id="help-files", markup=False)

    def files_text(self) -> str:
        inventory = str(self.inventory_path) if self.inventory_path else "(none)"
        return "\n".join(
            (
                f"Audit log: {self.audit_log}",
                f"Debug log: {self.debug_log}",
                f"Inventory: {inventory}",
            )
        )

    def on_mount(self) -> None:
        self.query_one("#help-body", VerticalScroll).focus()
        table = self.query_one("#help-keys", DataTable)
        table.add_columns("Key", "Binding id", "Does", "Where")
        for row in self.rows:
            # Text, not str: a key such as "[" must not be read as markup.
            cells = (row.keys, row.binding_id, row.description, row.context)
            table.add_row(*(Text(cell) for cell in cells), key=row.binding_id)

    def action_close(self) -> None:
        self.dismiss(None)
