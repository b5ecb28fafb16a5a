"""Pilot: the Edge pane of a site with a 3-server Edge (two Edge nodes), and the offer to
break a stale lock and retry (typed node id), against the in-process lab."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from labkit import console, lab_inventory
from textual.pilot import Pilot
from textual.widgets import Input, RadioButton, Static

from resil_tui.core.edge_side import EdgeSide
from resil_tui.inventory import load_inventory
from resil_tui.inventory_model import Inventory
from resil_tui.lab.server import Lab
from resil_tui.remote.pool import Pool
from resil_tui.ui.app import ResilApp
from resil_tui.ui.panes.edge import EdgePane
from resil_tui.ui.panes.status import StatusPane
from resil_tui.ui.screens.confirm import ConfirmScreen, TypedConfirmScreen
from resil_tui.ui.widgets.edge_diff import EdgeDiffView
from resil_tui.ui.widgets.edge_progress import EdgeProgress

pytestmark = pytest.mark.lab(edges=("web", "sip"))

SIZE = (120, 60)
WEB, SIP = "demo.edge.web", "demo.edge.sip"
ENV = "/etc/docker/edge/.env"
LOCK = "/var/lock/resil-tui"


@pytest.fixture
def inventory(lab: Lab) -> Inventory:
    return load_inventory(lab.inventory_path)


def env(lab: Lab, node: str) -> bytes:
    return lab.world.resolve(node, ENV).read_bytes()


async def until(pilot: Pilot[int], check: Callable[[], bool], what: str) -> None:
    for _ in range(600):
        if check():
            return
        await pilot.pause(0.025)
    raise AssertionError(f"timed out waiting for {what}")


async def open_edge(app: ResilApp, pilot: Pilot[int]) -> EdgePane:
    for _ in range(20):
        app.screen.set_focus(None)
        await pilot.pause(0.05)
        if app.focused is None:
            break
    await pilot.press("3")
    await until(pilot, lambda: app.active_pane_id == "edge", "the Edge tab")
    pane = app.query_one(EdgePane)
    await until(pilot, lambda: len(pane.previews) == 2, "both Edge .env files")
    return pane


def shown(app: ResilApp) -> str:
    return " ".join(str(s.content) for s in app.screen.query(Static))


def plant_stale_lock(lab: Lab, node: str) -> None:
    when = (datetime.now(UTC) - timedelta(minutes=30)).isoformat(timespec="seconds")
    directory = lab.world.resolve(node, LOCK)
    directory.mkdir(parents=True)
    holder = {"user": "bob", "host": "jump2", "action": "edge apply", "since": when}
    (directory / "holder.json").write_text(
        json.dumps({**holder, "refreshed": when, "token": "0" * 32, "pid": 7})
    )


async def test_one_confirmation_switches_both_edge_nodes(
    lab: Lab, inventory: Inventory, tmp_path: Path
) -> None:
    async with Pool(audit=tmp_path / "audit.jsonl") as pool:
        app = console(inventory, read_only=False, pool=pool)
        async with app.run_test(size=SIZE) as pilot:
            pane = await open_edge(app, pilot)
            state = str(pane.query_one("#edge-state", Static).content)
            assert f"{WEB} points to: MASTER" in state and f"{SIP} points to: MASTER" in state
            diff = pane.query_one(EdgeDiffView).diff
            assert f"--- a/{WEB}:{ENV}" in diff and f"--- a/{SIP}:{ENV}" in diff
            await pilot.press("a")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
            text = shown(app)
            assert f"{WEB}: back up {ENV}" in text and f"{SIP}: back up {ENV}" in text
            await pilot.press("y")
            await until(pilot, lambda: pane.last_outcome is not None, "the apply to end")
            assert pane.last_outcome is not None and pane.last_outcome.ok
            assert [o.node_id for o in pane.last_outcome.outcomes] == [WEB, SIP]
            assert [r.state for r in pane.query_one(EdgeProgress).rows] == ["done"] * 8
            await until(
                pilot,
                lambda: all(p.overall is EdgeSide.SLAVE for p in pane.previews),
                "the re-poll of both",
            )
    assert all(b"XIVO_HOST=10.50.0.12\n" in env(lab, n) for n in (WEB, SIP))


async def test_a_stale_lock_is_broken_only_after_the_node_id_is_typed(
    lab: Lab, inventory: Inventory, tmp_path: Path
) -> None:
    plant_stale_lock(lab, SIP)
    audit = tmp_path / "audit.jsonl"
    before = {n: env(lab, n) for n in (WEB, SIP)}
    async with Pool(audit=audit) as pool:
        app = console(inventory, read_only=False, pool=pool)
        async with app.run_test(size=SIZE) as pilot:
            pane = await open_edge(app, pilot)
            await pilot.press("a")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
            await pilot.press("y")
            await until(
                pilot, lambda: isinstance(app.screen, TypedConfirmScreen), "the offer to break"
            )
            assert pane.last_outcome is not None and pane.last_outcome.stale_lock_nodes == (SIP,)
            assert "edge apply by bob@jump2" in shown(app)
            # Nothing was written anywhere: the lock refused before the first write.
            assert {n: env(lab, n) for n in (WEB, SIP)} == before
            field = app.screen.query_one(Input)
            field.value = WEB  # the wrong node: not accepted
            await pilot.press("enter")
            await pilot.pause(0.1)
            assert isinstance(app.screen, TypedConfirmScreen)
            field.value = SIP
            await pilot.press("enter")
            await until(
                pilot,
                lambda: pane.last_outcome is not None and pane.last_outcome.ok,
                "the retry with the lock broken",
            )
    assert all(b"XIVO_HOST=10.50.0.12\n" in env(lab, n) for n in (WEB, SIP))
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    broken = [
        r
        for r in records
        if r["kind"] == "lock"
        and r["node"] == SIP
        and r["result"].startswith("acquired after breaking a stale lock (edge apply by bob@jump2")
    ]
    assert broken, [r["result"] for r in records if r["kind"] == "lock"]


async def test_a_next_lts_site_says_main_and_standby(lab: Lab, tmp_path: Path) -> None:
    inventory, _ = lab_inventory(
        lab,
        tmp_path,
        edit=lambda t: t.replace("[site.demo]\n", '[site.demo]\nresilience = "manual"\n'),
    )
    async with Pool(audit=tmp_path / "audit.jsonl") as pool:
        app = console(inventory, read_only=False, pool=pool)
        async with app.run_test(size=SIZE) as pilot:
            status = app.query_one(StatusPane)
            await until(
                pilot,
                lambda: status.table.cells("demo.xivo.master").get("role") == "XiVO Main",
                "the Main row",
            )
            assert status.table.cells("demo.xivo.slave")["role"] == "XiVO Standby"
            pane = await open_edge(app, pilot)
            state = str(pane.query_one("#edge-state", Static).content)
            assert f"{WEB} points to: MAIN" in state
            labels = [str(b.label) for b in pane.query(RadioButton)]
            assert labels == ["to Standby", "to Main"]
            assert "Switch to Standby" in str(pane.query_one("#edge-summary", Static).content)
