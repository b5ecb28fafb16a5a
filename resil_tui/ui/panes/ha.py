"""HA pane: the XiVO pair's HA configuration (placeholder until the HA issue)."""

from __future__ import annotations

from resil_tui.ui.panes.base import PlaceholderPane


class HaPane(PlaceholderPane):
    PANE_ID = "ha"
    TITLE = "HA"
    WHAT_COMES = (
        "ha.conf of both XiVO nodes side by side, the cron files and replication state, and "
        "changing a node's role (master / slave / disabled) through xivo-sysconfd, each "
        "change shown as the exact command and confirmed first."
    )
