"""Warm refresh at scale (issues 9 and 17): full sites, 200 ms per command, up to 500 nodes.

One lab runs in processes of its own (bench/labproc.py, one per core) with the largest
size's sites and answers every command no sooner than LATENCY after it arrived. The client
is this process. For each size, a fresh Pool and StatusCollector over the first N/5 sites:
a cold first poll (connections opened, measured apart), then warm refreshes. Reported per
size:
- wall time of one refresh / LATENCY (the issue's "slowest node's latency");
- wall time / the slowest node polled alone, warm, in the same run;
- CPU time of this process per node and refresh (`time.process_time()` deltas), and per
  node during the cold poll (mostly the SSH handshake);
- CPU time of the lab's processes per refresh, and the client's open file descriptors;
- the CPU floor: the lab's and the client's CPU of a refresh over the cores they share (what
  no refresh could go under on this machine), and how busy those cores were.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from bench.collector import long_running_collector
from bench.labproc import lab_directory, lab_process
from bench.results import Measured, Target
from resil_tui.inventory import load_inventory
from resil_tui.inventory_model import Inventory, Node, Site
from resil_tui.ops.session import make_pool
from resil_tui.ops.status import StatusCollector
from resil_tui.ops.status_events import SiteReport
from resil_tui.remote.pool import Pool

LATENCY = 0.2
# The lab's processes: one per core. A real estate's nodes each work on their own CPU; one
# process playing 500 of them would set the pace of every refresh (see NOTES).
CORES = len(os.sched_getaffinity(0))  # the cores this process, and the lab's, may use
LAB_PROCS = max(1, CORES)
NODES_PER_SITE = 5  # XiVO master + slave, CC master + slave, Edge: every kind the poll knows
SIZES = (50, 100, 200, 500)
QUICK_SIZES = (200, 500)
ROUNDS = 5  # warm refreshes per size...
QUICK_ROUNDS = 2  # ...with --quick
ALONE_PER_KIND = 2  # nodes of each kind polled alone...
ALONE_ROUNDS = 3  # ...this many times each (1 with --quick)
CPU_SIZE = 200  # the size whose client CPU per node is the RESULT figure

TARGETS = (
    Target(
        "warm-refresh-200",
        "Warm refresh, full sites, 200 nodes at 200 ms per command (x the slowest node alone)",
        1.3,
    ),
    Target(
        "warm-refresh-500",
        "Warm refresh, full sites, 500 nodes at 200 ms per command (x the slowest node alone)",
        1.5,
    ),
    Target(
        "client-cpu-per-node",
        f"Client CPU per node and warm refresh ({CPU_SIZE} nodes, full sites)",
        0.5,
        unit="ms",
    ),
)

NOTES = f"""\
**Setup.** One lab, `LabSpec.many(S, mds=0)` with S = the largest size / {NODES_PER_SITE}:
per site a XiVO master and slave, a CC master and slave and an Edge, so every kind of status
poll is in the mix (one command line per node: XiVO 3 reads, Edge 2, CC 1, in one batch).
The asyncssh lab runs in {LAB_PROCS} process(es) of its own (one per core, each serving
whole sites: `bench.labproc --share`) and answers every command line no sooner than
{LATENCY * 1000:.0f} ms after it arrived, running it meanwhile (a real node works while its
answer is on its way; run after the wait, a burst of 500 lines would queue on the lab's
cores behind the last wait), one line's work starting per turn of its loop (a line read
while it works is read at once: its clock starts when it arrives). Its directory is in
/dev/shm when that is a tmpfs with room (each state change of the lab replaces a JSON file,
0.2-0.4 ms on an ext4 disk, a cost no real node has); so are the inventory and keys it
writes for the client, read once at connection. Its processes run their cyclic collector as
a started console does (their world frozen once they listen: a full collection is the
emulation's cost). The client's state directory stays in the usual temporary one. The lab
sends no SSH_MSG_IGNORE, as OpenSSH's sshd. The client is the bench process itself, its
cyclic collector as a started console or watcher has it (`resil_tui/gc_policy.py`; with
Python's default thresholds, a full collection of about 70 ms fell in some refreshes of 200
nodes): per size, one `Pool` and one `StatusCollector` over the first N / {NODES_PER_SITE}
sites, polling as the console and the watcher do (`keep_shells`: each read one line on a
shell kept open per node, *kept shells* counts the nodes that had one); a first poll opens
the connections (measured apart: *cold*), polls follow until every node's shell is kept,
then {ROUNDS} warm refreshes are timed (median shown; {QUICK_ROUNDS} with `--quick`, sizes
{QUICK_SIZES} only, on one pool). The line under the table is {CPU_SIZE} nodes once more in
the same run with one remote execution per read (a pool without kept shells, as a one-shot
`status --json` polls), the kept shells' baseline.

**Figures.** *x latency* = refresh wall time / {LATENCY:g} s, the issue's "slowest node's
latency" (1.00 would be a refresh as fast as one command). *x slowest alone* = refresh wall
time / the slowest node polled alone in the same run (warm: {ALONE_PER_KIND} nodes of each
kind, {ALONE_ROUNDS} polls each, the median per kind, the slowest kind), which includes the
node's own round trip and parsing. *CPU/node* = `time.process_time()` of the client over
one refresh / nodes; *cold CPU/node* the same over the first poll (an SSH handshake per
node, then the poll). *lab CPU* = CPU time of the lab's processes during one refresh (not part
of the client's figure: it shows when the single-threaded emulation, not the client, sets
the pace: a refresh cannot end before the lab has served every command). *CPU floor* = the
lab's and the client's CPU of one refresh over the {CORES} core(s) they share, as x slowest
alone: no refresh doing that work could take less on this machine, however well ordered;
*cores busy* = that CPU / (cores x the refresh's wall time), near 100 % when the refresh is
bound by this machine's CPU rather than by the client's waits (both medians of the
refreshes). *fds* = the client's open file descriptors once connected."""


SHELLS_READY_TIMEOUT = 30.0


async def keep_shells_ready(
    collector: StatusCollector, pool: Pool, sites: Sequence[Site] | None = None
) -> tuple[int, int]:
    """Poll until every node's reads go through a kept shell, as they do in a console
    or a watcher after its first refreshes (a shell opens in the background once a node
    is connected); (nodes with one, nodes). Bounded: a node left without one is counted."""
    chosen = list(sites) if sites is not None else list(collector.inventory.sites.values())
    nodes = [n for site in chosen for n in site.nodes()]
    deadline = time.monotonic() + SHELLS_READY_TIMEOUT
    while True:
        await collector.poll(chosen)
        ready = sum(pool.kept_shell(n.id) for n in nodes)
        if ready == len(nodes) or time.monotonic() > deadline:
            return ready, len(nodes)
        await asyncio.sleep(0.2)


def require_every_node_read(reports: Sequence[SiteReport]) -> None:
    """A timed refresh is a figure only if it read every node."""
    down = [n for r in reports for n, s in r.snapshot.nodes.items() if not s.reachability.ok]
    if down:
        raise RuntimeError(f"unreachable in the benchmark: {down[:5]}")


async def slowest_alone(
    collector: StatusCollector,
    nodes: Sequence[Node],
    per_kind: int,
    rounds: int,
    latency: float = LATENCY,
) -> tuple[float, str]:
    """The baseline of "x slowest alone": `per_kind` nodes of each kind polled alone, warm,
    `rounds` times each; the slowest kind's median and that kind. A baseline must be a
    node read whole, as in the refreshes: a node not read, or answered sooner than the lab's
    latency (not a read through the lab), is an error, not a smaller or larger figure."""
    by_kind: dict[str, list[Node]] = defaultdict(list)
    for n in nodes:
        if len(by_kind[n.kind.value]) < per_kind:
            by_kind[n.kind.value].append(n)
    medians = {}
    for kind, chosen in by_kind.items():
        times = []
        for _ in range(rounds):
            for node in chosen:
                t0 = time.perf_counter()
                snap = await collector.poll_node(node)
                took = time.perf_counter() - t0
                if not snap.reachability.ok:
                    raise RuntimeError(f"{node.id} not read when polled alone: {snap.reachability}")
                if took < latency:
                    raise RuntimeError(f"{node.id} alone in {took:.3f} s, under the lab's latency")
                times.append(took)
        medians[kind] = statistics.median(times)
    kind = max(medians, key=lambda k: medians[k])
    return medians[kind], kind


def _lab_pids(directory: Path) -> list[int]:
    """The processes lab_process() started for `directory`: our child with that argv, and
    its helpers (its children with that argv)."""
    found: dict[int, int] = {}  # pid -> ppid
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"bench.labproc" in argv and str(directory).encode() in argv:
            found[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    me = os.getpid()
    mine = [pid for pid, ppid in found.items() if ppid == me]
    return mine + [pid for pid, ppid in found.items() if ppid in mine]


def _cpu_of(pids: Sequence[int]) -> float:
    """utime + stime of live processes, in seconds (0 for any unknown)."""
    total = 0.0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def refresh_at(
    inv: Inventory,
    tmp: Path,
    lab_pids: Sequence[int],
    nodes: int,
    rounds: int,
    alone_rounds: int,
    pool: Pool | None = None,
    *,
    keep: bool = True,
    reused: bool = False,
) -> dict[str, float | str]:
    """One size's figures, on `pool` if given (left open) or on a pool of its own.
    `reused`: the pool's connections are already open (no cold figures then). `keep`:
    through kept shells, as a console polls (else one execution per read)."""
    sites = [inv.sites[name] for name in sorted(inv.sites)[: nodes // NODES_PER_SITE]]
    chosen = [n for site in sites for n in site.nodes()]
    fds0 = _fds()
    owned = pool is None
    pool = pool or make_pool(inv, audit_path=tmp / "audit.jsonl", keep_shells=keep)
    try:
        collector = StatusCollector(inv, pool)
        c0, t0 = time.process_time(), time.perf_counter()
        await collector.poll(sites)  # cold, unless `reused`: connections opened here
        cold, cold_cpu = time.perf_counter() - t0, time.process_time() - c0
        kept = (await keep_shells_ready(collector, pool, sites))[0] if keep else 0
        fds = _fds() - fds0
        walls, cpu, lab_cpu, busy = [], [], [], []
        for _ in range(rounds):
            c0 = time.process_time()
            l0 = _cpu_of(lab_pids)
            t0 = time.perf_counter()
            reports = await collector.poll(sites)
            walls.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            lab_cpu.append(_cpu_of(lab_pids) - l0)
            busy.append((cpu[-1] + lab_cpu[-1]) / (CORES * walls[-1]))
            require_every_node_read(reports)
        alone, alone_kind = await slowest_alone(collector, chosen, ALONE_PER_KIND, alone_rounds)
    finally:
        if owned:
            await pool.close()
    count = len(chosen)
    wall = statistics.median(walls)
    nan = float("nan")
    return {
        "nodes": count,
        "cold_s": nan if reused else cold,
        "cold_cpu_ms_per_node": nan if reused else cold_cpu / count * 1000,
        "fds": -1 if reused else fds,
        "wall_s": wall,
        "wall_max_s": max(walls),
        "x_latency": wall / LATENCY,
        "alone_s": alone,
        "alone_kind": alone_kind,
        "x_alone": wall / alone,
        "cpu_ms_per_node": statistics.median(cpu) / count * 1000,
        "lab_cpu_s": statistics.median(lab_cpu) if lab_pids else nan,
        # Per refresh, then the median: the CPU of one refresh, not of two medians' sum.
        "floor_x": statistics.median((c + lc) / CORES for c, lc in zip(cpu, lab_cpu, strict=True))
        / alone
        if lab_pids
        else nan,
        "cores_busy": statistics.median(busy) if lab_pids else nan,
        "kept_shells": kept,
    }


async def _quick_sizes(
    inv: Inventory,
    tmp: Path,
    lab_pids: Sequence[int],
    sizes: tuple[int, ...],
    found: dict[int, dict[str, float | str]],
) -> None:
    """One pool for every size, the largest first: one cold poll, not one per size."""
    pool = make_pool(inv, audit_path=tmp / "audit.jsonl", keep_shells=True)
    try:
        for size in sorted(sizes, reverse=True):
            found[size] = await refresh_at(
                inv, tmp, lab_pids, size, QUICK_ROUNDS, 1, pool, reused=bool(found)
            )
    finally:
        await pool.close()


def measure(quick: bool) -> tuple[dict[int, dict[str, float | str]], dict[str, float | str]]:
    """Every size's figures, and CPU_SIZE's once more with one execution per read (the
    baseline of the kept shells, in the same run)."""
    sizes = QUICK_SIZES if quick else SIZES
    rounds = QUICK_ROUNDS if quick else ROUNDS
    alone_rounds = 1 if quick else ALONE_ROUNDS
    found: dict[int, dict[str, float | str]] = {}
    # The client's state where it usually is, the lab's directory in RAM (lab_directory).
    with (
        tempfile.TemporaryDirectory(prefix="resil-scale-") as d,
        lab_directory("resil-scale-lab-") as ram,
    ):
        tmp = Path(d)
        os.environ.setdefault("XDG_STATE_HOME", str(tmp / "state"))
        directory = ram / "lab"
        sites = max(sizes) // NODES_PER_SITE
        with lab_process(
            directory, sites, latency=LATENCY, cc=True, edge=True, mds=0, procs=LAB_PROCS
        ) as path:
            inv = load_inventory(path)
            lab_pids = _lab_pids(directory)
            with long_running_collector():  # the client as a started console or watcher
                if quick:
                    asyncio.run(_quick_sizes(inv, tmp, lab_pids, sizes, found))
                else:
                    for size in sizes:
                        found[size] = asyncio.run(
                            refresh_at(inv, tmp, lab_pids, size, rounds, alone_rounds)
                        )
                plain = asyncio.run(refresh_at(inv, tmp, lab_pids, CPU_SIZE, rounds, 1, keep=False))
    return found, plain


def run(quick: bool = False) -> list[Measured]:
    found, plain = measure(quick)
    lines = [
        f"Warm refresh, every command answered {LATENCY * 1000:.0f} ms after it arrived "
        f"by the lab ({LAB_PROCS} processes); median of {QUICK_ROUNDS if quick else ROUNDS} "
        "refreshes",
        "| nodes | refresh s (max) | x latency (0.2 s) | slowest alone s (kind) "
        "| x slowest alone | CPU ms/node | lab CPU s/refresh | CPU floor (x alone) "
        "| cores busy | cold first poll s | cold CPU ms/node | fds | kept shells |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: |",
    ]
    for _, r in sorted(found.items()):
        lines.append(
            f"| {r['nodes']} | {r['wall_s']:.3f} ({r['wall_max_s']:.3f}) "
            f"| {r['x_latency']:.2f} | {r['alone_s']:.3f} ({r['alone_kind']}) "
            f"| {r['x_alone']:.2f} | {r['cpu_ms_per_node']:.2f} | {r['lab_cpu_s']:.2f} "
            f"| {r['floor_x']:.2f} | {float(r['cores_busy']):.0%} "
            f"| {r['cold_s']:.2f} | {r['cold_cpu_ms_per_node']:.1f} "
            f"| {r['fds'] if int(r['fds']) >= 0 else 'n/a'} | {r['kept_shells']} |"
        )

    def ratio(size: int) -> Measured:
        r = found[size]
        return Measured(
            [
                f"{size} nodes: refresh {r['wall_s']:.3f} s / slowest alone {r['alone_s']:.3f} s"
                f" (this machine's CPU floor for that work: {r['floor_x']:.2f}x, cores busy "
                f"{float(r['cores_busy']):.0%})"
            ],
            float(r["x_alone"]),
            # A node without its kept shell is polled as `status --json` does: not the figure.
            missed=(f"kept shells {r['kept_shells']}/{r['nodes']}",)
            if int(r["kept_shells"]) < int(r["nodes"])
            else (),
        )

    cpu = found[CPU_SIZE]
    lines.append(
        f"{CPU_SIZE} nodes with one execution per read instead (no kept shell), same run: "
        f"refresh {plain['wall_s']:.3f} s ({plain['x_alone']:.2f}x its slowest alone), client "
        f"CPU {plain['cpu_ms_per_node']:.2f} ms per node, lab CPU {plain['lab_cpu_s']:.2f} s "
        f"per refresh (kept shells: {cpu['wall_s']:.3f} s, {cpu['cpu_ms_per_node']:.2f} ms, "
        f"{cpu['lab_cpu_s']:.2f} s)"
    )
    at_200, at_cpu_size = ratio(200), ratio(CPU_SIZE)
    return [
        Measured(lines + at_200.lines, at_200.value, missed=at_200.missed),
        ratio(500),
        Measured(
            [f"{CPU_SIZE} nodes: client CPU {cpu['cpu_ms_per_node']:.2f} ms per node and refresh"],
            float(cpu["cpu_ms_per_node"]),
            missed=at_cpu_size.missed,  # the console's CPU is that of kept shells
        ),
    ]


if __name__ == "__main__":
    for m, t in zip(run("--quick" in sys.argv), TARGETS, strict=True):
        print("\n".join(m.lines))
        print(t.result_line(m.value))
