"""Pilot tests of the HA pane against the in-process lab: the form, the typed confirmation
for disabling, the restart offer, the masked password of xivo-sync -i, read-only mode."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from labkit import console
from textual.pilot import Pilot
from textual.widgets import Button, Input, Static

from resil_tui.core.ha import HaMode
from resil_tui.inventory import load_inventory
from resil_tui.lab import facts
from resil_tui.lab.server import Lab
from resil_tui.lab.spec import DEFAULT_ROOT_PASSWORD
from resil_tui.remote.pool import Pool
from resil_tui.ui.app import ResilApp
from resil_tui.ui.panes.ha import HaPane
from resil_tui.ui.screens.confirm import ConfirmScreen, TypedConfirmScreen

MASTER, SLAVE = "demo.xivo.master", "demo.xivo.slave"
SIZE = (140, 60)


class RecordingApp(ResilApp):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.notes: list[tuple[str, str]] = []
        super().__init__(*args, **kwargs)

    def notify(self, message: str, **kwargs: Any) -> None:  # type: ignore[override]
        self.notes.append((kwargs.get("severity", "information"), message))
        super().notify(message, **kwargs)


@pytest.fixture(autouse=True)
def _xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def make_app(lab: Lab, pool: Pool, read_only: bool = False) -> RecordingApp:
    inv = load_inventory(lab.inventory_path)
    return console(
        inv,
        read_only=read_only,
        pool=pool,
        lab=lab,
        status_refresh_interval=3600,
        app_class=RecordingApp,
    )


async def until(
    pilot: Pilot[Any], cond: Callable[[], bool], what: str, timeout: float = 10.0
) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


async def open_pane(pilot: Pilot[Any], app: ResilApp) -> HaPane:
    await pilot.press("2")
    if app.active_pane_id != "ha":  # the key may land while the Status pane takes focus
        app.action_show_pane("ha")
    pane = app.query_one(HaPane)
    await until(
        pilot,
        lambda: pane.state is not None and app.active_pane_id == "ha",
        "the HA pane and its state",
    )
    await pilot.pause()
    return pane


def text(app: ResilApp, selector: str) -> str:
    return str(app.query_one(selector, Static).content)


def posts(lab: Lab, node_id: str) -> list[list[str]]:
    return [
        e["argv"]
        for e in lab.commands(node_id)
        if e.get("argv") and e["argv"][0] == "curl" and "POST" in e["argv"]
    ]


async def test_bad_ip_refused_in_place(lab: Lab, tmp_path: Path) -> None:
    async with Pool(audit=tmp_path / "a.jsonl") as pool:
        app = make_app(lab, pool)
        async with app.run_test(size=SIZE) as pilot:
            pane = await open_pane(pilot, app)
            # Prefilled from the node: master, peer 10.50.0.12, valid.
            assert pane.form_mode() is HaMode.MASTER
            assert app.query_one("#ha-peer", Input).value == "10.50.0.12"
            assert pane.can_apply()
            assert "Preview:" in text(app, "#ha-preview")
            peer = app.query_one("#ha-peer", Input)
            peer.value = ""
            peer.focus()
            await pilot.press(*"10.50.0.300")
            await pilot.pause()
            assert peer.value == "10.50.0.300"
            assert "'10.50.0.300' is not a valid IPv4 address" in text(app, "#ha-form-issues")
            assert peer.has_class("-invalid")
            assert app.query_one("#ha-apply", Button).disabled
            assert text(app, "#ha-preview") == ""
            assert not pane.can_apply()
            assert app.check_action("apply", ()) is False
            app.action_apply()  # the palette way: refused too
            await pilot.pause()
            assert not isinstance(app.screen, ConfirmScreen | TypedConfirmScreen)
            # Own IP: refused; another IP: a warning, still allowed.
            peer.value = "10.50.0.11"
            await pilot.pause()
            assert "own VoIP IP" in text(app, "#ha-form-issues")
            peer.value = "10.50.0.77"
            await pilot.pause()
            assert "not the slave of this pair" in text(app, "#ha-form-issues")
            assert pane.can_apply()
        assert posts(lab, MASTER) == []


async def test_disable_needs_the_typed_node_name_then_restart_is_offered(
    lab: Lab, tmp_path: Path
) -> None:
    async with Pool(audit=tmp_path / "a.jsonl") as pool:
        app = make_app(lab, pool)
        async with app.run_test(size=SIZE) as pilot:
            pane = await open_pane(pilot, app)
            pane.set_form(HaMode.DISABLED)
            # The radio set takes the new mode through its own message: the preview follows.
            await until(
                pilot,
                lambda: "Disabling an HA node in production" in text(app, "#ha-preview"),
                "the preview of the new mode",
            )
            # What a click does (a click on a widget scrolled out of view would miss).
            app.query_one("#ha-apply", Button).press()
            await until(pilot, lambda: isinstance(app.screen, TypedConfirmScreen), "typed")
            screen = app.screen
            assert isinstance(screen, TypedConfirmScreen) and screen.word == MASTER
            assert any("Disabling an HA node" in w for w in screen.warnings)
            await pilot.press(*"demo.xivo.slave", "enter")
            await pilot.pause()
            assert app.screen is screen  # wrong name: still asking
            assert posts(lab, MASTER) == []
            box = screen.query_one("#typed-confirm-input", Input)
            box.value = ""
            await pilot.press(*MASTER, "enter")
            # Applied and verified; then the restart is offered: decline it.
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "restart offer")
            assert app.screen.command == "xivo-service restart"  # type: ignore[attr-defined]
            await pilot.press("n")
            await pilot.pause()
            assert (
                json.loads(lab.world.read_file(MASTER, facts.HA_CONF) or "")["node_type"]
                == "disabled"
            )
            assert MASTER in pane.restart_pending
            assert "Restart pending on demo.xivo.master" in text(app, "#ha-restart-pending")
            rec = pane.history[MASTER][-1]
            assert rec.action == "set-mode" and rec.ok
            console = pane.console_text()
            assert "ha.conf now:" in console and "update_ha_config" in console
            assert ["xivo-service", "restart"] not in [e.get("argv") for e in lab.commands(MASTER)]

            # Restart later from the pane: the pending mark goes away.
            pane.action_restart_services()
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "restart confirm")
            await pilot.press("y")
            await until(
                pilot,
                lambda: pane.busy is None and pane.history[MASTER][-1].action == "restart",
                "restart done",
            )
            assert pane.history[MASTER][-1].ok
            assert MASTER not in pane.restart_pending
            await pilot.pause(0.2)
            assert "XiVO fully booted" in pane.console_text()


async def test_sync_init_password_from_masked_input(lab: Lab, tmp_path: Path) -> None:
    await lab.remove_sync_key()
    async with Pool(audit=tmp_path / "a.jsonl") as pool:
        app = make_app(lab, pool)
        async with app.run_test(size=SIZE) as pilot:
            pane = await open_pane(pilot, app)
            pane.action_sync_init()
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "confirm")
            await pilot.press("y")
            box = app.query_one("#ha-password", Input)
            await until(pilot, lambda: box.display and box.has_focus, "password input")
            assert box.password
            await pilot.press(*DEFAULT_ROOT_PASSWORD)
            await pilot.press("enter")
            assert box.value == ""
            await until(
                pilot, lambda: pane.busy is None and bool(pane.history.get(MASTER)), "sync -i done"
            )
            rec = pane.history[MASTER][-1]
            assert rec.ok, rec.lines
            assert not box.display
            assert lab.world.resolve(MASTER, facts.SYNC_KEY).is_file()
            await pilot.pause(0.2)
            console = pane.console_text()
            assert "password sent, not shown" in console
            assert DEFAULT_ROOT_PASSWORD not in console
        assert DEFAULT_ROOT_PASSWORD not in (tmp_path / "a.jsonl").read_text()


async def test_split_brain_warning_before_slave_start(lab: Lab, tmp_path: Path) -> None:
    async with Pool(audit=tmp_path / "a.jsonl") as pool:
        app = make_app(lab, pool)
        async with app.run_test(size=SIZE) as pilot:
            pane = await open_pane(pilot, app)
            pane.select_node(SLAVE)
            await pilot.pause()
            assert app.query_one("#ha-peer", Input).value == "10.50.0.11"
            pane.action_slave_start()
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "confirm")
            warnings = app.screen.warnings  # type: ignore[attr-defined]
            assert "SPLIT BRAIN" in warnings[0] and "ACTIVE" in warnings[0]
            await pilot.press("n")
            await pilot.pause()
            assert not any(
                e.get("argv", [""])[0] == "xivo-manage-slave-services" for e in lab.commands(SLAVE)
            )


async def test_read_only_refuses_in_the_pane(lab: Lab, tmp_path: Path) -> None:
    async with Pool(read_only=True, audit=tmp_path / "a.jsonl") as pool:
        app = make_app(lab, pool, read_only=True)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            pane = await open_pane(pilot, app)
            assert app.query_one("#ha-apply", Button).disabled
            assert pane.check_action("sync", ()) is None
            pane.set_form(HaMode.DISABLED)
            app.action_apply()
            for action in (
                pane.action_replicate,
                pane.action_sync,
                pane.action_sync_init,
                pane.action_check_master,
                pane.action_slave_start,
                pane.action_slave_stop,
                pane.action_restart_services,
            ):
                action()
            await pilot.pause()
            assert not isinstance(app.screen, ConfirmScreen | TypedConfirmScreen)
            refused = [m for sev, m in app.notes if sev == "error" and "READ-ONLY" in m]
            assert len(refused) == 8
            await asyncio.sleep(0.1)
    for node in (MASTER, SLAVE):
        for entry in lab.commands(node):
            for argv in entry["commands"]:  # a status batch's parts too
                assert argv[0] in (
                    "cat",
                    "tail",
                    "test",
                    "psql",
                    "xivo-service",
                    "sh",
                    "printf",
                    "false",
                    "asterisk",
                )
                if argv[0] == "xivo-service":
                    assert argv[1] == "status"
                if argv[0] == "asterisk":  # the status poll's phones and calls
                    assert argv[1] == "-rx" and argv[2].split()[1] == "show"
                if argv[0] == "sh":
                    assert argv[1] == "-c"


async def test_without_pool_and_site_switch() -> None:
    example = Path(__file__).resolve().parents[2] / "hosts.example.toml"
    app = console(load_inventory(example), read_only=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        pane = app.query_one(HaPane)
        assert "polling is off" in text(app, "#ha-pair")
        assert not pane.can_apply()
        app.action_switch_site("lyon")
        await pilot.pause()
        assert pane.selected == "lyon.xivo.master"
        assert "lyon.xivo.slave" in str(app.query_one("#ha-card-slave", Static).content)
        pane.select_node("lyon.xivo.slave")
        await pilot.pause()
        assert app.query_one("#ha-peer", Input).value == "10.20.0.11"


async def test_preview_is_honest_and_the_web_ui_part_is_read_back(lab: Lab, tmp_path: Path) -> None:
    """Issue 16: the preview keeps sysconfd's part apart from what only the web UI's HA
    save does; the cards show SIP expiry and backup registrar as read, with what to do."""
    async with Pool(audit=tmp_path / "a.jsonl") as pool:
        app = make_app(lab, pool)
        async with app.run_test(size=SIZE) as pilot:
            await open_pane(pilot, app)
            preview = text(app, "#ha-preview")
            sysconfd, web_ui = preview.split("What the web UI's HA save also does", 1)
            assert "What sysconfd's update_ha_config does:" in sysconfd
            assert "restarts PostgreSQL" in sysconfd
            assert "SIP expiry" not in sysconfd and "registrar" not in sysconfd
            assert "sysconfd does NOT" in web_ui
            assert "registrar_backup and proxy_backup = 10.50.0.12" in web_ui
            card = str(app.query_one("#ha-card-master", Static).content)
            assert "SIP expiry: ok" in card and "backup registrar: ok" in card
            # As sysconfd alone leaves a node once disabled and made master again: the card says
            # what differs and what to do; the web UI's save (lab) fixes both.
            from resil_tui.lab.faults import apply_fault

            with lab.world.edit_state(MASTER) as st:
                st["staticsip"]["maxexpiry"] = "3600"  # as a disabled node's web UI left it
            doc = json.loads(lab.world.read_file(MASTER, facts.PROVD_DEFAULT) or "{}")
            doc["registrar_backup"] = doc["proxy_backup"] = ""
            lab.world.resolve(MASTER, facts.PROVD_DEFAULT).write_text(json.dumps(doc))
            app.repoll([MASTER], "demo")
            await until(
                pilot,
                lambda: (
                    "SIP expiry: differs" in str(app.query_one("#ha-card-master", Static).content)
                ),
                "the card to show the mismatch",
            )
            card = str(app.query_one("#ha-card-master", Static).content)
            assert "backup registrar: differs" in card
            assert "save the HA page in the web UI, then resynchronise the phones" in card
            await apply_fault(lab, ["webui-ha-save", MASTER])
            app.repoll([MASTER], "demo")
            await until(
                pilot,
                lambda: "SIP expiry: ok" in str(app.query_one("#ha-card-master", Static).content),
                "the card to read ok again",
            )
            assert "backup registrar: ok" in str(app.query_one("#ha-card-master", Static).content)


async def test_split_brain_guard_names_the_nodes_and_wants_the_node_id_typed(
    lab: Lab, tmp_path: Path
) -> None:
    """Setting the slave to disabled while the master is active starts telephony on both:
    the preview's first line says so, and the confirmation wants the node id typed."""
    async with Pool(audit=tmp_path / "a.jsonl") as pool:
        app = make_app(lab, pool)
        async with app.run_test(size=SIZE) as pilot:
            pane = await open_pane(pilot, app)
            pane.select_node(SLAVE)
            pane.set_form(HaMode.DISABLED)
            # The radio set takes the new mode through its own message: the preview follows.
            await until(
                pilot,
                lambda: "SPLIT BRAIN" in text(app, "#ha-preview"),
                "the preview of the new mode",
            )
            lines = text(app, "#ha-preview").splitlines()
            assert lines[0] == "Preview:"
            assert lines[1].startswith("⚠ SPLIT BRAIN")
            assert SLAVE in lines[1] and MASTER in lines[1]
            app.query_one("#ha-apply", Button).press()
            await until(pilot, lambda: isinstance(app.screen, TypedConfirmScreen), "typed")
            screen = app.screen
            assert isinstance(screen, TypedConfirmScreen) and screen.word == SLAVE
            assert screen.warnings[0].startswith("SPLIT BRAIN")
            await pilot.press("escape")
            await pilot.pause()
            # Slave -> slave (no change of who serves): no guard, a plain y/N confirmation.
            pane.set_form(HaMode.SLAVE, "10.50.0.11")
            await until(
                pilot,
                lambda: "SPLIT BRAIN" not in text(app, "#ha-preview"),
                "the preview of slave again",
            )
            assert (
                text(app, "#ha-preview")
                .splitlines()[1]
                .startswith(f"Change on {SLAVE}: HA mode → slave")
            )
            app.query_one("#ha-apply", Button).press()
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "plain confirm")
            await pilot.press("n")
            await pilot.pause()
        assert posts(lab, SLAVE) == []


async def test_a_stale_lock_is_offered_to_break_and_the_action_retried(
    lab: Lab, tmp_path: Path
) -> None:
    from datetime import UTC, datetime, timedelta

    when = (datetime.now(UTC) - timedelta(minutes=30)).isoformat(timespec="seconds")
    lock = lab.world.resolve(MASTER, "/var/lock/resil-tui")
    lock.mkdir(parents=True)
    holder = {"user": "bob", "host": "jump2", "action": "restart services", "since": when}
    (lock / "holder.json").write_text(
        json.dumps({**holder, "refreshed": when, "token": "0" * 32, "pid": 7})
    )
    audit = tmp_path / "a.jsonl"
    async with Pool(audit=audit) as pool:
        app = make_app(lab, pool)
        async with app.run_test(size=SIZE) as pilot:
            pane = await open_pane(pilot, app)
            pane.action_restart_services()
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "restart confirm")
            await pilot.press("y")
            await until(
                pilot, lambda: isinstance(app.screen, TypedConfirmScreen), "the offer to break"
            )
            refused = pane.history[MASTER][-1]
            assert refused.refused and refused.stale_lock and "stale lock" in refused.summary
            assert ["xivo-service", "restart"] not in [e.get("argv") for e in lab.commands(MASTER)]
            app.screen.query_one(Input).value = MASTER
            await pilot.press("enter")
            await until(
                pilot,
                lambda: pane.busy is None and len(pane.history[MASTER]) == 2,
                "the retried restart",
            )
            assert pane.history[MASTER][-1].ok, pane.history[MASTER][-1].summary
    assert ["xivo-service", "restart"] in [e.get("argv") for e in lab.commands(MASTER)]
    results = [json.loads(x)["result"] for x in audit.read_text().splitlines()]
    assert any(
        r.startswith("acquired after breaking a stale lock (restart services by bob")
        for r in results
    )


async def test_a_next_lts_site_offers_main_and_standby(lab: Lab, tmp_path: Path) -> None:
    from labkit import lab_inventory
    from textual.widgets import RadioButton

    inventory, _ = lab_inventory(
        lab,
        tmp_path,
        edit=lambda t: t.replace("[site.demo]\n", '[site.demo]\nresilience = "manual"\n'),
    )
    async with Pool(audit=tmp_path / "audit.jsonl") as pool:
        app = console(
            inventory,
            read_only=False,
            pool=pool,
            lab=lab,
            status_refresh_interval=3600,
            app_class=RecordingApp,
        )
        async with app.run_test(size=(140, 50)) as pilot:
            pane = await open_pane(pilot, app)
            modes = [str(b.label) for b in pane.query("#ha-mode RadioButton").results(RadioButton)]
            assert modes == ["Disabled", "Main", "Standby"], modes
            # Another site, in the classic words: the labels follow it.
            import dataclasses

            from resil_tui.inventory_model import Resilience

            pane.show_site(dataclasses.replace(pane.site, resilience=Resilience.CLASSIC))
            await pilot.pause(0.2)
            again = [str(b.label) for b in pane.query("#ha-mode RadioButton").results(RadioButton)]
            assert again == ["Disabled", "Master", "Slave"], again
            assert "required for Master and Slave" in text(app, "#ha-peer-label")
