"""Run a lab in its own process, so a benchmark measures the client, not the emulation.

    python -m bench.labproc DIR --sites N [--latency S] [--no-cc] [--no-edge] [--mds K]
                            [--share I/N]

Prints READY when every node listens, then serves until stdin closes or SIGTERM. With
`--share 0/N` it starts N - 1 more processes (`--share I/N`) and serves every N-th site
itself: the lab's emulation of a large estate then has more than one core, as the
estate's nodes each have their own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from resil_tui import gc_policy
from resil_tui.lab.server import Lab
from resil_tui.lab.spec import LabSpec, LabTiming

START_TIMEOUT = 120.0  # 500 nodes' keys and listeners on a slow machine


def _share(spec: LabSpec, index: int, procs: int) -> list[str]:
    """The nodes process `index` of `procs` serves: every procs-th site, whole."""
    return [n.id for site in spec.sites[index::procs] for n in site.nodes]


async def _serve(args: argparse.Namespace) -> None:
    spec = LabSpec.many(args.sites, cc=not args.no_cc, edge=not args.no_edge, mds=args.mds)
    timing = replace(LabTiming.demo(), latency=args.latency)
    index, procs = args.share
    if index:  # a helper of process 0, which made the world, keys and all
        lab = await Lab.start(
            Path(args.dir), spec=spec, timing=timing, ticker=False, serve=_share(spec, index, procs)
        )
        helpers: list[subprocess.Popen[str]] = []
    else:
        lab = await Lab.start(
            Path(args.dir),
            spec=spec,
            timing=timing,
            ticker=False,
            serve=_share(spec, 0, procs) if procs > 1 else None,
        )
        try:
            helpers = _start([_argv(args, (i, procs)) for i in range(1, procs)])
        except BaseException:
            await lab.stop()
            raise
        if helpers:
            lab.write_client_files()  # every helper listens now: their ports are recorded
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_reader(sys.stdin.fileno(), lambda: stop.set() if not sys.stdin.read(1) else None)
    # Its world, keys and listeners live as long as it does: frozen out of the cyclic
    # collector's way, with its young collections spaced as a started console's (a full
    # collection of a lab of 500 nodes is the emulation's cost, not a node's: its CPU per
    # refresh of 500 nodes went from 0.57 - 0.59 s to 0.52 - 0.56 s, 2026-12-04).
    gc_policy.collect_as_long_running()
    print("READY", flush=True)
    await stop.wait()
    for h in helpers:
        h.terminate()
    for h in helpers:
        h.wait(timeout=30)
    await lab.stop()


def _argv(args: argparse.Namespace, share: tuple[int, int]) -> list[str]:
    argv = [sys.executable, "-m", "bench.labproc", str(args.dir), "--sites", str(args.sites)]
    argv += ["--latency", str(args.latency), "--mds", str(args.mds)]
    argv += ["--no-cc"] if args.no_cc else []
    argv += ["--no-edge"] if args.no_edge else []
    return [*argv, "--share", f"{share[0]}/{share[1]}"]


def _start(argvs: list[list[str]]) -> list[subprocess.Popen[str]]:
    """Lab processes, started together, once each printed READY (every node it serves
    listens); none left running if one does not start within START_TIMEOUT."""
    procs = [
        subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for argv in argvs
    ]
    deadline = time.monotonic() + START_TIMEOUT
    try:
        for proc in procs:
            assert proc.stdout is not None
            ready, _, _ = select.select([proc.stdout], [], [], deadline - time.monotonic())
            line = proc.stdout.readline() if ready else "(nothing within the time limit)"
            if line.strip() != "READY":
                raise RuntimeError(f"lab process did not start: {line!r}")
    except BaseException:
        for proc in procs:
            proc.kill()
            proc.wait()
        raise
    return procs


RAM_DIR = Path("/dev/shm")
RAM_NEEDED = 1 << 30  # a 100-site lab is 32 MB at creation; its logs grow from there


def _ram_dir() -> Path | None:
    """/dev/shm when it is a tmpfs this process may write, with room to spare."""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
        st = os.statvfs(RAM_DIR)
    except OSError:
        return None
    tmpfs = any(m.split()[1:3] == [str(RAM_DIR), "tmpfs"] for m in mounts)
    room = st.f_bavail * st.f_frsize >= RAM_NEEDED
    return RAM_DIR if tmpfs and room and os.access(RAM_DIR, os.W_OK | os.X_OK) else None


@contextlib.contextmanager
def lab_directory(prefix: str) -> Iterator[Path]:
    """A fresh directory for a lab, in RAM (/dev/shm) where the machine has room there,
    else in the usual temporary directory.

    The lab keeps each node's state in JSON files it replaces at every change; on this
    machine's ext4 a replace costs 0.2-0.4 ms, on tmpfs 0.05 ms. A real node writes no
    such file: in a benchmark of the client, that cost is the emulation's, not the
    client's, and is kept out like the lab's CPU (its own processes).
    """
    with tempfile.TemporaryDirectory(prefix=prefix, dir=_ram_dir()) as d:
        yield Path(d)


@contextlib.contextmanager
def lab_process(
    directory: Path,
    sites: int,
    *,
    latency: float = 0.0,
    cc: bool = True,
    edge: bool = True,
    mds: int = 2,
    procs: int = 1,
) -> Iterator[Path]:
    """Start a lab process (with `procs` > 1, it serves its sites with procs - 1 helpers
    of its own, each node in one of them); yield its inventory path; stop it on exit."""
    ns = argparse.Namespace(
        dir=directory, sites=sites, latency=latency, mds=mds, no_cc=not cc, no_edge=not edge
    )
    (proc,) = _start([_argv(ns, (0, procs))])
    try:
        yield directory / "inventory.toml"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _share_arg(text: str) -> tuple[int, int]:
    index, _, procs = text.partition("/")
    if not (index.isdigit() and procs.isdigit() and int(index) < int(procs)):
        raise argparse.ArgumentTypeError(f"expected I/N with I < N, got {text!r}")
    return int(index), int(procs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dir")
    parser.add_argument("--sites", type=int, default=1)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--no-cc", action="store_true")
    parser.add_argument("--no-edge", action="store_true")
    parser.add_argument("--mds", type=int, default=2)
    parser.add_argument("--share", type=_share_arg, default=(0, 1), help="I/N: serve share I")
    asyncio.run(_serve(parser.parse_args()))


if __name__ == "__main__":
    main()
