"""One picture of the site: a change made behind the console's back (the CLI's Edge apply,
a lab fault) shows in the HA, Edge and Logs panes after one poll, each with its age."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from labkit import console, lab_inventory, run_cli
from textual.pilot import Pilot
from textual.widgets import Static

from resil_tui.lab.server import Lab
from resil_tui.ops.session import make_pool
from resil_tui.remote import commands as cat
from resil_tui.ui.app import ResilApp

SIZE = (120, 50)
AS_OF = re.compile(r"as of \d\d:\d\d:\d\d")


async def until(pilot: Pilot[int], check: Callable[[], bool], what: str) -> None:
    for _ in range(600):
        if check():
            return
        await pilot.pause(0.025)
    raise AssertionError(f"timed out waiting for {what}")


def text(app: ResilApp, selector: str) -> str:
    return str(app.query_one(selector, Static).content)


async def one_poll(app: ResilApp, pilot: Pilot[int]) -> None:
    """Press r once and wait for that poll (and the repaint of every pane) to end."""
    before = app.poller.polls_finished
    await pilot.press("r")
    await until(pilot, lambda: app.poller.polls_finished > before, "one poll")
    await pilot.pause()


async def test_changes_behind_the_consoles_back_show_in_every_pane(
    lab: Lab, tmp_path: Path
) -> None:
    inventory, _ = lab_inventory(lab, tmp_path)
    pool = make_pool(inventory, audit_path=tmp_path / "audit.jsonl")
    app: ResilApp = console(inventory, pool=pool, lab=lab, status_refresh_interval=600)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.poller.polls_finished > 0, "the first poll")
        await pilot.pause()
        assert "MASTER" in text(app, "#edge-state") and AS_OF.search(text(app, "#edge-state"))
        assert "Normal" in text(app, "#ha-pair") and AS_OF.search(text(app, "#ha-as-of"))
        assert "telephony on the master" in text(app, "#logs-site")

        # Behind the console's back: the Edge switched from the command line, the master
        # switched off and the slave's services started by hand.
        run = await run_cli(inventory, "edge", "apply", "--to", "slave", "--yes")
        assert run.code == 0, run.err
        await lab.power_off("demo.xivo.master")
        other = make_pool(inventory, audit_path=tmp_path / "cli-audit.jsonl")
        try:
            started = await other.run(
                inventory.node("demo.xivo.slave"), cat.manage_slave_services("start")
            )
            assert started.ok
        finally:
            await other.close()

        # Nothing changed on screen yet: the panes show the last poll, and say how old.
        assert "MASTER" in text(app, "#edge-state")

        await one_poll(app, pilot)
        edge = text(app, "#edge-state")
        assert "SLAVE" in edge and AS_OF.search(edge), edge
        ha = text(app, "#ha-pair")
        assert "Failed over" in ha, ha
        assert AS_OF.search(text(app, "#ha-as-of"))
        logs = text(app, "#logs-site")
        assert "telephony on the slave" in logs and AS_OF.search(logs), logs
        wizard = text(app, "#wizard-site")
        assert "Failed over" in wizard and AS_OF.search(wizard), wizard
    await pool.close()


async def test_a_lab_fault_from_the_palette_repolls_at_once(lab: Lab, tmp_path: Path) -> None:
    from resil_tui.ui.commands import run_lab_fault

    inventory, _ = lab_inventory(lab, tmp_path)
    pool = make_pool(inventory, audit_path=tmp_path / "audit.jsonl")
    app: ResilApp = console(inventory, pool=pool, lab=lab, status_refresh_interval=600)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.poller.polls_finished > 0, "the first poll")
        polls = app.poller.polls_finished
        run_lab_fault(app, ["power-off", "demo.edge"])
        await until(
            pilot,
            lambda: "unreachable" in text(app, "#edge-state"),
            "the Edge pane to follow the fault",
        )
        # A re-poll of the touched nodes, not a new cycle of the whole site.
        assert app.poller.polls_finished == polls
        snap = app.site_state().node("demo.edge")
        assert snap is not None and not snap.reachability.ok
    await pool.close()
