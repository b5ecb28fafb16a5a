"""The faults that are about OpenSSH, against real sshd (one sshd per lab node on 127.0.0.x).

Power off = the node's sshd and its sessions SIGKILLed; hang = the sshd listener SIGSTOPped
(the kernel still accepts TCP, nobody answers); drop = every session process of the node
SIGKILLed while the listener lives; host key changed = known_hosts holds another key; auth
refused = the inventory's identity_file is a key sshd does not know; jump host lost = every
node reached through one lab node's sshd (direct-tcpip), whose sshd is then killed.
Each test restores what it broke: the tier is shared by the module.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from labkit import eventually
from sshd_fixture import SshdLab

from resil_tui.core.node_status import NodeSnapshot, ReachState
from resil_tui.inventory import load_inventory
from resil_tui.inventory_model import Inventory
from resil_tui.ops.logs import LogFollower, LogGap, LogLines, find_stream
from resil_tui.ops.session import make_pool
from resil_tui.ops.status import StatusCollector
from resil_tui.remote.errors import ErrorKind
from resil_tui.remote.pool import Pool

pytestmark = pytest.mark.sshd

EDGE = "demo.edge"
MASTER = "demo.xivo.master"
BASTION = "demo.mds.mds2"


def inventory(
    lab: SshdLab, tmp_path: Path, edit: Callable[[str], str] | None = None, name: str = "hosts.toml"
) -> Inventory:
    text = lab.inventory_path.read_text()
    text = text.replace("connect_timeout = 10.0", "connect_timeout = 2.0").replace(
        "command_timeout = 60.0", "command_timeout = 4.0"
    )
    if edit is not None:
        text = edit(text)
    path = tmp_path / name
    path.write_text(text)
    return load_inventory(path)


async def poll(collector: StatusCollector) -> dict[str, NodeSnapshot]:
    (report,) = await collector.poll()
    return dict(report.snapshot.nodes)


async def poll_until(
    collector: StatusCollector, node_id: str, state: ReachState, timeout: float = 30.0
) -> dict[str, NodeSnapshot]:
    found: dict[str, NodeSnapshot] = {}

    async def check() -> bool:
        nonlocal found
        found = await poll(collector)
        return found[node_id].reachability.state is state

    try:
        await eventually(check, timeout, f"{node_id} {state.value}", interval=0.3)
    except AssertionError:
        got = {n: (s.reachability.state.value, s.reachability.message) for n, s in found.items()}
        raise AssertionError(f"{node_id} never {state.value}: {got}") from None
    return found


def others_up(snaps: dict[str, NodeSnapshot], *down: str) -> dict[str, str]:
    return {
        n: f"{s.reachability.state.value}: {s.reachability.message}"
        for n, s in snaps.items()
        if n not in down and not s.reachability.ok
    }


@contextlib.asynccontextmanager
async def collector_of(inv: Inventory, tmp_path: Path) -> Iterator[tuple[StatusCollector, Pool]]:  # type: ignore[misc]
    pool = make_pool(inv, audit_path=tmp_path / "audit.jsonl")
    try:
        yield StatusCollector(inv, pool), pool
    finally:
        await pool.close()
    # Status polls never send anything that changes a node.
    assert not (tmp_path / "audit.jsonl").exists()


def kill_sessions(lab: SshdLab, node_id: str) -> int:
    """SIGKILL every session under the node's sshd: the connections drop, the node stays."""
    procs = lab.node_processes(node_id)
    for p in procs:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p.pid, signal.SIGKILL)
    return len(procs)


async def test_power_off_then_on(sshd_module: SshdLab, tmp_path: Path) -> None:
    lab = sshd_module
    inv = inventory(lab, tmp_path)
    async with collector_of(inv, tmp_path) as (collector, _):
        assert others_up(await poll(collector)) == {}
        lab.stop_node(EDGE)
        try:
            snaps = await poll_until(collector, EDGE, ReachState.REFUSED)
            assert "connection refused" in snaps[EDGE].reachability.message
            assert others_up(snaps, EDGE) == {}
        finally:
            lab.start_node(EDGE)
        snaps = await poll_until(collector, EDGE, ReachState.OK)
        assert others_up(snaps) == {}


async def test_hung_sshd_times_out_others_answer(sshd_module: SshdLab, tmp_path: Path) -> None:
    lab = sshd_module
    inv = inventory(lab, tmp_path)
    pid = lab.node(EDGE).pid
    assert pid is not None
    async with collector_of(inv, tmp_path) as (collector, _):
        os.kill(pid, signal.SIGSTOP)
        try:
            finished: list[str] = []
            (report,) = await collector.poll(on_node=lambda s: finished.append(s.node_id))
            snaps = dict(report.snapshot.nodes)
            assert snaps[EDGE].reachability.state is ReachState.TIMEOUT, snaps[EDGE]
            assert others_up(snaps, EDGE) == {}
            assert finished[-1] == EDGE  # the others were reported without waiting for it
        finally:
            os.kill(pid, signal.SIGCONT)
        snaps = await poll_until(collector, EDGE, ReachState.OK)
        assert others_up(snaps) == {}


async def test_slow_node(sshd_module: SshdLab, tmp_path: Path) -> None:
    lab = sshd_module
    inv = inventory(lab, tmp_path)
    async with collector_of(inv, tmp_path) as (collector, _):
        with lab.editing() as world:
            world.set_node_flag(EDGE, "slow", 1.0)
        try:
            finished: list[str] = []
            (report,) = await collector.poll(on_node=lambda s: finished.append(s.node_id))
            assert report.snapshot.nodes[EDGE].reachability.ok
            assert others_up(dict(report.snapshot.nodes)) == {}
            assert finished[-1] == EDGE
        finally:
            with lab.editing() as world:
                world.set_node_flag(EDGE, "slow", 0.0)


async def test_connection_dropped_mid_command(sshd_module: SshdLab, tmp_path: Path) -> None:
    lab = sshd_module
    inv = inventory(lab, tmp_path)
    async with collector_of(inv, tmp_path) as (collector, _):
        assert others_up(await poll(collector)) == {}
        with lab.editing() as world:
            world.set_node_flag(EDGE, "slow", 2.0)
        try:
            task = asyncio.create_task(poll(collector))
            await eventually(lambda: bool(lab.node_commands(EDGE)), 10, "a command running")
            assert kill_sessions(lab, EDGE) > 0
            snaps = await asyncio.wait_for(task, 30)
            reach = snaps[EDGE].reachability
            assert reach.state is ReachState.DROPPED, reach
            assert others_up(snaps, EDGE) == {}
        finally:
            with lab.editing() as world:
                world.set_node_flag(EDGE, "slow", 0.0)
        snaps = await poll_until(collector, EDGE, ReachState.OK)
        assert others_up(snaps) == {}


async def test_connection_dropped_mid_stream(sshd_module: SshdLab, tmp_path: Path) -> None:
    lab = sshd_module
    inv = inventory(lab, tmp_path)
    node = inv.node("demo.cc.slave")
    pool = make_pool(inv, audit_path=tmp_path / "audit.jsonl")
    follower = LogFollower(pool, node, find_stream(node, "xuc"), tail=10)
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
            await eventually(lambda: len(lines) >= 3, 20, "first lines")
            kill_sessions(lab, node.id)
            await eventually(
                lambda: follower.stats.reconnects >= 1 and bool(gaps),
                30,
                "gap marker and reconnect",
            )
            await eventually(lambda: follower.state.value == "streaming", 30, "streaming again")
            snaps = await poll(StatusCollector(inv, pool))
            assert others_up(snaps) == {}
            await follower.stop()
            await asyncio.wait_for(reader, 10)
        stamped = [line for line in lines if line[:4].isdigit()]
        assert len(stamped) == len(set(stamped)), "a line was shown twice after the resume"
    finally:
        await pool.close()
    # No `logs -f` left running on the node after the stop.
    await eventually(lambda: not lab.node_commands(node.id), 15, "no follow left on the node")


async def test_host_key_changed_then_fixed(sshd_module: SshdLab, tmp_path: Path) -> None:
    lab = sshd_module
    known = tmp_path / "known_hosts"
    good = lab.known_hosts.read_text()
    wrong = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(wrong)], check=True)
    other_key = " ".join(wrong.with_suffix(".pub").read_text().split()[:2])
    addr, port = lab.address(EDGE)
    prefix = f"[{addr}]:{port} "
    known.write_text(
        "".join(
            f"{prefix}{other_key}\n" if line.startswith(prefix) else line + "\n"
            for line in good.splitlines()
        )
    )
    inv = inventory(lab, tmp_path, lambda t: t.replace(str(lab.known_hosts), str(known)))
    async with collector_of(inv, tmp_path) as (collector, pool):
        snaps = await poll(collector)
        reach = snaps[EDGE].reachability
        assert reach.state is ReachState.HOST_KEY_CHANGED, reach
        assert str(known) in reach.message and "line 5" in reach.message
        assert others_up(snaps, EDGE) == {}
        # Refused again without a new attempt, until known_hosts is fixed.
        await poll(collector)
        assert pool.state(EDGE).failures == 1
        known.write_text(good)
        snaps = await poll_until(collector, EDGE, ReachState.OK)
        assert others_up(snaps) == {}


async def test_auth_refused_never_retried(sshd_module: SshdLab, tmp_path: Path) -> None:
    lab = sshd_module
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    inv = inventory(lab, tmp_path, lambda t: t.replace(str(lab.client_key), str(stranger)))

    def attempts() -> int:
        return lab.sshd_log(EDGE).count("Connection closed by authenticating user")

    before = attempts()
    async with collector_of(inv, tmp_path) as (collector, pool):
        for _ in range(3):
            snaps = await poll(collector)
            assert all(s.reachability.state is ReachState.AUTH for s in snaps.values()), snaps
        assert pool.state(EDGE).error_kind is ErrorKind.AUTH
    await eventually(lambda: attempts() > before, 10, "sshd logged the refused login")
    # Three polls, one attempt: a refused key is never tried again (no lockout).
    assert attempts() - before == 1
    fixed = inventory(lab, tmp_path, name="fixed.toml")
    async with collector_of(fixed, tmp_path / "fixed") as (collector, _):
        assert others_up(await poll(collector)) == {}


async def test_jump_host_lost(sshd_module: SshdLab, tmp_path: Path) -> None:
    lab = sshd_module
    addr, port = lab.address(BASTION)

    def via_bastion(text: str) -> str:
        return text.replace("[ssh]\n", f'[ssh]\njump = "{lab.user}@{addr}:{port}"\n', 1)

    inv = inventory(lab, tmp_path, via_bastion)
    assert all(n.ssh.jump for n in inv.nodes())
    async with collector_of(inv, tmp_path) as (collector, _):
        assert others_up(await poll(collector)) == {}
        lab.stop_node(BASTION)
        try:
            snaps = await poll_until(collector, MASTER, ReachState.REFUSED)
            for nid, snap in snaps.items():
                assert not snap.reachability.ok, nid
                assert "jump host" in snap.reachability.message, snap.reachability.message
        finally:
            lab.start_node(BASTION)

        async def all_back() -> bool:
            return others_up(await poll(collector)) == {}

        await eventually(all_back, 30, "every node back through the jump", interval=0.3)


@pytest.fixture(autouse=True)
def _tier_intact(sshd_module: SshdLab) -> Iterator[None]:
    yield
    for nid in sshd_module.nodes:
        if not sshd_module.is_running(nid):
            sshd_module.start_node(nid)
