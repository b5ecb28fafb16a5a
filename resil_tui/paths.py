"""XDG locations of resil-tui's own files (config, state, logs)."""

from __future__ import annotations

import functools
import os
from pathlib import Path

APP = "resil-tui"


def _xdg(var: str, fallback: str) -> Path:
    # Read from the environment every time (a test, a wrapper may change it), built once
    # per value: a status poll asks for the state directory on every XiVO node.
    return _xdg_path(os.environ.get(var, ""), os.environ.get("HOME"), fallback)


@functools.lru_cache(maxsize=32)
def _xdg_path(value: str, home: str | None, fallback: str) -> Path:
    """`home`: $HOME as it is (None when unset), which is all Path.home() reads besides
    the password database."""
    value = value.strip()
    # The XDG spec says relative values are invalid and must be ignored.
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / fallback


def config_dir() -> Path:
    return _xdg("XDG_CONFIG_HOME", ".config") / APP


def state_dir() -> Path:
    return _xdg("XDG_STATE_HOME", ".local/state") / APP


def audit_log_path() -> Path:
    return state_dir() / "audit.jsonl"


def debug_log_path() -> Path:
    return state_dir() / "debug.log"


def preferences_path() -> Path:
    return config_dir() / "preferences.toml"


def default_inventory_candidates(cwd: Path | None = None) -> list[Path]:
    """Where an inventory is looked for when neither --hosts nor $RESIL_TUI_HOSTS is given."""
    base = cwd if cwd is not None else Path.cwd()
    return [base / "hosts.toml", config_dir() / "hosts.toml"]


def journal_path() -> Path:
    """The incident journal (resil_tui/journal.py), shared by the console and the watcher."""
    return state_dir() / "journal.jsonl"
