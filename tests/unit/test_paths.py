"""resil-tui's own directories follow the environment at every call (paths.py), though
each is built once per value."""

from __future__ import annotations

from pathlib import Path

import pytest

from resil_tui import paths


def test_the_state_directory_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.setenv("HOME", "/home/admin")
    assert paths.state_dir() == Path("/home/admin/.local/state/resil-tui")
    monkeypatch.setenv("XDG_STATE_HOME", "/var/tmp/st ")
    assert paths.state_dir() == Path("/var/tmp/st/resil-tui")
    monkeypatch.setenv("XDG_STATE_HOME", "relative/st")  # invalid by the XDG spec: ignored
    assert paths.state_dir() == Path("/home/admin/.local/state/resil-tui")
    monkeypatch.setenv("HOME", "/home/other")
    assert paths.audit_log_path() == Path("/home/other/.local/state/resil-tui/audit.jsonl")


def test_an_empty_home_is_not_an_unset_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """As Path.home(): an empty $HOME is `/`; an unset one, the password database's."""
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("HOME", raising=False)
    unset = paths.config_dir()
    monkeypatch.setenv("HOME", "")
    assert paths.config_dir() == Path("/.config/resil-tui")
    monkeypatch.delenv("HOME")
    assert paths.config_dir() == unset == Path.home() / ".config" / "resil-tui"
