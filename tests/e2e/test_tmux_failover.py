"""End to end in a real terminal: `resil-tui --demo` under tmux at 80x24, the master
powered off from the command palette, the failover wizard run to the end, then the screen
and the lab's Edge `.env` checked. Keyboard only, and only keys the screen shows: every
key pressed is read off the screen first (the tab bar, the footer, the wizard's key line,
the confirmation's buttons); a key the screen does not offer fails the test.

RESIL_TUI_DEMO_FAST=1 gives the lab sub-second timings; RESIL_TUI_DEMO_DIR keeps the lab
in a temp directory we can read afterwards. A private tmux socket (-L) keeps the admin's
own tmux server out of it; it is killed in `finally`.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

TMUX = shutil.which("tmux")
DEADLINE = 90.0  # the whole scenario
SIZE = ("80", "24")


def key_on_screen(screen: str, pattern: str, what: str) -> str:
    """The key the screen offers for `what` (`pattern` captures it), or fail."""
    found = re.search(pattern, screen)
    assert found is not None, f"no key for {what} on the screen:\n{screen}"
    return found.group(1)


def footer(screen: str) -> str:
    """The bottom line of the screen (the console's footer)."""
    return next((line for line in reversed(screen.splitlines()) if line.strip()), "")


def tmux_key(key: str) -> str:
    """A key as the screen shows it ("^p", "y") in tmux's send-keys spelling."""
    return f"C-{key[1:]}" if key.startswith("^") and len(key) == 2 else key


class Term:
    def __init__(self, socket: str, session: str) -> None:
        self.socket, self.session = socket, session

    def tmux(self, *args: str) -> str:
        assert TMUX is not None
        done = subprocess.run(
            [TMUX, "-L", self.socket, *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return done.stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.session)

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.session, *keys)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", self.session, "-l", text)

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        end = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > end:
                raise AssertionError(f"{text!r} never appeared; the screen:\n{screen}")
            time.sleep(0.1)


# Under CI=true tmux must be there (.ci/run installs it): a missing tmux fails, never skips.
@pytest.mark.skipif(
    TMUX is None and os.environ.get("CI", "").lower() != "true",
    reason="tmux is not installed (.ci/run installs it)",
)
def test_failover_in_a_real_terminal(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    env = {
        "HOME": str(tmp_path / "home"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "RESIL_TUI_DEMO_DIR": str(demo),
        "RESIL_TUI_DEMO_FAST": "1",
        "TERM": "xterm-256color",
        "COLORTERM": "truecolor",
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    }
    command = " ".join(
        [
            "env",
            *(f"{k}={shlex.quote(v)}" for k, v in env.items()),
            shlex.quote(sys.executable),
            "-m",
            "resil_tui",
            "--demo",
        ]
    )
    term = Term(f"resil-e2e-{uuid.uuid4().hex[:8]}", "wizard")
    started = time.monotonic()
    term.tmux("new-session", "-d", "-s", term.session, "-x", SIZE[0], "-y", SIZE[1], command)
    try:
        term.wait_for("site demo", 30)
        term.wait_for("demo.xivo.master", 20)  # the Status pane filled in
        screen = term.wait_for("Palette", 10)
        assert all(len(line) <= 80 for line in screen.splitlines())

        # The fault, as a person injects it: the palette (its key is in the footer), the
        # command's title, enter.
        palette = key_on_screen(footer(screen), r"(\^\w) Palette", "the palette")
        term.keys(tmux_key(palette))
        term.wait_for("Search for commands", 10)
        term.type("power off demo.xivo.master")
        term.wait_for("lab: power off demo.xivo.master", 10)
        term.keys("Enter")
        term.wait_for("powered off", 10)

        # The Wizard pane: its key is on the tab bar.
        wizard = key_on_screen(term.screen(), r"(\d) Wizard", "the Wizard pane")
        term.keys(wizard)
        screen = term.wait_for("Start failover", 10)
        term.keys(key_on_screen(footer(screen), r"(\S+) Start failover", "failover"))

        # Run every step as a person would: read the key line, press what it offers.
        while True:
            assert time.monotonic() - started < DEADLINE, f"too slow; screen:\n{term.screen()}"
            screen = term.screen()
            if "Run finished" in screen:
                break
            if "Yes, run it" in screen:
                term.keys(key_on_screen(screen, r"(\w)  Yes, run it", "yes"))
            elif ": retry" in screen or "aborted" in screen:
                raise AssertionError(f"a step failed:\n{screen}")
            elif ": type" in screen:
                raise AssertionError(f"the master still looks active:\n{screen}")
            elif "running…" in screen:
                pass
            elif ": done (when it is done)" in screen:
                term.keys(key_on_screen(screen, r"(\w): done \(when", "done"))
            elif "run this step" in screen:
                term.keys(key_on_screen(screen, r"(\w) / enter: run this step", "run"))
            time.sleep(0.3)

        screen = term.wait_for("site verdict: failed_over", 10)
        assert "Run finished" in screen
        env_file = demo / "nodes" / "demo.edge" / "root" / "etc" / "docker" / "edge" / ".env"
        text = env_file.read_text()
        assert "XIVO_HOST=10.50.0.12" in text and "XIVOCC_HOST=10.50.0.22" in text
        assert "XIVO_HOST=10.50.0.11" not in text
        reports = list((tmp_path / "state" / "resil-tui" / "runs").glob("*.md"))
        assert len(reports) == 1 and "Failover to the slave" in reports[0].read_text()
        term.keys(key_on_screen(footer(screen), r"(\w) Quit", "quit"))
    finally:
        term.tmux("kill-server")
