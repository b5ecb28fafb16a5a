"""One `sh` kept open per connection, for the reads a console or a watcher repeats.

A poll every few seconds sends every node the same read-only lines. As one channel and one
remote execution each, a read costs a channel open, an exec request, its reply, the exit
status, EOF and close: some fifteen SSH packets each way with asyncssh, the largest part
of the client's CPU per node and refresh, and on the node a fork of sshd and of the login
shell. Kept open, a read is one line on the shell's stdin and its answer: a few packets.

Only what may share a shell goes this way (`commands.shared_shell_refusal`, the batch's
rule: reads that end by themselves, no stdin, no terminal, a program; a change never), each
line with its stdin from /dev/null (a program that reads stdin cannot swallow the next
read) and followed by the end markers of core/shell_frames.py. A shell that fails the
readiness check, ends, garbles a marker or times out is closed; the pool falls back to one
execution per read, as on a node whose SSH server runs no shell.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import time
from collections.abc import Callable

from resil_tui.core import shell_frames
from resil_tui.core.records import record
from resil_tui.remote import commands
from resil_tui.remote.commands import Command, shared_shell_refusal
from resil_tui.remote.ssh import asyncssh

# The command that starts the shell: sshd hands it to the login shell (`$SHELL -c sh`).
SHELL_COMMAND = "sh"


class ShellGone(Exception):
    """The shell cannot answer (it ended, garbled a marker, timed out, or the link went
    away): close it. `refused`: what a server that runs no shell as sh does (trying again
    on this connection is pointless)."""

    def __init__(
        self, reason: str, *, refused: bool = False, overflowed: str | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.refused = refused
        # "stdout" or "stderr": the read wrote more than commands.MAX_ANSWER_BYTES there
        # (run again on its own, it would only do so once more).
        self.overflowed = overflowed


@record
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
    """The readiness check: `false`, then its `$?` (a shell says 1), then a marker on
    stderr (a node that lost its stderr would leave every read waiting for one)."""
    out = _format_word(shell_frames.READY_FORMAT)
    err = _format_word(shell_frames.READY_ERR_FORMAT)
    return f'false ; printf {out} {nonce} "$?" ; printf {err} {nonce} >&2\n'.encode()


def _nonce() -> str:
    return os.urandom(16).hex()  # secrets.token_hex(16) without its imports (see audit.py)


class _Session(asyncssh.SSHClientSession[bytes]):
    """Collects the shell's two streams until the read in progress has its markers."""

    # Read once (asyncssh is loaded by the class statement above): `asyncssh.X` goes
    # through remote/ssh.py's stand-in, a lookup of its own at every packet.
    _STDERR = asyncssh.EXTENDED_DATA_STDERR

    def __init__(self) -> None:
        self.out = bytearray()
        self.err = bytearray()
        self.waiter: asyncio.Future[None] | None = None
        self.ended: ShellGone | None = None
        self.on_end: Callable[[], None] | None = None  # the shell's close(), once it ends
        # The read in progress: how its end markers start, and whether each stream holds
        # that yet. Until both do the read cannot be whole, and the reader is not woken
        # (an answer comes in several packets). None: woken at every packet.
        self.end_start: bytes | None = None
        self._out_ended = self._err_ended = False

    def expect(self, end_start: bytes | None) -> None:
        """The next read's end markers start so (`shell_frames.end_start`), or None."""
        self.end_start = end_start
        self._out_ended = self._err_ended = False

    def _end(self, gone: ShellGone) -> None:
        if self.ended is None:
            self.ended = gone
            if self.on_end is not None:
                # After asyncssh's own callback: the channel slot is given back even when
                # the shell ends between two reads, with nobody waiting on it.
                asyncio.get_running_loop().call_soon(self.on_end)
        self._wake()

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        if self.ended is not None:
            return
        stderr = datatype == self._STDERR
        buffer = self.err if stderr else self.out
        before = len(buffer)
        buffer.extend(data)
        if len(buffer) > commands.MAX_ANSWER_BYTES:
            # A read that runs away closes the shell, and its answer is "too much output".
            self._end(
                ShellGone(
                    f"a read wrote more than {commands.MAX_ANSWER_BYTES} bytes",
                    overflowed="stderr" if stderr else "stdout",
                )
            )
            return
        marker = self.end_start
        if marker is not None:
            if not (self._err_ended if stderr else self._out_ended):
                # Looked for in what just came, and the marker's length before it.
                if buffer.find(marker, max(0, before - len(marker) + 1)) < 0:
                    return  # this stream has not ended: the read cannot be whole yet
                if stderr:
                    self._err_ended = True
                else:
                    self._out_ended = True
            if not (self._out_ended and self._err_ended):
                return
        self._wake()

    def eof_received(self) -> bool:
        self._end(ShellGone("the shell ended", refused=True))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            self._end(ShellGone(f"connection lost: {exc}"))
        else:
            self._end(ShellGone("the shell's channel closed", refused=True))


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
        session.on_end = self.close
        if session.ended is not None:
            self.close()

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
        does not (then nothing is left open). `release` is called once, when it closes.

        `timeout` bounds the check, not the channel's opening: asyncssh leaves a channel
        whose open was given up on open on the node, uncounted (as the execution path,
        the open waits for the node's answer or the connection's end)."""
        try:
            chan, session = await conn.create_session(_Session, SHELL_COMMAND, encoding=None)
        except (OSError, asyncssh.Error) as exc:
            release()
            raise ShellGone(f"no channel for a shell: {exc!r}") from exc
        except BaseException:
            release()
            raise
        assert isinstance(session, _Session)
        shell = cls(chan, session, release)
        nonce = _nonce()
        try:
            shell._write(ready_line(nonce))
            async with asyncio.timeout(timeout):
                while (passed := shell_frames.readiness(session.out, session.err, nonce)) is None:
                    await shell._next_data()
            if not passed:
                raise ShellGone("`false; printf $?` did not say 1", refused=True)
        except TimeoutError:
            shell.close()
            raise ShellGone(f"no answer to the readiness check within {timeout:g}s") from None
        except BaseException:
            shell.close()
            raise
        # A login script's chatter before the answer is not part of any read.
        session.out.clear()
        session.err.clear()
        return shell

    def _write(self, data: bytes) -> None:
        try:
            self._chan.write(data)
        except (OSError, asyncssh.Error) as exc:
            # The server closed the channel before asyncssh told the session.
            raise ShellGone(f"the shell's channel is closed: {exc!r}") from exc

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
        refusal = shared_shell_refusal(command)
        if refusal is not None:
            raise ValueError(f"refused `{command.line}` on a kept shell: {refusal}")
        if self.busy or self.closed:
            raise ShellGone("the shell is busy or closed")
        session = self._session
        if session.out or session.err:
            # Written after the last read ended (a program it left behind): this read's
            # output could not be told from it.
            self.close()
            raise ShellGone("the shell wrote between two reads")
        self.busy = True
        nonce = _nonce()
        start = time.monotonic()
        session.expect(shell_frames.end_start(nonce))
        try:
            self._write(request_line(command, nonce))
            out: shell_frames.FrameEnd | None = None
            err: shell_frames.FrameEnd | None = None
            out_from = err_from = 0
            async with asyncio.timeout(limit):
                while out is None or err is None:
                    # Looked for again only in what arrived since, give or take a marker:
                    # a large answer comes in many packets.
                    out = out or shell_frames.end_of_stdout(session.out, nonce, out_from)
                    err = err or shell_frames.end_of_stderr(session.err, nonce, err_from)
                    if out is None or err is None:
                        out_from = shell_frames.resume_at(len(session.out), nonce)
                        err_from = shell_frames.resume_at(len(session.err), nonce)
                        await self._next_data()
            # Both markers are in: anything after either (however late it came) means the
            # shell is not idle, and the next read's output could not be told from it.
            out = shell_frames.end_of_stdout(session.out, nonce)
            err = shell_frames.end_of_stderr(session.err, nonce)
            assert out is not None and err is not None
            if out.status is None:
                raise ShellGone("the shell did not report the read's exit status")
            if out.trailing or err.trailing:
                raise ShellGone("the shell wrote past the end of a read")
        except BaseException:
            self.abandon()
            raise
        finally:
            self.busy = False
            session.expect(None)
        session.out.clear()
        session.err.clear()
        return ShellAnswer(out.body, err.body, out.status, time.monotonic() - start)

    def abandon(self) -> None:
        """Close, after a read given up on: HUP and TERM first, as the execution path does
        (OpenSSH signals the session's process: the shell, which may still be running
        the read)."""
        if self._release is not None and self._session.ended is None:
            for sig in ("HUP", "TERM"):
                with contextlib.suppress(OSError, asyncssh.Error):
                    self._chan.send_signal(sig)
        self.close()

    def close(self) -> None:
        """Close the channel (sshd then closes the shell's stdin: it exits) and give back
        its channel slot. Idempotent."""
        release, self._release = self._release, None
        if release is None:
            return
        with contextlib.suppress(OSError, asyncssh.Error):
            self._chan.close()
        release()
