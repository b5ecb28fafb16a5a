"""`make lint` enforces the layers of docs/ARCHITECTURE.md (import-linter contracts in
pyproject.toml): shown here by breaking a copy of the package on purpose."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_copy(
    tmp_path: Path, bad_module: str | None, source: str
) -> subprocess.CompletedProcess[str]:
    work = tmp_path / "work"
    shutil.copytree(
        ROOT / "resil_tui", work / "resil_tui", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", work / "pyproject.toml")
    if bad_module is not None:
        (work / Path(*bad_module.split("."))).with_suffix(".py").write_text(source)
    env = {**os.environ, "PYTHONPATH": str(work)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_package_as_it_is_keeps_every_contract(tmp_path: Path) -> None:
    done = lint_copy(tmp_path, None, "")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "source", "contract"),
    [
        (
            "resil_tui.ui.sneaky",
            "from resil_tui.remote.pool import Pool\n",
            "the UI reaches nodes through ops, never the remote layer",
        ),
        ("resil_tui.core.sneaky", "import asyncio\n", "core is pure"),
        ("resil_tui.ops.sneaky", "import textual\n", "ops and the CLI never import Textual"),
        ("resil_tui.cli.sneaky", "from resil_tui.ui import app\n", "ops and the CLI never"),
        ("resil_tui.lab.sneaky", "from resil_tui.core import ha\n", "the lab is written"),
    ],
)
def test_a_module_that_breaks_a_layer_fails_lint(
    tmp_path: Path, module: str, source: str, contract: str
) -> None:
    done = lint_copy(tmp_path, module, source)
    assert done.returncode != 0, done.stdout
    broken = [line for line in done.stdout.splitlines() if "BROKEN" in line]
    assert any(contract in line for line in broken), done.stdout
    assert module in done.stdout
