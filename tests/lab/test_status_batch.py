"""One remote execution per node and refresh: the status poll's batch, against the lab."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from resil_tui.inventory import load_inventory
from resil_tui.inventory_model import Inventory, NodeKind
from resil_tui.lab.server import Lab
from resil_tui.ops import status as status_mod
from resil_tui.ops.node_reads import KINDS, SYNC_LOG_LINES, node_commands
from resil_tui.ops.session import make_pool
from resil_tui.ops.status import NOT_A_SHELL, StatusCollector
from resil_tui.remote import commands as cat
from resil_tui.remote.pool import Pool, Result

MASTER, EDGE, CC = "demo.xivo.master", "demo.edge", "demo.cc.slave"


@pytest.fixture(autouse=True)
def _xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


@pytest.fixture
def inv(lab: Lab) -> Inventory:
    return load_inventory(lab.inventory_path)


@pytest.fixture
async def pool(inv: Inventory, tmp_path: Path) -> AsyncIterator[Pool]:
    p = make_pool(inv, audit_path=tmp_path / "audit.jsonl")
    try:
        yield p
    finally:
        await p.close()


def execs(lab: Lab, node_id: str) -> list[dict[str, Any]]:
    return [c for c in lab.commands(node_id) if c.get("kind") == "exec"]


def comparable(doc: dict[str, Any]) -> dict[str, Any]:
    """A snapshot's JSON without what changes from one poll to the next (times, latency)."""
    drop = {
        "polled_at",
        "last_success_at",
        "latency_seconds",
        "since",
        "age_seconds",
        "evaluated_at",
        "judged_at",
        "as_of",
    }
    if isinstance(doc, dict):
        return {k: comparable(v) for k, v in doc.items() if k not in drop}
    if isinstance(doc, list):
        return [comparable(v) for v in doc]  # type: ignore[return-value]
    return doc


async def test_one_remote_execution_per_node_per_refresh(
    lab: Lab, inv: Inventory, pool: Pool
) -> None:
    collector = StatusCollector(inv, pool)
    await collector.poll()  # opens the connections
    for _ in range(3):
        before = {n: len(execs(lab, n)) for n in lab.node_ids()}
        (report,) = await collector.poll()
        sent = {n: len(execs(lab, n)) - before[n] for n in lab.node_ids()}
        assert sent == dict.fromkeys(lab.node_ids(), 1)
        assert all(s.reachability.ok and s.errors == [] for s in report.snapshot.nodes.values())
    # The XiVO batch holds every XiVO read (the HA files, the services, the sync key
    # tested and more); raw shows each under its own command line.
    node = inv.node(MASTER)
    p = node.paths
    reads = [r.command(node) for r in KINDS[NodeKind.XIVO].reads]
    assert [r.line for r in reads[:3]] == [
        cat.tail_files(
            [p.ha_conf, p.cron_master, p.cron_slave, p.disabled_flag, p.sync_log, p.provd_default],
            SYNC_LOG_LINES,
        ).line,
        cat.xivo_service_status(all=True).line,
        cat.test_exists(p.sync_key).line,
    ]
    last = execs(lab, MASTER)[-1]
    assert last["argv"][:2] == ["sh", "-c"]
    parts = [c for c in last["commands"][1:] if c[0] not in ("printf", "false")]
    assert parts == [list(r.argv) for r in reads]
    snap = report.snapshot.nodes[MASTER]
    assert set(snap.raw) == {r.line for r in reads}
    assert snap.raw[reads[1].line].startswith("Checking database...")
    assert snap.raw[reads[2].line].endswith("[exit 0]")
    assert snap.latency_seconds is not None and snap.latency_seconds > 0
    # A CC node's reads (compose ps, docker inspect of xuc, its log's tail) go as one too.
    cc = inv.node(CC)
    last_cc = execs(lab, CC)[-1]
    assert last_cc["argv"][:2] == ["sh", "-c"]
    cc_parts = [c for c in last_cc["commands"][1:] if c[0] not in ("printf", "false")]
    # (the log read's `--since` depends on the poll before: compare the commands only)
    assert [a[:2] for a in cc_parts] == [list(c.argv[:2]) for c in node_commands(cc)]
    assert [a[:2] for a in cc_parts] == [
        ["xivocc-dcomp", "ps"],
        ["docker", "inspect"],
        ["xivocc-dcomp", "logs"],
    ]


async def test_batch_and_part_by_part_publish_the_same_json(
    lab: Lab, inv: Inventory, pool: Pool
) -> None:
    batched = (await StatusCollector(inv, pool).poll())[0]
    for node_id in lab.node_ids():
        await lab.words_only(node_id)
    one_by_one = (await StatusCollector(inv, pool).poll())[0]
    for node_id, snap in batched.snapshot.nodes.items():
        other = one_by_one.snapshot.nodes[node_id]
        if len(other.raw) > 1:  # batched kinds: told once that the node ran no shell
            assert other.errors == [NOT_A_SHELL]
            other = dataclasses.replace(other, errors=[])
        assert comparable(other.to_dict()) == comparable(snap.to_dict()), node_id
    assert comparable(one_by_one.verdicts.to_dict()) == comparable(batched.verdicts.to_dict())


async def test_a_server_without_a_shell_is_read_part_by_part(
    lab: Lab, inv: Inventory, pool: Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(status_mod, "BATCH_RETRY_POLLS", 2)
    await lab.words_only(MASTER)
    collector = StatusCollector(inv, pool)
    node = inv.node(MASTER)

    async def poll() -> tuple[int, list[str]]:
        before = len(execs(lab, MASTER))
        snap = await collector.poll_node(node)
        assert snap.reachability.ok and snap.xivo is not None
        assert snap.xivo.ha is not None and snap.xivo.ha.mode.value == "master"
        assert snap.xivo.services is not None and snap.xivo.sync_key_present is True
        return len(execs(lab, MASTER)) - before, snap.errors

    n = len(KINDS[NodeKind.XIVO].reads)
    assert await poll() == (1 + n, [NOT_A_SHELL])  # the batch, then each part: said once
    assert await poll() == (n, [])
    assert await poll() == (n, [])
    assert await poll() == (1 + n, [])  # the batch is tried again, still refused: quietly
    await lab.words_only(MASTER, False)
    await poll()
    await poll()
    assert await poll() == (1, [])  # a shell again: back to one execution


async def test_a_part_cut_short_is_reported_alone(
    lab: Lab, inv: Inventory, pool: Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_run = pool.run

    async def cut_after_first_part(node, command, **kw):  # type: ignore[no-untyped-def]
        result: Result = await real_run(node, command, **kw)
        if command.name != "batch":
            return result
        # The real output, cut where the second part's end marker starts: as if the
        # node's shell died at the end of `xivo-service status all`.
        nonce = result.stdout.split(" ", 1)[0]  # the first begin marker's
        cut = result.stdout.index(f"\n{nonce} E 1 ")
        return Result(
            result.node_id,
            command,
            result.exit_status,
            result.stdout[:cut],
            result.stderr,
            result.duration,
        )

    monkeypatch.setattr(pool, "run", cut_after_first_part)
    snap = await StatusCollector(inv, pool).poll_node(inv.node(MASTER))
    assert snap.reachability.ok
    assert snap.xivo is not None
    assert snap.xivo.ha is not None and snap.xivo.ha.mode.value == "master"  # part 1: whole
    assert snap.xivo.services is None  # part 2: cut short, so unknown (never "ok")
    assert snap.xivo.sync_key_present is None  # part 3: never arrived
    assert snap.xivo.sip_expiry is None  # a later part: never arrived either
    # One error per part not whole, each saying which and why.
    assert len(snap.errors) == len(KINDS[NodeKind.XIVO].reads) - 1
    assert snap.errors[0].startswith("xivo-service status all: its output was cut short")
    assert snap.errors[1].startswith("test -e ")
    assert all("no output for this part" in e for e in snap.errors[1:])


async def test_the_edge_keeps_its_whole_env(lab: Lab, inv: Inventory, pool: Pool) -> None:
    snap = await StatusCollector(inv, pool).poll_node(inv.node(EDGE))
    assert snap.edge is not None
    text = lab.world.read_file(EDGE, inv.node(EDGE).paths.edge_env)
    assert text is not None and snap.edge.env_text == text
    assert snap.edge.env_sha256 == hashlib.sha256(text.encode()).hexdigest()
    assert "env_text" not in snap.to_dict()["edge"]  # the JSON (schema 1) is unchanged


async def test_a_shell_whose_status_fails_the_probe_is_read_part_by_part(
    lab: Lab, inv: Inventory, pool: Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_run = pool.run

    async def no_status(node, command, **kw):  # type: ignore[no-untyped-def]
        result: Result = await real_run(node, command, **kw)
        if command.name != "batch":
            return result
        # The real output as a server would print it whose `$?` is always 0: markers
        # everywhere, and `false` reported as a success.
        nonce = result.stdout.split(" ", 1)[0]
        out = re.sub(rf"(\n{nonce} E \d+ )\d+\n", r"\g<1>0\n", result.stdout)
        out = out.replace(f"{nonce} S 1\n", f"{nonce} S 0\n")
        return dataclasses.replace(result, stdout=out)

    monkeypatch.setattr(pool, "run", no_status)
    await lab.remove_sync_key()  # `test -e` exits 1: a `$?` of 0 would say "present"
    before = len(execs(lab, MASTER))
    snap = await StatusCollector(inv, pool).poll_node(inv.node(MASTER))
    assert snap.errors == [NOT_A_SHELL]
    assert len(execs(lab, MASTER)) - before == 1 + len(KINDS[NodeKind.XIVO].reads)
    assert snap.xivo is not None and snap.xivo.sync_key_present is False


async def test_an_output_that_changed_is_parsed_again(lab: Lab, inv: Inventory, pool: Pool) -> None:
    # Parsing is skipped for an output equal to the last poll's: a change must show.
    collector = StatusCollector(inv, pool)
    node = inv.node(MASTER)
    first = await collector.poll_node(node)
    again = await collector.poll_node(node)
    assert again.xivo is not None and first.xivo is not None
    # (the contacts' RTTs change with every qualify: not compared)
    unqualified = {"contacts": None}
    assert dataclasses.replace(again.xivo, **unqualified) == dataclasses.replace(
        first.xivo, **unqualified
    )
    assert again.xivo.ha is not None and again.xivo.ha.mode.value == "master"
    root = lab.world.node_root(MASTER)
    (root / "etc/xivo/ha.conf").write_text('{"node_type": "disabled", "remote_address": ""}\n')
    changed = await collector.poll_node(node)
    assert changed.xivo is not None and changed.xivo.ha is not None
    assert changed.xivo.ha.mode.value == "disabled"
    assert changed.xivo.services == first.xivo.services  # the other parts as they were


async def test_a_part_the_same_as_last_poll_is_reported_as_of_the_new_poll(
    lab: Lab, inv: Inventory, pool: Pool
) -> None:
    # Parsing is skipped for a part whose bytes did not change; its figures still carry
    # the new poll's time, and a part that changes is read again.
    now = [1_000_000.0]
    collector = StatusCollector(inv, pool, clock=lambda: now[0])
    node = inv.sites["demo"].xivo_master
    first = await collector.poll_node(node)
    now[0] += 60.0
    second = await collector.poll_node(node)
    assert first.xivo is not None and second.xivo is not None
    assert second.polled_at == second.last_success_at == now[0]
    assert second.reachability.ok and second.reachability.since == first.polled_at
    assert second.xivo.ha is first.xivo.ha  # the ha.conf part: not parsed again
    assert second.xivo.services == first.xivo.services
    ha_conf = lab.world.resolve(MASTER, "/etc/xivo/ha.conf")
    ha_conf.write_text(ha_conf.read_text() + "# edited\n")
    now[0] += 60.0
    third = await collector.poll_node(node)
    assert third.xivo is not None and third.xivo.ha is not first.xivo.ha  # read again
    assert third.polled_at == now[0]


async def test_latency_is_the_round_trip_once_connected(
    lab: Lab, inv: Inventory, pool: Pool
) -> None:
    # A cold first command waits for its connection (a connect slot, the handshake); that
    # wait is not the node's latency (a one-shot `check` on a large estate would warn on
    # healthy nodes): README, resil_node_latency_seconds.
    node = inv.node(EDGE)
    cold = await pool.run(node, cat.test_exists(node.paths.edge_env))
    assert cold.round_trip is not None and cold.round_trip < cold.duration
    assert cold.latency == cold.round_trip
    warm = await pool.run(node, cat.test_exists(node.paths.edge_env))
    assert warm.round_trip is not None and 0 < warm.round_trip <= warm.duration


async def test_a_node_that_answers_without_end_is_shown_as_such(
    lab: Lab, inv: Inventory, pool: Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The sync log as one line longer than the cap: `tail -n 60` sends all of it.
    monkeypatch.setattr(cat, "MAX_ANSWER_BYTES", 1 << 20)
    node = inv.node(MASTER)
    lab.world.resolve(MASTER, node.paths.sync_log).write_text("x" * (2 << 20))
    snap = await StatusCollector(inv, pool).poll_node(node)
    assert not snap.reachability.ok
    assert "wrote more than 1 MiB on stdout" in snap.reachability.message
    assert snap.xivo is None or snap.xivo.ha is None  # nothing of it judged
    other = await StatusCollector(inv, pool).poll_node(inv.node("demo.xivo.slave"))
    assert other.reachability.ok
