"""The console in a real terminal, by keyboard alone: `resil-tui --demo` inside tmux at
80x24, keys 1-5, ?, escape, q; each pane's own text must be on screen.

tmux runs on a private socket (-L) that the test kills in `finally`, so nothing is left
behind and the admin's own tmux server is never touched. Skipped when tmux is missing,
except under CI=true (`.ci/run` installs it), where a missing tmux is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

TMUX = shutil.which("tmux")
if TMUX is None and os.environ.get("CI", "").lower() != "true":
    pytest.skip("tmux is not installed (CI installs it)", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]
# Each key, and text only that pane (or screen) shows.
PANES: list[tuple[str, str]] = [
    ("2", "Pair:"),
    ("3", "Edge points to"),
    ("4", "Wizard · site demo"),
    ("5", "Open stream"),
    ("1", "Reachability"),
]


class Tmux:
    def __init__(self, socket: str) -> None:
        assert TMUX is not None, "tmux is required under CI=true"
        self.base = [TMUX, "-L", socket]

    def __call__(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(
            [*self.base, *args], capture_output=True, text=True, timeout=10, check=False
        )
        if check and done.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "rt")

    def wait_for(self, what: Callable[[str], bool], label: str, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            if what(text):
                return text
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {label}; screen was:\n{text}")


def test_demo_by_keyboard_alone_at_80x24(tmp_path: Path) -> None:
    started = time.monotonic()
    tmux = Tmux(f"resil-tui-test-{uuid.uuid4().hex[:8]}")
    env = {
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "RESIL_TUI_DEMO_DIR": str(tmp_path / "lab"),
    }
    exports = " ".join(f"{k}={v}" for k, v in env.items())
    command = f"cd {ROOT} && env {exports} {sys.executable} -m resil_tui --demo; sleep 30"
    try:
        tmux("new-session", "-d", "-s", "rt", "-x", "80", "-y", "24", command)
        first = tmux.wait_for(lambda s: "1 Status" in s and "5 Logs" in s, "the tab bar")
        assert "resil-tui" in first and "DEMO" in first
        # Nodes fill in after the first screen; wait for them before driving the panes.
        tmux.wait_for(lambda s: "7 connected" in s, "the nodes to answer")
        for key, text in PANES:
            tmux("send-keys", "-t", "rt", key)
            screen = tmux.wait_for(lambda s, t=text: t in s, f"pane {key} ({text!r})")
            lines = screen.splitlines()
            assert len(lines) <= 24 and all(len(line) <= 80 for line in lines)
            assert "^p Palette" in lines[-1]  # the footer is always there
        tmux("send-keys", "-t", "rt", "?")
        help_screen = tmux.wait_for(lambda s: "? Help  (esc closes" in s, "the help screen")
        assert "Safety model" in help_screen
        # Complete at 80x24: it scrolls, and its end is the last key of the last pane.
        tmux("send-keys", "-t", "rt", "End")
        help_end = tmux.wait_for(lambda s: "logs.copy" in s, "the end of the help")
        assert "Logs pane" in help_end
        tmux("send-keys", "-t", "rt", "Escape")
        tmux.wait_for(lambda s: "? Help  (esc" not in s and "Reachability" in s, "help to close")
        tmux("send-keys", "-t", "rt", "q")
        # The app is gone: the shell's `sleep` keeps the pane, with no TUI left on it.
        tmux.wait_for(lambda s: "1 Status" not in s, "the console to quit")
        assert "Traceback" not in tmux.screen()
    finally:
        tmux("kill-server", check=False)
    assert time.monotonic() - started < 30
