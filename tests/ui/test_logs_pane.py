"""Pilot tests of the Logs pane: pause/resume, filter, wrap/save, tabs stopping streams."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from labkit import console
from textual.app import App, ComposeResult
from textual.pilot import Pilot

from resil_tui.core.logbuf import gap_marker, parse_line_time
from resil_tui.inventory import load_inventory
from resil_tui.inventory_model import Node
from resil_tui.lab.server import Lab
from resil_tui.ops.logs import FollowState, find_stream
from resil_tui.ops.session import make_pool
from resil_tui.ui.app import ResilApp
from resil_tui.ui.panes.logs import LogsPane, LogTab
from resil_tui.ui.widgets.log_view import LogSurface, LogView

SIZE = (120, 40)


@pytest.fixture(autouse=True)
def _xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


class ViewApp(App[None]):
    """One LogView, fed by the test (no network)."""

    def compose(self) -> ComposeResult:
        yield LogView("test · stream", flush_interval=0.02, readiness="Listening for HTTP on")


def lines(start: int, count: int) -> list[str]:
    return [
        f"2026-11-25 10:00:00,000 {'WARN' if i % 7 == 0 else 'INFO'}  [app] - line {i}"
        for i in range(start, start + count)
    ]


async def settle(pilot: object, seconds: float = 0.1) -> None:
    await pilot.pause(seconds)  # type: ignore[attr-defined]


async def test_scrolling_up_pauses_and_the_marker_resumes() -> None:
    app = ViewApp()
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        view.ingest(lines(0, 200))
        await settle(pilot)
        assert view.following and view.surface.line_count == 200
        view.surface.focus()
        await pilot.press("pageup")
        await settle(pilot)
        assert not view.following, "scrolling up must pause following"
        view.ingest(lines(200, 30))
        await settle(pilot)
        bar = app.query_one(".log-new")
        assert bar.display and "+30 new lines" in str(bar.render())
        assert view.surface.line_count == 200  # new lines wait in the buffer
        await pilot.click(".log-new")
        await settle(pilot)
        assert view.following and view.surface.line_count == 230
        assert view.surface.is_vertical_scroll_end
        assert not app.query_one(".log-new").display
        # The toggle key path: explicit pause, then resume.
        view.toggle_follow()
        view.ingest(lines(230, 5))
        await settle(pilot)
        assert view.surface.line_count == 230 and "+5 new lines" in str(bar.render())
        view.toggle_follow()
        await settle(pilot)
        assert view.surface.line_count == 235


async def test_filter_hides_lines_and_clearing_restores_them() -> None:
    app = ViewApp()
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        view.ingest(lines(0, 100))
        view.ingest_marker(gap_marker("connection lost", __import__("datetime").datetime.now()))
        await settle(pilot)
        view.open_filter()
        await pilot.press(*"line 1")
        await pilot.press("enter")
        await settle(pilot, 0.3)
        shown = list(view.surface.lines)
        # "line 1", "line 10".."line 19": 11 lines, plus the gap marker kept through filters.
        assert len(shown) == 12 and all("line 1" in s or s.startswith("── ") for s in shown)
        assert len(view.buffer) == 101  # nothing lost
        # Regex mode, case-sensitive toggle.
        view.toggle_regex()
        view.filter_input.value = r"WARN .* line \d$"
        await settle(pilot, 0.3)
        # Shown with one timestamp, the message first, the logger after it.
        assert [s for s in view.surface.lines if not s.startswith("──")] == [
            "10:00:00.000 WARN line 0  ‹app›",
            "10:00:00.000 WARN line 7  ‹app›",
        ]
        view.filter_input.value = "(unclosed"
        await settle(pilot, 0.3)
        assert view.filter_error is not None  # shown, and the last valid filter kept
        view.filter_input.focus()
        await pilot.press("escape")
        await settle(pilot, 0.2)
        assert view.filter is None and view.surface.line_count == 101


async def test_wrap_and_save(tmp_path: Path) -> None:
    app = ViewApp()
    async with app.run_test(size=(60, 20)) as pilot:
        view = app.query_one(LogView)
        view.ingest(["x" * 150, "short"])
        await settle(pilot)
        assert view.surface.line_count == 2
        view.toggle_wrap()
        await settle(pilot)
        assert view.surface.line_count > 3
        path = tmp_path / "saved.log"
        assert view.save(path) == 2
        assert path.read_text() == "x" * 150 + "\nshort\n"


def shown(tab: LogTab) -> int:
    """Lines the tab's view shows; 0 while the tab is not composed yet (it is in the DOM
    before its children are)."""
    found = list(tab.log_view.query(LogSurface))
    return found[0].line_count if found else 0


async def wait_for(check: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_tabs_follow_the_lab_and_closing_a_tab_stops_its_stream(
    lab: Lab, tmp_path: Path
) -> None:
    inventory = load_inventory(lab.inventory_path)
    pool = make_pool(inventory, audit_path=tmp_path / "audit.jsonl")
    app = console(inventory, read_only=True, pool=pool)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("5")
            pane = app.query_one(LogsPane)
            await wait_for(lambda: pane.log_tabs() and shown(pane.log_tabs()[0]) > 0)
            first = pane.log_tabs()[0]
            assert first.node.id == "demo.cc.master" and first.stream.name == "xuc"
            # A second stream from the picker: the Edge's compose logs.
            await pilot.press("o")
            await settle(pilot)
            picker = app.screen
            index = next(
                i
                for i, (n, s) in enumerate(picker.choices)  # type: ignore[attr-defined]
                if n.id == "demo.edge"
            )
            picker.dismiss(picker.choices[index])  # type: ignore[attr-defined]
            await wait_for(lambda: len(pane.log_tabs()) == 2)
            second = pane.log_tabs()[1]
            await wait_for(lambda: shown(second) > 0)
            assert len(lab._server("demo.edge").tasks) == 1
            # Close the Edge tab (the active one): its remote logs -f ends, the other runs.
            second.log_view.surface.focus()
            await pilot.press("x")
            await wait_for(lambda: len(pane.log_tabs()) == 1)
            assert second.follower is not None
            await wait_for(lambda: second.follower.state is FollowState.STOPPED)
            await wait_for(lambda: len(lab._server("demo.edge").tasks) == 0)
            assert first.follower is not None and first.follower.running
            assert len(lab._server("demo.cc.master").tasks) == 1
            # The picker offers only read-only streams; nothing was ever sent that mutates.
            for node_id in lab.node_ids():
                for command in lab.commands(node_id):
                    assert "restart" not in command["argv"] and "up" not in command["argv"]
            await pilot.press("x")
            await wait_for(lambda: len(lab._server("demo.cc.master").tasks) == 0)
    finally:
        await pool.close()


async def test_search_counts_matches_and_n_N_jump_like_less() -> None:
    app = ViewApp()
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        view.ingest(lines(0, 300))
        await settle(pilot)
        view.open_search()
        await pilot.press(*"line 2")
        await pilot.press("enter")
        await settle(pilot, 0.3)
        # "line 2", "line 20".."line 29", "line 200".."line 299": 111 matches.
        assert len(view.matches) == 111 and not view.following  # a jump pauses the follow
        status = " · ".join(view.status_parts())
        assert "search 'line 2': match" in status and "of 111" in status
        first = view.match_at
        view.next_match(forward=True)
        assert view.match_at == (first + 1) % 111
        view.next_match(forward=False)
        view.next_match(forward=False)
        assert view.match_at == (first - 1) % 111
        shown = view.surface.scroll_offset.y
        entry = view.matches[view.match_at]
        assert shown <= entry < shown + view.surface.size.height  # the match is on screen


async def test_levels_repeats_and_the_readiness_line() -> None:
    app = ViewApp()
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        view.ingest(["2026-11-25 10:00:00,000 INFO  [app] - polling"] * 37)
        view.ingest(lines(0, 50))
        view.ingest(["2026-11-25 10:00:09,000 INFO  [play] - Listening for HTTP on /0.0.0.0:9000"])
        view.ingest(lines(50, 100))
        await settle(pilot)
        view.toggle_collapse()
        await settle(pilot)
        assert view.surface.lines[0].endswith("×37")
        view.toggle_levels()
        await settle(pilot)
        assert view.surface.lines and all(" WARN " in s for s in view.surface.lines)
        view.toggle_levels()
        view.toggle_collapse()
        await settle(pilot)
        assert view.jump_to_readiness() and not view.following
        top = view.surface.scroll_offset.y
        visible = view.surface.lines[top : top + view.surface.size.height]
        assert any("Listening for HTTP on" in s for s in visible)


@asynccontextmanager
async def logs_with_default_stream(
    lab: Lab, tmp_path: Path
) -> AsyncIterator[tuple[ResilApp, Pilot[int], LogsPane, Node]]:
    """The console on the lab, read-only, on the Logs pane with its default stream open;
    also the CC slave, whose xuc stream the tests open as a second one."""
    inventory = load_inventory(lab.inventory_path)
    pool = make_pool(inventory, audit_path=tmp_path / "audit.jsonl")
    app: ResilApp = console(inventory, read_only=True, pool=pool, status_refresh_interval=600.0)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("5")
            pane = app.query_one(LogsPane)
            await wait_for(lambda: len(pane.log_tabs()) == 1)
            yield app, pilot, pane, inventory.node("demo.cc.slave")
    finally:
        await pool.close()


async def test_merged_view_orders_two_streams_with_a_tag_per_node(lab: Lab, tmp_path: Path) -> None:
    async with logs_with_default_stream(lab, tmp_path) as (_app, pilot, pane, slave):
        await pane.open_stream(slave, find_stream(slave, "xuc"))
        await wait_for(lambda: len(pane.log_tabs()) == 2 and pane.active_tab is not None)
        await pilot.pause()
        await pilot.press("m")
        # The merged tab is mounted, then shown: both take a moment.
        await wait_for(
            lambda: pane.merged_tab is not None and pane.active_view is pane.merged_tab.log_view
        )
        merged = pane.merged_tab
        assert merged is not None
        # What both streams hold, tagged with their node, in time order.
        await wait_for(lambda: len(merged.log_view.buffer) > 0, timeout=15)
        kept = merged.log_view.buffer.lines()
        tags = {line.split(" │ ")[0] for line in kept}
        assert tags == {pane.log_tabs()[0].node.label, slave.label}
        times = [t for line in kept if (t := parse_line_time(line.split(" │ ", 1)[1]))]
        assert times == sorted(times)


async def test_a_stream_opened_while_the_pane_is_hidden_leaves_the_pane_shown(
    lab: Lab, tmp_path: Path
) -> None:
    # The default stream opens in the background once Logs is first shown; on a slow link
    # the admin may be on another pane by the time it is there (the tmux walk, slow machine).
    async with logs_with_default_stream(lab, tmp_path) as (app, pilot, pane, slave):
        await pilot.press("1")
        await wait_for(lambda: app.active_pane_id == "status")
        await pane.open_stream(slave, find_stream(slave, "xuc"))
        await settle(pilot, 0.3)
        assert app.active_pane_id == "status"
        assert app.focused is not None and pane not in app.focused.ancestors
        # Shown again, the pane has the focus and both streams.
        await pilot.press("5")
        await wait_for(lambda: app.active_pane_id == "logs")
        await settle(pilot)
        assert app.focused is not None and pane in app.focused.ancestors_with_self
        assert len(pane.log_tabs()) == 2
