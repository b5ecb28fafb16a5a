"""The Timeline pane, the Status pane's "since" from the journal, and the bell, against
the in-process lab (real SSH), driven with Pilot."""

from __future__ import annotations

import time
from typing import Any

import pytest
from labkit import console, lab_inventory
from textual.widgets import TabbedContent

from resil_tui.core.freshness import clock
from resil_tui.core.journal_event import EventKind
from resil_tui.core.site_picture import Fact, SitePicture
from resil_tui.journal import Journal
from resil_tui.lab.server import Lab
from resil_tui.ops.session import make_pool
from resil_tui.ui.app import ResilApp
from resil_tui.ui.panes.status import StatusPane
from resil_tui.ui.panes.timeline import TimelinePane
from tests.ui.test_status_pane import until

SIZE = (140, 45)
M, S = "demo.xivo.master", "demo.xivo.slave"
pytestmark = pytest.mark.lab(ticker=True)


class BellApp(ResilApp):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.bells = 0
        super().__init__(*args, **kwargs)

    def bell(self) -> None:
        self.bells += 1


def build(lab: Lab, tmp_path: Any, interval: float = 0.3) -> BellApp:
    inventory, _ = lab_inventory(lab, tmp_path)
    pool = make_pool(inventory, audit_path=tmp_path / "audit.jsonl")
    app: BellApp = console(
        inventory, pool=pool, lab=lab, status_refresh_interval=interval, app_class=BellApp
    )
    return app


def rows(pane: TimelinePane) -> list[tuple[str, ...]]:
    table = pane.table
    return [tuple(str(c) for c in table.get_row_at(i)) for i in range(table.row_count)]


async def test_timeline_newest_first_filters_and_jump_to_the_node(lab: Lab, tmp_path: Any) -> None:
    app = build(lab, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        journal = app.session.journal
        await until(
            pilot,
            lambda: (
                (e := journal.latest("demo", M, EventKind.REACHABILITY)) is not None
                and e.after == "reachable"
            ),
            "the master seen up",
            timeout=20,
        )
        await lab.power_off(M)
        await until(
            pilot,
            lambda: (
                (e := journal.latest("demo", S, EventKind.TELEPHONY)) is not None
                and e.after == "active"
            ),
            "the slave active",
            timeout=20,
        )
        assert app.bells >= 1  # the verdict changed on the site on screen
        await pilot.press("6")
        await pilot.pause()
        pane = app.query_one(TimelinePane)
        assert app.query_one("#panes", TabbedContent).active == "timeline"
        await until(pilot, lambda: any("active" in r[3] for r in rows(pane)), "entries shown")
        shown = pane.shown
        assert [e.time for e in shown] == sorted((e.time for e in shown), reverse=True)
        assert "newest first" in pane.filters_text(time.time()) and "as of" in pane.filters_text(
            time.time()
        )
        # Kind filter: k cycles reachability first.
        await pilot.press("k")
        await pilot.pause()
        assert pane.kind_filter is EventKind.REACHABILITY
        assert rows(pane) and all(r[2] == "reachability" for r in rows(pane))
        # Node filter: n cycles through the site's nodes; the master is the first.
        await pilot.press("n")
        await pilot.pause()
        assert pane.node_filter == M
        assert rows(pane)[0][3] == "reachable → unreachable", journal.events()
        # Enter on it: the Status pane, on the master's row and detail.
        pane.table.focus()
        await pilot.press("enter")
        await pilot.pause()
        await pilot.pause()
        assert app.query_one("#panes", TabbedContent).active == "status"
        status = app.query_one(StatusPane)
        assert status.table.selected_node_id == M
        assert status.detail is not None
        # Back, clear the filters: every kind again.
        await pilot.press("6")
        await pilot.pause()
        await pilot.press("x")
        await pilot.pause()
        assert pane.kind_filter is None and pane.node_filter is None
        assert {r[2] for r in rows(pane)} >= {"reachability", "telephony", "verdict"}


async def test_status_since_comes_from_the_journal(lab: Lab, tmp_path: Any) -> None:
    # The journal says the master has been down for 27 minutes (a console that ran
    # earlier, or the watcher, saw it go): the new console's row says so.
    await lab.power_off(M)
    since = time.time() - 27 * 60
    Journal().record_site(
        SitePicture(
            "demo",
            {(M, "reachability"): Fact(M, EventKind.REACHABILITY, "unreachable", since, "refused")},
        )
    )
    app = build(lab, tmp_path, interval=600)
    async with app.run_test(size=SIZE) as pilot:
        status = app.query_one(StatusPane)
        await until(
            pilot,
            lambda: status.table.cells(M).get("reach", "").startswith("✖ down"),
            "master down",
        )
        assert status.table.cells(M)["reach"] == f"✖ down (refused since {clock(since)}, 27m)"
        # Only the journal's one entry: the change was known already.
        entries = app.session.journal.events(node=M, kinds=[EventKind.REACHABILITY])
        assert [e.time for e in entries] == [round(since, 3)]
