"""Status benchmarks (issues 4 and 17).

1. Remote executions per node and refresh: what the lab recorded during one warm refresh
   of full sites (XiVO pair, CC pair, Edge, MDS), the most any node got (target 1).
2. Warm refresh over 50 lab nodes (XiVO pairs and media servers), each command delayed
   200 ms by the lab: wall time of one full refresh as a ratio to the slowest node polled
   alone (target <= 1.3).
3. (full run only) Cold `resil-tui status --json` over 20 nodes as a ratio to a sequential
   loop of OpenSSH `ssh` sending the same reads, one execution per node for both.
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
from collections import defaultdict
from pathlib import Path

from bench.collector import long_running_collector
from bench.labproc import lab_process
from bench.results import Measured, Target
from bench.scale import keep_shells_ready, require_every_node_read, slowest_alone
from resil_tui.inventory import load_inventory
from resil_tui.inventory_model import Inventory, Node
from resil_tui.lab.world import LabWorld
from resil_tui.ops.node_reads import node_commands
from resil_tui.ops.session import make_pool
from resil_tui.ops.status import StatusCollector
from resil_tui.remote import commands as cat

LATENCY = 0.2

TARGETS = (
    Target(
        "executions-per-node",
        "Remote executions per node and refresh (lab, full sites)",
        1,
        unit="",
        digits=0,
    ),
    Target("status-warm-50", "Status warm refresh: 50 nodes, 200 ms per command", 1.3),
)

NOTES = f"""\
**Executions.** A lab (own process) of full sites; after a first poll, the commands each
node's SSH server received during one warm refresh are counted from the lab's record
(`nodes/<id>/commands.jsonl`): the figure is the most any node got, as executions of their
own (a pool without kept shells: `status --json`, `check`) and as lines on a kept shell (a
console's or a watcher's pool, once its shells are open; no new execution is allowed then).
The warm refresh below polls as the console does, through kept shells, its cyclic
collector as a started console or watcher has it (`resil_tui/gc_policy.py`).

**Warm refresh.** 10 sites of a XiVO pair and 3 media servers; the lab answers every
command no sooner than {LATENCY * 1000:.0f} ms after it arrived. The figure is the median
refresh wall time over the slowest node polled alone (warm, in the same run). The full run
adds a cold `resil-tui status --json` against a sequential OpenSSH `ssh` loop sending each
node the same batched read (one execution per node for both)."""


def _received(lab_dir: Path, inv: Inventory) -> dict[str, tuple[int, int]]:
    """Command lines each node received: (executions of their own, lines on a kept
    shell's stdin)."""
    world = LabWorld.open(lab_dir)
    found = {}
    for n in inv.nodes():
        vias = [c.get("via") for c in world.commands(n.id) if c.get("kind") == "exec"]
        found[n.id] = (vias.count(None), vias.count("stdin"))
    return found


async def executions_per_refresh(tmp: Path) -> tuple[dict[str, int], dict[str, int], Inventory]:
    """One warm refresh's executions per node (`status --json`, `check`: no kept shell),
    then a console's: new executions plus lines on its kept shells, per node."""
    directory = tmp / "execs"
    with lab_process(directory, 1, cc=True, edge=True, mds=2) as inv_path:
        inv = load_inventory(inv_path)
        found: list[dict[str, int]] = []
        for keep in (False, True):
            pool = make_pool(inv, audit_path=tmp / "audit.jsonl", keep_shells=keep)
            try:
                collector = StatusCollector(inv, pool)
                await collector.poll()  # the connections
                if keep:
                    await keep_shells_ready(collector, pool)
                before = _received(directory, inv)
                reports = await collector.poll()
                after = _received(directory, inv)
            finally:
                await pool.close()
            require_every_node_read(reports)
            found.append({n: sum(after[n]) - sum(before[n]) for n in after})
            if keep and any(after[n][0] != before[n][0] for n in after):
                raise RuntimeError("a console refresh with kept shells started new executions")
    return found[0], found[1], inv


async def warm_refresh(tmp: Path, sites: int, mds: int, rounds: int) -> dict[str, float]:
    with lab_process(
        tmp / f"warm{sites}", sites, latency=LATENCY, cc=False, edge=False, mds=mds
    ) as inv_path:
        inv = load_inventory(inv_path)
        with long_running_collector():  # the client as a started console or watcher
            pool = make_pool(inv, audit_path=tmp / "audit.jsonl", keep_shells=True)
            try:
                collector = StatusCollector(inv, pool)
                await collector.poll()  # cold: connections opened here, not measured
                kept, _ = await keep_shells_ready(collector, pool)
                walls = []
                cpu = []
                for _ in range(rounds):
                    c0 = time.process_time()
                    t0 = time.perf_counter()
                    reports = await collector.poll()
                    walls.append(time.perf_counter() - t0)
                    cpu.append(time.process_time() - c0)
                    require_every_node_read(reports)
                # Baseline in the same run: nodes polled alone (warm), the slowest kind.
                slowest, _ = await slowest_alone(
                    collector, list(inv.nodes()), per_kind=3, rounds=1, latency=LATENCY
                )
            finally:
                await pool.close()
    nodes = len(inv.nodes())
    wall = statistics.median(walls)
    return {
        "nodes": nodes,
        "wall_s": wall,
        "slowest_alone_s": slowest,
        "ratio": wall / slowest,
        "cpu_ms_per_node": statistics.median(cpu) / nodes * 1000,
        "kept_shells": kept,
    }


def _ssh_argv(node: Node, lab_dir: Path, line: str) -> list[str]:
    return [
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
        line,
    ]


def ssh_loop(inv_path: Path) -> float:
    """Each node, one after the other: one `ssh` sending the status poll's batched read."""
    inv = load_inventory(inv_path)
    t0 = time.perf_counter()
    for node in inv.nodes():
        reads = node_commands(node)
        line = cat.batch(reads).command.line if len(reads) > 1 else reads[0].line
        proc = subprocess.run(
            _ssh_argv(node, inv_path.parent, line), capture_output=True, check=False, timeout=60
        )
        if proc.returncode != 0 or not proc.stdout:  # a failed ssh is no baseline
            raise RuntimeError(
                f"ssh to {node.id} failed ({proc.returncode}): {proc.stderr.decode()[-300:]}"
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


def run(quick: bool = False) -> list[Measured]:
    with tempfile.TemporaryDirectory(prefix="resil-bench-") as d:
        tmp = Path(d)
        os.environ.setdefault("XDG_STATE_HOME", str(tmp / "state"))
        sent, lines_kept, inv = asyncio.run(executions_per_refresh(tmp))
        kinds: dict[str, list[int]] = defaultdict(list)
        for node in inv.nodes():
            kinds[node.kind.value].append(sent[node.id])
        execs = Measured(
            [
                f"{len(sent)} nodes, one warm refresh: executions per node by kind "
                + ", ".join(f"{k} {sorted(set(v))}" for k, v in sorted(kinds.items()))
                + " (before issue 17: XiVO 3, Edge 2, CC 1, MDS 1)",
                "a console's or a watcher's warm refresh (kept shells): "
                f"{sorted(set(lines_kept.values()))} command line per node on the kept "
                "shell, no new execution",
            ],
            float(max(max(sent.values()), max(lines_kept.values()))),
        )
        unread = sorted(n for n, k in [*sent.items(), *lines_kept.items()] if k < 1)
        if unread:  # a refresh that did not read a node is no figure, even at <= 1
            execs = Measured([*execs.lines, f"not read in a refresh: {unread}"], float("nan"))
        w = asyncio.run(warm_refresh(tmp, sites=10, mds=3, rounds=2 if quick else 5))
        lines = [
            f"status warm refresh: {w['nodes']:.0f} nodes, {LATENCY * 1000:.0f} ms per command: "
            f"{w['wall_s']:.3f} s; slowest node alone {w['slowest_alone_s']:.3f} s; "
            f"ratio {w['ratio']:.2f} (target <= 1.3); client CPU {w['cpu_ms_per_node']:.2f} "
            f"ms/node; reads through a kept shell on {w['kept_shells']:.0f} nodes"
        ]
        if not quick:
            c = cold_vs_ssh(tmp)
            lines.append(
                f"status cold --json: {c['nodes']:.0f} nodes: {c['ours_s']:.2f} s vs sequential "
                f"OpenSSH ssh loop (same batched read) {c['ssh_loop_s']:.2f} s: ratio "
                f"{c['ratio']:.3f} ({1 / c['ratio']:.1f}x faster)"
            )
    # A shell not kept is polled as `status --json` does, not as the console: not the figure.
    short_of_shells = w["kept_shells"] < w["nodes"]
    missed = (f"kept shells {w['kept_shells']:.0f}/{w['nodes']:.0f}",) if short_of_shells else ()
    return [execs, Measured(lines, w["ratio"], missed=missed)]


if __name__ == "__main__":
    for m, t in zip(run("--quick" in sys.argv), TARGETS, strict=True):
        print("\n".join(m.lines))
        print(t.result_line(m.value))
