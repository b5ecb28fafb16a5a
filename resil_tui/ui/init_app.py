"""The small app behind `resil-tui init` and the first run (no inventory found).

It opens on the first-run screen when given `looked_in` (where the lookup found
nothing), else straight on the form. It returns an `InitResult`: what was written, or
that the admin chose the demo or to quit. The CLI decides what runs next.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from textual.app import App
from textual.binding import Binding, BindingType

from resil_tui.inventory_draft import Written
from resil_tui.preferences import load_preferences
from resil_tui.ui.errors import DebugLogErrors
from resil_tui.ui.screens.first_run import FirstRunChoice, FirstRunScreen
from resil_tui.ui.screens.init_form import InitFormScreen
from resil_tui.ui.themes import register_themes, start_in_theme


@dataclass(frozen=True)
class InitResult:
    action: Literal["written", "demo", "quit"]
    written: Written | None = None


class InitApp(DebugLogErrors, App[InitResult]):
    TITLE = "resil-tui init"
    CSS_PATH = Path(__file__).with_name("app.tcss")
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit_init", "Quit", priority=True, id="init.quit"),
    ]

    def __init__(
        self, target: Path, *, force: bool = False, looked_in: Sequence[str] | None = None
    ) -> None:
        super().__init__()
        self.target = target
        self.force = force
        self.looked_in = tuple(looked_in) if looked_in is not None else None
        registered = register_themes(self)
        preferred = load_preferences().preferences.theme
        start_in_theme(self, preferred if preferred in registered.names else registered.default)

    def on_mount(self) -> None:
        if self.looked_in is not None:
            self.push_screen(FirstRunScreen(self.looked_in, self.target), self._first_run)
        else:
            self._open_form()

    def _first_run(self, choice: FirstRunChoice | None) -> None:
        if choice == "init":
            self._open_form()
        elif choice == "demo":
            self.exit(InitResult("demo"))
        else:
            self.exit(InitResult("quit"))

    def _open_form(self) -> None:
        self.push_screen(InitFormScreen(self.target, force=self.force), self._form_done)

    def _form_done(self, written: Written | None) -> None:
        self.exit(InitResult("written", written) if written else InitResult("quit"))

    def action_quit_init(self) -> None:
        self.exit(InitResult("quit"))
