"""What reaches the admin's terminal: the bytes the CLI prints and the bytes the TUI writes
to a real pty, against lab nodes whose every output carries terminal escapes, C1 and bidi
controls. No escape sequence a node sent is ever written; the text shows, made visible.

The TUI runs as its own process (`python -m resil_tui`) on a pty, talking over real SSH to
the lab of this test process; every byte it writes is read from the pty's master side.
Textual writes escape sequences of its own, so the payloads carry markers (QXA, QXB...):
a marker right behind the raw sequence a node sent means the sequence reached the
terminal; a marker behind the sanitizer's visible form means it did not.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import re
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest
from hostile import leaks
from labkit import run_cli

from resil_tui.inventory import load_inventory
from resil_tui.lab import facts
from resil_tui.lab import server as lab_server
from resil_tui.lab.server import Lab

EDGE = "demo.edge"
MASTER = "demo.xivo.master"
# Each raw sequence, and the marker written right behind it by the hostile nodes.
RAW = {
    "QXA": b"\x1b[2J",  # screen clear
    "QXB": b"\x1b[10;10H",  # cursor move
    "QXC": b"\x1b]52;c;cm0gLXJmIC8K\x07",  # clipboard write ("rm -rf /")
    "QXD": b"\x1b]8;;https://evil.example/\x1b\\",  # hyperlink
    "QXE": "\x9b2J".encode(),  # one-byte CSI (C1)
    "QXF": "\u202e".encode(),  # right-to-left override
}
PTY_PAYLOAD = " ".join(raw.decode() + marker for marker, raw in RAW.items())
# Textual's CSI sequences (SGR, cursor moves) and OSC strings, to read the drawn text.
_OWN_SEQUENCES = re.compile(rb"\x1b\[[0-9;?<>]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
C1_UTF8 = re.compile(rb"\xc2[\x80-\x9f]")
BIDI_UTF8 = re.compile(rb"\xe2\x80[\x8e\x8f\xaa-\xae]|\xe2\x81[\xa6-\xa9]|\xd8\x9c")


@pytest.fixture
def marked_outputs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every line a lab command writes gets the marked payloads appended."""
    payload = PTY_PAYLOAD.encode()
    io = lab_server._ProcessIO
    write, write_err = io.write, io.write_err

    def inject(data: bytes) -> bytes:
        return data.replace(b"\n", b" " + payload + b"\n")

    monkeypatch.setattr(io, "write", lambda self, data: write(self, inject(data)))
    monkeypatch.setattr(io, "write_err", lambda self, data: write_err(self, inject(data)))


@pytest.fixture
def marked_lab(lab: Lab, marked_outputs: None) -> Lab:
    env = lab.world.resolve(EDGE, facts.EDGE_ENV)
    env.write_bytes(env.read_bytes() + f"EDGE_BANNER=hello {PTY_PAYLOAD}\n".encode())
    return lab


def assert_nothing_raw(out: bytes, where: str) -> None:
    for marker, raw in RAW.items():
        assert raw + marker.encode() not in out, f"{where}: the raw sequence before {marker}"
    assert b"\x1b]52;c;cm0gLXJmIC8K" not in out, f"{where}: clipboard write"
    assert b"evil.example/\x1b" not in out, f"{where}: hyperlink"
    assert not C1_UTF8.search(out), f"{where}: a C1 control"
    assert not BIDI_UTF8.search(out), f"{where}: a bidi control"


async def test_the_cli_prints_no_escape_a_node_sent(marked_lab: Lab) -> None:
    inventory = load_inventory(marked_lab.inventory_path)
    runs = {
        "status": await run_cli(inventory, "status"),
        "status --json": await run_cli(inventory, "status", "--json"),
        "ha show": await run_cli(inventory, "ha", "show"),
        "edge plan": await run_cli(inventory, "edge", "plan", "--to", "slave"),
        "logs --no-follow": await run_cli(
            inventory, "logs", MASTER, "--stream", "xivo-sync", "--no-follow", "--tail", "5"
        ),
        "logs xuc": await run_cli(inventory, "logs", "demo.cc.master", "--no-follow"),
    }
    for name, run in runs.items():
        both = run.out + run.err
        assert leaks(both) == 0, f"{name}: {both[:300]!r}"
        assert_nothing_raw(both.encode(), name)
    # Not vacuous: the payloads arrived and were shown, made visible.
    assert "␛[2JQXA" in runs["status"].out + runs["ha show"].out + runs["edge plan"].err


class PtyConsole:
    """`python -m resil_tui` on a pty of a given size; collects every byte it writes."""

    def __init__(self, inventory: Path, tmp: Path, cols: int = 140, rows: int = 45) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        env = {
            **os.environ,
            "TERM": "xterm-256color",
            "COLORTERM": "truecolor",
            "XDG_STATE_HOME": str(tmp / "state"),
            "XDG_CONFIG_HOME": str(tmp / "config"),
            "HOME": str(tmp / "home"),
        }
        env.pop("NO_COLOR", None)
        # The pty's size, not a size a parent process (pytest-xdist) left in the environment.
        env["COLUMNS"], env["LINES"] = str(cols), str(rows)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "resil_tui", "--hosts", str(inventory), "--refresh", "2"],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
        )
        os.close(slave)
        self.out = bytearray()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            with self._lock:
                self.out += chunk

    def snapshot(self) -> bytes:
        with self._lock:
            return bytes(self.out)

    def press(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def text(self) -> bytes:
        """What was drawn, without Textual's own escape sequences (to find words in)."""
        return _OWN_SEQUENCES.sub(b"", self.snapshot())

    async def until(self, needle: bytes, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                tail = self.snapshot()[-2000:]
                raise AssertionError(f"no {needle!r} on the pty; last bytes: {tail!r}")
            await asyncio.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.press("q")
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        os.close(self.master)


async def test_every_pane_of_the_tui_writes_no_escape_a_node_sent(
    marked_lab: Lab, tmp_path: Path
) -> None:
    console = PtyConsole(marked_lab.inventory_path, tmp_path)
    try:
        await console.until(b"QXA")  # a poll's output reached the Status detail
        for key in ("j", "j", "j", "j", "j", "k"):  # every node's detail in turn
            console.press(key)
            await asyncio.sleep(0.4)
        for pane, shown in (
            ("2", b"Pair:"),
            ("3", b"Edge points to"),
            ("5", "demo.cc.master · xuc".encode()),  # the Logs tab follows xuc
            ("4", b"Site now:"),
            ("1", b"last refresh"),
        ):
            console.press(pane)
            await console.until(shown)
            await asyncio.sleep(1.5)
    finally:
        console.stop()
    out = console.snapshot()
    assert_nothing_raw(out, "the TUI")
    # The sanitizer's visible forms were drawn.
    assert "␛".encode() in out and b"QXC" in out
