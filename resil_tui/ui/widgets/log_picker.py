"""Choose a log stream to open: every stream of every node of the site, with its command."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from resil_tui.inventory_model import Node, Site
from resil_tui.ops.logs import LogStream, streams_for


def stream_choices(site: Site) -> list[tuple[Node, LogStream]]:
    return [(node, stream) for node in site.nodes() for stream in streams_for(node)]


class LogPickerScreen(ModalScreen[tuple[Node, LogStream] | None]):
    DEFAULT_CSS = """
    LogPickerScreen { align: center middle; }
    LogPickerScreen > .dialog { width: 100; max-width: 100%; height: auto; max-height: 90%; }
    LogPickerScreen OptionList { height: auto; max-height: 20; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="logs-picker.cancel"),
    ]

    def __init__(self, site: Site) -> None:
        super().__init__()
        self.site = site
        self.choices = stream_choices(site)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(
                f"Open a log stream · site {self.site.name}", classes="dialog-title", markup=False
            )
            options = [
                # Text, not a str: a "[" in an inventory command is not markup.
                Option(
                    Text(f"{node.label:<14} {stream.name:<12} {stream.description}"), id=str(index)
                )
                for index, (node, stream) in enumerate(self.choices)
            ]
            if options:
                yield OptionList(*options, id="log-picker-list")
            else:
                yield Static("No log stream on this site.", markup=False)
            yield Static("enter: open (read-only) · esc: cancel", classes="dialog-hint")

    def on_mount(self) -> None:
        for found in self.query("#log-picker-list"):
            found.focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        index = int(event.option.id or 0)
        self.dismiss(self.choices[index])

    def action_cancel(self) -> None:
        self.dismiss(None)
