"""Edge pane: which side the Edge proxy follows (placeholder until the Edge issue)."""

from __future__ import annotations

from resil_tui.ui.panes.base import PlaceholderPane


class EdgePane(PlaceholderPane):
    PANE_ID = "edge"
    TITLE = "Edge"
    WHAT_COMES = (
        "the four .env variables the Edge uses to reach XiVO and CC, which side they point "
        "to, and a switch to the other side with a diff preview, a backup and "
        "`edge-dcomp up -d`."
    )
