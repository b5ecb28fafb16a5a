"""Layout snapshots at an admin's terminal sizes: 80x24 (nothing essential cut off) and
160x48. The example inventory, no pool (nothing connects), no cursor blink, so the SVGs
are the same at every run. Update with `pytest tests/ui/test_snapshots.py --snapshot-update`
after a deliberate layout change, and look at the new SVGs before committing them.

The Wizard pane is left out while it is being built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from labkit import console
from textual.pilot import Pilot
from textual.widgets import Input

from resil_tui.inventory import load_inventory
from resil_tui.ui.app import ResilApp
from resil_tui.ui.init_app import InitApp

EXAMPLE = Path(__file__).resolve().parents[2] / "hosts.example.toml"
SMALL = (80, 24)
LARGE = (160, 48)


@pytest.fixture(autouse=True)
def _xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Fixed paths: the help screen and the first-run screen print them.
    monkeypatch.setenv("XDG_STATE_HOME", "/home/admin/.local/state")
    monkeypatch.setenv("XDG_CONFIG_HOME", "/home/admin/.config")
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setattr(Input, "cursor_blink", False)


def example_console() -> ResilApp:
    # The example inventory's path would differ per checkout: show none.
    inventory = load_inventory(EXAMPLE)
    import dataclasses

    app: ResilApp = console(dataclasses.replace(inventory, path=None), read_only=False)
    return app


async def settle(pilot: Pilot[Any]) -> None:
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


def press(*keys: str) -> Any:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return run_before


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x48"])
def test_status_pane(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(example_console(), terminal_size=size, run_before=press())


@pytest.mark.parametrize(("key", "name"), [("2", "ha"), ("3", "edge"), ("5", "logs")])
def test_panes_at_80x24(snap_compare: Any, key: str, name: str) -> None:
    assert snap_compare(example_console(), terminal_size=SMALL, run_before=press(key))


@pytest.mark.parametrize("keys", [("question_mark",), ("question_mark", "end")], ids=["top", "end"])
def test_help_at_80x24(snap_compare: Any, keys: tuple[str, ...]) -> None:
    # Scrolled to its end, the help shows the last binding of the last pane (Timeline).
    assert snap_compare(example_console(), terminal_size=SMALL, run_before=press(*keys))


def test_read_only_badge_at_80x24(snap_compare: Any) -> None:
    inventory = load_inventory(EXAMPLE)
    import dataclasses

    app = console(dataclasses.replace(inventory, path=None), read_only=True)
    assert snap_compare(app, terminal_size=SMALL, run_before=press())


def test_first_run_at_80x24(snap_compare: Any) -> None:
    looked = [
        "--hosts (not given)",
        "$RESIL_TUI_HOSTS (not set)",
        "/srv/ops/hosts.toml",
        "/home/admin/.config/resil-tui/hosts.toml",
    ]
    app = InitApp(Path("/home/admin/.config/resil-tui/hosts.toml"), looked_in=looked)
    assert snap_compare(app, terminal_size=SMALL, run_before=press())


def test_init_form_refusing_in_place_at_80x24(snap_compare: Any) -> None:
    app = InitApp(Path("/home/admin/.config/resil-tui/hosts.toml"))

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        screen = pilot.app.screen
        values = {
            "site": "paris",
            "xivo-master-ssh": "root@xivo-1:22",
            "xivo-master-ip": "10.10.0.300",
        }
        for field_id, value in values.items():
            screen.query_one(f"#f-{field_id}", Input).value = value
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)

    assert snap_compare(app, terminal_size=SMALL, run_before=run_before)
