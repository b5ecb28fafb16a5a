"""Wizard pane: the failover / failback procedure (placeholder until the wizard issue)."""

from __future__ import annotations

from resil_tui.ui.panes.base import PlaceholderPane


class WizardPane(PlaceholderPane):
    PANE_ID = "wizard"
    TITLE = "Wizard"
    WHAT_COMES = (
        "the failover and failback procedure step by step: check XiVO, restart xuc on the "
        "target CC and wait until it is ready, switch the Edge, then what to tell users."
    )
