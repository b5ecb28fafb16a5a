"""Every pane's main keys act whatever widget of the pane has the focus (issue 21).

For each pane, the focus is put on each focusable widget of the pane in turn, on the tab
bar, and on nothing; then a main key of the pane is pressed and its effect checked. A key
whose action cannot run says why (a toast), never nothing. Typing in a text field keeps
its letters (that is what the field is for); esc leaves the field and the keys work again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from labkit import console, eventually
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Input
from textual.widgets._tabbed_content import ContentTabs

from resil_tui.inventory import load_inventory
from resil_tui.inventory_model import Inventory
from resil_tui.lab.server import Lab
from resil_tui.ops.session import make_pool
from resil_tui.ui.app import ResilApp
from resil_tui.ui.panes.base import Pane
from resil_tui.ui.panes.edge import EdgePane
from resil_tui.ui.panes.ha import HaPane
from resil_tui.ui.panes.logs import LogsPane
from resil_tui.ui.panes.status import StatusPane
from resil_tui.ui.panes.wizard import WizardPane
from resil_tui.ui.widgets.footer import KeyFooter
from resil_tui.ui.widgets.log_view import LogSurface

EXAMPLE = Path(__file__).resolve().parents[2] / "hosts.example.toml"
SIZE = (100, 32)


class RecordingApp(ResilApp):
    """Remembers its toasts (run_test hides them)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.notes: list[str] = []
        super().__init__(*args, **kwargs)

    def notify(self, message: str, **kwargs: Any) -> None:  # type: ignore[override]
        self.notes.append(str(message))
        super().notify(message, **kwargs)


def example(read_only: bool = False) -> RecordingApp:
    inventory = dataclasses.replace(load_inventory(EXAMPLE), path=None)
    app: RecordingApp = console(inventory, read_only=read_only, app_class=RecordingApp)
    return app


async def show(app: ResilApp, pilot: Pilot[Any], key: str, pane_cls: type[Pane]) -> Pane:
    await pilot.press(key)
    await eventually(lambda: app.active_pane_id == pane_cls.PANE_ID, what=pane_cls.PANE_ID)
    await pilot.pause()
    pane = app.query_one(pane_cls)
    return pane


def focus_targets(app: ResilApp, pane: Pane) -> list[Widget | None]:
    """Each focusable widget of the pane (text fields aside), the tab bar, nothing."""
    inside = [
        w
        for w in app.screen.focus_chain
        if pane in w.ancestors_with_self and not isinstance(w, Input)
    ]
    return [*inside, app.query_one("#panes", Widget).query_one(ContentTabs), None]


async def each_focus(
    app: ResilApp,
    pilot: Pilot[Any],
    pane: Pane,
    act: Callable[[Widget | None], Awaitable[None]],
) -> int:
    targets = focus_targets(app, pane)
    for target in targets:
        app.set_focus(target)
        await pilot.pause()
        assert app.focused is target
        await act(target)
    return len(targets)


async def test_status_keys_work_from_every_widget_and_the_tab_bar() -> None:
    app = example()
    async with app.run_test(size=SIZE) as pilot:
        pane = await show(app, pilot, "1", StatusPane)
        assert isinstance(pane, StatusPane)
        table = pane.table

        async def act(target: Widget | None) -> None:
            table.move_cursor(row=0)
            await pilot.press("j")
            assert table.cursor_row == 1, f"j with focus on {target}"
            await pilot.press("down")
            assert table.cursor_row == 2, f"down with focus on {target}"
            await pilot.press("k")
            assert table.cursor_row == 1, f"k with focus on {target}"
            before = table.sort_column
            await pilot.press("o")
            assert table.sort_column != before, f"o with focus on {target}"
            table.sort_by(None)

        assert await each_focus(app, pilot, pane, act) >= 3
        # `/` filters the rows; esc clears the filter and gives the rows the focus back.
        await pilot.press("slash")
        await pilot.press(*"slave")
        await eventually(lambda: len(table.shown_nodes) < len(pane.site.nodes()))
        assert all("slave" in n for n in table.shown_nodes)
        await pilot.press("escape")
        await pilot.pause()
        assert len(table.shown_nodes) == len(pane.site.nodes()) and app.focused is table
        # A key that cannot run says why.
        app.notes.clear()
        await pilot.press("t")
        assert any("no node has an unknown host key" in n for n in app.notes)


async def test_status_filter_box_is_mounted_the_first_time_it_is_asked_for() -> None:
    app = example()
    async with app.run_test(size=SIZE) as pilot:
        pane = await show(app, pilot, "1", StatusPane)
        assert isinstance(pane, StatusPane)
        assert not pane.query("#status-filter")
        await pilot.press("escape")  # no filter yet: esc leaves the field as elsewhere
        await pilot.press("slash")
        box = pane.query_one("#status-filter", Input)
        assert box.has_class("-shown") and app.focused is box
        await pilot.press("enter")  # nothing typed: the box hides, the rows get the focus
        assert not box.has_class("-shown") and app.focused is pane.table
        await pilot.press("slash")
        assert pane.query_one("#status-filter", Input) is box and app.focused is box


async def test_ha_keys_work_from_every_widget_and_read_only_says_why() -> None:
    app = example(read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        pane = await show(app, pilot, "2", HaPane)
        assert isinstance(pane, HaPane)
        assert "READ-ONLY" in str(pane.query_one(".read-only-notice").render())

        async def act(target: Widget | None) -> None:
            before = pane.selected
            await pilot.press("n")
            assert pane.selected != before, f"n with focus on {target}"
            app.notes.clear()
            await pilot.press("p")  # greyed in read-only mode: the toast says why
            assert any("READ-ONLY" in n for n in app.notes), f"p with focus on {target}"

        assert await each_focus(app, pilot, pane, act) >= 3
        # In the peer field the letters are typed; esc leaves the field, keys work again.
        peer = pane.query_one("#ha-peer", Input)
        peer.focus()
        await pilot.press("n")
        assert peer.value.endswith("n")
        await pilot.press("escape")
        assert app.focused is not peer
        before = pane.selected
        await pilot.press("n")
        assert pane.selected != before


async def test_wizard_keys_reach_the_pane_from_every_widget() -> None:
    app = example()
    async with app.run_test(size=SIZE) as pilot:
        pane = await show(app, pilot, "4", WizardPane)

        async def act(target: Widget | None) -> None:
            app.notes.clear()
            # No run yet: running a step, aborting or marking done cannot happen, and the
            # toast says so, whatever has the focus (a stray Tab on the tab bar included).
            for key in ("g", "X", "d"):
                await pilot.press(key)
            assert len(app.notes) == 3, f"keys with focus on {target}: {app.notes}"

        assert await each_focus(app, pilot, pane, act) >= 2
        keys = {k.key for k in app.query_one(KeyFooter).shown()}
        assert {"?", "f", "b"} <= keys


@pytest.fixture
def lab_inventory(lab: Lab) -> Inventory:
    return load_inventory(lab.inventory_path)


async def test_edge_keys_work_from_every_widget(lab_inventory: Inventory, tmp_path: Path) -> None:
    pool = make_pool(lab_inventory, audit_path=tmp_path / "audit.jsonl")
    app = console(lab_inventory, pool=pool, status_refresh_interval=600.0)
    try:
        async with app.run_test(size=SIZE) as pilot:
            pane = await show(app, pilot, "3", EdgePane)
            assert isinstance(pane, EdgePane)
            await eventually(lambda: pane.preview is not None, what="the Edge .env")
            await pilot.pause()

            async def act(target: Widget | None) -> None:
                before = pane.direction
                await pilot.press("d")
                assert pane.direction != before, f"d with focus on {target}"

            assert await each_focus(app, pilot, pane, act) >= 2
    finally:
        await pool.close()


async def test_logs_keys_work_from_every_widget(lab_inventory: Inventory, tmp_path: Path) -> None:
    pool = make_pool(lab_inventory, audit_path=tmp_path / "audit.jsonl")
    app = console(lab_inventory, pool=pool, read_only=True, status_refresh_interval=600.0)
    try:
        async with app.run_test(size=SIZE) as pilot:
            pane = await show(app, pilot, "5", LogsPane)
            assert isinstance(pane, LogsPane)
            await eventually(lambda: pane.active_view is not None, what="the default stream")
            view = pane.active_view
            assert view is not None
            assert isinstance(app.focused, LogSurface)

            async def act(target: Widget | None) -> None:
                before = view.levels_only
                await pilot.press("e")
                assert view.levels_only is not before, f"e with focus on {target}"
                following = view.following
                await pilot.press("f")
                assert view.following is not following, f"f with focus on {target}"
                await pilot.press("f")

            assert await each_focus(app, pilot, pane, act) >= 3
    finally:
        await pool.close()
