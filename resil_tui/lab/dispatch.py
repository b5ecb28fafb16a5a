"""Process entry for the real-OpenSSH tier: sshd's ForceCommand runs

    python -m resil_tui.lab.dispatch --lab-dir DIR --node NODE_ID

which runs `$SSH_ORIGINAL_COMMAND` on that node, read as the node's shell would read it
(lab/shell.py), with this process's stdin/stdout/stderr, and exits with its exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

from resil_tui.lab.emulation import run_command
from resil_tui.lab.world import LabWorld


class StdIO:
    """CommandIO over file descriptors 0, 1 and 2 (a PTY when stdin is a terminal)."""

    def __init__(self) -> None:
        self.is_pty = os.isatty(0)
        self._reader: asyncio.StreamReader | None = None
        self._plain_file = False

    async def _ensure_reader(self) -> asyncio.StreamReader | None:
        if self._reader is None and not self._plain_file:
            loop = asyncio.get_running_loop()
            reader = asyncio.StreamReader()
            try:
                await loop.connect_read_pipe(
                    lambda: asyncio.StreamReaderProtocol(reader),
                    os.fdopen(os.dup(0), "rb", buffering=0),
                )
            except (ValueError, OSError):
                self._plain_file = True  # a regular file: read it synchronously
                return None
            self._reader = reader
        return self._reader

    async def read(self, n: int = -1) -> bytes:
        reader = await self._ensure_reader()
        if reader is None:
            return os.read(0, n if n > 0 else 1 << 20) if n != 0 else b""
        return await (reader.read(n) if n > 0 else reader.read())

    async def readline(self) -> bytes:
        reader = await self._ensure_reader()
        if reader is None:
            out = b""
            while not out.endswith(b"\n"):
                ch = os.read(0, 1)
                if not ch:
                    break
                out += ch
            return out
        return await reader.readline()  # a PTY in canonical mode hands over whole lines

    def write(self, data: bytes) -> None:
        sys.stdout.buffer.write(data)

    def write_err(self, data: bytes) -> None:
        sys.stderr.buffer.write(data)
        sys.stderr.buffer.flush()

    async def drain(self) -> None:
        sys.stdout.buffer.flush()  # raises BrokenPipeError once the reader is gone

    def set_echo(self, on: bool) -> None:
        if not self.is_pty:
            return
        import termios

        attrs = termios.tcgetattr(0)
        attrs[3] = attrs[3] | termios.ECHO if on else attrs[3] & ~termios.ECHO
        termios.tcsetattr(0, termios.TCSANOW, attrs)


async def _main(lab_dir: Path, node_id: str, line: str) -> int:
    if not line.strip():
        sys.stderr.write("interactive shells are not emulated\n")
        return 1
    world = LabWorld.open(lab_dir)
    io = StdIO()
    task = asyncio.ensure_future(run_command(world, node_id, line, io))
    loop = asyncio.get_running_loop()
    got: list[int] = []

    def on_signal(sig: int) -> None:
        got.append(sig)
        task.cancel()

    for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        code = await task
    except asyncio.CancelledError:
        return 128 + (got[0] if got else signal.SIGTERM)
    with contextlib.suppress(BrokenPipeError):
        sys.stdout.buffer.flush()
    return code


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m resil_tui.lab.dispatch")
    p.add_argument("--lab-dir", required=True, type=Path)
    p.add_argument("--node", required=True)
    args = p.parse_args(argv)
    line = os.environ.get("SSH_ORIGINAL_COMMAND", "")
    try:
        code = asyncio.run(_main(args.lab_dir, args.node, line))
    except BrokenPipeError:
        code = 141
    with contextlib.suppress(BrokenPipeError, ValueError):
        sys.stdout.flush()
    # Avoid a second BrokenPipeError at interpreter shutdown when the reader is gone.
    with contextlib.suppress(OSError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    return code


if __name__ == "__main__":
    sys.exit(main())
