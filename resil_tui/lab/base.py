"""What every emulated command gets: the world, the node, and its standard streams."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from resil_tui.lab.spec import LabTiming, NodeSpec

if TYPE_CHECKING:
    from resil_tui.lab.world import LabWorld


@runtime_checkable
class CommandIO(Protocol):
    """A command's stdin/stdout/stderr, whatever carries them (asyncssh channel, real PTY)."""

    is_pty: bool

    async def read(self, n: int = -1) -> bytes: ...  # b"" at EOF

    async def readline(self) -> bytes: ...

    def write(self, data: bytes) -> None: ...

    def write_err(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...  # raises BrokenPipeError/ConnectionError: peer gone


class CommandFailed(Exception):
    """Raised inside a command to print `message` on stderr and exit with `code`."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass
class Ctx:
    world: LabWorld
    node: NodeSpec
    io: CommandIO
    cwd: str = "/root"
    timing: LabTiming = field(default_factory=LabTiming)

    def out(self, text: str) -> None:
        self.io.write(text.encode("utf-8"))

    def err(self, text: str) -> None:
        self.io.write_err(text.encode("utf-8"))

    def path(self, p: str) -> Path:
        return self.world.resolve(self.node.id, p, self.cwd)

    def set_echo(self, on: bool) -> None:
        # Optional on CommandIO: password prompts turn echo off where the carrier can.
        setter = getattr(self.io, "set_echo", None)
        if setter is not None:
            setter(on)

    async def sleep(self, seconds: float) -> None:
        if seconds > 0:
            await asyncio.sleep(seconds)

    async def flush(self) -> None:
        await self.io.drain()
