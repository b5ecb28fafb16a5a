"""Split the output of one batched remote execution back into its parts.

Several read-only commands go to a node as one execution (`remote.commands.batch`): the
node's shell runs the parts one after the other and writes marker lines around each part,
on stdout and on stderr, built from a nonce drawn afresh for every batch:

    stdout:  <nonce> B <i>\\n  <part i's stdout>  \\n<nonce> E <i> <exit status>\\n
    stderr:  <nonce> B <i>\\n  <part i's stderr>  \\n<nonce> E <i>\\n

Before the first part, the script runs `false` and writes `<nonce> S <its $?>` on stdout:
a shell says 1. Anything else (no such line, `$?` not expanded, a `false` that is not
there) means the exit statuses of this execution cannot be trusted, whatever the markers
say: `BatchSplit.statuses_trusted` is then False.

The end marker starts with its own newline, so a part whose output lacks a final newline
still ends where it ended: exactly one newline is taken away before every end marker.
The shell writes the markers with `printf` from the formats below (the nonce and the
numbers are printf arguments, never part of the format), so a marker never appears
literally in the command line: a node that echoes the line back cannot produce one.

Remote text is untrusted: file contents and program outputs were written before the
nonce existed and cannot contain it, except by a 2**-128 chance. A part's markers are
looked for in order, each part on its own, so a missing or truncated part is reported
for that part only and never shifts the split of the others.
"""

from __future__ import annotations

import functools
import re

from resil_tui.core.records import record

# printf formats of the marker lines (written once: the command builder uses these).
PROBE_FORMAT = "%s S %d\n"  # nonce, the exit status of `false` ($?), before any part
PROBE_STATUS = 1
BEGIN_FORMAT = "%s B %d\n"  # nonce, part index (both streams)
END_OUT_FORMAT = "\n%s E %d %d\n"  # nonce, part index, the part's exit status ($?)
END_ERR_FORMAT = "\n%s E %d\n"  # nonce, part index

NONCE_RE = re.compile(r"[0-9a-f]{32,64}")


class BatchFormatError(ValueError):
    """A nonce or a part count the splitter cannot work with (a programming error)."""


@record
class PartOutput:
    """What one part of a batch printed on each stream, and how it ended."""

    stdout: str
    stderr: str
    exit_status: int | None  # None: the part's exit status was not reported
    problem: str | None = None  # why this part's output cannot be trusted, if it cannot

    @property
    def complete(self) -> bool:
        return self.problem is None and self.exit_status is not None

    @property
    def ok(self) -> bool:
        """Whole, and the command succeeded."""
        return self.problem is None and self.exit_status == 0

    @property
    def ended(self) -> str:
        """How the part ended, as the Status detail and the poll's errors say it."""
        return f"exit {self.exit_status}" if self.exit_status is not None else "no exit status"


@record
class BatchSplit:
    """A batched execution cut back into its parts (in the order sent), and whether to trust it."""

    parts: tuple[PartOutput, ...]
    markers_seen: bool  # at least one begin marker of this batch, on either stream
    statuses_trusted: bool = True  # the shell's `$?` passed the probe (see above)

    @property
    def usable(self) -> bool:
        """The node ran the batch as a shell does: worth reading part by part."""
        return self.markers_seen and self.statuses_trusted

    @property
    def problems(self) -> list[tuple[int, str]]:
        return [(i, p.problem) for i, p in enumerate(self.parts) if p.problem is not None]


def check_nonce(nonce: str) -> str:
    if not isinstance(nonce, str) or not NONCE_RE.fullmatch(nonce):
        raise BatchFormatError(f"a batch nonce is 32 to 64 lower-case hex digits, not {nonce!r}")
    return nonce


@record
class _Section:
    """One part's stretch of one stream, and which of its markers were found."""

    text: str
    found: bool  # the begin marker was there
    ended: bool  # the end marker's fixed part was there too
    tail: str  # stdout: what follows the end marker's fixed part, up to its newline
    tail_complete: bool  # that newline was there


_MISSING = _Section("", False, False, "", False)


def _next_begin(stream: str, nonce: str, after: int, start: int, count: int) -> int:
    """Where the first later part's begin marker is (the end of the stream if none)."""
    for j in range(after, count):
        found = stream.find(BEGIN_FORMAT % (nonce, j), start)
        if found >= 0:
            return found
    return len(stream)


def _without_cut_marker(text: str, marker: str) -> str:
    """A stream cut inside an end marker: leave out the piece of the marker it ends with."""
    for k in range(min(len(marker) - 1, len(text)), 0, -1):
        if text.endswith(marker[:k]):
            return text[:-k]
    return text


def _sections(stream: str, nonce: str, count: int, with_status: bool) -> list[_Section]:
    out: list[_Section] = []
    pos = 0
    for i in range(count):
        begin = BEGIN_FORMAT % (nonce, i)
        start = stream.find(begin, pos)
        if start < 0:
            out.append(_MISSING)
            continue  # the next part is looked for from the same place
        body = start + len(begin)
        # The end marker up to its status (stdout), or whole (stderr): both end in a
        # character that cannot continue the part index, so part 1 never matches part 12.
        fixed = (
            (END_OUT_FORMAT % (nonce, i, 0))[: -len("0\n")]
            if with_status
            else END_ERR_FORMAT % (nonce, i)
        )
        # A part never runs past the next part's begin marker, whatever is missing.
        limit = _next_begin(stream, nonce, i + 1, body, count)
        end = stream.find(fixed, body, limit)
        if end < 0:
            text = stream[body:limit]
            if limit == len(stream):
                text = _without_cut_marker(text, fixed)
            out.append(_Section(text, True, False, "", False))
            pos = limit
            continue
        after = end + len(fixed)
        if not with_status:
            out.append(_Section(stream[body:end], True, True, "", True))
            pos = after
            continue
        newline = stream.find("\n", after, limit)
        if newline < 0:
            out.append(_Section(stream[body:end], True, True, stream[after:limit], False))
            pos = limit
            continue
        out.append(_Section(stream[body:end], True, True, stream[after:newline], True))
        pos = newline + 1
    return out


def _status(section: _Section) -> tuple[int | None, str | None]:
    if not section.found:
        return None, "no output for this part (the batch ended before it, or it never ran)"
    if not section.ended:
        return None, "its output was cut short (no end marker)"
    if not section.tail_complete:
        return None, "its output was cut short (inside the end marker)"
    if not _STATUS_RE.fullmatch(section.tail):
        return None, f"its exit status was not reported ({section.tail[:40]!r})"
    return int(section.tail), None


_STATUS_RE = re.compile(r"[0-9]{1,3}")


def _after_nonce(marker: str) -> str:
    """A marker without its nonce and what precedes it (an end marker's own newline)."""
    return marker.split("\0", 1)[1]


@functools.lru_cache(maxsize=64)
def _fixed(i: int) -> tuple[str, str, str]:
    """Part i's markers after the nonce: begin, stderr's end, stdout's end up to the status."""
    return (
        _after_nonce(BEGIN_FORMAT % ("\0", i)),
        _after_nonce(END_ERR_FORMAT % ("\0", i)),
        _after_nonce(END_OUT_FORMAT % ("\0", i, 0))[: -len("0\n")],
    )


def _whole(stdout: str, stderr: str, nonce: str, count: int) -> BatchSplit | None:
    """The split of a batch that ran as written, every marker in place and nothing
    between them (what a shell prints, nearly every time), from one cut of each stream at
    its nonce; None for anything else, which `_split` reads marker by marker. The nonce is
    in no part's text, so the pieces between two of its places are exactly the markers'
    fixed parts and the parts' bodies; what this accepts `_split` reads the same way
    (tests/unit/test_core_batch.py compares them)."""
    outs = stdout.split(nonce)
    errs = stderr.split(nonce)
    probe = _after_nonce(PROBE_FORMAT % ("\0", PROBE_STATUS))
    if len(outs) != 2 + 2 * count or len(errs) != 1 + 2 * count or outs[1] != probe:
        return None
    parts: list[PartOutput] = []
    for i in range(count):
        head, err_end, before_status = _fixed(i)
        out, out_status = outs[2 + 2 * i], outs[3 + 2 * i]
        err = errs[1 + 2 * i]
        # A body, then the newline its end marker starts with (not the begin's own).
        if not (len(out) > len(head) and out.startswith(head) and out[-1] == "\n"):
            return None
        if not (len(err) > len(head) and err.startswith(head) and err[-1] == "\n"):
            return None
        status = out_status[len(before_status) : -1]
        if not (
            errs[2 + 2 * i] == err_end
            and out_status.startswith(before_status)
            and out_status[-1] == "\n"
            and _STATUS_RE.fullmatch(status)
        ):
            return None
        parts.append(PartOutput(out[len(head) : -1], err[len(head) : -1], int(status)))
    return BatchSplit(tuple(parts), True, True)


def split_batch(stdout: str, stderr: str, nonce: str, count: int) -> BatchSplit:
    """One PartOutput per part, in the order the parts were given to the batch."""
    check_nonce(nonce)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise BatchFormatError(f"a batch has at least one part, not {count!r}")
    whole = _whole(stdout, stderr, nonce, count)
    if whole is not None:
        return whole
    return _split(stdout, stderr, nonce, count)


def _split(stdout: str, stderr: str, nonce: str, count: int) -> BatchSplit:
    """split_batch marker by marker: a part missing, cut short or garbled is said so for
    that part alone."""
    outs = _sections(stdout, nonce, count, with_status=True)
    errs = _sections(stderr, nonce, count, with_status=False)
    parts: list[PartOutput] = []
    for out, err in zip(outs, errs, strict=True):
        status, problem = _status(out)
        if problem is None and not err.ended:
            # stdout is whole but stderr is not: what the part said on stderr is unknown.
            problem = "its error output was cut short or not delimited"
        parts.append(PartOutput(out.text, err.text, status, problem))
    seen = any(o.found for o in outs) or any(e.found for e in errs)
    trusted = (PROBE_FORMAT % (nonce, PROBE_STATUS)) in stdout
    return BatchSplit(tuple(parts), seen, trusted)
