"""The security tier (issue 14): hostile nodes, hostile local files, fuzzing.

Everything here runs without the TUI: the sanitizer, the remote and ops layers against a
hostile asyncssh server and against lab nodes whose every output carries terminal escapes,
the inventory loader, the lock, the audit-before-acting rule. The TUI-in-a-pty test is
the lead's (docs/SECURITY.md, "TUI panes in a pty: pending").

Property tests take their size from a hypothesis profile chosen by $RESIL_TUI_HYPOTHESIS:
`quick` (default, what `make test` runs) or `fuzz` (what `make fuzz` runs: at least
10,000 cases in all). Each property counts its cases into `hostile.CASES`; the counts are
printed at the end of the run and written to $RESIL_FUZZ_COUNTS (JSON) when it is set.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hostile import CASES, MATRIX, PROFILE

from resil_tui.lab.server import Lab
from resil_tui.lab.spec import LabTiming


def pytest_report_header(config: pytest.Config) -> str:
    return f"security tier: hypothesis profile {PROFILE!r} ($RESIL_TUI_HYPOTHESIS)"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if MATRIX:
        paths = sorted({p for cells in MATRIX.values() for p in cells})
        terminalreporter.write_sep("-", "payloads x display paths: leaked / made visible")
        for path in paths:
            row = [
                f"{MATRIX[name][path]['leaked']}/{MATRIX[name][path]['visible']}"
                if path in MATRIX[name]
                else "-"
                for name in sorted(MATRIX)
            ]
            terminalreporter.write_line(f"{path[:34]:34} " + " ".join(f"{c:>9}" for c in row))
        terminalreporter.write_line(" " * 35 + " ".join(f"{n[:9]:>9}" for n in sorted(MATRIX)))
        target = os.environ.get("RESIL_SECURITY_MATRIX")
        if target:
            Path(target).write_text(json.dumps(MATRIX, indent=1, sort_keys=True) + "\n")
    if not CASES:
        return
    terminalreporter.write_sep("-", f"hypothesis cases per property (security, {PROFILE})")
    for name, n in sorted(CASES.items()):
        terminalreporter.write_line(f"{n:7d}  {name}")
    terminalreporter.write_line(f"{sum(CASES.values()):7d}  in all")
    target = os.environ.get("RESIL_FUZZ_COUNTS")
    if target:
        Path(target).write_text(json.dumps(dict(sorted(CASES.items())), indent=2) + "\n")


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No real ~/.ssh, agent, ssh config or state leaks in or out."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
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
