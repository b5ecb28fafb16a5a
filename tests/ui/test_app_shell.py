"""Pilot tests of the app shell: panes, help, badges, confirmations, keymap, themes."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from labkit import console, eventually
from textual.widgets import Button, Input, Static, TabbedContent

from resil_tui.inventory import load_inventory
from resil_tui.inventory_model import Inventory
from resil_tui.ui.app import MUTATING_ACTIONS, ConnectionSummary, ResilApp
from resil_tui.ui.commands import ShellCommands
from resil_tui.ui.panes.base import Pane
from resil_tui.ui.panes.catalog import PANES
from resil_tui.ui.screens.confirm import ConfirmScreen, TypedConfirmScreen
from resil_tui.ui.screens.help import HelpScreen
from resil_tui.ui.widgets.header import ShellHeader

EXAMPLE = Path(__file__).resolve().parents[2] / "hosts.example.toml"
SIZE = (120, 40)


class RecordingApp(ResilApp):
    """ResilApp that remembers its notifications (run_test hides toasts)."""

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


@pytest.fixture
def inventory() -> Inventory:
    return load_inventory(EXAMPLE)


def with_keys(inventory: Inventory, keys: dict[str, str]) -> Inventory:
    return dataclasses.replace(inventory, keys=keys)


def header_text(app: ResilApp) -> str:
    return " ".join(str(w.content) for w in app.query("ShellHeader Static") if w.display)


async def test_starts_with_example_inventory_and_switches_panes(inventory: Inventory) -> None:
    app = console(inventory, read_only=False)
    async with app.run_test(size=SIZE) as pilot:
        tabs = app.query_one("#panes", TabbedContent)
        assert [p.pane_id for p in PANES] == ["status", "ha", "edge", "wizard", "logs", "timeline"]
        # The first screen holds the Status pane; the others are mounted once it is painted.
        await eventually(lambda: len(app.query(Pane)) == 6, what="every pane mounted")
        assert tabs.active == "status"
        panes = ["ha", "edge", "wizard", "logs", "timeline", "status"]
        for key, pane_id in zip("234561", panes, strict=True):
            await pilot.press(key)
            await pilot.pause()
            assert tabs.active == pane_id
            pane = app.active_pane
            assert pane is not None
            assert pane_id == pane.PANE_ID
        assert "site paris" in header_text(app)
        assert "7 nodes · 0 connected" in header_text(app)


async def test_help_opens_with_question_mark_and_f1_and_lists_binding_ids(
    inventory: Inventory, tmp_path: Path
) -> None:
    app = console(inventory, read_only=False)
    async with app.run_test(size=SIZE) as pilot:
        for key in ("question_mark", "f1"):
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            ids = {row.binding_id for row in app.screen.rows}
            for expected in (
                "app.help",
                "app.quit",
                "app.refresh",
                "pane.status",
                "pane.logs",
                "pane.apply",
                "confirm.yes",
                "confirm.cancel",
            ):
                assert expected in ids
            assert app.screen.row("app.help").keys == "? f1"
            files = str(app.screen.query_one("#help-files", Static).content)
            assert str(tmp_path / "state" / "resil-tui" / "audit.jsonl") in files
            assert str(tmp_path / "state" / "resil-tui" / "debug.log") in files
            assert len(app.screen.query(".help-safety")) == 5
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, HelpScreen)


@pytest.mark.parametrize("read_only", [True, False])
async def test_read_only_badge_only_in_read_only_mode(
    inventory: Inventory, read_only: bool
) -> None:
    app = console(inventory, read_only=read_only)
    async with app.run_test(size=SIZE):
        # A badge that is off is not in the header at all (or hidden, once turned off).
        assert any(w.display for w in app.query("#header-readonly")) is read_only
        assert ("READ-ONLY" in header_text(app)) is read_only
        assert not any(w.display for w in app.query("#header-demo"))


async def test_a_badge_turned_on_later_shows_in_its_place(inventory: Inventory) -> None:
    app = console(inventory, read_only=False, demo=True)
    async with app.run_test(size=SIZE) as pilot:
        header = app.query_one(ShellHeader)
        header.read_only = True
        await pilot.pause()
        shown = [w.id for w in header.query(Static) if w.display]
        assert shown.index("header-readonly") + 1 == shown.index("header-demo")
        header.read_only = False
        await pilot.pause()
        assert "READ-ONLY" not in header_text(app) and "DEMO" in header_text(app)


async def test_inventory_read_only_wins_and_demo_badge(inventory: Inventory) -> None:
    forced = dataclasses.replace(inventory, read_only=True)
    app = console(forced, read_only=False, demo=True)
    async with app.run_test(size=SIZE):
        assert app.read_only is True
        assert "READ-ONLY" in header_text(app)
        assert "DEMO" in header_text(app)


async def test_header_fits_80x24(inventory: Inventory) -> None:
    app = console(inventory, read_only=True, demo=True)
    async with app.run_test(size=(80, 24)):
        connection = app.query_one("#header-connection")
        assert connection.region.width > 0 and connection.region.right <= 80
        assert app.query_one("#header-readonly").region.width > 0


async def test_connection_summary_is_reactive(inventory: Inventory) -> None:
    app = console(inventory, read_only=False)
    async with app.run_test(size=SIZE) as pilot:
        app.set_connection_summary(connected=5, failed=2)
        await pilot.pause()
        assert app.connection == ConnectionSummary(7, 5, 2)
        assert "7 nodes · 5 connected · ✗ 2 unreachable" in header_text(app)
        await pilot.press("s")
        await pilot.pause()
        assert "2 nodes · 0 connected" in header_text(app)


@pytest.mark.parametrize(("key", "expected"), [("y", True), ("n", False), ("escape", False)])
async def test_confirm_modal(inventory: Inventory, key: str, expected: bool) -> None:
    app = console(inventory, read_only=False)
    results: list[bool | None] = []
    async with app.run_test(size=SIZE) as pilot:
        screen = ConfirmScreen(
            "Restart xuc",
            "xivocc-dcomp restart xuc [--force]",
            "paris.cc.slave",
            ["users of the CC slave are disconnected"],
        )
        app.push_screen(screen, callback=results.append)
        await pilot.pause()
        shown = " ".join(str(s.content) for s in screen.query(Static))
        # Shown verbatim: the brackets are not eaten as markup.
        assert "xivocc-dcomp restart xuc [--force]" in shown
        assert "paris.cc.slave" in shown
        assert "WARNING: users of the CC slave are disconnected" in shown
        await pilot.press(key)
        await pilot.pause()
        assert results == [expected]
        assert app.screen is not screen


async def test_confirm_enter_on_default_focus_is_no(inventory: Inventory) -> None:
    app = console(inventory, read_only=False)
    results: list[bool | None] = []
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(ConfirmScreen("t", "cmd", "node"), callback=results.append)
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert results == [False]


async def test_typed_confirm_refuses_until_word_typed(inventory: Inventory) -> None:
    app = console(inventory, read_only=False)
    results: list[bool | None] = []
    async with app.run_test(size=SIZE) as pilot:
        screen = TypedConfirmScreen(
            "Disable HA", "curl ...", "paris.xivo.master", word="paris.xivo.master"
        )
        app.push_screen(screen, callback=results.append)
        await pilot.pause()
        yes = screen.query_one("#confirm-yes", Button)
        assert yes.disabled
        await pilot.press("y", "enter")
        await pilot.pause()
        assert results == [] and app.screen is screen
        await pilot.press(*"es.xivo.master")  # now "yes.xivo.master": still wrong
        await pilot.press("enter")
        await pilot.pause()
        assert results == [] and yes.disabled
        feedback = str(screen.query_one("#typed-confirm-feedback", Static).content)
        assert "does not match" in feedback
        screen.query_one(Input).value = ""
        await pilot.press(*"paris.xivo.master")
        await pilot.pause()
        assert not yes.disabled
        await pilot.press("enter")
        await pilot.pause()
        assert results == [True]


async def test_typed_confirm_escape_is_false(inventory: Inventory) -> None:
    app = console(inventory, read_only=False)
    results: list[bool | None] = []
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(TypedConfirmScreen("t", "cmd", "n", word="n"), callback=results.append)
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert results == [False]


async def test_keys_table_remaps_help(inventory: Inventory) -> None:
    app = console(with_keys(inventory, {"app.help": "h"}), read_only=False, app_class=RecordingApp)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("h")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert app.screen.row("app.help").keys == "h"
        assert not [n for n in app.notes if n[0] == "warning"]


async def test_unknown_key_id_warns_and_does_not_crash(inventory: Inventory) -> None:
    keys = {"app.hlep": "h", "app.refresh": "f5"}
    app = console(with_keys(inventory, keys), read_only=False, app_class=RecordingApp)
    async with app.run_test(size=SIZE) as pilot:
        warnings = [msg for severity, msg in app.notes if severity == "warning"]
        assert len(warnings) == 1
        assert "app.hlep" in warnings[0]
        assert "valid ids:" in warnings[0] and "app.help" in warnings[0]
        # The valid part of the table still applies.
        assert app.keys_for("app.refresh") == "f5"
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)


async def test_themes_registered_and_switching(inventory: Inventory) -> None:
    app = console(inventory, read_only=False)
    async with app.run_test(size=SIZE) as pilot:
        for name in ("dark", "light", "incident"):
            assert name in app.available_themes
        assert app.theme == "dark"
        app.action_set_theme("incident")
        await pilot.pause()
        assert app.theme == "incident"
        assert app.current_theme.background == "#000000"
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert app.theme == "light"
        assert app.current_theme.dark is False


async def test_theme_from_constructor_and_unknown_theme(inventory: Inventory) -> None:
    app = console(inventory, read_only=False, theme="incident")
    async with app.run_test(size=SIZE):
        assert app.theme == "incident"
    bad = console(inventory, read_only=False, theme="no-such-theme", app_class=RecordingApp)
    async with bad.run_test(size=SIZE):
        assert bad.theme == "dark"
        assert any("no-such-theme" in msg and "incident" in msg for _, msg in bad.notes)


async def test_site_switch_by_key_updates_header_and_panes(inventory: Inventory) -> None:
    app = console(inventory, read_only=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")  # the Wizard shows the site's failover plan before a run
        await pilot.pause()
        pane = app.active_pane
        assert pane is not None and pane.PANE_ID == "wizard"
        assert "site paris" in str(pane.query_one("#wizard-title", Static).content)
        await pilot.press("s")
        await pilot.pause()
        assert app.site_name == "lyon"
        assert "site lyon (2/2)" in header_text(app)
        assert app.active_pane is pane
        title = str(pane.query_one("#wizard-title", Static).content)
        assert "site lyon" in title and "paris" not in title
        current = str(pane.query_one("#wizard-current", Static).content)
        assert "xivo-lyon-2.example.com" in current  # the failover target, from the inventory
        assert "paris" not in current


async def test_site_binding_hidden_with_one_site(inventory: Inventory) -> None:
    single = dataclasses.replace(inventory, sites={"paris": inventory.sites["paris"]})
    app = console(single, read_only=False)
    async with app.run_test(size=SIZE):
        assert "s" not in app.active_bindings
        assert "site paris" in header_text(app) and "(1/" not in header_text(app)


async def test_palette_commands_are_namespaced(inventory: Inventory) -> None:
    app = console(inventory, read_only=False)
    async with app.run_test(size=SIZE):
        provider = ShellCommands(app.screen)
        titles = [str(hit.text) async for hit in provider.discover()]
        for expected in (
            "pane: Status",
            "pane: Logs",
            "site: paris",
            "site: lyon",
            "theme: incident",
            "app: help",
            "app: quit",
        ):
            assert expected in titles
        hits = [hit async for hit in provider.search("site: lyon")]
        assert hits and str(hits[0].text) == "site: lyon"


async def test_palette_switches_site(inventory: Inventory) -> None:
    app = console(inventory, read_only=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"site: lyon")
        # The palette searches in the background: wait for the hit, not for a duration.
        for _ in range(200):
            await pilot.pause()
            options = app.screen.query("CommandList")
            if options and options.first().option_count:
                break
        await pilot.press("enter")
        await pilot.pause()
        assert app.site_name == "lyon"


class ApplyRecorder:
    def __init__(self) -> None:
        self.calls = 0


def make_pane_applicable(app: ResilApp, monkeypatch: pytest.MonkeyPatch) -> ApplyRecorder:
    recorder = ApplyRecorder()
    pane = app.active_pane
    assert pane is not None

    def apply() -> None:
        recorder.calls += 1

    monkeypatch.setattr(pane, "can_apply", lambda: True)
    monkeypatch.setattr(pane, "apply", apply)
    return recorder


async def test_mutating_action_hidden_when_pane_has_nothing_to_apply(
    inventory: Inventory,
) -> None:
    assert "apply" in MUTATING_ACTIONS
    app = console(inventory, read_only=False)
    async with app.run_test(size=SIZE):
        assert "a" not in app.active_bindings


async def test_mutating_action_runs_when_read_write(
    inventory: Inventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = console(inventory, read_only=False)
    async with app.run_test(size=SIZE) as pilot:
        recorder = make_pane_applicable(app, monkeypatch)
        app.refresh_bindings()
        await pilot.pause()
        assert app.active_bindings["a"].enabled is True
        await pilot.press("a")
        await pilot.pause()
        assert recorder.calls == 1


async def test_mutating_action_greyed_and_refused_in_read_only(
    inventory: Inventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = console(inventory, read_only=True, app_class=RecordingApp)
    async with app.run_test(size=SIZE) as pilot:
        recorder = make_pane_applicable(app, monkeypatch)
        app.refresh_bindings()
        await pilot.pause()
        # Shown but greyed: the footer tells the truth.
        assert app.active_bindings["a"].enabled is False
        await pilot.press("a")
        await pilot.pause()
        assert recorder.calls == 0
        # Reached another way (the palette): refused with the reason.
        provider = ShellCommands(app.screen)
        apply_hits = [h async for h in provider.discover() if h.text == "pane: apply"]
        assert apply_hits and "READ-ONLY" in str(apply_hits[0].help)
        apply_hits[0].command()
        await pilot.pause()
        assert recorder.calls == 0
        assert any(sev == "error" and "READ-ONLY" in msg for sev, msg in app.notes)


async def test_quit_returns_zero(inventory: Inventory) -> None:
    app = console(inventory, read_only=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("q")
        await pilot.pause()
    assert app.return_value == 0


async def test_keymap_clash_with_another_binding_warns(inventory: Inventory) -> None:
    app = console(with_keys(inventory, {"app.help": "r"}), read_only=False, app_class=RecordingApp)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        warnings = [msg for severity, msg in app.notes if severity == "warning"]
        assert len(warnings) == 1 and "app.refresh" in warnings[0]


def test_binding_ids_are_unique_per_context_and_all_set() -> None:
    from textual.binding import Binding as TBinding

    infos = ResilApp.binding_infos()
    ids = [info.id for info in infos]
    assert len(ids) == len(set(ids))
    # Every binding the app itself declares carries an id, so every one is remappable.
    assert all(b.id for b in ResilApp.BINDINGS if isinstance(b, TBinding))


def test_check_keymap_splits_valid_unknown_and_bad() -> None:
    from resil_tui.ui.keymap import check_keymap

    check = check_keymap(
        {"app.help": " h , f2 ", "nope": "x", "app.quit": "", "app.site": 3},
        ["app.help", "app.quit", "app.site"],
    )
    assert check.valid == {"app.help": "h,f2"}
    assert check.unknown_ids == ("nope",)
    assert len(check.bad_values) == 2
    problems = check.problems(["app.help", "app.quit", "app.site"])
    assert "nope" in problems[0] and "valid ids: app.help, app.quit, app.site" in problems[0]


def test_find_clashes_knows_modal_contexts() -> None:
    from resil_tui.ui.keymap import find_clashes

    infos = ResilApp.binding_infos()
    assert find_clashes(infos, {}) == []
    # "y" in the global context does not clash with confirm.yes: the dialog is modal.
    assert find_clashes(infos, {"app.refresh": "y"}) == []
    assert find_clashes(infos, {"app.refresh": "?"}) == [
        "key 'question_mark' is bound to app.help and app.refresh (global)"
    ]
