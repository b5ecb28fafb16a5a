"""`resil-tui trust`: unknown keys are shown and trusted only on yes; changed keys refused."""

from __future__ import annotations

from labkit import run_cli

from resil_tui import paths
from resil_tui.inventory import load_inventory
from resil_tui.lab.server import Lab


def _forget(lab: Lab, node_id: str) -> None:
    kh = lab.known_hosts_path
    port = lab.port(node_id)
    kept = [ln for ln in kh.read_text().splitlines() if f"]:{port} " not in ln]
    kh.write_text("\n".join(kept) + "\n")


async def test_unknown_key_is_trusted_only_on_yes(lab: Lab) -> None:
    _forget(lab, "demo.edge")
    port = lab.port("demo.edge")
    kh = lab.known_hosts_path
    inv = load_inventory(lab.inventory_path)
    # No terminal, no --yes: shown, not trusted.
    run = await run_cli(inv, "trust", "demo.edge")
    assert run.code == 1 and "SHA256:" in run.out and "not trusted" in run.out
    assert f"]:{port} " not in kh.read_text()
    run = await run_cli(inv, "trust", "demo.edge", "--yes")
    assert run.code == 0 and f"[127.0.0.1]:{port}" in kh.read_text()
    run = await run_cli(inv, "trust", "demo.edge", "--yes")
    assert run.code == 0 and "already trusted" in run.out
    assert "trust_host_key" in paths.audit_log_path().read_text()


async def test_changed_key_is_refused(lab: Lab) -> None:
    await lab.change_host_key("demo.edge")
    before = lab.known_hosts_path.read_text()
    inv = load_inventory(lab.inventory_path)
    run = await run_cli(inv, "trust", "demo.edge", "--yes")
    assert run.code == 2
    assert "CHANGED" in run.err and "Traceback" not in run.err
    assert lab.known_hosts_path.read_text() == before


async def test_unknown_node_lists_the_choices(lab: Lab) -> None:
    run = await run_cli(load_inventory(lab.inventory_path), "trust", "demo.nope")
    assert run.code == 2
    assert "no node 'demo.nope' in the inventory" in run.err and "demo.edge" in run.err
