"""Status pane: the health of every node of the site (placeholder until the status issue)."""

from __future__ import annotations

from resil_tui.ui.panes.base import PlaceholderPane


class StatusPane(PlaceholderPane):
    PANE_ID = "status"
    TITLE = "Status"
    WHAT_COMES = (
        "one row per node: reachable or not, HA role (master / slave / disabled), services "
        "from `xivo-service status all`, xuc readiness, which side the Edge follows, the last "
        "xivo-sync result, and verdicts such as split brain, polled in the background."
    )
