"""`resil-tui lab [--state-dir DIR]`: run the simulated site and a small fault prompt."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shlex
import signal
import stat
import sys
from pathlib import Path

from resil_tui.lab.faults import HELP, apply_fault  # noqa: F401  (re-exported)
from resil_tui.lab.server import Lab
from resil_tui.lab.spec import LabSpec, LabTiming

__all__ = ["apply_fault", "main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="resil-tui lab", description="Run a simulated XiVO HA site over SSH on 127.0.0.1."
    )
    p.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="keep the lab's state (files, keys, ports) here and reuse it next time",
    )
    p.add_argument(
        "--sites", type=int, default=0, help="simulate N sites (s001...) instead of the demo site"
    )
    p.add_argument(
        "--edges",
        metavar="NAMES",
        default="",
        help="the demo site with a 3-server Edge: comma-separated node names (web,sip,turn)",
    )
    p.add_argument("--fast", action="store_true", help="sub-second timings (for tests)")
    return p


async def _serve(args: argparse.Namespace, out: list[str] | None = None) -> int:
    edges = tuple(n.strip() for n in args.edges.split(",") if n.strip())
    bad = [n for n in edges if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,30}", n)]
    if bad:
        raise SystemExit(
            f"resil-tui lab: --edges: {', '.join(map(repr, bad))} is not a simple name"
        )
    if args.sites and edges:
        raise SystemExit("resil-tui lab: --edges shapes the demo site; it does not go with --sites")
    spec = (
        LabSpec.many(args.sites) if args.sites else (LabSpec.demo(edges=edges) if edges else None)
    )
    timing = LabTiming.fast() if args.fast else None
    lab = await Lab.start(args.state_dir, spec=spec, timing=timing)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    def say(text: str) -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    first = lab.node_ids()[0]
    say(f"lab running in {lab.lab_dir}")
    say(f"inventory: {lab.inventory_path}")
    say(f"try: {lab.ssh_command(first)}")
    say(f"     resil-tui --hosts {shlex.quote(str(lab.inventory_path))}")
    interactive = sys.stdin.isatty()
    if interactive:
        say("type `help` for faults, `quit` to stop")
    prompt_task = asyncio.ensure_future(_prompt(lab, say, stop, interactive))
    try:
        await stop.wait()
    finally:
        prompt_task.cancel()
        with contextlib.suppress(BaseException):
            await prompt_task
        await lab.stop()
        say("lab stopped")
    return 0


async def _prompt(lab: Lab, say: object, stop: asyncio.Event, interactive: bool) -> None:
    assert callable(say)
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    fd = sys.stdin.fileno()
    if stat.S_ISREG(os.fstat(fd).st_mode):
        for raw in sys.stdin.read().splitlines():
            lines.put_nowait(raw)
        lines.put_nowait(None)
    else:
        buf = bytearray()

        def readable() -> None:
            try:
                chunk = os.read(fd, 4096)
            except BlockingIOError:
                return
            if not chunk:
                loop.remove_reader(fd)
                if buf:
                    lines.put_nowait(buf.decode(errors="replace"))
                lines.put_nowait(None)
                return
            buf.extend(chunk)
            while b"\n" in buf:
                i = buf.index(b"\n")
                lines.put_nowait(buf[:i].decode(errors="replace"))
                del buf[: i + 1]

        loop.add_reader(fd, readable)
    try:
        while True:
            if interactive:
                sys.stdout.write("lab> ")
                sys.stdout.flush()
            line = await lines.get()
            if line is None:
                return  # EOF: keep serving until a signal
            try:
                words = shlex.split(line)
            except ValueError as exc:
                say(f"error: {exc}")
                continue
            if words and words[0] in ("quit", "exit"):
                stop.set()
                return
            try:
                text = await apply_fault(lab, words)
            except (ValueError, KeyError) as exc:
                text = f"error: {exc.args[0] if exc.args else exc}"
            if text:
                say(text)
    finally:
        with contextlib.suppress(Exception):
            loop.remove_reader(fd)


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        return asyncio.run(_serve(args))
    except KeyboardInterrupt:
        return 130
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"resil-tui lab: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
