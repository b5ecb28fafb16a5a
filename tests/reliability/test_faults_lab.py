"""Faults against the in-process lab (real SSH on 127.0.0.1): what the CLI shows, that the
other nodes are unaffected, that nothing mutating is left half-done, and recovery.

Each fault is checked the way an admin meets it: `StatusCollector` (what the Status pane
and `resil-tui status` both run) through one long-lived pool, `resil-tui status --json`
and the table as a fresh CLI run, and an Edge apply tried while the fault lasts (the one
file write of the product) which must leave the `.env` exactly old or exactly new.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from labkit import audit_records, eventually, lab_inventory, run_cli, short_timeouts

from resil_tui.core.edge_env import Direction
from resil_tui.core.node_status import NodeSnapshot, ReachState
from resil_tui.inventory_model import Inventory
from resil_tui.lab.server import Lab
from resil_tui.ops import edge as edge_ops
from resil_tui.ops.edge import APPLY_STEPS, ContainerWait, NodeState, StepStarted
from resil_tui.ops.logs import LogFollower, LogGap, LogLines, find_stream
from resil_tui.ops.session import make_pool
from resil_tui.ops.status import StatusCollector
from resil_tui.remote.errors import ErrorKind
from resil_tui.remote.pool import STICKY_KINDS, LinkState, Pool

EDGE = "demo.edge"
MASTER = "demo.xivo.master"
SLAVE = "demo.xivo.slave"
ENV = "/etc/docker/edge/.env"
FAST_WAIT = ContainerWait(timeout=10.0, interval=0.05)


# --- helpers ---------------------------------------------------------------------------


def env_bytes(lab: Lab) -> bytes:
    return lab.world.resolve(EDGE, ENV).read_bytes()


def env_dir_names(lab: Lab) -> list[str]:
    return sorted(p.name for p in lab.world.resolve(EDGE, ENV).parent.iterdir())


def backups(lab: Lab) -> list[Path]:
    d = lab.world.resolve(EDGE, ENV).parent
    return sorted(
        p for p in d.iterdir() if p.name.startswith(".env.resil-") and p.name.endswith(".bak")
    )


async def poll(collector: StatusCollector) -> dict[str, NodeSnapshot]:
    (report,) = await collector.poll()
    return dict(report.snapshot.nodes)


async def poll_until(
    collector: StatusCollector, node_id: str, state: ReachState, timeout: float = 20.0
) -> dict[str, NodeSnapshot]:
    """Poll again until `node_id` is in `state` (the first poll after a fault may still
    meet the connection being torn down)."""
    found: dict[str, NodeSnapshot] = {}

    async def check() -> bool:
        nonlocal found
        found = await poll(collector)
        return found[node_id].reachability.state is state

    try:
        await eventually(check, timeout, f"{node_id} {state.value}", interval=0.2)
    except AssertionError:
        got = {n: (s.reachability.state.value, s.reachability.message) for n, s in found.items()}
        raise AssertionError(f"{node_id} never {state.value}: {got}") from None
    return found


def assert_others_up(snaps: dict[str, NodeSnapshot], *down: str) -> None:
    bad = {
        n: (s.reachability.state.value, s.reachability.message)
        for n, s in snaps.items()
        if n not in down and not s.reachability.ok
    }
    assert bad == {}, f"other nodes affected: {bad}"


async def cli_status(inventory: Inventory) -> tuple[int, dict[str, Any], str]:
    """`resil-tui status --json` and the table, as two fresh CLI runs (own pools)."""
    run = await run_cli(inventory, "status", "--json")
    table = await run_cli(inventory, "status")
    return run.code, json.loads(run.out), table.out


def cli_node(doc: dict[str, Any], node_id: str) -> dict[str, Any]:
    (site,) = doc["sites"]
    node: dict[str, Any] = site["nodes"][node_id]
    return node


def assert_no_mutation_sent(lab: Lab, audit: Path) -> None:
    """Polls and failed applies never changed a node: no write, no mutating exec."""
    for nid in lab.node_ids():
        writes = [c for c in lab.commands(nid) if c.get("kind") == "sftp"]
        assert writes == [], (nid, writes)
    assert [r for r in audit_records(audit) if r.get("result") == "ok"] == []


async def try_apply(pool: Pool, preview: edge_ops.EdgePreview) -> edge_ops.EdgeOutcome:
    plan = preview.plan(Direction.TO_SLAVE)
    # The admin's apply comes after many failed polls: forget their reconnect back-off
    # (up to 30 s) so the test measures the outcome, not the wait (noted in SUMMARY.md).
    if pool.state(preview.node.id).error_kind not in STICKY_KINDS:
        pool.reset(preview.node)
    return await asyncio.wait_for(
        edge_ops.apply_switch(pool, preview.node, plan, wait=FAST_WAIT), 60
    )


async def setup(
    lab: Lab, tmp_path: Path, **kw: Any
) -> tuple[Inventory, Pool, StatusCollector, edge_ops.EdgePreview, Path]:
    inv, _ = lab_inventory(lab, tmp_path, edit=short_timeouts, **kw)
    audit = tmp_path / "audit.jsonl"
    pool = make_pool(inv, audit_path=audit)
    collector = StatusCollector(inv, pool)
    snaps = await poll(collector)
    assert_others_up(snaps)
    preview = await edge_ops.load_preview(pool, inv.site("demo"), inv.site("demo").edges[0])
    return inv, pool, collector, preview, audit


# --- node faults on the Edge: power off, hang, host key changed ---------------------------


FAULTS: dict[str, tuple[ReachState, str]] = {
    "power_off": (ReachState.REFUSED, "connection refused"),
    "hang": (ReachState.TIMEOUT, "timed out"),
    "rekey": (ReachState.HOST_KEY_CHANGED, "HOST KEY CHANGED"),
}


async def inject(lab: Lab, fault: str) -> None:
    if fault == "power_off":
        await lab.power_off(EDGE)
    elif fault == "hang":
        await lab.drop_connections(EDGE)  # a hung machine's old TCP sessions die too
        await lab.hang(EDGE, True)
    elif fault == "rekey":
        await lab.change_host_key(EDGE)
        await lab.drop_connections(EDGE)  # a reinstalled node: the old session is gone


async def clear(lab: Lab, fault: str) -> None:
    if fault == "power_off":
        await lab.power_on(EDGE)
    elif fault == "hang":
        await lab.hang(EDGE, False)
    elif fault == "rekey":
        # The admin checked the new fingerprint and replaced the known_hosts line.
        key = asyncssh.read_private_key(lab.host_key_path(EDGE))
        pub = key.export_public_key("openssh").decode().split()
        prefix = f"[127.0.0.1]:{lab.port(EDGE)} "
        lines = [
            f"{prefix}{pub[0]} {pub[1]}" if line.startswith(prefix) else line
            for line in lab.known_hosts_path.read_text().splitlines()
        ]
        lab.known_hosts_path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_edge_node_fault(lab: Lab, tmp_path: Path, fault: str) -> None:
    state, words = FAULTS[fault]
    inv, pool, collector, preview, audit = await setup(lab, tmp_path)
    old = env_bytes(lab)
    try:
        await inject(lab, fault)
        snaps = await poll_until(collector, EDGE, state)
        assert words.lower() in snaps[EDGE].reachability.message.lower()
        assert_others_up(snaps, EDGE)
        # The last good data is kept (the pane shows it as "was: ..."), marked not current.
        assert snaps[EDGE].edge is not None and snaps[EDGE].last_success_at is not None

        code, doc, table = await cli_status(inv)
        assert cli_node(doc, EDGE)["reachability"]["state"] == state.value
        assert code == doc["exit_code"] and code != 0
        assert all(
            cli_node(doc, n)["reachability"]["state"] == "ok" for n in lab.node_ids() if n != EDGE
        )
        edge_line = next(line for line in table.splitlines() if line.startswith(f"  {EDGE} "))
        assert "✖ down" in edge_line and state.value in edge_line

        # A switch tried now is refused before anything is written.
        outcome = await try_apply(pool, preview)
        assert not outcome.ok and outcome.state is NodeState.UNCHANGED, outcome.message
        assert outcome.failed_step is edge_ops.EdgeStep.CHECK
        assert "stopped at step 1/4 (check)" in outcome.message, outcome.message
        assert env_bytes(lab) == old and backups(lab) == []
        assert_no_mutation_sent(lab, audit)

        await clear(lab, fault)
        snaps = await poll_until(collector, EDGE, ReachState.OK)
        assert_others_up(snaps)
        assert pool.state(EDGE).state is LinkState.CONNECTED
        # And the change goes through once the node is back.
        outcome = await try_apply(
            pool, await edge_ops.load_preview(pool, inv.site("demo"), inv.site("demo").edges[0])
        )
        assert outcome.ok and outcome.state is NodeState.APPLIED, outcome.message
        assert env_bytes(lab) == preview.plan(Direction.TO_SLAVE).new_text.encode()
        assert [b.read_bytes() for b in backups(lab)] == [old]
    finally:
        await pool.close()


async def test_slow_node_answers_and_others_do_not_wait(lab: Lab, tmp_path: Path) -> None:
    inv, pool, collector, preview, _audit = await setup(lab, tmp_path)
    try:
        await lab.slow(EDGE, 0.4)
        finished: list[str] = []
        (report,) = await collector.poll(on_node=lambda s: finished.append(s.node_id))
        snaps = report.snapshot.nodes
        assert snaps[EDGE].reachability.ok
        assert_others_up(dict(snaps))
        # Rows arrive as nodes answer: the slow node is reported after every other one.
        assert finished[-1] == EDGE, finished
        code, doc, _ = await cli_status(inv)
        assert code == 0 and cli_node(doc, EDGE)["reachability"]["state"] == "ok"
        # A slow node completes a change; it is only slower.
        outcome = await try_apply(pool, preview)
        assert outcome.ok and outcome.state is NodeState.APPLIED, outcome.message
        await lab.slow(EDGE, 0)
        assert_others_up(await poll(collector))
    finally:
        await pool.close()


# --- auth refused -----------------------------------------------------------------------


async def test_auth_refused_is_classified_and_never_retried(lab: Lab, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger_ed25519"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(stranger)
    stranger.chmod(0o600)
    good = str(lab.client_key_path)
    inv, _ = lab_inventory(
        lab, tmp_path, edit=lambda t: short_timeouts(t).replace(good, str(stranger))
    )
    audit = tmp_path / "audit.jsonl"
    pool = make_pool(inv, audit_path=audit)
    collector = StatusCollector(inv, pool)
    attempts: list[str] = []
    real_connect = asyncssh.connect

    def counting(host: str, *a: Any, **kw: Any) -> Any:
        attempts.append(f"{host}:{kw.get('port')}")
        return real_connect(host, *a, **kw)

    try:
        asyncssh_connect = pytest.MonkeyPatch()
        asyncssh_connect.setattr(asyncssh, "connect", counting)
        try:
            for _ in range(3):
                snaps = await poll(collector)
                for nid, snap in snaps.items():
                    assert snap.reachability.state is ReachState.AUTH, (nid, snap.reachability)
                    assert "authentication refused" in snap.reachability.message
        finally:
            asyncssh_connect.undo()
        # One attempt per node, over three polls: an auth failure is never retried.
        assert len(attempts) == len(lab.node_ids()), attempts
        assert all(
            pool.state(n).failures == 1 and pool.state(n).error_kind is ErrorKind.AUTH
            for n in lab.node_ids()
        )
        code, doc, table = await cli_status(inv)
        assert code == 2 and cli_node(doc, EDGE)["reachability"]["state"] == "auth"
        assert "✖ down" in table and "auth: authentication refused" in table
        # Every figure says how old it is: the poll's time, and since when a node is down.
        assert re.search(r"^Site demo: .*\(as of \d\d:\d\d:\d\d\)$", table, re.MULTILINE)
        assert re.search(r"auth: authentication refused.*\(since \d\d:\d\d:\d\d\)", table)
        preview_error: Exception | None = None
        try:
            await edge_ops.load_preview(pool, inv.site("demo"), inv.site("demo").edges[0])
        except Exception as exc:
            preview_error = exc
        assert getattr(preview_error, "kind", None) is ErrorKind.AUTH
        assert backups(lab) == [] and audit_records(audit) == []

        # Fixed inventory: the next CLI run works; the pool sees new settings and retries.
        fixed, _ = lab_inventory(lab, tmp_path, edit=short_timeouts, name="fixed.toml")
        code, doc, _ = await cli_status(fixed)
        assert code == 0, doc
        snaps = await poll(StatusCollector(fixed, pool))
        assert_others_up(snaps)
    finally:
        await pool.close()


# --- connection dropped mid-command and mid-stream ---------------------------------------


async def test_drop_mid_command(lab: Lab, tmp_path: Path) -> None:
    _inv, pool, collector, _, audit = await setup(lab, tmp_path)
    try:
        await lab.slow(EDGE, 1.5)
        sent = len(lab.commands(EDGE))
        task = asyncio.create_task(poll(collector))
        await eventually(lambda: len(lab.commands(EDGE)) > sent, 10, "a command in flight")
        dropped = await lab.drop_connections(EDGE)
        assert dropped >= 1
        snaps = await asyncio.wait_for(task, 30)
        reach = snaps[EDGE].reachability
        # Half an answer is no answer: the node is reported, never half-parsed.
        assert reach.state in (ReachState.DROPPED, ReachState.REFUSED), reach
        assert_others_up(snaps, EDGE)
        await lab.slow(EDGE, 0)
        snaps = await poll_until(collector, EDGE, ReachState.OK)
        assert_others_up(snaps)
        assert_no_mutation_sent(lab, audit)
    finally:
        await pool.close()


async def test_drop_mid_stream_resumes_without_duplicates(lab: Lab, tmp_path: Path) -> None:
    inv, _ = lab_inventory(lab, tmp_path)
    pool = make_pool(inv, audit_path=tmp_path / "audit.jsonl")
    node = inv.node("demo.cc.master")
    follower = LogFollower(pool, node, find_stream(node, "xuc"), tail=20)
    lines: list[str] = []
    gaps: list[str] = []
    try:
        async with follower:

            async def consume() -> None:
                async for event in follower:
                    if isinstance(event, LogLines):
                        lines.extend(event.lines)
                    elif isinstance(event, LogGap):
                        gaps.append(event.marker)

            reader = asyncio.create_task(consume())
            await eventually(lambda: len(lines) >= 5, 15, "first lines")
            await lab.drop_connections(node.id)
            await eventually(
                lambda: follower.stats.reconnects >= 1 and bool(gaps),
                20,
                "a gap marker and a reconnect",
            )
            # The other nodes do not notice.
            others = await poll(StatusCollector(inv, pool))
            assert_others_up(others)
            shown = len(lines)
            await eventually(
                lambda: len(lines) > shown or follower.state.value == "streaming",
                20,
                "streaming again",
            )
            await follower.stop()
            await asyncio.wait_for(reader, 10)
        assert any("lost" in g.lower() or "connection" in g.lower() for g in gaps), gaps
        # Docker timestamps are unique per line here: nothing shown twice after resume.
        stamped = [line for line in lines if line[:4].isdigit()]
        assert len(stamped) == len(set(stamped)), "duplicate lines after the resume"
    finally:
        await pool.close()


# --- jump host lost ----------------------------------------------------------------------

BASTION = "demo.mds.mds2"


async def test_jump_host_lost(lab: Lab, tmp_path: Path) -> None:
    port = lab.port(BASTION)

    def via_bastion(text: str) -> str:
        return short_timeouts(text).replace(
            "[ssh]\n", f'[ssh]\njump = "root@127.0.0.1:{port}"\n', 1
        )

    inv, _ = lab_inventory(lab, tmp_path, edit=via_bastion)
    assert all(n.ssh.jump for n in inv.nodes())
    pool = make_pool(inv, audit_path=tmp_path / "audit.jsonl")
    collector = StatusCollector(inv, pool)
    try:
        snaps = await poll(collector)
        assert_others_up(snaps)
        assert len(pool._jumps) == 1  # one shared jump connection for every node
        await lab.power_off(BASTION)
        snaps = await poll_until(collector, MASTER, ReachState.REFUSED)
        for nid, snap in snaps.items():
            assert not snap.reachability.ok, nid
            assert "jump host" in snap.reachability.message, snap.reachability.message
        code, doc, _ = await cli_status(inv)
        assert code == 2
        assert all(cli_node(doc, n)["reachability"]["state"] != "ok" for n in lab.node_ids())
        assert not [c for n in lab.node_ids() for c in lab.commands(n) if c["kind"] == "sftp"]

        await lab.power_on(BASTION)
        snaps = await poll_until(collector, MASTER, ReachState.OK)
        await eventually(lambda: _all_ok(collector), 20, "all back")
    finally:
        await pool.close()


async def _all_ok(collector: StatusCollector) -> bool:
    return all(s.reachability.ok for s in (await poll(collector)).values())


# --- master/slave link cut ---------------------------------------------------------------


async def test_link_cut_split_brain_then_heal(ticking_lab: Lab, tmp_path: Path) -> None:
    lab = ticking_lab
    inv, pool, collector, _, audit = await setup(lab, tmp_path)
    try:
        await lab.cut_link("demo")

        async def verdict() -> str:
            (report,) = await collector.poll()
            return report.verdicts.primary.code

        await eventually(lambda: _is(verdict, "split_brain"), 30, "split brain", interval=0.3)
        snaps = await poll(collector)
        assert_others_up(snaps)  # every node answers: the link is between master and slave
        code, doc, table = await cli_status(inv)
        assert code == 2 and doc["sites"][0]["verdicts"]["verdict"] == "split_brain"
        assert "Split brain" in table
        await lab.heal_link("demo")
        # The slave's cron gives telephony back to the master once it answers again.
        await eventually(lambda: _is(verdict, "normal"), 40, "back to normal", interval=0.3)
        # Polling read only, whatever the verdict: the product sent nothing that mutates.
        assert audit_records(audit) == []
    finally:
        await pool.close()


async def _is(get: Any, want: str) -> bool:
    return bool(await get() == want)


# --- an Edge apply whose connection is cut at each step ---------------------------------


@pytest.mark.parametrize("step", [s.value for s in APPLY_STEPS])
async def test_edge_apply_connection_cut_at_step(lab: Lab, tmp_path: Path, step: str) -> None:
    _inv, pool, collector, preview, _audit = await setup(lab, tmp_path)
    old = env_bytes(lab)
    new = preview.plan(Direction.TO_SLAVE).new_text.encode()

    async def cut(event: object) -> None:
        if isinstance(event, StepStarted) and event.step.value == step:
            await lab.drop_connections(EDGE)

    try:
        outcome = await asyncio.wait_for(
            edge_ops.apply_switch(
                pool, preview.node, preview.plan(Direction.TO_SLAVE), on_event=cut, wait=FAST_WAIT
            ),
            60,
        )
        now = env_bytes(lab)
        assert now in (old, new), "the .env is neither the old nor the new content"
        if now != old:
            assert [b.read_bytes() for b in backups(lab)] == [old]
        if outcome.state is NodeState.UNCHANGED:
            assert now == old
        elif outcome.state in (NodeState.WRITTEN, NodeState.APPLIED):
            assert now == new
        assert not [n for n in env_dir_names(lab) if "resil-tmp" in n]
        assert outcome.message
        assert_others_up(await poll(collector), EDGE)
    finally:
        await pool.close()
