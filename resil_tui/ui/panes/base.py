"""What the app shell asks of a pane, and the honest placeholder used until a pane exists.

The shell talks to the active pane through four calls: `show_site()` when the admin
switches site, `refresh_pane()` on the refresh key, `can_apply()` / `apply()` for the
pane's main change. A pane that changes nodes lists its own mutating actions in
`MUTATING_ACTIONS`; `check_action()` greys them out in read-only mode so the footer tells
the truth, and the remote layer refuses them again whatever the UI does.
"""

from __future__ import annotations

from typing import ClassVar

from textual.containers import VerticalScroll

from resil_tui.inventory_model import Site


class Pane(VerticalScroll):
    """Base class of the five panes."""

    PANE_ID: ClassVar[str] = ""
    TITLE: ClassVar[str] = ""
    MUTATING_ACTIONS: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, site: Site) -> None:
        super().__init__(id=f"pane-{self.PANE_ID}", classes="pane")
        self.site = site

    @property
    def read_only(self) -> bool:
        # Fail safe: a pane mounted outside ResilApp behaves as read-only.
        return bool(getattr(self.app, "read_only", True))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self.MUTATING_ACTIONS and self.read_only:
            return None
        return True

    def show_site(self, site: Site) -> None:
        """The admin switched site; subclasses re-render for it."""
        self.site = site

    def refresh_pane(self) -> None:
        """The refresh key was pressed while this pane is active."""

    def can_apply(self) -> bool:
        """Whether this pane has a change ready to apply (enables the apply binding)."""
        return False

    def apply(self) -> None:
        """Apply the pane's pending change; only called when can_apply() and not read-only."""
        self.notify(f"{self.TITLE}: nothing to apply.", severity="warning")
