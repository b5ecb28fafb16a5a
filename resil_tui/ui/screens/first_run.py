"""The first screen when no inventory exists: where we looked, and what to do now."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Literal

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Static

from resil_tui.ui.widgets.footer import StableFooter

FirstRunChoice = Literal["init", "demo", "quit"]


class FirstRunScreen(Screen[FirstRunChoice]):
    """Dismisses with "init", "demo" or "quit"; nothing is written or started here."""

    DEFAULT_CSS = """
    FirstRunScreen { align: center top; }
    #first-run-body { width: 100%; max-width: 100; height: 1fr; padding: 0 1; }
    #first-run-body > Static { margin-bottom: 1; }
    .first-run-title { text-style: bold; color: $warning; }
    .first-run-looked { color: $foreground 85%; }
    #first-run-buttons { height: auto; }
    #first-run-buttons Button { margin-right: 2; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("i", "choose('init')", "Create an inventory", id="first_run.init"),
        Binding("d", "choose('demo')", "Start the demo", id="first_run.demo"),
        Binding("q,escape", "choose('quit')", "Quit", id="first_run.quit"),
    ]

    def __init__(self, looked_in: Sequence[str], target: Path) -> None:
        super().__init__()
        self.looked_in = tuple(looked_in)
        self.target = target

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="first-run-body"):
            yield Static("resil-tui: no inventory found", classes="first-run-title")
            yield Static(
                "The inventory (hosts.toml) says which XiVO, CC, Edge and media server nodes "
                "make up your sites and how to reach them over SSH. Looked in, in this order:",
                markup=False,
            )
            yield Static(
                "\n".join(f"  • {place}" for place in self.looked_in),
                id="first-run-looked",
                classes="first-run-looked",
                markup=False,
            )
            yield Static(
                f"i  create one now with a form that tests each node live (resil-tui init); "
                f"it is written to {self.target}\n"
                "d  start the demo: a simulated site on this machine, nothing real is touched\n"
                "q  quit (or pass --hosts FILE next time)",
                id="first-run-choices",
                markup=False,
            )
            with Horizontal(id="first-run-buttons"):
                yield Button("i  Create inventory", id="first-run-init", variant="primary")
                yield Button("d  Demo", id="first-run-demo")
                yield Button("q  Quit", id="first-run-quit")
        yield StableFooter()

    def on_mount(self) -> None:
        self.query_one("#first-run-init", Button).focus()

    def action_choose(self, choice: FirstRunChoice) -> None:
        self.dismiss(choice)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        choice = (event.button.id or "").removeprefix("first-run-")
        if choice in ("init", "demo", "quit"):
            self.dismiss(choice)  # type: ignore[arg-type]
