"""What the app shell asks of a pane, and the honest placeholder used until a pane exists.

The shell talks to the active pane through four calls: `show_site()` when the admin
switches site, `refresh_pane()` on the refresh key, `can_apply()` / `apply()` for the
pane's main change. A pane that changes nodes lists its own mutating actions in
`MUTATING_ACTIONS`; `check_action()` greys them out in read-only mode so the footer tells
the truth, and the remote layer refuses them again whatever the UI does.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

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


class PlaceholderPane(Pane):
    """A pane not built yet: says so, says what will come, shows the site's real nodes."""

    WHAT_COMES: ClassVar[str] = ""

    def compose(self) -> ComposeResult:
        yield Static(
            f"✎ {self.TITLE}: not built yet. Nothing on this pane reads or changes a node.",
            classes="placeholder-title",
            markup=False,
        )
        yield Static(
            f"What will come here: {self.WHAT_COMES}", classes="placeholder-text", markup=False
        )
        yield Static(self.site_summary(), classes="placeholder-site", markup=False)

    def site_summary(self) -> str:
        """The inventory's view of the current site (data, not status: nothing is probed)."""
        lines = [f"Site {self.site.name} in the inventory:"]
        for node in self.site.nodes():
            extra = f", IP {node.ip}" if node.ip is not None else ""
            lines.append(f"  • {node.label:<14} via ssh {node.ssh.host}{extra}")
        return "\n".join(lines)

    def show_site(self, site: Site) -> None:
        super().show_site(site)
        if self.is_mounted:
            self.query_one(".placeholder-site", Static).update(self.site_summary())

    def refresh_pane(self) -> None:
        self.notify(f"{self.TITLE}: not built yet, nothing to refresh.")
