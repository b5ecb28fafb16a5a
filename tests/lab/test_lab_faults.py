"""Network faults, persistence, scale, the sshd-tier dispatcher and the standalone runner."""

from __future__ import annotations

import asyncio
import gc
import itertools
import os
import socket
import sys
import time
import weakref
from pathlib import Path

import asyncssh
import pytest

from resil_tui.lab import emulation
from resil_tui.lab.emulation import LabWorld
from resil_tui.lab.faults import apply_fault
from resil_tui.lab.server import Lab
from resil_tui.lab.spec import LabSpec, LabTiming
from tests.lab.conftest import connect, run, ssh_cli

M, S = "demo.xivo.master", "demo.xivo.slave"


async def test_power_off_refuses_and_power_on_restores(lab: Lab) -> None:
    port = lab.port(M)
    await lab.power_off(M)
    with pytest.raises(OSError):
        await run(lab, M, "true")
    assert (await ssh_cli(lab, M, "true")).returncode == 255
    await lab.power_on(M)
    assert lab.port(M) == port
    assert (await run(lab, M, "xivo-service status")).exit_status == 0  # same host key
    assert (await ssh_cli(lab, M, "true")).returncode == 0


async def test_a_powered_off_node_keeps_its_port_from_other_listeners(lab: Lab) -> None:
    # Parallel test runs each start a lab on free loopback ports: a port given back at power
    # off could be taken by another lab, and the console would meet a "changed" host key.
    port = lab.port(M)
    await lab.power_off(M)
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)
    other = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with pytest.raises(OSError, match="in use"):
            other.bind(("127.0.0.1", port))
        other.bind(("127.0.0.1", 0))
        assert other.getsockname()[1] != port
    finally:
        other.close()
    await lab.power_on(M)
    assert (await run(lab, M, "true")).exit_status == 0


async def test_a_node_off_when_the_lab_reopens_keeps_its_port(tmp_path: Path) -> None:
    first = await Lab.start(tmp_path / "lab", timing=LabTiming.fast(), ticker=False)
    try:
        await first.power_off(S)
        port = first.port(S)
    finally:
        await first.stop()
    again = await Lab.start(tmp_path / "lab", timing=LabTiming.fast(), ticker=False)
    try:
        assert again.port(S) == port
        other = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            with pytest.raises(OSError, match="in use"):
                other.bind(("127.0.0.1", port))
        finally:
            other.close()
        await again.power_on(S)
        assert (await run(again, S, "true")).exit_status == 0
    finally:
        await again.stop()


async def test_hang_accepts_but_never_answers(lab: Lab) -> None:
    await lab.hang(M)
    with pytest.raises((asyncio.TimeoutError, TimeoutError)):
        await asyncio.wait_for(run(lab, M, "true"), 0.5)
    await lab.hang(M, False)
    assert (await run(lab, M, "true")).exit_status == 0


async def test_hang_also_stalls_commands_on_open_connections(lab: Lab) -> None:
    async with connect(lab, M) as conn:
        await lab.hang(M)
        with pytest.raises((asyncio.TimeoutError, TimeoutError)):
            await asyncio.wait_for(conn.run("true"), 0.3)


async def test_slow_adds_latency(lab: Lab) -> None:
    await lab.slow(M, 0.3)
    async with connect(lab, M) as conn:
        t0 = time.monotonic()
        assert (await conn.run("true")).exit_status == 0
        assert time.monotonic() - t0 >= 0.3  # a lower bound only: never flaky
    await lab.slow(M, 0)


async def test_the_labs_latency_holds_every_answer_and_a_follow_streams_on(
    tmp_path: Path,
) -> None:
    # The benchmarks' latency: no answer (output or exit status) sooner than it after the
    # line arrived, on an execution and on each line of a kept `sh`; a follow streams on.
    # Lower bounds only: never flaky.
    lat = 0.3
    lab = await Lab.start(
        tmp_path / "lab", timing=LabTiming.fast().with_(latency=lat), ticker=False
    )
    try:
        async with connect(lab, M) as conn:
            t0 = time.monotonic()
            res = await conn.run("printf 'a\\n'; printf 'b\\n' >&2; false", check=False)
            assert time.monotonic() - t0 >= lat
            assert (res.stdout, res.stderr, res.exit_status) == ("a\n", "b\n", 1)

            proc = await conn.create_process("sh")
            for n in (1, 2):
                t0 = time.monotonic()
                proc.stdin.write(f"false; printf '%s %d\\n' {n} \"$?\"\n")
                assert await proc.stdout.readline() == f"{n} 1\n"
                assert time.monotonic() - t0 >= lat
            proc.stdin.write_eof()
            assert (await proc.wait()).exit_status == 0

        async with connect(lab, "demo.cc.master") as conn:
            t0 = time.monotonic()
            follow = await conn.create_process("xivocc-dcomp logs -f --tail 1 xuc")
            first = await asyncio.wait_for(follow.stdout.readline(), 10)
            assert first and time.monotonic() - t0 >= lat
            assert (await run(lab, "demo.cc.master", "xivocc-dcomp restart xuc")).exit_status == 0
            assert await asyncio.wait_for(follow.stdout.readline(), 10)  # streams on
            follow.close()
    finally:
        await lab.stop()


class _SentOnDrain:
    """Streams like the sshd tier's dispatcher: stdout leaves only when drained."""

    is_pty = False

    def __init__(self) -> None:
        self.lines: asyncio.Queue[bytes] = asyncio.Queue()
        self.pending: list[bytes] = []
        self.sent: list[bytes] = []

    async def read(self, n: int = -1) -> bytes:
        return b""

    async def readline(self) -> bytes:
        return await self.lines.get()

    def write(self, data: bytes) -> None:
        self.pending.append(data)

    def write_err(self, data: bytes) -> None:
        self.pending.append(data)

    async def drain(self) -> None:
        self.sent += self.pending
        self.pending = []


async def test_a_kept_shells_answer_is_drained_once_its_latency_is_over(tmp_path: Path) -> None:
    # Review finding: the `sh`'s own hold let the first line's answer go on a later turn
    # of the loop, after the shell's drain: behind sshd (stdout sent on drain only) the
    # client waited for an answer while the shell waited for the next line.
    world = LabWorld.create(tmp_path / "lab", LabSpec.demo(), LabTiming.fast().with_(latency=0.2))
    io = _SentOnDrain()
    shell = asyncio.ensure_future(emulation.run_command(world, M, "sh", io))
    io.lines.put_nowait(b"false; printf '%s\\n' \"$?\"\n")
    for _ in range(100):
        if io.sent:
            break
        await asyncio.sleep(0.05)
    assert b"".join(io.sent) == b"1\n" and not shell.done()
    io.lines.put_nowait(b"")
    assert await asyncio.wait_for(shell, 5) == 0


async def test_on_a_lab_with_latency_lines_start_their_work_one_per_turn_in_order() -> None:
    # A burst of lines all started at once would run before the loop reads its sockets
    # again: the next lines' clocks would start behind the whole burst's work.
    loop = asyncio.get_running_loop()
    turns = emulation._turns_of(loop)
    ticks, ticking = 0, True

    def tick() -> None:  # once per turn of the loop, as its reads of the sockets
        nonlocal ticks
        ticks += 1
        if ticking:
            loop.call_soon(tick)

    loop.call_soon(tick)
    started: list[tuple[int, int]] = []

    async def line(n: int) -> None:
        await turns.turn()
        started.append((n, ticks))

    await asyncio.gather(*(line(n) for n in range(6)))
    ticking = False
    assert [n for n, _ in started] == list(range(6))
    at = [t for _, t in started]
    assert all(later > earlier for earlier, later in itertools.pairwise(at)), at


async def test_a_line_given_up_on_before_its_turn_passes_it_on() -> None:
    turns = emulation._turns_of(asyncio.get_running_loop())
    gone, waiting = turns.turn(), turns.turn()
    gone.cancel()  # its peer left while it waited
    await asyncio.wait_for(waiting, 5)
    await asyncio.wait_for(turns.turn(), 5)  # and the next burst is served as the first


async def test_a_lines_latency_runs_from_its_arrival_not_from_its_turn() -> None:
    loop = asyncio.get_running_loop()
    turns = emulation._turns_of(loop)
    ahead = [turns.turn() for _ in range(50)]  # fifty lines read before this one
    granted: list[float] = []
    ahead[0].add_done_callback(lambda _: granted.append(loop.time()))
    arrived = loop.time()
    held = await emulation._Latency.start(_SentOnDrain(), 10.0)
    assert all(f.done() for f in ahead)
    assert arrived <= held._deadline - 10.0 < granted[0]  # before the first turn given


async def test_the_labs_turns_keep_no_event_loop_alive() -> None:
    loops: list[weakref.ref[asyncio.AbstractEventLoop]] = []

    def one_loop() -> None:
        async def line() -> None:
            loop = asyncio.get_running_loop()
            loops.append(weakref.ref(loop))
            await emulation._turns_of(loop).turn()

        asyncio.run(line())

    for _ in range(3):
        await asyncio.to_thread(one_loop)  # a loop of its own: asyncio.run refuses nesting
    gc.collect()
    assert len(loops) == 3 and all(ref() is None for ref in loops)


async def test_drop_connections_mid_stream(lab: Lab) -> None:
    async with connect(lab, "demo.cc.master") as conn:
        proc = await conn.create_process("xivocc-dcomp logs -f --tail 1 xuc")
        await proc.stdout.readline()
        assert await lab.drop_connections("demo.cc.master") == 1
        await asyncio.wait_for(conn.wait_closed(), 5)
    assert (await run(lab, "demo.cc.master", "true")).exit_status == 0  # new ones are fine


async def test_host_key_change_is_refused(lab: Lab) -> None:
    await lab.change_host_key(M)
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        await run(lab, M, "true")
    cli = await ssh_cli(lab, M, "true")
    assert cli.returncode == 255 and "HOST IDENTIFICATION HAS CHANGED" in cli.stderr


async def test_state_and_ports_survive_a_restart(tmp_path: Path) -> None:
    d = tmp_path / "lab"
    lab = await Lab.start(d, timing=LabTiming.fast(), ticker=False)
    ports = {n: lab.port(n) for n in lab.node_ids()}
    await lab.remove_sync_key()
    await lab.stop()
    again = await Lab.start(d, ticker=False)
    try:
        assert {n: again.port(n) for n in again.node_ids()} == ports
        assert (await run(again, M, "test -e /root/.ssh/xivo_id_rsa")).exit_status == 1
    finally:
        await again.stop()
    with pytest.raises(ValueError):
        await Lab.start(d, spec=LabSpec.many(2))


async def test_two_hundred_nodes_in_one_process(tmp_path: Path) -> None:
    spec = LabSpec.many(29)
    assert len(spec.nodes()) == 203
    lab = await Lab.start(
        tmp_path / "big", spec=spec, timing=LabTiming.fast().with_(latency=0.01), ticker=False
    )
    try:
        last = lab.node_ids()[-1]
        res = await run(lab, "s029.xivo.slave", "cat /etc/xivo/ha.conf")
        assert '"remote_address": "10.100.28.11"' in str(res.stdout)
        assert (await run(lab, last, "xivo-service status")).exit_status == 0
    finally:
        await lab.stop()


async def test_apply_fault_language(lab: Lab) -> None:
    assert "power-off NODE" in await apply_fault(lab, ["help"])
    assert "powered off" in await apply_fault(lab, ["power-off", "xivo.master"])
    assert "POWERED OFF" in await apply_fault(lab, ["status"])
    await apply_fault(lab, ["power-on", "xivo.master"])
    await apply_fault(lab, ["fail-replication", "on"])
    assert lab.world.fault("fail_replication") is True
    await apply_fault(lab, ["slow", "mds1", "0.5"])
    assert lab.world.node_flags("demo.mds.mds1")["slow"] == 0.5
    await apply_fault(lab, ["xuc-never-ready", "cc.slave", "on"])
    assert lab.world.node_flags("demo.cc.slave")["xuc_never_ready"] is True
    await apply_fault(lab, ["cut-link"])
    assert lab.world.link_cut(M, S)
    with pytest.raises(KeyError):
        await apply_fault(lab, ["hang", "master"])  # ambiguous: xivo.master or cc.master
    with pytest.raises(ValueError):
        await apply_fault(lab, ["slow", "edge"])
    with pytest.raises(ValueError):
        await apply_fault(lab, ["xuc-never-ready", "edge", "on"])


async def _dispatch(lab_dir: Path, node: str, command: str) -> tuple[int, str, str]:
    env = {**os.environ, "SSH_ORIGINAL_COMMAND": command}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "resil_tui.lab.dispatch",
        "--lab-dir",
        str(lab_dir),
        "--node",
        node,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_dispatch_entry_point(tmp_path: Path) -> None:
    world = LabWorld.create(tmp_path / "lab", LabSpec.demo(), LabTiming.fast())
    code, out, _ = await _dispatch(world.lab_dir, S, "xivo-service status")
    assert code == 1 and "\tstopped\t\tasterisk" in out
    code, _, err = await _dispatch(world.lab_dir, S, "")
    assert code == 1 and "interactive shells are not emulated" in err
    world.set_fault("fail_replication", True)
    code, out, _ = await _dispatch(world.lab_dir, M, "xivo-master-slave-db-replication 10.50.0.12")
    assert code == 1 and out.startswith("Slave replication failed: ")
    assert world.commands(M)[-1]["argv"] == ["xivo-master-slave-db-replication", "10.50.0.12"]


async def test_standalone_runner(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "resil_tui.lab.standalone",
        "--state-dir",
        str(tmp_path / "s"),
        "--fast",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    first = [(await asyncio.wait_for(proc.stdout.readline(), 20)).decode() for _ in range(3)]
    assert first[1].startswith("inventory: ") and "xivo-service status all" in first[2]
    out, err = await asyncio.wait_for(
        proc.communicate(b"power-off xivo.slave\nbogus\nstatus\nquit\n"), 20
    )
    text = out.decode()
    assert proc.returncode == 0, err.decode()
    assert "demo.xivo.slave powered off" in text and "error: unknown command" in text
    assert "lab stopped" in text
    assert (tmp_path / "s" / "inventory.toml").exists()
