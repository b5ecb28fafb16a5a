"""The first screen does no Textual work a minimal app does not (issue 17): it starts in its
theme without reparsing the CSS, and the first focus goes straight to the pane shown. What
is counted here is work done, never time; and what start-up skips must not change what the
console shows or where the focus goes afterwards."""

from __future__ import annotations

import asyncio
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from labkit import console, eventually
from rich.color import Color as RichColor
from rich.style import Style
from textual.color import Color
from textual.containers import Vertical
from textual.css.stylesheet import Stylesheet
from textual.filter import ANSIToTruecolor
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import TabbedContent
from textual.widgets._tabbed_content import ContentTabs

from resil_tui.core.node_status import NodeSnapshot, Reachability, ReachState
from resil_tui.inventory import load_inventory
from resil_tui.inventory_model import Inventory
from resil_tui.ops.session import session_on_demand
from resil_tui.ops.status_events import NodePolled
from resil_tui.ui.app import ResilApp
from resil_tui.ui.keys import ShellScreen
from resil_tui.ui.panes.base import Pane
from resil_tui.ui.panes.catalog import PANES
from resil_tui.ui.panes.status import StatusPane
from resil_tui.ui.screens.confirm import ConfirmScreen
from resil_tui.ui.screens.help import HelpScreen
from resil_tui.ui.widgets.log_view import LogView

EXAMPLE = Path(__file__).resolve().parents[2] / "hosts.example.toml"
SIZE = (120, 40)


@pytest.fixture(autouse=True)
def _xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


@pytest.fixture
def inventory() -> Inventory:
    return load_inventory(EXAMPLE)


async def first_paint(app: ResilApp) -> None:
    """Until the first screen has been painted (as bench/startup.py waits for it)."""
    painted = asyncio.Event()
    app.call_after_refresh(painted.set)
    await painted.wait()


def theme_picture(app: ResilApp) -> dict[str, Any]:
    """What the theme decides on screen: the app's classes, the CSS variables, every
    widget's resolved style, how ANSI colours are mapped to truecolour."""
    ansi = [f for f in app._filters if isinstance(f, ANSIToTruecolor)]
    assert len(ansi) == 1
    red = ansi[0].truecolor_style(Style(color="red"), RichColor.parse("black"))
    return {
        "classes": sorted(c for c in app.classes if c.startswith("-")),
        "variables": dict(app.theme_variables),
        "styles": {
            f"{w.css_identifier}:{id(w)}": str(w.rich_style) for w in app.screen.walk_children()
        },
        "ansi": (ansi[0].enabled, str(red)),
    }


@pytest.mark.parametrize("name", ["dark", "light", "incident"])
async def test_starts_in_the_chosen_theme_as_if_switched_to_it(
    inventory: Inventory, name: str
) -> None:
    app = console(inventory, theme=name)
    async with app.run_test(size=SIZE) as pilot:
        await eventually(lambda: len(app.query(Pane)) == 6, what="every pane mounted")
        await pilot.pause()
        theme = app.current_theme
        assert app.theme == name == theme.name
        mode = "-dark-mode" if theme.dark else "-light-mode"
        assert theme_picture(app)["classes"] == sorted([f"-theme-{name}", mode])
        assert Color.parse(app.theme_variables["background"]) == Color.parse(theme.background)
        started = theme_picture(app)
        # The reference: the same theme set on the running app (Textual's own watcher).
        app.theme = "textual-light" if theme.dark else "textual-dark"
        await pilot.pause()
        assert theme_picture(app) != started
        app.theme = name
        await pilot.pause()
        assert theme_picture(app) == started


def test_a_light_theme_is_among_the_theme_files(inventory: Inventory) -> None:
    # The parametrized test above covers a light start only while light.toml is light.
    assert console(inventory, theme="light").current_theme.dark is False


async def test_no_css_reparse_before_the_first_paint(
    inventory: Inventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    reparses: list[Stylesheet] = []
    reparse = Stylesheet.reparse

    def counted(self: Stylesheet) -> None:
        reparses.append(self)
        reparse(self)

    monkeypatch.setattr(Stylesheet, "reparse", counted)
    app = console(inventory, theme="light")
    async with app.run_test(size=SIZE) as pilot:
        await first_paint(app)
        assert reparses == []
        # The count sees a reparse when there is one: a theme switch costs one.
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert app.theme != "light"
        assert len(reparses) == 1


async def test_first_focus_is_the_status_pane_not_the_tab_bar(
    inventory: Inventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    focused: list[Widget | None] = []
    set_focus = Screen.set_focus

    def recorded(self: Screen[Any], widget: Widget | None, *args: Any, **kwargs: Any) -> None:
        focused.append(widget)
        set_focus(self, widget, *args, **kwargs)

    monkeypatch.setattr(Screen, "set_focus", recorded)
    app = console(inventory)
    async with app.run_test(size=SIZE):
        await first_paint(app)
        assert [type(w) for w in focused] == [StatusPane]
        assert isinstance(app.focused, StatusPane)


async def show_ha_pane(app: ResilApp, pilot: Any) -> TabbedContent:
    await eventually(lambda: len(app.query(Pane)) == 6, what="every pane mounted")
    await pilot.press("2")
    await pilot.pause()
    tabs = app.query_one("#panes", TabbedContent)
    assert tabs.active == "ha"
    return tabs


def focus_in(app: ResilApp, pane_id: str) -> bool:
    pane = app.query_one(f"#pane-{pane_id}", Pane)
    return app.focused is not None and pane in app.focused.ancestors_with_self


async def test_tab_and_focus_stay_after_a_modal_closes(inventory: Inventory) -> None:
    app = console(inventory)
    async with app.run_test(size=SIZE) as pilot:
        tabs = await show_ha_pane(app, pilot)
        assert focus_in(app, "ha")
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)
        assert tabs.active == "ha"
        assert focus_in(app, "ha")


async def test_a_screen_resumed_with_nothing_focused_keeps_its_tab(
    inventory: Inventory,
) -> None:
    # The screen's auto-focus runs again on resume when nothing has focus: it must not pick
    # the Status pane in its hidden tab (focusing it would switch the tab back).
    app = console(inventory)
    results: list[bool | None] = []
    async with app.run_test(size=SIZE) as pilot:
        tabs = await show_ha_pane(app, pilot)
        app.screen.set_focus(None)
        app.push_screen(ConfirmScreen("t", "cmd", "node"), callback=results.append)
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        # The modal keeps its own focus (its default button is "no").
        assert app.focused is not None and app.screen in app.focused.ancestors
        await pilot.press("escape")
        await pilot.pause()
        assert results == [False]
        assert tabs.active == "ha"
        # Textual's own choice, as with AUTO_FOCUS "*": the tab bar.
        assert isinstance(app.focused, ContentTabs)


async def test_auto_focus_after_start_is_textuals_default(inventory: Inventory) -> None:
    app = console(inventory)
    async with app.run_test(size=SIZE):
        await eventually(lambda: len(app.query(Pane)) == 6, what="every pane mounted")
        screen = app.screen
        assert isinstance(screen, ShellScreen)
        auto_focus = screen.AUTO_FOCUS
        assert auto_focus is not None
        # Every widget, in the order "*" gives them (the first focusable wins).
        assert list(screen.query(auto_focus)) == list(screen.query("*"))
        # Before the app's first focus, none: Textual's auto-focus, which may run before
        # the app's on_mount (the order of the screen's compose and the app's is not fixed),
        # cannot focus the tab bar first.
        screen.remove_class("-started", update=False)
        assert list(screen.query(auto_focus)) == []
        screen.add_class("-started", update=False)


def every_pane_mounted(app: ResilApp) -> bool:
    panes = list(app.query(Pane))
    return len(panes) == len(PANES) and all(p.is_mounted for p in panes)


async def test_a_pane_mounted_as_the_console_quits_fails_nothing(inventory: Inventory) -> None:
    # The start-up worker mounts the other panes after the first paint; a console quit at
    # that moment removes a pane while it composes, and Textual then mounts nothing into
    # it (seen in CI on a loaded machine: the Timeline pane's on_mount found no table and
    # the console "stopped on an unexpected error" as it quit). The race needs a loaded
    # machine; what Textual's removal marks on every widget it takes away (App._prune) is
    # set here by hand as the pane composes instead. Read-only too: it mounts a notice.
    # The same for a stream's view (a tab the default stream adds in the background).
    for read_only in (False, True):
        app = console(inventory, read_only=read_only)
        async with app.run_test(size=SIZE) as pilot:
            # The console's own panes first, so that none of these copies stands for one.
            await eventually(partial(every_pane_mounted, app), what="every pane mounted")
            widgets: list[Widget] = [spec.load()(app.current_site) for spec in PANES]
            widgets.append(LogView("test · stream"))
            for widget in widgets:
                compose = widget.compose

                def removed_as_it_composes(widget: Widget = widget, compose: Any = compose) -> Any:
                    widget._pruning = True
                    return compose()

                widget.compose = removed_as_it_composes  # type: ignore[method-assign]
                box = Vertical()
                await app.screen.mount(box)
                await box.mount(widget)
                await pilot.pause()
                assert not widget.children, widget
                await box.remove()
        # run_test raises here what the app failed on, if anything.
        assert app.return_code in (None, 0)


def test_a_pane_that_defines_on_mount_is_refused() -> None:
    # Textual runs a subclass's on_mount before the base's: it would escape the guard above.
    with pytest.raises(TypeError, match="pane_mounted"):
        type("Bad", (Pane,), {"on_mount": lambda self: None})


async def test_a_session_on_demand_is_opened_once_and_closed_only_if_opened(
    inventory: Inventory,
) -> None:
    async with session_on_demand(inventory) as pending:
        assert pending.opened is None
        # What the console says before the session exists is the inventory's.
        assert pending.read_only is inventory.read_only
    assert pending.opened is None  # nothing to close: never opened
    async with session_on_demand(inventory) as pending:
        session = pending.open()
        assert pending.open() is session
        assert session.read_only is inventory.read_only
    assert session.pool._closed


async def test_the_console_opens_its_session_after_the_first_paint_and_hears_it(
    inventory: Inventory,
) -> None:
    # The program's own order of events at the first paint is checked along its real path
    # (test_lazy_panes.py: the pool and the collector are not imported by then); here,
    # that the session the start-up opens is the app's, and that the app hears it.
    async with session_on_demand(inventory) as pending:
        app = ResilApp(pending, poll=False)
        async with app.run_test(size=SIZE):
            await eventually(lambda: pending.opened is not None, what="the session opened")
            session = pending.opened
            assert session is not None and app.session is session
            await eventually(partial(every_pane_mounted, app), what="every pane mounted")
            node = app.current_site.xivo_master
            snap = NodeSnapshot(
                node_id=node.id,
                kind=node.kind.value,
                reachability=Reachability(ReachState.REFUSED, "refused", 1.0),
                polled_at=1.0,
            )
            session.collector._emit(NodePolled(node.site, snap))
            assert app.site_state().node(node.id) is snap
        assert app.opened_session is session
    assert session.pool._closed
