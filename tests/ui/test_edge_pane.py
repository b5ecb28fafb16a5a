"""Pilot tests of the Edge pane against the in-process lab (real SSH/SFTP)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from labkit import console
from textual.pilot import Pilot
from textual.widgets import OptionList, Static

from resil_tui.core.edge_env import Direction
from resil_tui.core.edge_side import EdgeSide
from resil_tui.inventory import load_inventory
from resil_tui.inventory_model import Inventory
from resil_tui.lab.server import Lab
from resil_tui.remote.pool import Pool
from resil_tui.ui.app import ResilApp
from resil_tui.ui.panes.edge import EdgePane
from resil_tui.ui.screens.confirm import ConfirmScreen
from resil_tui.ui.widgets.edge_backups import EdgeBackupPicker
from resil_tui.ui.widgets.edge_diff import EdgeDiffView
from resil_tui.ui.widgets.edge_progress import EdgeProgress
from resil_tui.ui.widgets.read_only import ReadOnlyNotice

SIZE = (120, 50)
EDGE = "demo.edge"
ENV = "/etc/docker/edge/.env"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)


@pytest.fixture
def inventory(lab: Lab) -> Inventory:
    return load_inventory(lab.inventory_path)


def env_bytes(lab: Lab) -> bytes:
    return lab.world.resolve(EDGE, ENV).read_bytes()


def ups(lab: Lab) -> int:
    return sum(1 for c in lab.commands(EDGE) if c.get("argv") == ["edge-dcomp", "up", "-d"])


def text_of(pane: EdgePane, selector: str) -> str:
    return str(pane.query_one(selector, Static).content)


async def until(pilot: Pilot[int], check: Callable[[], bool], what: str) -> None:
    """Let the app run until `check` holds (a generous bound, no timing assertion)."""
    for _ in range(400):
        if check():
            return
        await pilot.pause(0.025)
    raise AssertionError(f"timed out waiting for {what}")


async def show_edge(app: ResilApp, pilot: Pilot[int]) -> None:
    # Leave the Status pane with nothing focused: a focused Status widget being hidden
    # hands the focus to its sibling in the same tab, and the tab switches back (shell
    # issue, reported; not what these tests are about).
    for _ in range(20):
        app.screen.set_focus(None)
        await pilot.pause(0.05)
        if app.focused is None:
            break
    await pilot.press("3")
    await until(pilot, lambda: app.active_pane_id == "edge", "the Edge tab")


async def open_edge(app: ResilApp, pilot: Pilot[int]) -> EdgePane:
    await show_edge(app, pilot)
    pane = app.query_one(EdgePane)
    await until(
        pilot,
        lambda: pane.preview is not None or pane.load_error is not None,
        "the Edge .env to load",
    )
    assert pane.load_error is None, pane.load_error
    return pane


async def test_pane_shows_targets_diff_and_warnings(inventory: Inventory, tmp_path: Path) -> None:
    async with Pool(audit=tmp_path / "audit.jsonl") as pool:
        app = console(inventory, read_only=False, pool=pool)
        async with app.run_test(size=SIZE) as pilot:
            pane = await open_edge(app, pilot)
            assert pane.preview is not None and pane.preview.overall is EdgeSide.MASTER
            assert pane.direction is Direction.TO_SLAVE  # the opposite of where it points
            assert "Edge points to: MASTER" in text_of(pane, "#edge-state")
            targets = text_of(pane, "#edge-targets")
            assert "XIVO_HOST" in targets and "master" in targets and "→ 10.50.0.12" in targets
            diff = pane.query_one(EdgeDiffView).diff
            assert "-XIVO_HOST=10.50.0.11" in diff and "+XIVO_HOST=10.50.0.12" in diff
            # Markers are in the rendered text itself, not only in the colours.
            rendered = str(pane.query_one(EdgeDiffView).content)
            assert "\n+XIVOCC_HOST=10.50.0.22" in rendered
            notes = text_of(pane, "#edge-notes")
            assert "in comment is left as is" in notes
            assert "EDGE_HOST_IP=10.50.0.120" in notes  # what sed would have broken
            assert app.active_bindings["a"].enabled is True

            # d flips the direction: on master already, nothing to do, nothing to apply.
            await pilot.press("d")
            await pilot.pause()
            assert pane.direction is Direction.TO_MASTER
            assert "nothing to do" in text_of(pane, "#edge-summary")
            assert not pane.can_apply()
            assert "a" not in app.active_bindings or not app.active_bindings["a"].enabled
            await pilot.press("d")
            await pilot.pause()
            assert pane.direction is Direction.TO_SLAVE and pane.can_apply()


async def test_apply_after_yes_switches_the_targets(
    lab: Lab, inventory: Inventory, tmp_path: Path
) -> None:
    original = env_bytes(lab)
    async with Pool(audit=tmp_path / "audit.jsonl") as pool:
        app = console(inventory, read_only=False, pool=pool)
        async with app.run_test(size=SIZE) as pilot:
            pane = await open_edge(app, pilot)
            await pilot.press("a")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
            shown = " ".join(str(s.content) for s in app.screen.query(Static))
            assert "demo.edge" in shown and "edge-dcomp up -d" in shown
            assert "XIVO_HOST: 10.50.0.11 → 10.50.0.12" in shown
            # It leads with the live consequences: the master serves, users would move.
            assert shown.index("Now: telephony is served by the master") < shown.index("Node")
            assert "After this change: remote users go to the slave" in shown
            assert "the slave does NOT serve telephony now" in shown
            await pilot.press("y")
            await until(pilot, lambda: pane.last_outcome is not None, "the apply to end")
            outcome = pane.last_outcome
            assert outcome is not None and outcome.ok, outcome.message
            await until(
                pilot,
                lambda: (
                    pane.preview is not None
                    and pane.preview.overall is EdgeSide.SLAVE
                    and not pane.loading
                ),
                "the reload after the apply",
            )
            assert pane.preview is not None and pane.preview.overall is EdgeSide.SLAVE
            assert "Edge points to: SLAVE" in text_of(pane, "#edge-state")
            assert pane.direction is Direction.TO_MASTER  # the next default: fail back
            progress = pane.query_one(EdgeProgress)
            assert [row.state for row in progress.rows] == ["done"] * 4
            assert "✔" in text_of(pane, "#edge-outcome")
            assert b"XIVO_HOST=10.50.0.12\n" in env_bytes(lab) and ups(lab) == 1

            # R: pick the newest backup, confirm, and the master settings come back.
            await pilot.press("R")
            await until(pilot, lambda: isinstance(app.screen, EdgeBackupPicker), "the picker")
            assert app.screen.query_one(OptionList).option_count == 1
            await pilot.press("enter")
            await until(
                pilot, lambda: isinstance(app.screen, ConfirmScreen), "the rollback confirmation"
            )
            shown = " ".join(str(s.content) for s in app.screen.query(Static))
            assert "restore /etc/docker/edge/.env from .env.resil-" in shown
            await pilot.press("y")
            await until(
                pilot,
                lambda: pane.last_outcome is not None and pane.last_outcome.action == "rollback",
                "the rollback to end",
            )
            assert pane.last_outcome is not None and pane.last_outcome.ok
            assert env_bytes(lab) == original and ups(lab) == 2


async def test_no_cancels(lab: Lab, inventory: Inventory, tmp_path: Path) -> None:
    before = env_bytes(lab)
    async with Pool(audit=tmp_path / "audit.jsonl") as pool:
        app = console(inventory, read_only=False, pool=pool)
        async with app.run_test(size=SIZE) as pilot:
            pane = await open_edge(app, pilot)
            await pilot.press("a")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
            await pilot.press("n")
            await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), "the dismissal")
            await pilot.pause(0.1)
            assert pane.busy is None and pane.last_outcome is None
            assert pane.query_one(EdgeProgress).display is False
    assert env_bytes(lab) == before and ups(lab) == 0


async def test_read_only_greys_apply_and_rollback(
    lab: Lab, inventory: Inventory, tmp_path: Path
) -> None:
    before = env_bytes(lab)
    async with Pool(read_only=True, audit=tmp_path / "audit.jsonl") as pool:
        app = console(inventory, read_only=True, pool=pool)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            pane = await open_edge(app, pilot)
            assert pane.can_apply()  # there is a change to show...
            assert app.active_bindings["a"].enabled is False  # ...but applying is greyed
            assert app.active_bindings["R"].enabled is False
            # The one read-only notice every changing pane shows (ui/widgets/read_only.py).
            assert "READ-ONLY" in str(pane.query_one(ReadOnlyNotice).content)
            assert "+XIVO_HOST=10.50.0.12" in pane.query_one(EdgeDiffView).diff
            await pilot.press("a")
            await pilot.press("R")
            await pilot.pause(0.1)
            assert not isinstance(app.screen, ConfirmScreen | EdgeBackupPicker)
            assert pane.busy is None
            # Reached another way (the palette): refused with the reason, nothing runs.
            app.action_apply()
            pane.action_rollback()
            await pilot.pause()
            assert not isinstance(app.screen, ConfirmScreen | EdgeBackupPicker)
    assert env_bytes(lab) == before and ups(lab) == 0


async def test_site_without_cc_pair_says_why(inventory: Inventory, tmp_path: Path) -> None:
    import dataclasses

    site = inventory.site("demo")
    no_cc = dataclasses.replace(
        inventory, sites={"demo": dataclasses.replace(site, cc_master=None, cc_slave=None)}
    )
    async with Pool(audit=tmp_path / "audit.jsonl") as pool:
        app = console(no_cc, read_only=False, pool=pool)
        async with app.run_test(size=SIZE) as pilot:
            await show_edge(app, pilot)
            pane = app.query_one(EdgePane)
            await until(pilot, lambda: pane.load_error is not None, "the refusal")
            assert "no CC pair" in text_of(pane, "#edge-state")
            assert not pane.can_apply()
