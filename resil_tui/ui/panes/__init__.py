"""The five panes of the console, one module each (placeholders until their issue lands)."""

from resil_tui.ui.panes.base import Pane
from resil_tui.ui.panes.edge import EdgePane
from resil_tui.ui.panes.ha import HaPane
from resil_tui.ui.panes.logs import LogsPane
from resil_tui.ui.panes.status import StatusPane
from resil_tui.ui.panes.wizard import WizardPane

# Tab order, and keys 1-5.
PANES: tuple[type[Pane], ...] = (StatusPane, HaPane, EdgePane, WizardPane, LogsPane)

__all__ = [
    "PANES",
    "EdgePane",
    "HaPane",
    "LogsPane",
    "Pane",
    "StatusPane",
    "WizardPane",
]
