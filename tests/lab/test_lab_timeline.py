"""Behaviour over time: xuc restart and readiness, log following, the failover cron."""

from __future__ import annotations

import asyncio
import time

from labkit import eventually

from resil_tui.lab.containers import READY_LINE
from resil_tui.lab.server import Lab
from tests.lab.conftest import connect, run

CC = "demo.cc.master"
M, S = "demo.xivo.master", "demo.xivo.slave"


async def xuc_log(lab: Lab, args: str = "") -> list[str]:
    res = await run(lab, CC, f"xivocc-dcomp logs {args} xuc")
    assert res.exit_status == 0, res.stderr
    return str(res.stdout).splitlines()


async def test_xuc_restart_not_ready_then_ready(lab: Lab) -> None:
    lab.world.set_timing(lab.world.timing.with_(xuc_ready=2.0))
    await lab.xuc_healthcheck(CC, True)  # none by default (unverified): ask for one
    assert READY_LINE in "\n".join(await xuc_log(lab))  # ready since the lab started
    restart = await run(lab, CC, "xivocc-dcomp restart xuc")
    assert restart.exit_status == 0
    assert "Container xivocc-xuc-1  Started" in str(restart.stderr)

    def since_restart(lines: list[str]) -> list[str]:
        starts = [i for i, line in enumerate(lines) if "Starting xuc" in line]
        return lines[starts[-1] :]

    early = since_restart(await xuc_log(lab))
    ps = await run(lab, CC, "xivocc-dcomp ps xuc")
    header, row = str(ps.stdout).splitlines()
    assert header.split() == ["NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS"]
    assert row.startswith("xivocc-xuc-1 ")
    if "(health: starting)" in row:  # still starting now, so the earlier log cannot be ready
        assert early and not any(READY_LINE in line for line in early)

    async def ready() -> bool:
        return any(READY_LINE in line for line in since_restart(await xuc_log(lab)))

    await eventually(ready, what="xuc readiness line")
    lines = since_restart(await xuc_log(lab))
    assert all(line.startswith("xuc-1  | ") for line in lines)
    ready_at = next(i for i, line in enumerate(lines) if READY_LINE in line)
    assert any("AMI connection established" in line for line in lines[:ready_at])

    async def healthy() -> bool:  # docker's next probe after the line, not the line itself
        return "(healthy)" in str((await run(lab, CC, "xivocc-dcomp ps xuc")).stdout)

    await eventually(healthy, what="compose health check passing")
    # Ongoing traffic after readiness.
    await eventually(lambda: _more_lines(lab, len(lines)), what="traffic after readiness")


async def _more_lines(lab: Lab, n: int) -> bool:
    starts = [i for i, line in enumerate(await xuc_log(lab)) if "Starting xuc" in line]
    return len((await xuc_log(lab))[starts[-1] :]) > n + 1


async def test_xuc_never_ready_fault(lab: Lab) -> None:
    await lab.xuc_never_ready(CC, True)
    await run(lab, CC, "xivocc-dcomp restart xuc")
    await eventually(lambda: _retries(lab, 3), what="AMI retry lines")
    lines = await xuc_log(lab, "--since 30s")
    start = max(i for i, line in enumerate(lines) if "Starting xuc" in line)
    assert not any(READY_LINE in line for line in lines[start:])
    await lab.xuc_never_ready(CC, False)

    async def ready() -> bool:
        lines = await xuc_log(lab, "--tail 30")
        return any(READY_LINE in line for line in lines)

    await eventually(ready, what="readiness once the fault is cleared")


async def _retries(lab: Lab, n: int) -> bool:
    return sum("retrying" in line for line in await xuc_log(lab, "--tail 20")) >= n


async def test_logs_follow_tail_and_since(lab: Lab) -> None:
    assert len(await xuc_log(lab, "--tail 3")) == 3
    stamped = await xuc_log(lab, "-t --tail 5")
    cut = stamped[2].split("|", 1)[1].split()[0]  # RFC 3339 timestamp of the 3rd line
    after = await xuc_log(lab, f"--since {cut}")
    assert len(after) >= 3 and after[0].split("|", 1)[1] in stamped[2]
    assert await xuc_log(lab, f"--since {time.time() + 3600:.0f}") == []
    async with connect(lab, CC) as conn:
        proc = await conn.create_process("xivocc-dcomp logs -f --tail 2 xuc", encoding="utf-8")
        first = [await proc.stdout.readline() for _ in range(2)]
        assert all(line.startswith("xuc-1  | ") for line in first)
        more = await asyncio.wait_for(proc.stdout.readline(), 10)  # new traffic arrives
        assert more.startswith("xuc-1  | ") and more not in first
        proc.close()
    # The follow ends on the server once the client is gone.
    server = lab._servers[CC]
    await eventually(lambda: not server.tasks, what="follow task to end")


async def test_tail_follow_sync_log(lab: Lab) -> None:
    async with connect(lab, M) as conn:
        proc = await conn.create_process("tail -F -n 1 /var/log/xivo-sync.log", encoding="utf-8")
        assert "Synchronization successful" in await proc.stdout.readline()
        await run(lab, M, "xivo-sync")
        line = await asyncio.wait_for(proc.stdout.readline(), 10)
        assert "Starting synchronization to 10.50.0.12" in line
        proc.close()


def _telephony(lab: Lab, node: str) -> str:
    st = lab.world.read_state(node)
    return next(s["state"] for s in st["services"] if s["name"] == "asterisk")


async def test_ticker_failover_and_failback(ticking_lab: Lab) -> None:
    lab = ticking_lab
    await eventually(lambda: "last_check" in lab.world.read_state(S), what="first cron run")
    assert _telephony(lab, S) == "stopped"
    await lab.power_off(M)
    await eventually(lambda: _telephony(lab, S) == "running", what="slave takes over")
    assert not (lab.world.node_root(S) / "var/lib/xivo/disabled").exists()
    await lab.power_on(M)
    await eventually(lambda: _telephony(lab, S) == "stopped", what="slave back to standby")
    assert (lab.world.node_root(S) / "var/lib/xivo/disabled").exists()
    syslog = (lab.world.node_root(S) / "var/log/syslog").read_text()
    assert "CRON" in syslog and "xivo-check-master-status 10.50.0.11" in syslog


async def test_ticker_split_brain_on_link_cut(ticking_lab: Lab) -> None:
    lab = ticking_lab
    await lab.cut_link()
    await eventually(lambda: _telephony(lab, S) == "running", what="split brain")
    assert _telephony(lab, M) == "running"  # both nodes run telephony: no fencing
    await lab.heal_link()
    await eventually(lambda: _telephony(lab, S) == "stopped", what="slave back to standby")
