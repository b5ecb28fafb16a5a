"""Pick one backup of the Edge `.env` to restore (newest first, highlighted)."""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from resil_tui.ops.edge import BackupInfo


class EdgeBackupPicker(ModalScreen[str | None]):
    """Dismisses with the chosen backup's path, or None on escape. With several Edge nodes
    the pane asks once per node (the title names it)."""

    DEFAULT_CSS = """
    EdgeBackupPicker { align: center middle; }
    #edge-backup-list { height: auto; max-height: 16; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="edge.backup.cancel"),
    ]

    def __init__(self, node: str, path: str, backups: Sequence[BackupInfo]) -> None:
        super().__init__()
        self.node = node
        self.path = path
        self.backups = tuple(backups)

    def compose(self) -> ComposeResult:
        with Vertical(id="edge-backup-dialog", classes="dialog"):
            yield Static(
                f"? Roll back {self.path} on {self.node}", classes="dialog-title", markup=False
            )
            yield Static(
                "Choose the backup to restore (newest first); a confirmation follows.",
                classes="confirm-label",
                markup=False,
            )
            options = [
                Option(
                    f"{posixpath.basename(b.path)}   taken {b.taken:%Y-%m-%d %H:%M:%S} UTC"
                    + (f"   {b.size} bytes" if b.size is not None else "")
                    + ("   (newest)" if index == 0 else ""),
                    id=b.path,
                )
                for index, b in enumerate(self.backups)
            ]
            yield OptionList(*options, id="edge-backup-list", markup=False)
            yield Static("enter chooses · esc cancels", classes="dialog-hint")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.highlighted = 0 if self.backups else None
        options.focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
