"""A site with a 3-server Edge (two Edge nodes, each with its own .env) against the lab:
polled and judged per node, switched together with one preview and one confirmation."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from labkit import CliRun, audit_records, run_cli

from resil_tui.cli import edge as edge_cli
from resil_tui.core.edge_env import Direction
from resil_tui.inventory import load_inventory
from resil_tui.inventory_model import Inventory
from resil_tui.lab.server import Lab
from resil_tui.ops import edge as edge_ops
from resil_tui.ops.edge import ContainerWait, NodeState
from resil_tui.paths import audit_log_path
from resil_tui.remote.errors import RemoteError
from resil_tui.remote.pool import Pool

pytestmark = pytest.mark.lab(edges=("web", "sip"))

WEB, SIP = "demo.edge.web", "demo.edge.sip"
ENV = "/etc/docker/edge/.env"
FAST = ContainerWait(timeout=5.0, interval=0.05)


@pytest.fixture
def inventory(lab: Lab) -> Inventory:
    return load_inventory(lab.inventory_path)


def env(lab: Lab, node: str) -> bytes:
    return lab.world.resolve(node, ENV).read_bytes()


def ups(lab: Lab, node: str) -> int:
    return sum(1 for c in lab.commands(node) if c.get("argv") == ["edge-dcomp", "up", "-d"])


async def edge(inventory: Inventory, *argv: str) -> CliRun:
    async def fast(ctx: edge_cli.Context, ns: object) -> int:
        return await edge_cli.run(ctx, edge_cli.EdgeArgs.from_namespace(ns), wait=FAST)  # type: ignore[arg-type]

    return await run_cli(inventory, "edge", *argv, stdin=io.StringIO(""), call=fast)


def test_the_inventory_has_both_edge_nodes(inventory: Inventory) -> None:
    site = inventory.site("demo")
    assert [n.id for n in site.edges] == [WEB, SIP]
    assert all(n.paths.edge_env == ENV for n in site.edges)


async def test_status_polls_and_lists_each_edge(lab: Lab, inventory: Inventory) -> None:
    run = await run_cli(inventory, "status", "--json")
    assert run.code in (0, 1), run.err
    nodes = json.loads(run.out)["sites"][0]["nodes"]
    assert nodes[WEB]["edge"]["targets"]["overall"] == "master"
    assert nodes[SIP]["edge"]["targets"]["overall"] == "master"
    # One Edge switched by hand: the finding names that node, not "the Edge".
    path = lab.world.resolve(SIP, ENV)
    path.write_bytes(path.read_bytes().replace(b"XIVO_HOST=10.50.0.11", b"XIVO_HOST=10.50.0.12"))
    run = await run_cli(inventory, "status", "--json")
    findings = json.loads(run.out)["sites"][0]["verdicts"]["findings"]
    titles = [f["title"] for f in findings]
    assert any(t.startswith(f"{SIP}: Edge points partly") for t in titles), titles
    assert not any(t.startswith(f"{WEB}:") for t in titles), titles


async def test_one_apply_switches_both(lab: Lab, inventory: Inventory) -> None:
    plan = await edge(inventory, "plan", "--to", "standby")  # standby: an alias of slave
    assert plan.code == 0, plan.err
    # One diff per node, its headers naming the node and the path.
    assert f"--- a/{WEB}:{ENV}\n" in plan.out and f"+++ b/{SIP}:{ENV}\n" in plan.out
    assert plan.out.count("+XIVO_HOST=10.50.0.12") == 2

    run = await edge(inventory, "apply", "--to", "slave", "--yes")
    assert run.code == 0, run.err
    for node in (WEB, SIP):
        assert b"XIVO_HOST=10.50.0.12\n" in env(lab, node)
        assert b"XIVOCC_HOST=10.50.0.22\n" in env(lab, node)
        assert ups(lab, node) == 1
        assert f"{node} ({ENV})" in run.out
    # Audited per node: a `started` record before each write and each up -d.
    records = audit_records(audit_log_path())
    for node in (WEB, SIP):
        started = [r for r in records if r["node"] == node and r["result"] == "started"]
        commands = [r["command"] for r in started]
        assert "edge-dcomp up -d" in commands, commands
        assert any(c.startswith("sftp mkdir /var/lock/resil-tui") for c in commands), commands
        assert any(ENV in c and "mkdir" not in c for c in commands), commands

    run = await edge(inventory, "apply", "--to", "main", "--yes")  # main: an alias of master
    assert run.code == 0, run.err
    assert all(b"XIVO_HOST=10.50.0.11\n" in env(lab, n) for n in (WEB, SIP))


async def test_one_edge_unreachable_refuses_before_anything_is_written(
    lab: Lab, inventory: Inventory
) -> None:
    before = {n: env(lab, n) for n in (WEB, SIP)}
    await lab.apply_fault(["power-off", SIP])
    run = await edge(inventory, "apply", "--to", "slave", "--yes")
    assert run.code == 2
    assert SIP in run.err and "nothing is written until every one answers" in run.err
    assert {n: env(lab, n) for n in (WEB, SIP)} == before
    assert ups(lab, WEB) == 0 and ups(lab, SIP) == 0


async def test_a_file_changed_on_one_node_writes_nothing_anywhere(
    lab: Lab, inventory: Inventory, tmp_path: Path
) -> None:
    site = inventory.site("demo")
    async with Pool(audit=tmp_path / "audit.jsonl") as pool:
        previews = await edge_ops.load_previews(pool, site)
        changes = [edge_ops.EdgeChange.of(p, Direction.TO_SLAVE) for p in previews]
        # Someone edits the SIP proxy's file after the preview.
        path = lab.world.resolve(SIP, ENV)
        path.write_bytes(path.read_bytes() + b"# edited\n")
        web_before = env(lab, WEB)
        done = await edge_ops.apply_switches(pool, changes, wait=FAST)
    assert not done.ok
    web, sip = done.outcomes
    assert sip.error is not None and "changed since the preview" in sip.message
    assert web.state is NodeState.UNCHANGED and f"{SIP} failed" in web.message
    assert env(lab, WEB) == web_before and done.rollback_nodes == ()
    assert ups(lab, WEB) == 0 and ups(lab, SIP) == 0


async def test_up_failing_on_one_node_is_reported_per_node_with_rollback(
    lab: Lab, inventory: Inventory, tmp_path: Path
) -> None:
    site = inventory.site("demo")
    async with Pool(audit=tmp_path / "audit.jsonl") as pool:
        previews = await edge_ops.load_previews(pool, site)
        changes = [edge_ops.EdgeChange.of(p, Direction.TO_SLAVE) for p in previews]
        # The web proxy is switched and up; the SIP proxy's link drops before its up -d.
        hooked: list[str] = []

        async def cut(event: edge_ops.EdgeEvent) -> None:
            if (
                isinstance(event, edge_ops.StepFinished)
                and event.node_id == WEB
                and event.step is edge_ops.EdgeStep.WAIT
                and not hooked
            ):
                hooked.append(SIP)
                await lab.apply_fault(["power-off", SIP])

        done = await edge_ops.apply_switches(pool, changes, wait=FAST, on_event=cut)
        assert not done.ok
        web, sip = done.outcomes
        assert web.ok and web.state is NodeState.APPLIED
        assert sip.state is NodeState.WRITTEN and sip.failed_step is edge_ops.EdgeStep.UP
        # Both changed: both are offered a rollback (the web proxy to match the SIP one).
        assert set(done.rollback_nodes) == {WEB, SIP}
        assert f"✔ {WEB} ({ENV})" in done.message and f"✖ {SIP} ({ENV})" in done.message
        await lab.apply_fault(["power-on", SIP])
        back = await edge_ops.rollback_all(
            pool,
            [await edge_ops.load_rollback_preview(pool, n) for n in site.edges],
            wait=FAST,
        )
    # Both are back. The SIP proxy's lock was left when its link died; it was ours, so our
    # rollback removed it rather than waiting for it to go stale.
    web_back, sip_back = back.outcomes
    assert web_back.ok and b"XIVO_HOST=10.50.0.11\n" in env(lab, WEB)
    assert sip_back.ok, sip_back.message
    assert b"XIVO_HOST=10.50.0.11\n" in env(lab, SIP)
    assert not lab.world.resolve(SIP, "/var/lock/resil-tui").exists()
    audit = (tmp_path / "audit.jsonl").read_text()
    assert "removing our own lock that a lost connection left" in audit


async def test_load_previews_is_all_or_nothing(lab: Lab, inventory: Inventory) -> None:
    site = inventory.site("demo")
    await lab.apply_fault(["power-off", WEB])
    async with Pool() as pool:
        with pytest.raises(RemoteError) as caught:
            await edge_ops.load_previews(pool, site)
    assert caught.value.node_id == WEB and SIP in caught.value.message


async def test_a_node_holding_only_the_variables_it_uses_is_switched_too(
    lab: Lab, inventory: Inventory
) -> None:
    # The SIP proxy of a 3-server Edge may not carry XIVOCC_HOST (the web proxy's).
    path = lab.world.resolve(SIP, ENV)
    path.write_bytes(path.read_bytes().replace(b"XIVOCC_HOST=10.50.0.21\n", b""))
    run = await edge(inventory, "apply", "--to", "slave", "--yes")
    assert run.code == 0, run.err
    assert "XIVOCC_HOST is not set in this node's file: nothing to switch there" in run.err
    assert b"XIVOCC_HOST" not in env(lab, SIP) and b"XIVO_HOST=10.50.0.12\n" in env(lab, SIP)
    assert b"XIVOCC_HOST=10.50.0.22\n" in env(lab, WEB)
    status = json.loads((await run_cli(inventory, "status", "--json")).out)
    assert status["sites"][0]["nodes"][SIP]["edge"]["targets"]["overall"] == "slave"


async def test_a_variable_set_on_no_edge_node_refuses_the_switch(
    lab: Lab, inventory: Inventory
) -> None:
    # Each node alone may leave a variable out; the site's Edge as a whole may not: the
    # switch would leave that setting on no node at all.
    before = {}
    for node in (WEB, SIP):
        path = lab.world.resolve(node, ENV)
        path.write_bytes(
            b"".join(
                line
                for line in path.read_bytes().splitlines(keepends=True)
                if not line.startswith(b"XIVO_MDS_HOST_DEFAULT=")
            )
        )
        before[node] = env(lab, node)
    run = await edge(inventory, "apply", "--to", "slave", "--yes")
    assert run.code != 0
    assert "XIVO_MDS_HOST_DEFAULT is set on none of the site's Edge nodes" in run.err, run.err
    assert all(env(lab, node) == before[node] for node in (WEB, SIP))
    assert ups(lab, WEB) == ups(lab, SIP) == 0
