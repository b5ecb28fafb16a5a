"""`resil-tui trust`: unknown keys are shown and trusted only on yes; changed keys refused."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from resil_tui.inventory import load_inventory
from resil_tui.lab.server import Lab
from resil_tui.lab.spec import LabTiming
from resil_tui.trust_cli import run_trust


@pytest.fixture
async def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    lab = await Lab.start(tmp_path / "lab", timing=LabTiming.fast())
    try:
        yield lab
    finally:
        await lab.stop()


async def test_unknown_key_is_trusted_only_on_yes(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    kh = lab.known_hosts_path
    port = lab.port("demo.edge")
    kept = [ln for ln in kh.read_text().splitlines() if f"]:{port} " not in ln]
    kh.write_text("\n".join(kept) + "\n")
    inv = load_inventory(lab.inventory_path)
    # No terminal, no --yes: shown, not trusted.
    code = await run_trust(inv, argparse.Namespace(node="demo.edge", yes=False))
    out = capsys.readouterr().out
    assert code == 1 and "SHA256:" in out and "not trusted" in out
    assert f"]:{port} " not in kh.read_text()
    code = await run_trust(inv, argparse.Namespace(node="demo.edge", yes=True))
    assert code == 0 and f"[127.0.0.1]:{port}" in kh.read_text()
    code = await run_trust(inv, argparse.Namespace(node="demo.edge", yes=True))
    assert code == 0 and "already trusted" in capsys.readouterr().out
    audit = (Path(str(lab.lab_dir)).parent / "state" / "resil-tui" / "audit.jsonl").read_text()
    assert "trust_host_key" in audit


async def test_changed_key_is_refused(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    await lab.change_host_key("demo.edge")
    before = lab.known_hosts_path.read_text()
    inv = load_inventory(lab.inventory_path)
    code = await run_trust(inv, argparse.Namespace(node="demo.edge", yes=True))
    assert code == 2
    assert "changed" in capsys.readouterr().err
    assert lab.known_hosts_path.read_text() == before
