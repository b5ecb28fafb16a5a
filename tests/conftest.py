"""Safety net for every test: resil-tui's own files (audit log, debug log, preferences,
wizard runs) go to a temporary XDG tree, never to the real home of whoever runs the suite.
Tests that care set these themselves, as they did before."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _private_xdg_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = tmp_path_factory.mktemp("xdg")
    monkeypatch.setenv("XDG_STATE_HOME", str(base / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(base / "config"))
    monkeypatch.delenv("RESIL_TUI_HOSTS", raising=False)
    for name in ("RESIL_TUI_THEME", "RESIL_TUI_REFRESH", "RESIL_TUI_LOG_BUFFER", "RESIL_TUI_SITE"):
        monkeypatch.delenv(name, raising=False)


def pytest_report_header(config: pytest.Config) -> str:
    return f"resil-tui tests: XDG dirs are temporary (see {Path(__file__).name})"
