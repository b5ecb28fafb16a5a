"""One `sh` kept open per connection, for the reads a console or a watcher repeats.

A poll every few seconds sends every node the same read-only lines. As one channel and one
remote execution each, a read costs a channel open, an exec request, its reply, the exit
status, EOF and close: some fifteen SSH packets each way with asyncssh, the largest part
of the client's CPU per node and refresh, and on the node a fork of sshd and of the login
shell. Kept open, a read is one line on the shell's stdin and its answer: a packet or two.

Only what `Pool` allows goes this way (remote/pool.py: read-only catalog entries with no
stdin and no terminal, never in a read-only session anything that changes a node), each
line with its stdin from /dev/null (a program that reads stdin cannot swallow the next
read) and followed by the end markers of core/shell_frames.py. A shell that fails the
readiness check, ends, garbles a marker or times out is closed; the pool falls back to one
execution per read, as on a node whose SSH server runs no shell.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass

from resil_tui.core import shell_frames
from resil_tui.remote.commands import Command
from resil_tui.remote.ssh import asyncssh

log = logging.getLogger(__name__)

# The command that starts the shell: sshd hands it to the login shell (`$SHELL -c sh`).
SHELL_COMMAND = "sh"
# More than this on one stream of one read closes the shell (a read that runs away).
MAX_READ_BYTES = 64 * 1024 * 1024


class ShellGone(Exception):
    """The shell cannot answer (it ended, garbled a marker, timed out, or the link went
    away): close it. `refused`: the node does not run one as a shell would (trying again
    on this connection is pointless)."""

    def __init__(self, reason: str, *, refused: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.refused = refused


@dataclass(frozen=True)
class ShellAnswer:
    """What one read wrote, and how it ended."""

    stdout: bytes
    stderr: bytes
    exit_status: int
    round_trip: float  # from the line written to its end markers received


def _format_word(fmt: str) -> str:
    # The format's newlines as printf's two-character escapes: the line stays one line and
    # no marker appears in it literally (core/shell_frames.py).
    return shlex.quote(fmt.replace("\\", "\\\\").replace("\n", "\\n"))


# What follows a read's line, around the nonce's two places (a hex nonce needs no quoting).
_AFTER_READ = (
    f" </dev/null ; printf {_format_word(shell_frames.END_OUT_FORMAT)} ",
    f' "$?" ; printf {_format_word(shell_frames.END_ERR_FORMAT)} ',
    " >&2\n",
)


def request_line(command: Command, nonce: str) -> bytes:
    """The one line written to the shell for `command`: the command with stdin from
    /dev/null, then the end markers (stdout's carries the command's `$?`)."""
    before, between, after = _AFTER_READ
    return f"{command.line}{before}{nonce}{between}{nonce}{after}".encode()


def ready_line(nonce: str) -> bytes:
    """The readiness check: `false`, then its `$?` (a shell says 1)."""
    return f'false ; printf {_format_word(shell_frames.READY_FORMAT)} {nonce} "$?"\n'.encode()


def _nonce() -> str:
    return os.urandom(16).hex()  # secrets.token_hex(16) without its imports (see audit.py)


class _Session(asyncssh.SSHClientSession[bytes]):
    """Collects the shell's two streams until the read in progress has its markers."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.err = bytearray()
        self.waiter: asyncio.Future[None] | None = None
        self.ended: ShellGone | None = None

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        (self.err if datatype == asyncssh.EXTENDED_DATA_STDERR else self.out).extend(data)
        if len(self.out) > MAX_READ_BYTES or len(self.err) > MAX_READ_BYTES:
            self.ended = ShellGone(f"a read wrote more than {MAX_READ_BYTES} bytes")
        self._wake()

    def eof_received(self) -> bool:
        self.ended = self.ended or ShellGone("the shell ended")
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended = self.ended or ShellGone(
            f"connection lost: {exc}" if exc is not None else "the shell's channel closed"
        )
        self._wake()


class ReadShell:
    """A shell open on one connection; one read at a time (`busy` meanwhile)."""

    def __init__(
        self,
        chan: asyncssh.SSHClientChannel[bytes],
        session: _Session,
        release: Callable[[], None],
    ) -> None:
        self._chan = chan
        self._session = session
        self._release: Callable[[], None] | None = release
        self.busy = False

    @property
    def closed(self) -> bool:
        return self._release is None or self._session.ended is not None

    @classmethod
    async def open(
        cls,
        conn: asyncssh.SSHClientConnection,
        timeout: float,
        release: Callable[[], None],
    ) -> ReadShell:
        """Start the shell and check it runs its stdin as a shell does; ShellGone when it
        does not (then nothing is left open). `release` is called once, when it closes."""
        try:
            chan, session = await asyncio.wait_for(
                conn.create_session(_Session, SHELL_COMMAND, encoding=None), timeout
            )
        except (TimeoutError, OSError, asyncssh.Error) as exc:
            release()
            raise ShellGone(f"no channel for a shell: {exc!r}") from exc
        except BaseException:
            release()
            raise
        assert isinstance(session, _Session)
        shell = cls(chan, session, release)
        nonce = _nonce()
        try:
            chan.write(ready_line(nonce))
            async with asyncio.timeout(timeout):
                while (passed := shell_frames.readiness(session.out, nonce)) is None:
                    await shell._next_data()
            if not passed:
                raise ShellGone("`false; printf $?` did not say 1", refused=True)
        except TimeoutError:
            shell.close()
            raise ShellGone(f"no answer to the readiness check within {timeout:g}s") from None
        except ShellGone as gone:
            shell.close()
            # Ended before answering: what a server that runs no shell does with `sh`.
            raise ShellGone(gone.reason, refused=True) from None
        except BaseException:
            shell.close()
            raise
        # A login script's chatter before the answer is not part of any read.
        session.out.clear()
        session.err.clear()
        return shell

    async def _next_data(self) -> None:
        session = self._session
        if session.ended is not None:
            raise session.ended
        session.waiter = asyncio.get_running_loop().create_future()
        try:
            await session.waiter
        finally:
            session.waiter = None
        if session.ended is not None:
            raise session.ended

    async def run(self, command: Command, limit: float) -> ShellAnswer:
        """Run one read. TimeoutError past `limit` and ShellGone (both close the shell);
        on cancellation the shell is closed too: where its streams stand is unknown."""
        if command.mutates or command.pty or command.stdin is not None or command.secret_stdin:
            raise ValueError(f"{command.name} cannot go through the kept shell")
        if self.busy or self.closed:
            raise ShellGone("the shell is busy or closed")
        self.busy = True
        session = self._session
        nonce = _nonce()
        start = time.monotonic()
        try:
            self._chan.write(request_line(command, nonce))
            out: shell_frames.FrameEnd | None = None
            err: shell_frames.FrameEnd | None = None
            async with asyncio.timeout(limit):
                while True:
                    out = out or shell_frames.end_of_stdout(session.out, nonce)
                    err = err or shell_frames.end_of_stderr(session.err, nonce)
                    if out is not None and err is not None:
                        break
                    await self._next_data()
            if out.status is None:
                raise ShellGone("the shell did not report the read's exit status")
            if out.trailing or err.trailing:
                # A shell that writes after a read's end is not idle: the next read's
                # output could not be told from this one's.
                raise ShellGone("the shell wrote past the end of a read")
        except BaseException:
            self.close()
            raise
        finally:
            self.busy = False
        session.out.clear()
        session.err.clear()
        return ShellAnswer(out.body, err.body, out.status, time.monotonic() - start)

    def close(self) -> None:
        """Close the channel (sshd then closes the shell's stdin: it exits) and give back
        its channel slot. Idempotent."""
        release, self._release = self._release, None
        if release is None:
            return
        with contextlib.suppress(OSError, asyncssh.Error):
            self._chan.close()
        release()
