"""The six panes as the shell knows them before their modules are loaded: id, title, keys.

The first screen holds the Status pane only; the other five modules (with the widgets
and operations behind them) are imported when their pane is mounted, after the first
paint. The help screen, the keymap check and the command palette need every pane's keys
at start-up, so each pane's bindings are written here, once, and its class uses them
(`BINDINGS = HA.bindings`). The same goes for the help screen and the confirmation
dialogs, opened only when asked for (`HelpScreen.BINDINGS = HELP_BINDINGS`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from textual.binding import Binding, BindingType

from resil_tui.core.records import record

if TYPE_CHECKING:
    from resil_tui.ui.panes.base import Pane


@record
class PaneSpec:
    """A pane as the shell knows it before its module loads: where its class is, and its keys."""

    pane_id: str
    title: str
    # resil_tui/ui/panes/<module>.py holds the class `class_name`.
    module: str
    class_name: str
    bindings: list[BindingType]

    def load(self) -> type[Pane]:
        """The pane's class (its module imported now if it was not)."""
        found: type[Pane] = getattr(
            importlib.import_module(f"resil_tui.ui.panes.{self.module}"), self.class_name
        )
        return found


STATUS = PaneSpec(
    "status",
    "Status",
    "status",
    "StatusPane",
    [
        Binding("t", "trust", "Trust host key", id="status.trust"),
        Binding("slash", "filter", "Filter", id="status.filter"),
        Binding("o", "sort", "Sort", id="status.sort"),
        Binding("c", "copy_detail", "Copy detail", id="status.copy"),
        # The rows move whatever has the focus (the tab bar, the detail): ↓/↑ and j/k.
        Binding("down,j", "cursor('down')", "Next node", show=False, id="status.down"),
        Binding("up,k", "cursor('up')", "Previous node", show=False, id="status.up"),
    ],
)

HA = PaneSpec(
    "ha",
    "HA",
    "ha",
    "HaPane",
    [
        Binding("n", "next_node", "Next node", id="ha.next_node"),
        Binding("p", "replicate", "Replicate DB", id="ha.replicate"),
        Binding("S", "sync", "xivo-sync", id="ha.sync"),
        Binding("i", "sync_init", "xivo-sync -i", id="ha.sync_init"),
        Binding("c", "check_master", "Check master", id="ha.check"),
        Binding("u", "slave_start", "Slave services start", id="ha.slave_start"),
        Binding("x", "slave_stop", "Slave services stop", id="ha.slave_stop"),
        Binding("R", "restart_services", "Restart services", id="ha.restart"),
    ],
)

EDGE = PaneSpec(
    "edge",
    "Edge",
    "edge",
    "EdgePane",
    [
        Binding("d", "toggle_direction", "Direction", id="edge.direction"),
        Binding("R", "rollback", "Rollback", id="edge.rollback"),
    ],
)

WIZARD = PaneSpec(
    "wizard",
    "Wizard",
    "wizard",
    "WizardPane",
    [
        Binding("f", "start('failover')", "Start failover", id="wizard.failover"),
        Binding("b", "start('failback')", "Start failback", id="wizard.failback"),
        Binding("g,enter", "run_step", "Run step", id="wizard.run"),
        Binding("t", "retry", "Retry", id="wizard.retry"),
        Binding("k", "skip", "Skip", id="wizard.skip"),
        Binding("d", "done", "Done", id="wizard.done"),
        Binding("c", "confirm", "Confirm", id="wizard.confirm"),
        Binding("w", "wait_guard", "Wait", id="wizard.wait"),
        Binding("X", "abort", "Abort", id="wizard.abort"),
    ],
)

LOGS = PaneSpec(
    "logs",
    "Logs",
    "logs",
    "LogsPane",
    [
        Binding("o", "open_stream", "Open stream", id="logs.open"),
        Binding("slash", "search", "Search", id="logs.search"),
        Binding("n", "next_match", "Next match", id="logs.next"),
        Binding("N", "previous_match", "Prev match", id="logs.previous"),
        Binding("f", "toggle_follow", "Follow", id="logs.follow"),
        Binding("e", "toggle_levels", "WARN/ERROR", id="logs.levels"),
        Binding("ampersand", "filter", "Filter", id="logs.filter"),
        Binding("R", "readiness", "Ready line", id="logs.ready"),
        Binding("u", "toggle_collapse", "Repeats", id="logs.repeats"),
        Binding("m", "merged", "Merged", id="logs.merged"),
        Binding("x", "close_stream", "Close tab", id="logs.close"),
        Binding("w", "toggle_wrap", "Wrap", id="logs.wrap"),
        Binding("ctrl+s", "save", "Save", id="logs.save"),
        Binding("ctrl+r", "toggle_regex", "Regex", show=False, id="logs.regex"),
        Binding("ctrl+n", "toggle_case", "Case", show=False, id="logs.case"),
        Binding("c", "copy", "Copy", show=False, id="logs.copy"),
    ],
)

TIMELINE = PaneSpec(
    "timeline",
    "Timeline",
    "timeline",
    "TimelinePane",
    [
        Binding("enter", "jump", "Node detail", id="timeline.jump"),
        Binding("n", "next_node", "Node filter", id="timeline.node"),
        Binding("k", "next_kind", "Kind filter", id="timeline.kind"),
        Binding("A", "toggle_all_sites", "All sites", id="timeline.sites"),
        Binding("x", "clear_filters", "Clear filters", id="timeline.clear"),
    ],
)

# Tab order, and keys 1-6.
PANES: tuple[PaneSpec, ...] = (STATUS, HA, EDGE, WIZARD, LOGS, TIMELINE)

# The modal screens' keys (ui/screens/help.py, ui/screens/confirm.py).
HELP_BINDINGS: list[BindingType] = [
    Binding("escape,q,question_mark,f1", "close", "Close help", id="help.close"),
    Binding("j", "scroll('down')", "Scroll down", show=False),
    Binding("k", "scroll('up')", "Scroll up", show=False),
    Binding("G", "scroll('end')", "End", show=False),
]
CONFIRM_BINDINGS: list[BindingType] = [
    Binding("y", "confirm", "Yes, run it", id="confirm.yes"),
    Binding("n", "cancel", "No", id="confirm.no"),
    Binding("escape", "cancel", "Cancel", id="confirm.cancel"),
]
TYPED_CONFIRM_BINDINGS: list[BindingType] = [
    Binding("escape", "cancel", "Cancel", id="confirm.cancel"),
]


def pane_spec(pane_id: str) -> PaneSpec | None:
    return next((p for p in PANES if p.pane_id == pane_id), None)
