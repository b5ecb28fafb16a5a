"""resil_tui.ops.ha against the in-process lab over real SSH: every change is read back from
the lab's own files and state (a second reading of the formats), never from the product."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from labkit import hurried

from resil_tui.core.ha import HaMode
from resil_tui.core.ha_form import CheckDecision
from resil_tui.core.replication import ReplicationOutcome
from resil_tui.inventory_model import Inventory
from resil_tui.lab import facts
from resil_tui.lab.server import Lab
from resil_tui.lab.spec import DEFAULT_ROOT_PASSWORD
from resil_tui.ops import ha as ha_ops
from resil_tui.ops.ha import (
    apply_ha_mode,
    read_ha_site,
    restart_services,
    run_check_master,
    run_manage_slave,
    run_replication,
    run_sync,
    run_sync_init,
    slave_start_risk,
    validate_for_node,
)
from resil_tui.ops.status import StatusCollector
from resil_tui.remote.errors import ErrorKind, RemoteError
from resil_tui.remote.pool import Pool

MASTER, SLAVE = "demo.xivo.master", "demo.xivo.slave"
MUTATING_PROGRAMS = {
    "xivo-master-slave-db-replication",
    "xivo-sync",
    "xivo-check-master-status",
    "xivo-manage-slave-services",
}


@pytest.fixture(autouse=True)
def _xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


@pytest.fixture
async def pool(tmp_path: Path) -> AsyncIterator[Pool]:
    async with Pool(audit=tmp_path / "audit.jsonl") as p:
        yield p


def mutating(lab: Lab, node_id: str) -> list[list[str]]:
    found = []
    for entry in lab.commands(node_id):
        # Every simple command of the line (a status batch's parts too).
        for argv in entry.get("commands") or []:
            if not argv:
                continue
            if (
                argv[0] in MUTATING_PROGRAMS
                or (argv[0] == "xivo-service" and argv[1:2] != ["status"])
                or (argv[0] == "curl" and "POST" in argv)
            ):
                found.append(argv)
    return found


def lab_file(lab: Lab, node_id: str, path: str) -> str | None:
    return lab.world.read_file(node_id, path)


def service(lab: Lab, node_id: str, name: str) -> str:
    for s in lab.world.read_state(node_id)["services"]:
        if s["name"] == name:
            return str(s["state"])
    raise KeyError(name)


async def test_disable_master_then_restart(
    lab: Lab, inventory: Inventory, pool: Pool, tmp_path: Path
) -> None:
    site = inventory.site("demo")
    node = inventory.node(MASTER)
    v = validate_for_node(site, node, "disabled", "")
    lines: list[str] = []
    rec = await apply_ha_mode(pool, node, v, on_line=lines.append)
    assert rec.ok, rec.lines
    assert rec.restart_required and rec.verify_problems == []
    assert lines == rec.lines
    # The lab's own files and state.
    assert json.loads(lab_file(lab, MASTER, facts.HA_CONF) or "")["node_type"] == "disabled"
    assert lab_file(lab, MASTER, facts.CRON_MASTER) is None
    assert lab_file(lab, MASTER, facts.CRON_SLAVE) is None
    st = lab.world.read_state(MASTER)
    assert st["postgres_restarts"] == 1
    # sysconfd alone leaves the SIP expiry of HA on (the web UI's save would reset it)
    assert st["staticsip"]["maxexpiry"] == "300"
    assert rec.web_ui is not None and rec.web_ui.differs
    assert "LEFT TO DO" in rec.summary

    restart = await restart_services(pool, node)
    assert restart.ok, restart.lines
    assert "XiVO fully booted" in restart.lines
    assert restart.status_after is not None and restart.status_after.all_running
    assert any(line.endswith("asterisk") and "running" in line for line in restart.lines)
    argv = [e["argv"] for e in lab.commands(MASTER) if "argv" in e]
    assert ["xivo-service", "restart"] in argv
    audit = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    done = [a for a in audit if a["kind"] == "command" and a["result"] != "started"]
    assert [a["command"] for a in done][-2:] == [rec.command, "xivo-service restart"]


async def test_slave_becomes_master_and_master_becomes_slave(
    lab: Lab, inventory: Inventory, pool: Pool
) -> None:
    site = inventory.site("demo")
    slave, master = inventory.node(SLAVE), inventory.node(MASTER)
    rec = await apply_ha_mode(pool, slave, validate_for_node(site, slave, "master", "10.50.0.11"))
    assert rec.ok and rec.restart_required
    cron = lab_file(lab, SLAVE, facts.CRON_MASTER) or ""
    assert "xivo-master-slave-db-replication 10.50.0.11" in cron and "xivo-sync" in cron
    assert lab_file(lab, SLAVE, facts.CRON_SLAVE) is None
    st = lab.world.read_state(SLAVE)
    # sysconfd alone does not provision a backup registrar (the web UI's HA save does)
    provd = json.loads(lab_file(lab, SLAVE, facts.PROVD_DEFAULT) or "{}")
    assert provd["registrar_backup"] == "" and provd["proxy_backup"] == ""
    assert rec.web_ui is not None and rec.web_ui.registrar.state.value == "differs"
    assert st["postgres_restarts"] == 1
    assert service(lab, SLAVE, "asterisk") == "running"  # sysconfd starts telephony

    rec = await apply_ha_mode(pool, master, validate_for_node(site, master, "slave", "10.50.0.12"))
    assert rec.ok and not rec.restart_required
    assert "xivo-check-master-status 10.50.0.12" in (lab_file(lab, MASTER, facts.CRON_SLAVE) or "")
    assert lab_file(lab, MASTER, facts.CRON_MASTER) is None
    assert lab.world.read_state(MASTER)["pg_hba_allow"] == "10.50.0.12"

    state = await read_ha_site(StatusCollector(inventory, pool), site)
    assert state.node(SLAVE).mode is HaMode.MASTER  # type: ignore[union-attr]
    assert state.node(MASTER).mode is HaMode.SLAVE  # type: ignore[union-attr]
    # The old master, now a slave: expiry still HA on, provisioning left unchanged: ok.
    assert state.node(MASTER).web_ui_check().all_ok  # type: ignore[union-attr]
    assert state.node(SLAVE).web_ui_check().differs  # type: ignore[union-attr]
    assert any("swapped" in f for f in state.ha_findings())


async def test_sysconfd_refusal_is_a_failure(lab: Lab, inventory: Inventory, pool: Pool) -> None:
    node = inventory.node(MASTER)
    # The form refuses the node's own IP; the lab's sysconfd does too (second line of defence).
    v = validate_for_node(inventory.site("demo"), node, "master", "10.50.0.11")
    assert not v.ok
    await lab.crash_service(MASTER, "xivo-sysconfd")
    v = validate_for_node(inventory.site("demo"), node, "master", "10.50.0.12")
    rec = await apply_ha_mode(pool, node, v)
    assert not rec.ok
    assert "curl exit 7" in rec.summary


async def test_a_sysconfd_that_answers_404_is_reported_not_verified(
    lab: Lab, inventory: Inventory, pool: Pool
) -> None:
    # The next LTS's "HA depreciation": update_ha_config may be gone. curl exits 0 on a
    # 404; re-applying the mode ha.conf already holds would read back as it was asked.
    from resil_tui.lab.faults import apply_fault

    node = inventory.node(MASTER)
    await apply_fault(lab, ["sysconfd-ha-gone", MASTER, "on"])
    v = validate_for_node(inventory.site("demo"), node, "master", "10.50.0.12")
    rec = await apply_ha_mode(pool, node, v)
    assert not rec.ok and "sysconfd answered: Not Found" in rec.summary, rec.summary
    await apply_fault(lab, ["sysconfd-ha-gone", MASTER, "off"])
    assert (await apply_ha_mode(pool, node, v)).ok


async def test_a_file_the_read_back_could_not_read_is_never_taken_for_no_file(
    lab: Lab, inventory: Inventory, pool: Pool
) -> None:
    # A cron path that is a directory: GNU tail writes its header, then "error reading".
    # Disabling writes no cron file; an unreadable one is not "none there".
    from resil_tui.lab.faults import apply_fault

    node = inventory.node(MASTER)
    cron = lab.world.resolve(MASTER, node.paths.cron_slave)
    cron.mkdir(parents=True)
    await apply_fault(lab, ["sysconfd-ha-gone", MASTER, "on"])
    v = validate_for_node(inventory.site("demo"), node, "disabled", None)
    rec = await apply_ha_mode(pool, node, v)
    assert not rec.ok
    said = "\n".join(rec.lines)
    assert f"verify: could not read {node.paths.cron_slave}: Is a directory" in said, said
    assert "ha.conf now" not in said  # nothing judged from a read-back not made whole


def test_an_http_error_answer_of_sysconfd_is_a_problem() -> None:
    from resil_tui.ops.ha import _sysconfd_problem

    assert _sysconfd_problem(0, '{"detail":"Not Found"}', "") == "sysconfd answered: Not Found"
    assert _sysconfd_problem(0, "404 Not Found\n", "") == "sysconfd answered: 404 Not Found"
    assert _sysconfd_problem(0, "Method Not Allowed", "").startswith("sysconfd answered")
    assert _sysconfd_problem(0, "HTTP/1.1 500 oops", "").startswith("sysconfd answered")
    assert _sysconfd_problem(0, "", "") == "" and _sysconfd_problem(0, "OK\n", "") == ""
    assert _sysconfd_problem(0, "updated in 404 ms", "") == ""  # a number is not a code
    assert _sysconfd_problem(0, '{"detail": "HA config updated"}', "") == ""
    assert _sysconfd_problem(0, '{"detail": [{"loc": ["body"]}]}', "").startswith("sysconfd")


async def test_failed_replication(lab: Lab, inventory: Inventory, pool: Pool) -> None:
    node = inventory.node(MASTER)
    ok = await run_replication(pool, node, "10.50.0.12")
    assert ok.ok and ok.replication is not None
    assert ok.replication.outcome is ReplicationOutcome.SUCCESS
    await lab.fail_replication()
    rec = await run_replication(pool, node, "10.50.0.12")
    assert not rec.ok
    assert rec.replication is not None
    assert rec.replication.outcome is ReplicationOutcome.FAILURE
    assert "lock timeout" in (rec.replication.reason or "")
    assert rec.exit_status == 1
    assert lab.world.read_state(MASTER)["last_replication"]["ok"] is False
    # The status shows the last run this console saw (cron throws its output away).
    from resil_tui.core.cluster import Verdict
    from resil_tui.ops.status import StatusCollector

    report = await StatusCollector(inventory, pool).poll_site(inventory.site("demo"))
    xivo = report.snapshot.nodes[MASTER].xivo
    assert xivo is not None and xivo.replication is not None
    assert xivo.replication.outcome is ReplicationOutcome.FAILURE
    assert Verdict.REPLICATION_FAILING in {f.code for f in report.verdicts.findings}


async def test_sync_success_and_missing_key(lab: Lab, inventory: Inventory, pool: Pool) -> None:
    node = inventory.node(MASTER)
    rec = await run_sync(pool, node)
    assert rec.ok, rec.lines
    assert rec.lines[-2].endswith("Synchronization successful")
    await lab.remove_sync_key()
    rec = await run_sync(pool, node)
    assert not rec.ok
    assert rec.exit_status == 0  # xivo-sync says nothing went wrong...
    assert rec.sync is not None and rec.sync.silent_noop  # ...and the product flags it
    assert "SILENT NO-OP" in rec.summary
    new = rec.lines[rec.lines.index(next(x for x in rec.lines if x.startswith("--- new"))) + 1 :]
    assert len(new) == 2 and "not found: not synchronizing" in new[0]


async def test_sync_init_right_password(
    lab: Lab, inventory: Inventory, pool: Pool, tmp_path: Path
) -> None:
    await lab.remove_sync_key()
    prompts: list[str] = []

    async def ask(prompt: str) -> str | None:
        prompts.append(prompt)
        return DEFAULT_ROOT_PASSWORD

    rec = await run_sync_init(pool, inventory.node(MASTER), ask)
    assert rec.ok, rec.lines
    assert prompts == ["root@10.50.0.12's password:"]
    assert lab.world.resolve(MASTER, facts.SYNC_KEY).is_file()
    pub = lab.world.resolve(MASTER, facts.SYNC_KEY + ".pub").read_text().strip()
    assert pub in (lab_file(lab, SLAVE, facts.AUTHORIZED_KEYS) or "")
    # The password is never echoed, kept, logged or audited.
    assert DEFAULT_ROOT_PASSWORD not in "\n".join(rec.lines)
    assert DEFAULT_ROOT_PASSWORD not in (tmp_path / "audit.jsonl").read_text()
    assert DEFAULT_ROOT_PASSWORD not in json.dumps(lab.commands(MASTER))
    rec2 = await run_sync(pool, inventory.node(MASTER))
    assert rec2.ok, rec2.lines


async def test_sync_init_wrong_password(lab: Lab, inventory: Inventory, pool: Pool) -> None:
    await lab.remove_sync_key()
    asked = 0

    async def ask(prompt: str) -> str | None:
        nonlocal asked
        asked += 1
        return "not-the-password"

    rec = await run_sync_init(pool, inventory.node(MASTER), ask)
    assert not rec.ok
    assert asked == 3
    assert rec.exit_status == 1
    assert "Permission denied" in rec.summary
    assert not lab.world.resolve(MASTER, facts.SYNC_KEY).exists()


async def test_sync_init_cancelled(lab: Lab, inventory: Inventory, pool: Pool) -> None:
    await lab.remove_sync_key()

    async def ask(prompt: str) -> str | None:
        return None

    rec = await run_sync_init(pool, inventory.node(MASTER), ask)
    assert not rec.ok and "cancelled" in rec.summary


async def test_check_master_and_split_brain_warning(
    lab: Lab, inventory: Inventory, pool: Pool
) -> None:
    site = inventory.site("demo")
    slave = inventory.node(SLAVE)
    state = await read_ha_site(StatusCollector(inventory, pool), site)
    risk = slave_start_risk(state, site)
    assert "SPLIT BRAIN" in risk[0] and "ACTIVE" in risk[0]

    rec = await run_check_master(pool, slave, "10.50.0.11")
    assert rec.ok and rec.check is not None
    assert rec.check.master_reachable is True and rec.check.decision is CheckDecision.STOP

    await lab.cut_link()
    rec = await run_check_master(pool, slave, "10.50.0.11")
    assert rec.check is not None and rec.check.decision is CheckDecision.START
    assert rec.check.master_reachable is False
    assert service(lab, SLAVE, "asterisk") == "running"
    state = await read_ha_site(StatusCollector(inventory, pool), site)
    assert state.verdicts.primary.code.value == "split_brain"

    stop = await run_manage_slave(pool, slave, "stop")
    assert stop.ok, stop.lines
    assert service(lab, SLAVE, "asterisk") == "stopped"
    assert lab.world.resolve(SLAVE, facts.DISABLED_FLAG).exists()

    await lab.power_off(MASTER)
    state = await read_ha_site(StatusCollector(inventory, pool), site)
    assert "unreachable" in slave_start_risk(state, site)[0]
    start = await run_manage_slave(pool, slave, "start")
    assert start.ok and service(lab, SLAVE, "asterisk") == "running"


async def test_read_only_refuses_everything_and_sends_nothing(
    lab: Lab, inventory: Inventory, tmp_path: Path
) -> None:
    site = inventory.site("demo")
    master, slave = inventory.node(MASTER), inventory.node(SLAVE)

    async def ask(prompt: str) -> str | None:
        raise AssertionError("never asked")

    async with Pool(read_only=True, audit=tmp_path / "ro.jsonl") as ro:
        actions = [
            apply_ha_mode(ro, master, validate_for_node(site, master, "disabled", "")),
            restart_services(ro, master),
            run_replication(ro, master, "10.50.0.12"),
            run_sync(ro, master),
            run_sync_init(ro, master, ask),
            run_check_master(ro, slave, "10.50.0.11"),
            run_manage_slave(ro, slave, "start"),
            run_manage_slave(ro, slave, "stop"),
        ]
        for action in actions:
            with pytest.raises(RemoteError) as info:
                await action
            assert info.value.kind is ErrorKind.READ_ONLY
    assert lab.commands(MASTER) == [] and lab.commands(SLAVE) == []
    assert mutating(lab, MASTER) == [] and mutating(lab, SLAVE) == []


async def test_reads_with_no_whole_answer_are_not_judged(
    lab: Lab, inventory: Inventory, pool: Pool
) -> None:
    # A service list or a file cut short by a timeout could lack what is still running,
    # or end a file early: neither is read as the node's state.
    node = inventory.node(MASTER)
    await lab.apply_fault(["slow", "xivo.master", "2"])
    rec = ha_ops.ActionRecord(action="check", node_id=node.id, command="")
    assert await ha_ops._status_all(pool, hurried(node), rec) is None
    assert any(line.startswith("[timeout] no answer after 0.3s") for line in rec.lines), rec.lines
    with pytest.raises(RemoteError) as info:
        await ha_ops._read_files(pool, hurried(node), [node.paths.ha_conf])
    assert info.value.kind is ErrorKind.TIMEOUT
    await lab.apply_fault(["slow", "xivo.master", "0"])
    assert await ha_ops._status_all(pool, node, rec) is not None
    files = await ha_ops._read_files(pool, node, [node.paths.ha_conf])
    assert files.text(node.paths.ha_conf)
