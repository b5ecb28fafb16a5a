"""The help screen: every binding (id and current key), the safety model, where logs go."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from resil_tui.core.records import record
from resil_tui.ui.panes.catalog import HELP_BINDINGS

SAFETY_MODEL: tuple[str, ...] = (
    "1. READ-ONLY (--read-only, or read_only = true in hosts.toml) refuses every command "
    "that changes a node; such actions are greyed out.",
    "2. Every change shows the node and the exact command and waits for y; changes that "
    "break service make you type the node's name first.",
    "3. Every remote command comes from one catalogue that marks which ones change a node; "
    "read-only is enforced there, once, whatever the screens do.",
    "4. Every command that changes a node is recorded in the audit log (Files, above).",
    "5. Host keys are checked strictly against known_hosts; VoIP IPs are data only and are "
    "never connected to.",
)


@record
class HelpRow:
    """One line of the help screen's table of bindings."""

    keys: str  # as displayed, e.g. "? f1"
    binding_id: str
    description: str
    context: str


KEY_WIDTH = 12
DOES_WIDTH = 34


def row_text(row: HelpRow) -> Text:
    """One binding on one line at 80 columns: key, what it does, its id (for [keys])."""
    text = Text(no_wrap=False)
    text.append(f"{row.keys or '(none)':<{KEY_WIDTH}}", style="bold")
    text.append(f" {row.description:<{DOES_WIDTH}}")
    text.append(f" {row.binding_id}", style="dim")
    return text


def grouped(rows: Sequence[HelpRow]) -> list[tuple[str, list[HelpRow]]]:
    """Rows by context, contexts in the order they first appear (the app's: global,
    dialogs, then the panes in tab order, so the last pane's keys end the help)."""
    groups: dict[str, list[HelpRow]] = {}
    for row in rows:
        groups.setdefault(row.context, []).append(row)
    return list(groups.items())


class HelpScreen(ModalScreen[None]):
    """Every key of the console, generated from the live bindings (after the keymap), by
    pane; the page scrolls (arrows, j/k, PgUp/PgDn, Home/End) and fits 80x24."""

    # In the catalog: the keymap check reads them before this module is loaded.
    BINDINGS: ClassVar[list[BindingType]] = HELP_BINDINGS

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

    def row(self, binding_id: str) -> HelpRow:
        return next(r for r in self.rows if r.binding_id == binding_id)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body"):
            yield Static(
                "? Help  (esc closes · ↑↓ PgUp PgDn Home End scroll)", classes="help-title"
            )
            mode = (
                "This session: ■ READ-ONLY, no command that changes a node will run."
                if self.read_only
                else "This session: changes allowed, each one after confirmation."
            )
            yield Static(mode, id="help-mode", markup=False)
            yield Static("Files", classes="help-heading")
            yield Static(self.files_text(), id="help-files", markup=False)
            yield Static("Safety model", classes="help-heading")
            for line in SAFETY_MODEL:
                yield Static(line, classes="help-safety", markup=False)
            yield Static(
                'Keys, as bound now (rebind: palette "keys: rebind", or [keys] by binding id '
                "in preferences.toml or hosts.toml; hosts.toml wins). Ctrl+Q always quits; "
                "Ctrl+P opens the command palette. A greyed key says why when pressed.",
                classes="help-heading help-keys-heading",
                markup=False,
            )
            with Vertical(id="help-keys"):
                for context, rows in grouped(self.rows):
                    yield Static(context[:1].upper() + context[1:], classes="help-group")
                    for row in rows:
                        # Text, not markup: a key such as "[" must stay a key.
                        yield Static(row_text(row), classes="help-row", name=row.binding_id)

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

    def action_scroll(self, where: str) -> None:
        body = self.query_one("#help-body", VerticalScroll)
        if where == "down":
            body.scroll_down(animate=False)
        elif where == "up":
            body.scroll_up(animate=False)
        else:
            body.scroll_end(animate=False)

    def action_close(self) -> None:
        self.dismiss(None)
