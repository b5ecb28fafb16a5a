"""Shared fixtures of the reliability suite (issue 9): faults, bad inputs, read-only walk,
interrupted Edge apply, soak.

Everything runs against the real lab over SSH on 127.0.0.1 (in-process asyncssh server)
or against real OpenSSH sshd (tests/sshd/sshd_fixture.py). XDG dirs and HOME are per test.
Property tests count their cases into `FUZZ_COUNTS`; the counts are printed at the end of
the run and written to $RESIL_FUZZ_COUNTS (a JSON file) when that variable is set.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from resil_tui.inventory import load_inventory
from resil_tui.inventory_model import Inventory
from resil_tui.lab.server import Lab
from resil_tui.lab.spec import LabTiming

ROOT = Path(__file__).resolve().parents[2]
SSHD_DIR = ROOT / "tests" / "sshd"
if str(SSHD_DIR) not in sys.path:
    sys.path.insert(0, str(SSHD_DIR))

from sshd_fixture import SshdLab, SshdUnavailable, start_sshd_lab  # noqa: E402

# property name -> examples run, over the whole pytest session
FUZZ_COUNTS: Counter[str] = Counter()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FUZZ_COUNTS:
        return
    terminalreporter.write_sep("-", "hypothesis cases per property (reliability suite)")
    for name, n in sorted(FUZZ_COUNTS.items()):
        terminalreporter.write_line(f"{n:6d}  {name}")
    target = os.environ.get("RESIL_FUZZ_COUNTS")
    if target:
        Path(target).write_text(json.dumps(dict(sorted(FUZZ_COUNTS.items())), indent=2) + "\n")


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No real ~/.ssh, agent, config or state leaks in or out."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    monkeypatch.delenv("RESIL_TUI_HOSTS", raising=False)


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    """The demo site (7 nodes), fast timings, no background ticker."""
    lab = await Lab.start(tmp_path / "lab", timing=LabTiming.fast(), ticker=False)
    try:
        yield lab
    finally:
        await lab.stop()


@pytest.fixture
async def ticking_lab(tmp_path: Path) -> AsyncIterator[Lab]:
    """The demo site with the slave's check-master-status cron running (fast)."""
    lab = await Lab.start(tmp_path / "lab", timing=LabTiming.fast(), ticker=True)
    try:
        yield lab
    finally:
        await lab.stop()


def lab_inventory(
    lab: Lab,
    tmp_path: Path,
    *,
    edit: Callable[[str], str] | None = None,
    read_only: bool = False,
    name: str = "hosts.toml",
) -> tuple[Inventory, Path]:
    """The lab's inventory, optionally edited, written to tmp_path and loaded."""
    text = lab.inventory_path.read_text()
    if edit is not None:
        text = edit(text)
    path = tmp_path / name
    path.write_text(text)
    inventory = load_inventory(path)
    if read_only:
        inventory = dataclasses.replace(inventory, read_only=True)
    return inventory, path


def short_timeouts(text: str, connect: float = 2.0, command: float = 3.0) -> str:
    """Shorter deadlines so a hung node is reported within seconds, not a minute."""
    return text.replace("connect_timeout = 5.0", f"connect_timeout = {connect}").replace(
        "command_timeout = 60.0", f"command_timeout = {command}"
    )


async def eventually(
    check: Callable[[], Awaitable[bool]] | Callable[[], bool],
    timeout: float = 15.0,
    what: str = "condition",
    interval: float = 0.1,
) -> None:
    """Poll until `check` holds (a generous deadline, never a timing assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(interval)


def audit_records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# --- real OpenSSH sshd -------------------------------------------------------------------


def _sshd_unavailable(reason: str) -> NoReturn:
    # Same rule as tests/sshd/conftest.py: CI must run the tier, a workstation may lack it.
    if os.environ.get("CI") == "true":
        pytest.fail(f"sshd tier cannot run in CI: {reason}", pytrace=False)
    pytest.skip(f"sshd tier unavailable: {reason}")


@pytest.fixture
def sshd_factory() -> Iterator[Callable[..., SshdLab]]:
    """start(spec=None) -> a fresh SshdLab, closed at the end of the test."""
    started: list[SshdLab] = []

    def start(spec: Any = None, **kw: Any) -> SshdLab:
        try:
            lab = start_sshd_lab(spec, **kw)
        except SshdUnavailable as exc:
            _sshd_unavailable(str(exc))
        started.append(lab)
        return lab

    try:
        yield start
    finally:
        keep = os.environ.get("RESIL_SSHD_KEEP") == "1"
        for lab in started:
            lab.close(keep_files=keep)


@pytest.fixture(scope="module")
def sshd_module() -> Iterator[SshdLab]:
    """One demo-site sshd tier shared by a module's tests (they restore what they break)."""
    try:
        lab = start_sshd_lab()
    except SshdUnavailable as exc:
        _sshd_unavailable(str(exc))
    try:
        yield lab
    finally:
        lab.close(keep_files=os.environ.get("RESIL_SSHD_KEEP") == "1")
