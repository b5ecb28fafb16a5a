"""Where one read ends on a shell kept open between reads (remote/read_shell.py).

A console or a watcher polls the same nodes every few seconds. Instead of a new SSH
channel and a new remote execution for every read, the pool keeps one `sh` open per
connection and writes each read to its stdin as one line, followed by two end markers
drawn from a nonce made afresh for that read:

    stdout:  <the read's stdout>  \\n<nonce> Z <its exit status>\\n
    stderr:  <the read's stderr>  \\n<nonce> Z\\n

As in core/batch.py, the markers start with their own newline (exactly one newline is
taken away before each, so an output without a final newline ends where it ended), and
the shell writes them with `printf` from the formats below with the nonce as an argument:
a marker never appears literally in the line sent, so a node that echoes its input back
cannot end a read early. Output written before the nonce existed cannot contain it.

Before the first read, the shell must answer `false` followed by `printf` of `$?` with 1
(READY_FORMAT), and a marker on stderr: only a node that runs its stdin as a shell does,
both streams open, gets reads this way.
"""

from __future__ import annotations

from resil_tui.core.records import record

READY_FORMAT = "%s R %d\n"  # nonce, the exit status of `false` ($?)
READY_ERR_FORMAT = "%s R\n"  # nonce, on stderr
READY_STATUS = 1
END_OUT_FORMAT = "\n%s Z %d\n"  # nonce, the read's exit status ($?)
END_ERR_FORMAT = "\n%s Z\n"  # nonce

_MAX_STATUS_DIGITS = 3


@record
class FrameEnd:
    """One stream of a read, once its end marker arrived whole."""

    body: bytes  # what the read wrote on this stream
    status: int | None  # stdout: the exit status the marker carries; None on stderr
    trailing: bytes  # anything after the marker (nothing, from a shell that waits for input)


def readiness(out: bytes | bytearray, err: bytes | bytearray, nonce: str) -> bool | None:
    """Whether the shell passed the readiness check: True, False (it answered, but `$?`
    was not 1: not a shell the markers can trust), None while the answer is not whole on
    both streams. Anything a login script printed before it is left aside."""
    head = (READY_FORMAT % (nonce, READY_STATUS)).encode("ascii")[: -len(b"1\n")]
    at = out.find(head)
    if at < 0:
        return None
    newline = out.find(b"\n", at + len(head))
    if newline < 0:
        return None if len(out) - at - len(head) <= _MAX_STATUS_DIGITS else False
    if bytes(out[at + len(head) : newline]) != str(READY_STATUS).encode("ascii"):
        return False
    return True if (READY_ERR_FORMAT % nonce).encode("ascii") in err else None


def resume_at(searched: int, nonce: str) -> int:
    """Where to look again for a marker in a buffer searched up to `searched` bytes: far
    enough back for a marker cut at its end, status included."""
    return max(0, searched - len(END_OUT_FORMAT % (nonce, 0)) - _MAX_STATUS_DIGITS)


def end_start(nonce: str) -> bytes:
    """How both streams' end markers start ("\\n<nonce> Z"): a stream without it has
    not ended, whatever else it holds."""
    return (END_ERR_FORMAT % nonce)[:-1].encode("ascii")


def end_of_stdout(buffer: bytes | bytearray, nonce: str, start: int = 0) -> FrameEnd | None:
    """The read's stdout and exit status, once its end marker is whole; None until then.
    A marker whose status is not a number (a shell that did not expand `$?`) ends the
    read with status None. `start`: where the marker may begin at the earliest (a
    buffer searched before up to there, less the marker's length, need not be again)."""
    marker = end_start(nonce)
    at = buffer.find(marker, start)
    if at < 0:
        return None
    rest = at + len(marker)
    newline = buffer.find(b"\n", rest)
    if newline < 0:
        if len(buffer) - rest > _MAX_STATUS_DIGITS + 1:
            return FrameEnd(bytes(buffer[:at]), None, bytes(buffer[rest:]))
        return None  # the status is still on its way
    tail = buffer[rest:newline]
    digits = tail[1:]
    status = (
        int(digits)
        if tail[:1] == b" " and digits.isdigit() and len(digits) <= _MAX_STATUS_DIGITS
        else None
    )
    return FrameEnd(bytes(buffer[:at]), status, bytes(buffer[newline + 1 :]))


def end_of_stderr(buffer: bytes | bytearray, nonce: str, start: int = 0) -> FrameEnd | None:
    """The read's stderr, once its end marker is whole; None until then (`start`: as for
    end_of_stdout)."""
    marker = (END_ERR_FORMAT % nonce).encode("ascii")
    at = buffer.find(marker, start)
    if at < 0:
        return None
    return FrameEnd(bytes(buffer[:at]), None, bytes(buffer[at + len(marker) :]))
