"""The six panes of the console, one module each."""

from resil_tui.ui.panes.base import Pane
from resil_tui.ui.panes.edge import EdgePane
from resil_tui.ui.panes.ha import HaPane
from resil_tui.ui.panes.logs import LogsPane
from resil_tui.ui.panes.status import StatusPane
from resil_tui.ui.panes.timeline import TimelinePane
from resil_tui.ui.panes.wizard import WizardPane

# Tab order, and keys 1-6.
PANES: tuple[type[Pane], ...] = (StatusPane, HaPane, EdgePane, WizardPane, LogsPane, TimelinePane)

__all__ = [
    "PANES",
    "EdgePane",
    "HaPane",
    "LogsPane",
    "Pane",
    "StatusPane",
    "TimelinePane",
    "WizardPane",
]
