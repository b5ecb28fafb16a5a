"""Shared fixtures of the reliability suite (issue 9): faults, bad inputs, read-only walk,
interrupted Edge apply, soak.

Everything runs against the real lab over SSH on 127.0.0.1 (in-process asyncssh server)
or against real OpenSSH sshd (tests/sshd/sshd_fixture.py). XDG dirs and HOME are per test.
Property tests count their cases into `FUZZ_COUNTS`; the counts are printed at the end of
the run and written to $RESIL_FUZZ_COUNTS (a JSON file) when that variable is set.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
from labkit import FUZZ_COUNTS

ROOT = Path(__file__).resolve().parents[2]
SSHD_DIR = ROOT / "tests" / "sshd"
if str(SSHD_DIR) not in sys.path:
    sys.path.insert(0, str(SSHD_DIR))

from sshd_fixture import SshdLab, SshdUnavailable, start_sshd_lab  # noqa: E402


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
