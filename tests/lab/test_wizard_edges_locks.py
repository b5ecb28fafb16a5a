"""The wizard against the lab: a site with a 3-server Edge (both Edge nodes switched by the
one switch step), automatic mode (no xuc restart, the Edge only checked), and a step
refused by a stale lock, broken only for the node id typed."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from labkit import WIZARD_FAST as FAST
from labkit import drive_wizard as drive
from labkit import eventually, lab_inventory

from resil_tui.audit import AuditLog
from resil_tui.core.runbook import Direction, OnFail, RunbookOptions
from resil_tui.core.wizard_run import RunStatus, StepState
from resil_tui.inventory_model import Inventory
from resil_tui.lab import xivo
from resil_tui.lab.server import Lab
from resil_tui.ops.wizard import WizardEngine, WizardError
from resil_tui.remote.pool import Pool

MASTER, SLAVE, CC_SLAVE = "demo.xivo.master", "demo.xivo.slave", "demo.cc.slave"
WEB, SIP = "demo.edge.web", "demo.edge.sip"
ENV = "/etc/docker/edge/.env"
LOCK = "/var/lock/resil-tui"
SHORT = RunbookOptions(
    telephony_timeout_seconds=15.0,
    standby_timeout_seconds=15.0,
    xuc_ready_timeout_seconds=10.0,
    edge_up_timeout_seconds=10.0,
)


@pytest.fixture
async def pool(tmp_path: Path) -> AsyncIterator[Pool]:
    async with Pool(audit=tmp_path / "audit.jsonl") as p:
        yield p


def with_phones(text: str) -> str:
    # The master goes down before any poll saw its phones: the site says how many it has
    # (the count the phones wait after the move compares with).
    return text.replace("[site.demo]\n", "[site.demo]\nphones = { expected = 40 }\n")


def next_lts(lab: Lab, tmp_path: Path, mode: str) -> Inventory:
    """The lab's inventory with its site in a next-LTS resilience mode."""
    inventory, _ = lab_inventory(
        lab,
        tmp_path,
        edit=lambda t: with_phones(t).replace(
            "[site.demo]\n", f'[site.demo]\nresilience = "{mode}"\n'
        ),
    )
    return inventory


def engine(pool: Pool, inventory: Inventory) -> WizardEngine:
    return WizardEngine.create(
        pool, inventory, "demo", Direction.FAILOVER, runbook_opts=SHORT, options=FAST
    )


def sent(lab: Lab, node: str, *argv: str) -> int:
    return sum(1 for c in lab.commands(node) if c.get("argv") == list(argv))


async def at_edge_switch(lab: Lab, pool: Pool, inventory: Inventory) -> WizardEngine:
    """A failover run, the master down, driven up to its Edge switch."""
    await master_down(lab)
    eng = engine(pool, inventory)
    assert await eng.run_guards()
    await drive(eng, until="edge.switch_env")
    return eng


async def master_down(lab: Lab) -> None:
    await lab.power_off(MASTER)
    await eventually(
        lambda: xivo.service_state(lab.world, SLAVE, "asterisk") == "running",
        15,
        "the slave to take over",
    )


@pytest.mark.lab(ticker=True, edges=("web", "sip"))
async def test_failover_switches_every_edge_node_in_one_step(
    lab: Lab, pool: Pool, tmp_path: Path
) -> None:
    inventory, _ = lab_inventory(lab, tmp_path, edit=with_phones)
    await master_down(lab)
    eng = engine(pool, inventory)
    ids = [s.id for s in eng.runbook.steps if s.part is not None and s.part.value == "edge"]
    assert ids == [
        "edge.switch_env",
        "edge.up.web",
        "edge.up.sip",
        "edge.check_points_to.web",
        "edge.wait_containers_up.web",
        "edge.check_points_to.sip",
        "edge.wait_containers_up.sip",
    ]
    # The one confirmation names every Edge node and its file.
    shown = eng.command_text(eng.step("edge.switch_env"))
    assert f"{ENV} on {WEB}" in shown and f"{ENV} on {SIP}" in shown
    assert await eng.run_guards()
    await drive(eng)
    assert eng.run.status is RunStatus.FINISHED and not eng.run.problems
    for node in (WEB, SIP):
        assert "XIVO_HOST=10.50.0.12\n" in lab.world.resolve(node, ENV).read_text()
        assert sent(lab, node, "edge-dcomp", "up", "-d") == 1
    for step_id in ("edge.up.web", "edge.up.sip"):
        up = eng.record(step_id)
        assert up.attempts == 0 and up.message.startswith("nothing left to apply"), up
    switch = eng.record("edge.switch_env")
    assert WEB in switch.message and SIP in switch.message
    assert eng.run.final is not None and eng.run.final.verdict == "failed_over"


@pytest.mark.lab(ticker=True)
async def test_automatic_mode_waits_for_xuc_without_restart_and_only_checks_the_edge(
    lab: Lab, pool: Pool, tmp_path: Path
) -> None:
    inventory = next_lts(lab, tmp_path, "automatic")
    await master_down(lab)
    env_before = lab.world.resolve("demo.edge", ENV).read_bytes()
    eng = engine(pool, inventory)
    ids = [s.id for s in eng.runbook.steps]
    assert "cc.restart_xuc" not in ids and "edge.switch_env" not in ids
    follows = eng.runbook.step("edge.check_follows")
    assert follows.on_fail is OnFail.WARN and "resil-tui edge apply" in follows.detail
    assert await eng.run_guards()
    while (step := eng.current) is not None:
        if step.kind.value == "manual":
            await eng.mark_done(step.id)
        else:
            await eng.run_step(step.id)
        if eng.record(step.id).state is not StepState.DONE:
            break
    # The wait counted xuc's current run: ready, and nobody restarted it.
    assert eng.record("cc.wait_xuc_ready").state is StepState.DONE
    assert sent(lab, CC_SLAVE, "xivocc-dcomp", "restart", "xuc") == 0
    # The lab's Edge does not redirect itself: the check warns, offering the switch, and
    # nothing was written to the Edge.
    rec = eng.record("edge.check_follows")
    assert rec.state is StepState.DONE and rec.warning, rec
    assert lab.world.resolve("demo.edge", ENV).read_bytes() == env_before
    assert sent(lab, "demo.edge", "edge-dcomp", "up", "-d") == 0
    # A next-LTS site reads Main/Standby in the steps' messages too, not only in their titles.
    said = [(r.step_id, r.message, r.warning) for r in eng.run.steps if r.message]
    assert any("Main" in m or "Standby" in m for _, m, _w in said), said
    role = re.compile(r"(?<![\w./=-])(master|slave)(?![\w/=-]|\.\w)", re.IGNORECASE)
    assert not [s for s in said if role.search(f"{s[1]} {s[2] or ''}")], said


@pytest.mark.lab(ticker=True)
async def test_a_reason_typed_on_a_next_lts_site_is_kept_as_typed(
    lab: Lab, pool: Pool, tmp_path: Path
) -> None:
    inventory = next_lts(lab, tmp_path, "manual")
    await master_down(lab)
    eng = engine(pool, inventory)
    assert await eng.run_guards()
    step = eng.current
    assert step is not None and not step.guard
    rec = await eng.skip(step.id, "the slave was checked by hand")
    assert rec.message.endswith("the slave was checked by hand"), rec.message


@pytest.mark.lab(ticker=True)
async def test_a_step_refused_by_a_stale_lock_is_retried_with_the_typed_node(
    lab: Lab, pool: Pool, tmp_path: Path
) -> None:
    inventory, _ = lab_inventory(lab, tmp_path, edit=with_phones)
    await master_down(lab)
    eng = engine(pool, inventory)
    assert await eng.run_guards()
    while (step := eng.current) is not None and step.id != "cc.restart_xuc":
        if step.kind.value == "manual":
            await eng.mark_done(step.id)
        else:
            await eng.run_step(step.id)
    when = (datetime.now(UTC) - timedelta(minutes=30)).isoformat(timespec="seconds")
    directory = lab.world.resolve(CC_SLAVE, LOCK)
    directory.mkdir(parents=True)
    (directory / "holder.json").write_text(
        json.dumps(
            {
                "user": "bob",
                "host": "jump2",
                "action": "wizard xuc restart",
                "since": when,
                "refreshed": when,
                "token": "0" * 32,
                "pid": 7,
            }
        )
    )
    rec = await eng.run_step("cc.restart_xuc")
    assert rec.state is StepState.FAILED and "stale lock" in rec.message
    assert eng.stale_locks("cc.restart_xuc") == (CC_SLAVE,)
    assert sent(lab, CC_SLAVE, "xivocc-dcomp", "restart", "xuc") == 0
    with pytest.raises(WizardError, match="type the id of the node"):
        await eng.retry_breaking_stale_lock("cc.restart_xuc", "demo.cc.master")
    rec = await eng.retry_breaking_stale_lock("cc.restart_xuc", CC_SLAVE)
    assert rec.state is StepState.DONE, rec.message
    assert eng.stale_locks("cc.restart_xuc") == ()
    assert sent(lab, CC_SLAVE, "xivocc-dcomp", "restart", "xuc") == 1
    assert any("typed demo.cc.slave: its stale lock is broken" in line for line in rec.output)
    locks = [r for r in AuditLog(tmp_path / "audit.jsonl").read() if r["kind"] == "lock"]
    assert any(
        r["node"] == CC_SLAVE
        and r["result"].startswith(
            "acquired after breaking a stale lock (wizard xuc restart by bob"
        )
        for r in locks
    ), [r["result"] for r in locks]


@pytest.mark.lab(ticker=True)
async def test_the_edge_switch_writes_only_the_file_whose_diff_was_confirmed(
    lab: Lab, pool: Pool, tmp_path: Path
) -> None:
    from resil_tui.ops.edge import load_preview

    inventory, _ = lab_inventory(lab, tmp_path, edit=with_phones)
    eng = await at_edge_switch(lab, pool, inventory)
    site = inventory.site("demo")
    edge = site.edges[0]
    seen = await load_preview(pool, site, edge)
    eng.confirm_edge_diff({edge.id: seen.shown_sha256})  # the diff the admin confirmed
    # A colleague edits the file between the confirmation and the step.
    env = lab.world.resolve(edge.id, ENV)
    edited = env.read_text() + "XIVO_HOST=10.50.0.11\n"
    env.write_text(edited)
    refused = await eng.run_step("edge.switch_env")
    assert refused.state is StepState.FAILED, refused.message
    assert "changed since the diff you confirmed" in refused.message
    assert "nothing written" in refused.message and env.read_text() == edited
    # A confirmation that showed no diff (the file not read yet) writes nothing either.
    eng.confirm_edge_diff({edge.id: None})
    unseen = await eng.retry("edge.switch_env")
    assert unseen.state is StepState.FAILED and "no diff was shown" in unseen.message
    assert env.read_text() == edited
    # Confirmed again with the diff of the file as it is now: written.
    eng.confirm_edge_diff({edge.id: (await load_preview(pool, site, edge)).shown_sha256})
    done = await eng.retry("edge.switch_env")
    assert done.state is StepState.DONE, done.message
    assert env.read_text().count("XIVO_HOST=10.50.0.12\n") == 2


@pytest.mark.lab(ticker=True)
async def test_the_diff_confirmed_from_a_poll_matches_a_crlf_latin1_file_read_again(
    lab: Lab, pool: Pool, tmp_path: Path
) -> None:
    # The confirmation's diff comes from the status poll, whose copy is sanitized (a CRLF
    # file's CRs dropped); the step reads the file again by SFTP, bytes as they are. The
    # same file must be recognised as the one shown, or no CRLF .env could ever be switched.
    from resil_tui.ops.edge import preview_from_snapshot

    inventory, _ = lab_inventory(lab, tmp_path, edit=with_phones)
    edge = inventory.site("demo").edges[0]
    env = lab.world.resolve(edge.id, ENV)
    # CRLF, and a latin-1 comment (not UTF-8: the poll shows it replaced).
    env.write_bytes(b"# caf\xe9\n" + env.read_bytes().replace(b"\n", b"\r\n"))
    eng = await at_edge_switch(lab, pool, inventory)
    site = inventory.site("demo")
    await eng.collector.poll_nodes(site, [edge.id])
    polled = preview_from_snapshot(site, edge, eng.collector.last(edge.id))
    assert polled is not None
    eng.confirm_edge_diff({edge.id: polled.shown_sha256})
    done = await eng.run_step("edge.switch_env")
    assert done.state is StepState.DONE, done.message
    assert b"XIVO_HOST=10.50.0.12\r\n" in env.read_bytes()
