"""`resil-tui init`: the form, the loader's verdict in place, the write, the live SSH test.

The live test runs against the in-process lab (real SSH on 127.0.0.1) with an empty
known_hosts, so the host key question is asked and answered by key.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Static

from resil_tui.inventory import load_inventory
from resil_tui.inventory_draft import (
    Draft,
    check_draft,
    field_for,
    split_target,
    write_inventory,
)
from resil_tui.lab.server import Lab
from resil_tui.ops.probe import Outcome
from resil_tui.ui.init_app import InitApp, InitResult
from resil_tui.ui.screens.confirm import ConfirmScreen
from resil_tui.ui.screens.init_form import InitFormScreen

SIZE = (100, 40)

VALID = {
    "site": "paris",
    "user": "root",
    "known-hosts": "~/.ssh/known_hosts",
    "xivo-master-ssh": "xivo-1.example.com",
    "xivo-master-ip": "10.10.0.11",
    "xivo-slave-ssh": "admin@xivo-2.example.com:2222",
    "xivo-slave-ip": "10.10.0.12",
    "cc-master-ssh": "cc-1",
    "cc-master-ip": "10.10.0.21",
    "cc-master-fqdn": "cc1.example.com",
    "cc-slave-ssh": "cc-2",
    "cc-slave-ip": "10.10.0.22",
    "cc-slave-fqdn": "cc2.example.com",
    "edge-ssh": "edge",
    "edge-fqdn": "edge.example.com",
    "mds1-name": "mds1",
    "mds1-ssh": "mds-1",
    "mds1-ip": "10.10.0.31",
}


@pytest.fixture(autouse=True)
def _xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def form(app: InitApp) -> InitFormScreen:
    screen = app.screen
    assert isinstance(screen, InitFormScreen)
    return screen


async def fill(pilot: Pilot[InitResult], values: dict[str, str]) -> None:
    screen = form(pilot.app)  # type: ignore[arg-type]
    for field_id, value in values.items():
        screen.query_one(f"#f-{field_id}", Input).value = value
    await pilot.pause()


def error_of(screen: InitFormScreen, field_id: str) -> str:
    label = screen.query_one(f"#e-{field_id}", Static)
    return str(label.content) if label.has_class("-shown") else ""


# --- the draft, without a screen ----------------------------------------------------------------


def test_split_target_forms() -> None:
    assert split_target("host") == ("host", None)
    assert split_target("root@host:2222") == ("root@host", 2222)
    assert split_target("root@[::1]:22") == ("root@::1", 22)
    assert split_target("alias") == ("alias", None)
    with pytest.raises(ValueError, match="not a port"):
        split_target("host:http")


def test_valid_draft_is_what_the_loader_accepts() -> None:
    checked = check_draft(Draft(dict(VALID)))
    assert checked.ok, (checked.field_errors, checked.other_errors)
    assert checked.inventory is not None
    slave = checked.inventory.node("paris.xivo.slave")
    assert (slave.ssh.user, slave.ssh.host, slave.ssh.port) == ("admin", "xivo-2.example.com", 2222)
    assert checked.text.startswith("# resil-tui inventory, written by `resil-tui init`")


def test_loader_errors_map_back_to_fields() -> None:
    values = dict(VALID, **{"xivo-slave-ip": "10.10.0.300", "cc-slave-fqdn": "", "site": "a b"})
    checked = check_draft(Draft(values))
    assert not checked.ok
    assert "site" in checked.field_errors
    values["site"] = "paris"
    checked = check_draft(Draft(values))
    assert checked.field_errors["xivo-slave-ip"] == ["'10.10.0.300' is not an IPv4 address"]
    assert checked.field_errors["cc-slave-fqdn"] == ["is required"]
    assert field_for("site.paris.mds[1].ip", "paris") == "mds2-ip"
    assert field_for("site.paris.edge.env_path", "paris") == "edge-env"
    assert field_for("ssh.jump", "paris") == "jump"


def test_empty_draft_names_every_required_field() -> None:
    checked = check_draft(Draft({}))
    assert checked.field_errors["site"] == ["is required (a short name such as paris)"]
    for field_id in ("xivo-master-ssh", "xivo-master-ip", "xivo-slave-ssh", "xivo-slave-ip"):
        assert checked.field_errors[field_id] == ["is required"], field_id
    assert checked.other_errors == []


def test_write_refuses_an_existing_file_and_force_keeps_a_backup(tmp_path: Path) -> None:
    target = tmp_path / "hosts.toml"
    target.write_text("# mine\n")
    text = check_draft(Draft(dict(VALID))).text
    with pytest.raises(Exception, match="already exists"):
        write_inventory(target, text)
    assert target.read_text() == "# mine\n"
    written = write_inventory(target, text, force=True)
    assert written.backup is not None and written.backup.read_text() == "# mine\n"
    assert load_inventory(target).node("paris.xivo.master").ssh.host == "xivo-1.example.com"


# --- the form ---------------------------------------------------------------------------------


async def test_valid_input_is_written_and_reloadable(tmp_path: Path) -> None:
    target = tmp_path / "out" / "hosts.toml"
    app = InitApp(target)
    async with app.run_test(size=SIZE) as pilot:
        await fill(pilot, VALID)
        await pilot.press("ctrl+s")
        await pilot.pause()
    assert app.return_value is not None and app.return_value.written is not None
    inventory = load_inventory(target)
    assert list(inventory.sites) == ["paris"]
    site = inventory.sites["paris"]
    assert site.cc_slave is not None and site.cc_slave.fqdn == "cc2.example.com"
    assert len(site.edges) == 1 and [m.name for m in site.mds] == ["mds.mds1"]
    assert target.read_text().startswith("# resil-tui inventory")


async def test_invalid_input_is_refused_in_place(tmp_path: Path) -> None:
    target = tmp_path / "hosts.toml"
    app = InitApp(target)
    async with app.run_test(size=SIZE) as pilot:
        await fill(pilot, dict(VALID, **{"xivo-master-ip": "10.10.0.999", "cc-master-ip": ""}))
        await pilot.press("ctrl+s")
        await pilot.pause()
        screen = form(app)
        assert "is not an IPv4 address" in error_of(screen, "xivo-master-ip")
        assert "is required" in error_of(screen, "cc-master-ip")
        assert screen.query_one("#f-xivo-master-ip", Input).has_class("-invalid")
        assert app.focused is screen.query_one("#f-xivo-master-ip", Input)
        assert "problem(s)" in str(screen.query_one("#init-message", Static).content)
        assert not target.exists()
        # Fixing a field clears its mark as you type; the other one stays.
        screen.query_one("#f-xivo-master-ip", Input).value = "10.10.0.11"
        await pilot.pause()
        assert error_of(screen, "xivo-master-ip") == ""
        assert "is required" in error_of(screen, "cc-master-ip")
        assert app.is_running


async def test_existing_file_is_not_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "hosts.toml"
    target.write_text("# hand-edited, with comments\n")
    app = InitApp(target)
    async with app.run_test(size=SIZE) as pilot:
        await fill(pilot, VALID)
        await pilot.press("ctrl+s")
        await pilot.pause()
        message = str(form(app).query_one("#init-message", Static).content)
        assert "not written" in message and "--force" in message
        assert app.is_running
    assert target.read_text() == "# hand-edited, with comments\n"
    assert list(tmp_path.glob("*.bak")) == []


# --- the live test against the lab --------------------------------------------------------------


async def wait_until(pilot: Pilot[InitResult], check: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause(0.05)


async def test_live_test_trusts_keys_on_yes_and_checks_commands(lab: Lab, tmp_path: Path) -> None:
    known_hosts = tmp_path / "known_hosts"  # empty: every key is unknown
    values = {
        "site": "demo",
        "user": "root",
        "identity": str(lab.client_key_path),
        "known-hosts": str(known_hosts),
        "xivo-master-ssh": f"127.0.0.1:{lab.port('demo.xivo.master')}",
        "xivo-master-ip": "10.50.0.11",
        "xivo-slave-ssh": f"root@127.0.0.1:{lab.port('demo.xivo.slave')}",
        "xivo-slave-ip": "10.50.0.12",
        # The CC slave's port points at the Edge: reachable, but no xivocc-dcomp there.
        "edge-ssh": f"127.0.0.1:{lab.port('demo.edge')}",
        "edge-fqdn": "edge.demo.example.com",
    }
    app = InitApp(tmp_path / "hosts.toml")
    async with app.run_test(size=SIZE) as pilot:
        await fill(pilot, values)
        form(app).query_one("#f-ssh-config").value = False  # type: ignore[attr-defined]
        await pilot.press("ctrl+t")
        answers = iter("yny")  # master: yes, slave: no, edge: yes
        for _ in range(3):
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            screen = app.screen
            assert isinstance(screen, ConfirmScreen)
            assert "SHA256:" in screen.command
            await pilot.press(next(answers))
            await wait_until(pilot, lambda s=screen: app.screen is not s)
        screen = form(app)
        await wait_until(pilot, lambda: len(screen.probes) == 3 and not screen.workers_running())
        outcomes = {p.node.id: p for p in screen.probes}
        assert outcomes["demo.xivo.master"].outcome is Outcome.OK
        assert "xivo-service found" in outcomes["demo.xivo.master"].line()
        assert outcomes["demo.xivo.slave"].outcome is Outcome.UNTRUSTED
        assert outcomes["demo.edge"].outcome is Outcome.OK
        assert "/etc/docker/edge/.env present" in outcomes["demo.edge"].line()
        results = str(screen.query_one("#init-results", Static).content)
        assert "✗ NOT TRUSTED  demo.xivo.slave" in results
        message = str(screen.query_one("#init-message", Static).content)
        assert "2 of 3 node(s) OK" in message
    lines = known_hosts.read_text().splitlines()
    assert len(lines) == 2
    assert any(f"[127.0.0.1]:{lab.port('demo.xivo.master')}" in line for line in lines)
    assert not any(f"[127.0.0.1]:{lab.port('demo.xivo.slave')}" in line for line in lines)


async def test_live_test_reports_a_missing_program(lab: Lab, tmp_path: Path) -> None:
    values = {
        "site": "demo",
        "identity": str(lab.client_key_path),
        "known-hosts": str(lab.known_hosts_path),
        # XiVO "master" is really the Edge node: reachable, but no xivo-service.
        "xivo-master-ssh": f"127.0.0.1:{lab.port('demo.edge')}",
        "xivo-master-ip": "10.50.0.11",
        "xivo-slave-ssh": f"127.0.0.1:{lab.port('demo.xivo.slave')}",
        "xivo-slave-ip": "10.50.0.12",
    }
    app = InitApp(tmp_path / "hosts.toml")
    async with app.run_test(size=SIZE) as pilot:
        await fill(pilot, values)
        form(app).query_one("#f-ssh-config").value = False  # type: ignore[attr-defined]
        await pilot.press("ctrl+t")
        screen = form(app)
        await wait_until(pilot, lambda: len(screen.probes) == 2 and not screen.workers_running())
        master, slave = screen.probes
        assert master.outcome is Outcome.WARNING
        assert "xivo-service not found" in master.line()
        assert slave.outcome is Outcome.OK
