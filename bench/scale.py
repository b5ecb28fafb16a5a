"""Warm refresh at scale (issue 9): 50, 100 and 200 lab nodes, 200 ms per command.

The lab runs in its own process (bench/labproc.py) and delays every command by LATENCY;
the client is this process: one Pool, one StatusCollector, connections opened by a first
(cold, unmeasured) poll, then warm refreshes. Reported per size:
- wall time of one refresh / LATENCY (the issue's definition: the slowest node's latency);
- wall time / the slowest node polled alone, warm, in the same run (as in bench/status.py);
- CPU time of this process per node and refresh (`time.process_time()` deltas).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from bench.labproc import lab_process
from resil_tui.inventory import load_inventory
from resil_tui.inventory_model import Node
from resil_tui.ops.session import make_pool
from resil_tui.ops.status import StatusCollector

LATENCY = 0.2
NODES_PER_SITE = 5  # XiVO master + slave, CC master + slave, Edge: every kind the poll knows
SIZES = (50, 100, 200)
ROUNDS = 5  # warm refreshes per size
ALONE_PER_KIND = 2  # nodes of each kind polled alone...
ALONE_ROUNDS = 3  # ...this many times each

NOTES = f"""\
**Setup.** `LabSpec.many(N / {NODES_PER_SITE}, mds=0)`: per site a XiVO master and slave, a CC
master and slave and an Edge, so every kind of status poll is in the mix (XiVO: 3 commands
at once; CC: 1; Edge: 2). The in-process asyncssh lab runs in its own process and sleeps
{LATENCY * 1000:.0f} ms before every command. The client is the bench process itself: one
`Pool` and one `StatusCollector`; a first poll opens the connections (not measured), then
{ROUNDS} warm refreshes are timed (median shown).

**Figures.** *x latency* = refresh wall time / {LATENCY:g} s, the issue's "slowest node's
latency" (1.00 would be a refresh as fast as one command). *x slowest alone* = refresh wall
time / the slowest node polled alone in the same run (warm: {ALONE_PER_KIND} nodes of each
kind, {ALONE_ROUNDS} polls each, the median per kind, the slowest kind), which includes the
node's own round trips and parsing. *CPU/node* = `time.process_time()` of the client over
one refresh / nodes. *lab CPU* = CPU time of the lab process during one refresh (not part
of the client's figure: it shows when the single-threaded emulation, not the client, sets
the pace: a refresh cannot end before the lab has served every command)."""


async def _alone(collector: StatusCollector, nodes: Sequence[Node]) -> tuple[float, str]:
    by_kind: dict[str, list[Node]] = defaultdict(list)
    for n in nodes:
        if len(by_kind[n.kind.value]) < ALONE_PER_KIND:
            by_kind[n.kind.value].append(n)
    medians = {}
    for kind, chosen in by_kind.items():
        times = []
        for _ in range(ALONE_ROUNDS):
            for node in chosen:
                t0 = time.perf_counter()
                await collector.poll_node(node)
                times.append(time.perf_counter() - t0)
        medians[kind] = statistics.median(times)
    kind = max(medians, key=lambda k: medians[k])
    return medians[kind], kind


def _lab_pid(directory: Path) -> int | None:
    """The lab process lab_process() started for `directory`: our child with that argv."""
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        if ppid == me and b"bench.labproc" in argv and str(directory).encode() in argv:
            return int(entry.name)
    return None


def _cpu_of(pid: int | None) -> float:
    """utime + stime of a live process, in seconds (0 when unknown)."""
    if pid is None:
        return 0.0
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def refresh_at(tmp: Path, nodes: int) -> dict[str, float | str]:
    sites = nodes // NODES_PER_SITE
    directory = tmp / f"scale{nodes}"
    with lab_process(directory, sites, latency=LATENCY, cc=True, edge=True, mds=0) as inv_path:
        lab_pid = _lab_pid(directory)
        inv = load_inventory(inv_path)
        pool = make_pool(inv, audit_path=tmp / "audit.jsonl")
        try:
            collector = StatusCollector(inv, pool)
            t0 = time.perf_counter()
            await collector.poll()  # cold: connections opened here
            cold = time.perf_counter() - t0
            walls, cpu, lab_cpu = [], [], []
            for _ in range(ROUNDS):
                c0 = time.process_time()
                l0 = _cpu_of(lab_pid)
                t0 = time.perf_counter()
                reports = await collector.poll()
                walls.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
                lab_cpu.append(_cpu_of(lab_pid) - l0)
                down = [
                    n for r in reports for n, s in r.snapshot.nodes.items() if not s.reachability.ok
                ]
                if down:
                    raise RuntimeError(f"unreachable in the benchmark: {down[:5]}")
            alone, alone_kind = await _alone(collector, inv.nodes())
        finally:
            await pool.close()
    count = len(inv.nodes())
    wall = statistics.median(walls)
    return {
        "nodes": count,
        "cold_s": cold,
        "wall_s": wall,
        "wall_max_s": max(walls),
        "x_latency": wall / LATENCY,
        "alone_s": alone,
        "alone_kind": alone_kind,
        "x_alone": wall / alone,
        "cpu_ms_per_node": statistics.median(cpu) / count * 1000,
        "lab_cpu_s": statistics.median(lab_cpu) if lab_pid is not None else float("nan"),
    }


def run() -> list[str]:
    lines = [
        f"Warm refresh, every command delayed {LATENCY * 1000:.0f} ms by the lab "
        f"(own process); median of {ROUNDS} refreshes",
        "| nodes | refresh s (max) | x latency (0.2 s) | slowest alone s (kind) "
        "| x slowest alone | CPU ms/node | lab CPU s/refresh | cold first poll s |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    with tempfile.TemporaryDirectory(prefix="resil-scale-") as d:
        for size in SIZES:
            r = asyncio.run(refresh_at(Path(d), size))
            lines.append(
                f"| {r['nodes']} | {r['wall_s']:.3f} ({r['wall_max_s']:.3f}) "
                f"| {r['x_latency']:.2f} | {r['alone_s']:.3f} ({r['alone_kind']}) "
                f"| {r['x_alone']:.2f} | {r['cpu_ms_per_node']:.2f} | {r['lab_cpu_s']:.2f} "
                f"| {r['cold_s']:.2f} |"
            )
    return lines


if __name__ == "__main__":
    for line in run():
        print(line)
