"""What the app shell asks of a pane.

Every pane renders from the shell's `SiteState` of the site on screen: `show_state()` is
called whenever it changes (a node answered, a poll ended); a pane never polls on its own,
it asks the shell (`request_poll()`, `repoll(nodes)` after an action). `show_site()` comes
when the admin switches site, `refresh_pane()` on the refresh key, `can_apply()` /
`apply()` for the pane's main change. A pane that changes nodes lists its mutating
actions in `MUTATING_ACTIONS`; `check_action()` greys them out in read-only mode so the
footer tells the truth, and the remote layer refuses them again whatever the UI does.

Keys: the shell's screen (ui/keys.py) sends the active pane its keys whatever widget has
the focus. A key that cannot run now asks `why_not()` and shows the answer; read-only mode
is explained by the one notice every changing pane shows (`READ_ONLY_EFFECT`, mounted
here) and the one refusal sentence (ui/widgets/read_only.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Input

from resil_tui.inventory_model import Site
from resil_tui.ops.site_state import SiteState
from resil_tui.ui.widgets.read_only import ReadOnlyNotice, refusal

if TYPE_CHECKING:
    from resil_tui.ui.app import ResilApp


class Pane(VerticalScroll):
    """Base class of the six panes."""

    PANE_ID: ClassVar[str] = ""
    TITLE: ClassVar[str] = ""
    MUTATING_ACTIONS: ClassVar[frozenset[str]] = frozenset()
    # What read-only mode greys out on this pane ("the HA form and scripts are"); empty:
    # nothing here changes a node, no notice.
    READ_ONLY_EFFECT: ClassVar[str] = ""
    # Letters typed in a text field are text; esc gives the pane's keys back.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "leave_field", "Leave the field", show=False, id="pane.leave_field"),
    ]

    def __init__(self, site: Site) -> None:
        super().__init__(id=f"pane-{self.PANE_ID}", classes="pane")
        self.site = site

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Textual would run a pane's own on_mount before (and whatever) this class's:
        # outside the guard for a pane removed as it mounts.
        if "on_mount" in cls.__dict__:
            raise TypeError(f"{cls.__name__}: a pane starts in pane_mounted(), not on_mount")

    @property
    def shell(self) -> ResilApp:
        from resil_tui.ui.app import ResilApp

        app = self.app
        if not isinstance(app, ResilApp):
            raise TypeError(f"{type(self).__name__} runs inside ResilApp only")
        return app

    @property
    def state(self) -> SiteState:
        return self.shell.site_state(self.site.name)

    @property
    def read_only(self) -> bool:
        return self.shell.read_only

    def on_mount(self) -> None:
        # A pane mounted as the console quits (the start-up worker mounts the other panes
        # after the first paint) is being removed with the rest: Textual leaves its widgets
        # out or takes them away (display is False from then on). Nothing to render, and
        # nothing to query.
        if not self.display:
            return
        if self.read_only and self.READ_ONLY_EFFECT:
            self.mount(ReadOnlyNotice(self.READ_ONLY_EFFECT), before=0)
        self.pane_mounted()

    def pane_mounted(self) -> None:
        """The pane's own start, once its widgets are there: first render, its clocks.
        Subclasses put here what an `on_mount` would hold (see on_mount)."""

    def action_leave_field(self) -> None:
        if isinstance(self.app.focused, Input) and self in self.app.focused.ancestors:
            self.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self.MUTATING_ACTIONS and self.read_only:
            return None
        return True

    def why_not(self, action: str, parameters: tuple[object, ...]) -> str | None:
        """Why `action` cannot run now (its key was pressed while greyed or hidden); None:
        the binding's own words say it ("Rollback: not available here now.")."""
        if action in self.MUTATING_ACTIONS and self.read_only:
            return refusal(f"{self._describe(action)} on the {self.TITLE} pane")
        return None

    def _describe(self, action: str) -> str:
        for _key, binding in self._bindings:
            if binding.action.split("(")[0] == action:
                return binding.description or action
        return action.replace("_", " ")

    def show_site(self, site: Site) -> None:
        """The admin switched site; subclasses re-render for it."""
        self.site = site

    def show_state(self, state: SiteState) -> None:
        """The site's picture changed; subclasses re-render from it."""

    def refresh_pane(self) -> None:
        """The refresh key was pressed while this pane is active: poll the site now."""
        self.shell.request_poll()

    def can_apply(self) -> bool:
        """Whether this pane has a change ready to apply (enables the apply binding)."""
        return False

    def apply(self) -> None:
        """Apply the pane's pending change; only called when can_apply() and not read-only."""
        self.notify(f"{self.TITLE}: nothing to apply.", severity="warning")
