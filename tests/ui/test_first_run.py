"""No inventory: say where we looked and offer init or the demo; preferences persistence;
unexpected worker errors become one line plus the debug log."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from labkit import console
from textual.widgets import Static

from resil_tui import cli
from resil_tui.cli.common import GlobalArgs
from resil_tui.entry import main
from resil_tui.inventory import load_inventory
from resil_tui.inventory_model import Inventory
from resil_tui.preferences import Preferences, load_preferences, save_preferences
from resil_tui.ui.app import ResilApp
from resil_tui.ui.commands import palette_commands, rebind_key, set_log_buffer, set_refresh
from resil_tui.ui.init_app import InitApp, InitResult
from resil_tui.ui.screens.first_run import FirstRunScreen
from resil_tui.ui.screens.init_form import InitFormScreen
from resil_tui.ui.screens.key_capture import KeyCaptureScreen

EXAMPLE = Path(__file__).resolve().parents[2] / "hosts.example.toml"
SIZE = (100, 30)


@pytest.fixture(autouse=True)
def _xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for var in (
        "RESIL_TUI_HOSTS",
        "RESIL_TUI_THEME",
        "RESIL_TUI_REFRESH",
        "RESIL_TUI_LOG_BUFFER",
        "RESIL_TUI_SITE",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def inventory() -> Inventory:
    return load_inventory(EXAMPLE)


class RecordingApp(ResilApp):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.notes: list[tuple[str, str]] = []
        super().__init__(*args, **kwargs)

    def notify(self, message: str, **kwargs: Any) -> None:  # type: ignore[override]
        self.notes.append((kwargs.get("severity", "information"), message))
        super().notify(message, **kwargs)


# --- first run ------------------------------------------------------------------------------


LOOKED = ["--hosts (not given)", "$RESIL_TUI_HOSTS (not set)", "/x/hosts.toml", "/y/hosts.toml"]


@pytest.mark.parametrize(("key", "action"), [("d", "demo"), ("q", "quit"), ("escape", "quit")])
async def test_first_run_says_where_it_looked_and_offers_demo(
    tmp_path: Path, key: str, action: str
) -> None:
    app = InitApp(tmp_path / "hosts.toml", looked_in=LOOKED)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, FirstRunScreen)
        looked = str(app.screen.query_one("#first-run-looked", Static).content)
        for place in LOOKED:
            assert place in looked
        choices = str(app.screen.query_one("#first-run-choices", Static).content)
        assert "resil-tui init" in choices and str(tmp_path / "hosts.toml") in choices
        await pilot.press(key)
        await pilot.pause()
    assert app.return_value == InitResult(action)  # type: ignore[arg-type]


async def test_first_run_i_opens_the_form(tmp_path: Path) -> None:
    app = InitApp(tmp_path / "hosts.toml", looked_in=LOOKED)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("i")
        await pilot.pause()
        assert isinstance(app.screen, InitFormScreen)
        await pilot.press("ctrl+q")
        await pilot.pause()
    assert app.return_value == InitResult("quit")


def test_no_inventory_without_a_terminal_explains_and_suggests_init(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main([]) == 2  # pytest's stdin is not a terminal
    err = capsys.readouterr().err
    assert "no inventory found; looked in:" in err
    assert "hosts.toml" in err and "resil-tui init" in err and "--demo" in err
    assert "Traceback" not in err


def test_no_inventory_on_a_terminal_runs_the_first_run_choice(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from resil_tui.ui import launch

    monkeypatch.setattr(launch.sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(launch.sys.stdout, "isatty", lambda: True, raising=False)
    seen: list[Any] = []

    def fake_run(self: InitApp) -> InitResult:
        seen.append(self.looked_in)
        return InitResult("demo")

    monkeypatch.setattr(InitApp, "run", fake_run)
    options, code = launch._first_run(GlobalArgs())
    assert code is None
    assert options.demo is True
    assert seen and str(tmp_path / "hosts.toml") in seen[0]


def test_init_refuses_an_existing_file_before_the_form(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "hosts.toml"
    target.write_text("# mine\n")
    assert main(["init", str(target)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert target.read_text() == "# mine\n"


# --- preferences from the UI ----------------------------------------------------------------


async def test_theme_settings_and_keys_persist(inventory: Inventory, tmp_path: Path) -> None:
    path = tmp_path / "config" / "resil-tui" / "preferences.toml"
    app = console(inventory, read_only=False, preferences_path=path, app_class=RecordingApp)
    async with app.run_test(size=SIZE) as pilot:
        titles = [c.title for c in palette_commands(app)]
        assert "settings: refresh every 5 s" in titles
        assert "settings: log buffer 200,000 lines" in titles
        assert "keys: rebind app.refresh" in titles
        assert "settings: open on site lyon" in titles
        app.action_set_theme("light")
        set_refresh(app, 5.0)
        set_log_buffer(app, 200_000)
        rebind_key(app, "app.refresh")
        await pilot.pause()
        assert isinstance(app.screen, KeyCaptureScreen)
        await pilot.press("f5")
        await pilot.pause()
        assert app.keys_for("app.refresh") == "f5"
        assert app.status_refresh_interval == 5.0 and app.log_buffer_lines == 200_000
    saved = load_preferences(path).preferences
    assert saved == Preferences("light", 5.0, 200_000, None, {"app.refresh": "f5"})
    assert path.read_text().startswith("# resil-tui preferences")


async def test_inventory_keys_win_over_preference_keys(inventory: Inventory) -> None:
    import dataclasses

    inv = dataclasses.replace(inventory, keys={"app.refresh": "f6"})
    app = console(inv, read_only=False, preference_keys={"app.refresh": "f5", "app.help": "h"})
    async with app.run_test(size=SIZE):
        assert app.keys_for("app.refresh") == "f6"
        assert app.keys_for("app.help") == "h"


async def test_preferences_reach_the_console_through_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save_preferences(
        Preferences(theme="light", refresh_interval=30.0, site="lyon", log_buffer=10_000),
        tmp_path / "config" / "resil-tui" / "preferences.toml",
    )
    monkeypatch.setenv("RESIL_TUI_REFRESH", "15")
    captured: dict[str, Any] = {}

    async def fake_run_async(self: ResilApp) -> int:
        captured.update(
            theme=self.theme,
            refresh=self.status_refresh_interval,
            site=self.site_name,
            buffer=self.log_buffer_lines,
            prefs=self.preferences_path,
        )
        return 0

    monkeypatch.setattr(ResilApp, "run_async", fake_run_async)
    _, options = cli.parse(["--hosts", str(EXAMPLE), "--log-buffer", "20000"])
    from resil_tui.ui import launch

    assert await launch._console(options) == 0
    assert captured["theme"] == "light"  # preferences
    assert captured["refresh"] == 15.0  # environment beats preferences
    assert captured["buffer"] == 20_000  # flag beats preferences
    assert captured["site"] == "lyon"
    assert captured["prefs"] == tmp_path / "config" / "resil-tui" / "preferences.toml"


# --- unexpected errors ------------------------------------------------------------------------


async def test_a_failing_worker_is_logged_and_shown_as_one_line(
    inventory: Inventory, caplog: pytest.LogCaptureFixture
) -> None:
    app = console(inventory, read_only=False, app_class=RecordingApp)
    async with app.run_test(size=SIZE) as pilot:

        async def boom() -> None:
            raise RuntimeError("disk on fire\nsecond line")

        app.run_worker(boom(), name="demo work", group="test", exit_on_error=False)
        with caplog.at_level(logging.ERROR, logger="resil_tui.ui"):
            for _ in range(50):
                await pilot.pause(0.02)
                if any("demo work failed" in m for _, m in app.notes):
                    break
            await asyncio.sleep(0)
        assert app.is_running
    errors = [m for s, m in app.notes if s == "error"]
    assert errors and errors[0].startswith("demo work failed: RuntimeError: disk on fire.")
    assert "debug.log" in errors[0] and "second line" not in errors[0]
    assert any(r.exc_info and "disk on fire" in str(r.exc_info[1]) for r in caplog.records)


async def test_no_color_is_honoured_and_states_are_words(
    inventory: Inventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from textual.filter import Monochrome, NoColor

    monkeypatch.setenv("NO_COLOR", "1")
    app = console(inventory, read_only=True)
    async with app.run_test(size=(80, 24)):
        assert app.no_color
        assert any(isinstance(f, Monochrome | NoColor) for f in app._filters)
        badges = " ".join(str(w.content) for w in app.query("ShellHeader Static") if w.display)
        assert "READ-ONLY" in badges  # said in words, not by colour alone
