"""`resil-tui ha ...` against the in-process lab: exit codes, confirmations, read-only."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import pytest
from labkit import lab_inventory, run_cli

from resil_tui.inventory import load_inventory
from resil_tui.lab import facts
from resil_tui.lab.server import Lab

MASTER, SLAVE = "demo.xivo.master", "demo.xivo.slave"


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


async def ha(
    lab: Lab, *argv: str, stdin: io.StringIO | None = None, read_only: bool = False
) -> tuple[int, str, str]:
    inv = load_inventory(lab.inventory_path)
    if read_only:
        inv = dataclasses.replace(inv, read_only=True)
    run = await run_cli(inv, "ha", *argv, stdin=stdin if stdin is not None else io.StringIO())
    return run.code, run.out, run.err


def changes(lab: Lab, node_id: str) -> list[list[str]]:
    """Commands that change a node (reads are cat/tail/test/status/psql/GET/asterisk -rx
    '... show ...'), looked for
    in every simple command of every line received (a status batch's parts too)."""
    out = []
    for entry in lab.commands(node_id):
        for argv in entry.get("commands") or []:
            if (
                argv
                and argv[0] not in ("cat", "tail", "test", "psql", "printf", "false")
                and not (argv[0] == "sh" and argv[1:2] == ["-c"])  # its parts are listed
                and not (argv[0] == "xivo-service" and argv[1:2] == ["status"])
                and not (argv[0] == "curl" and "POST" not in argv)
                and not (argv[0] == "asterisk" and argv[1:2] == ["-rx"] and " show " in argv[2])
            ):
                out.append(argv)
    return out


def node_type(lab: Lab, node_id: str) -> str:
    return str(json.loads(lab.world.read_file(node_id, facts.HA_CONF) or "{}")["node_type"])


async def test_show(lab: Lab) -> None:
    code, out, _ = await ha(lab, "show")
    assert code == 0
    assert "Site demo: Normal: master serves telephony" in out
    assert "HA mode: master, peer 10.50.0.12" in out
    assert "HA mode: master, peer 10.50.0.12" in out
    assert "SIP expiry: ok — min 1 min, max 5 min, default 2 min (HA on)" in out
    assert "backup registrar: ok — registrar_backup and proxy_backup 10.50.0.12" in out
    assert changes(lab, MASTER) == [] and changes(lab, SLAVE) == []


async def test_set_validation_errors_exit_2_and_send_nothing(lab: Lab) -> None:
    for argv in (["--peer", "10.50.0.300"], ["--peer", "10.50.0.11"], []):
        code, _, err = await ha(lab, "set", MASTER, "--mode", "master", *argv, "--yes")
        assert code == 2, err
    code, _, err = await ha(lab, "set", "demo.edge", "--mode", "master", "--peer", "1.2.3.4")
    assert code == 2 and "not a XiVO node" in err
    assert changes(lab, MASTER) == []


async def test_set_needs_a_terminal_or_yes(lab: Lab) -> None:
    code, out, err = await ha(lab, "set", SLAVE, "--mode", "slave", "--peer", "10.50.0.11")
    assert code == 2
    assert "ha.conf after:" in out  # the preview is shown first
    assert "stdin is not a terminal" in err
    code, _, err = await ha(
        lab, "set", SLAVE, "--mode", "slave", "--peer", "10.50.0.11", stdin=Tty("n\n")
    )
    assert code == 2 and "not confirmed" in err
    assert changes(lab, SLAVE) == []


async def test_set_other_peer_warns_and_applies(lab: Lab) -> None:
    code, out, err = await ha(
        lab, "set", SLAVE, "--mode", "slave", "--peer", "10.50.0.99", stdin=Tty("y\n")
    )
    assert code == 0, err
    assert "is not the master of this pair in the inventory" in err
    assert "verified" in out
    assert "xivo-check-master-status 10.50.0.99" in (
        lab.world.read_file(SLAVE, facts.CRON_SLAVE) or ""
    )


async def test_set_takes_the_next_lts_names(lab: Lab) -> None:
    code, out, err = await ha(
        lab, "set", SLAVE, "--mode", "standby", "--peer", "10.50.0.11", "--yes"
    )
    assert code == 0, err
    assert "verified" in out and node_type(lab, SLAVE) == "slave"


async def test_disable_typed_confirmation(lab: Lab) -> None:
    code, _, err = await ha(lab, "set", MASTER, "--mode", "disabled", stdin=Tty("master\n"))
    assert code == 2 and "nothing was sent" in err
    code, _, err = await ha(lab, "set", MASTER, "--mode", "disabled")
    assert code == 2 and "stdin is not a terminal" in err
    assert node_type(lab, MASTER) == "master" and changes(lab, MASTER) == []
    # Typed right, then the restart is declined: it stays pending.
    code, out, err = await ha(lab, "set", MASTER, "--mode", "disabled", stdin=Tty(f"{MASTER}\nn\n"))
    assert code == 0, err
    assert "Disabling an HA node in production" in out
    assert "RESTART PENDING" in out
    assert node_type(lab, MASTER) == "disabled"
    assert ["xivo-service", "restart"] not in changes(lab, MASTER)


async def test_disable_with_yes_and_restart(lab: Lab) -> None:
    code, out, err = await ha(lab, "set", MASTER, "--mode", "disabled", "--yes", "--restart")
    assert code == 0, err
    assert "--yes given: taken as the typed confirmation" in out
    assert "XiVO fully booted" in out and "all services running" in out
    assert ["xivo-service", "restart"] in changes(lab, MASTER)
    assert lab.world.read_state(MASTER)["postgres_restarts"] == 1


async def test_scripts_exit_codes(lab: Lab) -> None:
    code, out, _ = await ha(lab, "replicate", "--yes")
    assert code == 0 and "replication completed successfully" in out
    await lab.fail_replication()
    code, out, _ = await ha(lab, "replicate", "--yes")
    assert code == 1 and "replication failure: pg_restore" in out
    code, out, _ = await ha(lab, "check", "--yes")
    assert code == 0 and "master answered ping" in out
    code, out, _ = await ha(lab, "sync", "--yes")
    assert code == 0
    await lab.remove_sync_key()
    code, out, _ = await ha(lab, "sync", "--yes")
    assert code == 1 and "SILENT NO-OP" in out
    code, _, err = await ha(lab, "sync")
    assert code == 2 and "stdin is not a terminal" in err


async def test_read_only_refuses_with_exit_2(lab: Lab) -> None:
    for argv in (
        ["set", MASTER, "--mode", "disabled", "--yes"],
        ["replicate", "--yes"],
        ["sync", "--yes"],
        ["check", "--yes"],
    ):
        code, _, err = await ha(lab, *argv, read_only=True)
        assert code == 2, argv
        assert "read-only" in err
    assert changes(lab, MASTER) == [] and changes(lab, SLAVE) == []


async def test_set_master_through_sysconfd_leaves_the_web_ui_part_then_web_ui_save(
    lab: Lab,
) -> None:
    """Issue 16: sysconfd alone does not write SIP expiry nor the backup registrar; the
    output ends with both read back as 'differs' and what to do; after the web UI's HA
    save (the lab's action) both read ok."""
    from resil_tui.lab.faults import apply_fault

    # The master was disabled through the web UI (HA-off SIP expiry, blank backup).
    code, _, err = await ha(lab, "set", MASTER, "--mode", "disabled", "--yes")
    assert code == 0, err
    await apply_fault(lab, ["webui-ha-save", MASTER])
    assert lab.world.read_state(MASTER)["staticsip"]["maxexpiry"] == "3600"

    code, out, err = await ha(
        lab, "set", MASTER, "--mode", "master", "--peer", "10.50.0.12", "--yes"
    )
    assert code == 0, err
    preview = out.split("Change on", 1)[1].split("$ curl", 1)[0]
    assert "What the web UI's HA save also does — sysconfd does NOT" in preview
    tail = out.rstrip().splitlines()[-5:]
    assert tail[0] == f"Web UI part on {MASTER} (sysconfd does not do it):"
    assert tail[1].startswith("  SIP expiry: differs — max 3600 (expected 300)")
    assert tail[2].startswith("  backup registrar: differs — registrar_backup blank")
    assert "expected 10.50.0.12" in tail[2]
    assert "save it with the same mode and peer" in tail[3]
    assert "resynchronise the phones" in tail[4]
    # The lab's own state: sysconfd wrote ha.conf and the cron, nothing else.
    assert node_type(lab, MASTER) == "master"
    provd = json.loads(lab.world.read_file(MASTER, facts.PROVD_DEFAULT) or "{}")
    assert provd["registrar_backup"] == "" and provd["proxy_backup"] == ""

    said = await apply_fault(lab, ["webui-ha-save", MASTER])
    assert "web UI HA page saved (master, peer 10.50.0.12)" in said
    code, out, _ = await ha(lab, "show")
    master = out.split(f"  {MASTER} ", 1)[1].split(f"  {SLAVE} ", 1)[0]
    assert "SIP expiry: ok — min 1 min, max 5 min, default 2 min (HA on)" in master
    assert "backup registrar: ok — registrar_backup and proxy_backup 10.50.0.12" in master
    assert "To do" not in master


async def test_with_sip_and_provisioning_writes_them_through_psql_and_provd(
    lab: Lab, tmp_path: Path
) -> None:
    from resil_tui.lab.faults import apply_fault

    code, _, err = await ha(lab, "set", MASTER, "--mode", "disabled", "--yes")
    assert code == 0, err
    await apply_fault(lab, ["webui-ha-save", MASTER])
    # Without a terminal and without --yes the extra part is refused, after the preview.
    code, out, err = await ha(
        lab,
        "set",
        MASTER,
        "--mode",
        "master",
        "--peer",
        "10.50.0.12",
        "--yes",
        "--with-sip-and-provisioning",
    )
    assert code == 0, err + out
    assert "Also write what the web UI's HA save writes (unverified" in out
    assert "psql -X -U postgres -d asterisk -v ON_ERROR_STOP=1 -c 'UPDATE staticsip" in out
    tail = out.rstrip().splitlines()[-3:]
    assert tail[0] == f"Web UI part on {MASTER} (sysconfd does not do it):"
    assert tail[1].startswith("  SIP expiry: ok")
    assert tail[2].startswith(
        "  backup registrar: ok — registrar_backup and proxy_backup 10.50.0.12"
    )
    st = lab.world.read_state(MASTER)
    assert st["staticsip"]["maxexpiry"] == "300" and st["staticsip"]["bindport"] == "5060"
    provd = json.loads(lab.world.read_file(MASTER, facts.PROVD_DEFAULT) or "{}")
    assert provd["registrar_backup"] == provd["proxy_backup"] == "10.50.0.12"
    assert provd["displayname"] == "local"  # every other field kept
    # audited: a started record, then the result, for each mutating command
    audit_path = Path(tmp_path / "state" / "resil-tui" / "audit.jsonl")
    records = [json.loads(x) for x in audit_path.read_text().splitlines()]
    for program in ("psql", "curl"):
        mine = [
            r
            for r in records
            if r.get("kind") == "command"
            and str(r.get("command", "")).startswith(program)
            and ("UPDATE" in r["command"] or "PUT" in r["command"])
        ]
        assert [r["result"] for r in mine][:1] == ["started"] and len(mine) >= 2


async def test_with_sip_and_provisioning_on_a_standby_does_not_touch_provd(lab: Lab) -> None:
    # A slave: provisioning left unchanged (the web UI does not touch it), SIP expiry written.
    code, out, err = await ha(
        lab,
        "set",
        SLAVE,
        "--mode",
        "slave",
        "--peer",
        "10.50.0.11",
        "--yes",
        "--with-sip-and-provisioning",
    )
    assert code == 0, err + out
    assert "a slave's is left unchanged, as the web UI does" in out
    assert not any("PUT" in " ".join(a) for a in changes(lab, SLAVE) if a[0] == "curl")


async def test_a_next_lts_site_is_warned_in_its_own_words(lab: Lab, tmp_path: Path) -> None:
    inv, _ = lab_inventory(
        lab,
        tmp_path,
        edit=lambda t: t.replace("[site.demo]\n", '[site.demo]\nresilience = "manual"\n'),
    )
    argv = ("ha", "set", SLAVE, "--mode", "slave", "--peer", "10.50.0.99")
    run = await run_cli(inv, *argv, stdin=io.StringIO("n\n"))
    assert "is not the Main of this pair in the inventory" in run.err, run.err
    assert "master" not in run.err.replace(".xivo.master", "")
