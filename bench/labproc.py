"""Run a lab in its own process, so a benchmark measures the client, not the emulation.

    python -m bench.labproc DIR --sites N [--latency S] [--no-cc] [--no-edge] [--mds K]

Prints READY when every node listens, then serves until stdin closes or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from resil_tui.lab.server import Lab
from resil_tui.lab.spec import LabSpec, LabTiming


async def _serve(args: argparse.Namespace) -> None:
    spec = LabSpec.many(args.sites, cc=not args.no_cc, edge=not args.no_edge, mds=args.mds)
    timing = replace(LabTiming.demo(), latency=args.latency)
    lab = await Lab.start(Path(args.dir), spec=spec, timing=timing, ticker=False)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_reader(sys.stdin.fileno(), lambda: stop.set() if not sys.stdin.read(1) else None)
    print("READY", flush=True)
    await stop.wait()
    await lab.stop()


@contextlib.contextmanager
def lab_process(
    directory: Path,
    sites: int,
    *,
    latency: float = 0.0,
    cc: bool = True,
    edge: bool = True,
    mds: int = 2,
) -> Iterator[Path]:
    """Start a lab process; yield its inventory path; stop it on exit."""
    argv = [
        sys.executable,
        "-m",
        "bench.labproc",
        str(directory),
        "--sites",
        str(sites),
        "--latency",
        str(latency),
        "--mds",
        str(mds),
    ]
    argv += [] if cc else ["--no-cc"]
    argv += [] if edge else ["--no-edge"]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line.strip() != "READY":
            raise RuntimeError(f"lab process did not start: {line!r}")
        yield directory / "inventory.toml"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dir")
    parser.add_argument("--sites", type=int, default=1)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--no-cc", action="store_true")
    parser.add_argument("--no-edge", action="store_true")
    parser.add_argument("--mds", type=int, default=2)
    asyncio.run(_serve(parser.parse_args()))


if __name__ == "__main__":
    main()
