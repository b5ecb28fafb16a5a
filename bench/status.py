"""Status benchmarks (issue 4).

1. Warm refresh over 50 lab nodes, each command delayed 200 ms by the lab: wall time of
   one full refresh as a ratio to the slowest node polled alone (target <= 1.3).
2. Cold `resil-tui status --json` over 20 nodes (a fresh process: start-up, connections,
   poll) as a ratio to a sequential loop of OpenSSH `ssh` commands sending the same commands.
The lab runs in its own process so the figures are the client's.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.labproc import lab_process
from resil_tui.inventory import load_inventory
from resil_tui.inventory_model import Node, NodeKind
from resil_tui.ops.session import make_pool
from resil_tui.ops.status import SYNC_LOG_LINES, StatusCollector
from resil_tui.remote import commands as cat
from resil_tui.remote.commands import Command

LATENCY = 0.2


async def warm_refresh(tmp: Path, sites: int, mds: int, rounds: int = 3) -> dict[str, float]:
    with lab_process(
        tmp / f"warm{sites}", sites, latency=LATENCY, cc=False, edge=False, mds=mds
    ) as inv_path:
        inv = load_inventory(inv_path)
        pool = make_pool(inv, audit_path=tmp / "audit.jsonl")
        try:
            collector = StatusCollector(inv, pool)
            await collector.poll()  # cold: connections opened here, not measured
            walls = []
            cpu = []
            for _ in range(rounds):
                c0 = time.process_time()
                t0 = time.perf_counter()
                reports = await collector.poll()
                walls.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
            down = [
                n for r in reports for n, s in r.snapshot.nodes.items() if not s.reachability.ok
            ]
            assert not down, f"unreachable in benchmark: {down}"
            # Baseline in the same run: every node polled alone (warm), the slowest one.
            alone = []
            for node in inv.nodes():
                t0 = time.perf_counter()
                await collector.poll_node(node)
                alone.append(time.perf_counter() - t0)
        finally:
            await pool.close()
    nodes = len(inv.nodes())
    wall = statistics.median(walls)
    slowest = max(alone)
    return {
        "nodes": nodes,
        "wall_s": wall,
        "slowest_alone_s": slowest,
        "ratio": wall / slowest,
        "cpu_ms_per_node": statistics.median(cpu) / nodes * 1000,
    }


def _commands_for(node: Node) -> list[Command]:
    """The same read-only commands the collector sends (see ops/status.py)."""
    if node.kind is NodeKind.XIVO:
        p = node.paths
        return [
            cat.cat(p.ha_conf),
            cat.cat(p.cron_master),
            cat.cat(p.cron_slave),
            cat.test_exists(p.disabled_flag),
            cat.test_exists(p.sync_key),
            cat.xivo_service_status(all=True),
            cat.tail(p.sync_log, SYNC_LOG_LINES),
        ]
    return [cat.xivo_service_status(all=True)]


def ssh_loop(inv_path: Path) -> float:
    inv = load_inventory(inv_path)
    lab_dir = inv_path.parent
    t0 = time.perf_counter()
    for node in inv.nodes():
        for command in _commands_for(node):
            subprocess.run(
                [
                    "ssh",
                    "-p",
                    str(node.ssh.port),
                    "-i",
                    str(lab_dir / "keys" / "client_ed25519"),
                    "-o",
                    f"UserKnownHostsFile={lab_dir / 'known_hosts'}",
                    "-o",
                    "StrictHostKeyChecking=yes",
                    "-o",
                    "BatchMode=yes",
                    f"root@{node.ssh.host}",
                    command.line,
                ],
                capture_output=True,
                check=False,
                timeout=60,
            )
    return time.perf_counter() - t0


def cold_status(inv_path: Path, tmp: Path) -> float:
    env = dict(os.environ, XDG_STATE_HOME=str(tmp / "state"), XDG_CONFIG_HOME=str(tmp / "cfg"))
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "resil_tui", "--hosts", str(inv_path), "status", "--json"],
        capture_output=True,
        env=env,
        timeout=120,
    )
    elapsed = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"status failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")
    return elapsed


def cold_vs_ssh(tmp: Path, runs: int = 3) -> dict[str, float]:
    # 4 sites x (2 XiVO + 3 MDS) = 20 nodes.
    with lab_process(tmp / "cold", 4, cc=False, edge=False, mds=3) as inv_path:
        ours = [cold_status(inv_path, tmp) for _ in range(runs)]
        loop = [ssh_loop(inv_path) for _ in range(max(1, runs - 1))]
    return {
        "nodes": 20,
        "ours_s": statistics.median(ours),
        "ssh_loop_s": statistics.median(loop),
        "ratio": statistics.median(ours) / statistics.median(loop),
    }


def run() -> list[str]:
    lines = []
    with tempfile.TemporaryDirectory(prefix="resil-bench-") as d:
        tmp = Path(d)
        w = asyncio.run(warm_refresh(tmp, sites=10, mds=3))
        lines.append(
            f"status warm refresh: {w['nodes']:.0f} nodes, {LATENCY * 1000:.0f} ms per command: "
            f"{w['wall_s']:.3f} s; slowest node alone {w['slowest_alone_s']:.3f} s; "
            f"ratio {w['ratio']:.2f} (target <= 1.3); CPU {w['cpu_ms_per_node']:.1f} ms/node"
        )
        c = cold_vs_ssh(tmp)
        lines.append(
            f"status cold --json: {c['nodes']:.0f} nodes: {c['ours_s']:.2f} s vs sequential "
            f"OpenSSH ssh loop {c['ssh_loop_s']:.2f} s: ratio {c['ratio']:.3f} "
            f"({1 / c['ratio']:.1f}x faster)"
        )
    return lines


if __name__ == "__main__":
    for line in run():
        print(line)
