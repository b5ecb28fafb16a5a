"""ops.logs against the in-process lab over real SSH: follow, drop and resume, readiness."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from resil_tui.core.logbuf import is_gap_marker, parse_line_time
from resil_tui.inventory_model import Inventory
from resil_tui.lab.server import Lab
from resil_tui.ops.logs import (
    Backoff,
    FollowState,
    LogFollower,
    LogGap,
    LogLines,
    find_stream,
    follow,
    wait_until_ready,
)
from resil_tui.remote import commands as cat
from resil_tui.remote.pool import Pool

CC = "demo.cc.master"
FAST = Backoff(base=0.05, cap=0.2)


@pytest.fixture(autouse=True)
def _xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


async def eventually(check: object, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def running_commands(lab: Lab, node_id: str) -> int:
    # The lab server keeps one task per command still running on the node.
    return len(lab._server(node_id).tasks)


async def collect(
    follower: LogFollower, seconds: float, out: list[str], until: object = None
) -> None:
    deadline = time.monotonic() + seconds
    async with asyncio.timeout(seconds + 5):
        async for event in follower:
            if isinstance(event, LogLines):
                out.extend(event.lines)
            elif isinstance(event, LogGap):
                out.append(event.marker)
            if callable(until) and until(out):
                return
            if time.monotonic() > deadline:
                return


async def test_follow_runs_on_a_pty_and_stop_ends_the_remote_command(
    lab: Lab, inventory: Inventory, pool: Pool
) -> None:
    node = inventory.node(CC)
    lines: list[str] = []
    async with follow(pool, node, "xuc", tail=5) as follower:
        await collect(follower, 3, lines, until=lambda out: len(out) >= 8)
        assert running_commands(lab, CC) == 1
    assert follower.state is FollowState.STOPPED
    assert len(lines) >= 8
    assert all(line.startswith("xuc-1") for line in lines)
    # History first (--tail 5), then live lines: all in time order, each one once.
    times = [parse_line_time(line) for line in lines]
    assert None not in times and times == sorted(times)  # type: ignore[type-var]
    assert len(set(lines)) == len(lines)
    (sent,) = [c for c in lab.commands(CC) if c["argv"][:2] == ["xivocc-dcomp", "logs"]]
    assert sent["argv"] == ["xivocc-dcomp", "logs", "-f", "--tail", "5", "-t", "xuc"]
    assert sent["pty"] is True
    await eventually(lambda: running_commands(lab, CC) == 0, what="remote logs -f ended")


async def test_dropped_connection_shows_a_gap_and_resumes_without_duplicates(
    lab: Lab, inventory: Inventory, pool: Pool
) -> None:
    node = inventory.node(CC)
    lines: list[str] = []
    async with follow(pool, node, "xuc", tail=20, backoff=FAST) as follower:
        await collect(follower, 3, lines, until=lambda out: len(out) >= 25)
        before = len(lines)
        assert await lab.drop_connections(CC) >= 1
        await collect(
            follower,
            6,
            lines,
            until=lambda out: sum(1 for line in out[before:] if not is_gap_marker(line)) >= 5,
        )
    markers = [line for line in lines if is_gap_marker(line)]
    assert any("connection lost" in m and "resumed" not in m for m in markers), markers
    assert any("resumed at" in m for m in markers), markers
    real = [line for line in lines if not is_gap_marker(line)]
    assert len(set(real)) == len(real), "a line was shown twice after the resume"
    # The stream continued after the gap with newer lines.
    gap_at = lines.index(markers[0])
    after = [line for line in lines[gap_at:] if not is_gap_marker(line)]
    assert after and parse_line_time(after[-1]) > parse_line_time(lines[gap_at - 1])  # type: ignore[operator]
    assert follower.stats.reconnects == 1
    resumed = [c["argv"] for c in lab.commands(CC) if "logs" in c["argv"]][-1]
    assert "--since" in resumed and "-f" in resumed


async def test_tail_stream_resumes_by_tail_without_duplicates(
    lab: Lab, inventory: Inventory, pool: Pool
) -> None:
    node = inventory.node("demo.xivo.master")
    log = lab.world.node_root(node.id) / "var/log/xivo-sync.log"

    def add(start: int, count: int) -> None:
        with log.open("a") as f:
            for i in range(start, start + count):
                f.write(f"2026-11-25 10:00:{i % 60:02d},{i:03d} [42] (INFO): line {i}\n")

    stream = find_stream(node, "xivo-sync")
    lines: list[str] = []
    async with LogFollower(pool, node, stream, tail=3, backoff=FAST) as follower:
        # The lab's own sync log history first: then the remote tail is following.
        await collect(follower, 3, lines, until=lambda out: len(out) >= 3)
        add(0, 10)
        await collect(follower, 3, lines, until=lambda out: any("line 9" in s for s in out))
        await lab.drop_connections(node.id)
        add(10, 5)
        await collect(follower, 6, lines, until=lambda out: any("line 14" in s for s in out))
    numbered = [line for line in lines if "(INFO): line " in line]
    assert [int(line.rsplit(" ", 1)[1]) for line in numbered] == list(range(15))
    assert any(is_gap_marker(line) for line in lines)
    tails = [c["argv"] for c in lab.commands(node.id) if c["argv"][:2] == ["tail", "-F"]]
    # Resumed with a small tail, no longer than what was seen (3 + 10 lines).
    assert tails[-1][:4] == ["tail", "-F", "-n", "13"]


async def test_readiness_found_after_a_restart(lab: Lab, inventory: Inventory, pool: Pool) -> None:
    node = inventory.node(CC)
    not_before = datetime.now(UTC)
    restart = await pool.run(node, cat.xivocc_restart("xuc"))
    assert restart.ok
    seen: list[str] = []
    result = await wait_until_ready(
        pool, node, timeout=10, not_before=not_before, on_line=seen.append
    )
    assert result.ready, result.summary
    assert result.matched_line is not None and "Listening for HTTP on" in result.matched_line
    assert result.matched_time is not None and result.matched_time >= not_before
    assert seen and seen[-1] == result.matched_line
    assert "--since" in result.command
    await eventually(lambda: running_commands(lab, CC) == 0, what="follow ended")


async def test_readiness_times_out_and_ignores_the_previous_start(
    lab: Lab, inventory: Inventory, pool: Pool
) -> None:
    node = inventory.node(CC)
    # A first restart leaves a fresh readiness line in the history...
    assert (await pool.run(node, cat.xivocc_restart("xuc"))).ok
    first = await wait_until_ready(
        pool, node, timeout=10, not_before=datetime.now(UTC).replace(microsecond=0)
    )
    assert first.ready, first.summary
    # ...then xuc never becomes ready again: that old line must not satisfy the wait.
    await lab.xuc_never_ready(CC)
    not_before = datetime.now(UTC)
    assert (await pool.run(node, cat.xivocc_restart("xuc"))).ok
    result = await wait_until_ready(pool, node, timeout=1.5, not_before=not_before)
    assert not result.ready and result.timed_out
    assert result.stale_matches >= 1
    assert "not ready" in result.summary
    # Without not_before, the history's readiness line does count (the documented meaning).
    history = await wait_until_ready(pool, node, timeout=5, tail=500)
    assert history.ready
    await eventually(lambda: running_commands(lab, CC) == 0, what="follow ended")


async def test_unknown_stream_is_refused(inventory: Inventory) -> None:
    with pytest.raises(ValueError, match="streams: xuc, xivocc"):
        find_stream(inventory.node(CC), "nope")
