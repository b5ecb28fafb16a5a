"""The pure core of the live log view: a bounded, sequence-numbered line buffer.

Every line gets a sequence number (1, 2, ...) that never repeats, so the UI can ask for
"lines after N" to append only what is new, and can tell when lines it never showed were
already dropped (``missed``). Memory is bounded by ``max_lines``: the oldest lines go
first and are counted in ``dropped``. Filtering (``view``) hides lines without losing
them. Lines the product inserts itself (gap markers) are remembered as markers so a
filter keeps them visible. Memory is bounded by size too (``max_chars``, default 64 Mi
characters: a character is a byte for ASCII logs): a node printing huge lines cannot make
the buffer grow past it, however few lines that is; the oldest go first, counted in
``dropped`` like any other.

This module also re-exports the rest of the log core so callers import from one place:
line parsing (``log_lines``), filter (``log_filter``), readiness (``log_readiness``),
resume dedup (``log_resume``), chunk batching (``log_batch``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from itertools import count, islice

from resil_tui.core.log_batch import DEFAULT_MAX_LINE_CHARS, LineBatcher
from resil_tui.core.log_filter import FilterError, LineFilter
from resil_tui.core.log_lines import (
    LineLevel,
    LineParts,
    app_time,
    classify,
    clean_line,
    clean_lines,
    comparable,
    gap_marker,
    is_gap_marker,
    parse_line_time,
    render_for_save,
    since_argument,
    split_line,
    strip_compose_prefix,
)
from resil_tui.core.log_readiness import DEFAULT_READINESS_PATTERN, ReadinessMatcher
from resil_tui.core.log_resume import ResumeDeduper

__all__ = [
    "DEFAULT_MAX_LINE_CHARS",
    "DEFAULT_READINESS_PATTERN",
    "FilterError",
    "LineBatcher",
    "LineFilter",
    "LineLevel",
    "LineParts",
    "LogBuffer",
    "ReadinessMatcher",
    "ResumeDeduper",
    "app_time",
    "classify",
    "clean_line",
    "clean_lines",
    "comparable",
    "gap_marker",
    "is_gap_marker",
    "parse_line_time",
    "render_for_save",
    "since_argument",
    "split_line",
    "strip_compose_prefix",
]


DEFAULT_MAX_CHARS = 64 * 1024 * 1024


class LogBuffer:
    def __init__(self, max_lines: int, max_chars: int = DEFAULT_MAX_CHARS) -> None:
        if max_lines < 1:
            raise ValueError(f"max_lines must be at least 1, not {max_lines}")
        if max_chars < 1:
            raise ValueError(f"max_chars must be at least 1, not {max_chars}")
        self.max_chars = max_chars
        self._chars = 0  # characters held by the kept lines
        # Sequence numbers are implicit: the newest line has next_seq - 1 and the deque is
        # contiguous, so no per-line tuple is stored.
        self._lines: deque[str] = deque(maxlen=max_lines)
        self._next_seq = 1
        self._markers: set[int] = set()
        self._cleared = 0

    @property
    def max_lines(self) -> int:
        maxlen = self._lines.maxlen
        assert maxlen is not None
        return maxlen

    def __len__(self) -> int:
        return len(self._lines)

    @property
    def last_seq(self) -> int:
        """Sequence number of the newest line ever appended; 0 before the first line."""
        return self._next_seq - 1

    @property
    def first_seq(self) -> int:
        """Sequence number of the oldest line kept (``last_seq + 1`` when empty)."""
        return self._next_seq - len(self._lines)

    @property
    def total(self) -> int:
        """Lines appended since creation (markers included)."""
        return self._next_seq - 1

    @property
    def dropped(self) -> int:
        """Lines pushed out by the bound (not those removed by ``clear``)."""
        return self.total - len(self._lines) - self._cleared

    @property
    def chars(self) -> int:
        """Characters held by the kept lines (what ``max_chars`` bounds)."""
        return self._chars

    def append(self, line: str) -> int:
        if len(self._lines) == self._lines.maxlen:
            self._chars -= len(self._lines[0])
        self._lines.append(line)
        self._chars += len(line)
        self._next_seq += 1
        if self._chars > self.max_chars:
            self._trim()
        return self._next_seq - 1

    def extend(self, lines: Iterable[str]) -> int:
        """Append many lines at C speed; returns ``last_seq`` afterwards."""
        batch = lines if isinstance(lines, list) else list(lines)
        if not batch:
            return self.last_seq
        maxlen = self.max_lines
        overflow = len(self._lines) + len(batch) - maxlen
        if overflow > 0:
            # The deque's bound pushes these out: the oldest kept lines, then (a batch
            # larger than the bound) the first lines of the batch itself.
            self._chars -= sum(map(len, islice(self._lines, 0, min(overflow, len(self._lines)))))
        kept = batch[-maxlen:] if len(batch) > maxlen else batch
        self._lines.extend(batch)
        self._chars += sum(map(len, kept))
        self._next_seq += len(batch)
        if self._chars > self.max_chars:
            self._trim()
        return self.last_seq

    def _trim(self) -> None:
        """Drop the oldest lines until the size bound holds (the newest line always stays,
        a stream line being cut long before this bound)."""
        while self._chars > self.max_chars and len(self._lines) > 1:
            self._chars -= len(self._lines.popleft())
        first = self.first_seq
        if self._markers and min(self._markers) < first:
            self._markers = {s for s in self._markers if s >= first}

    def append_marker(self, text: str) -> int:
        """A line the product inserted (gap marker): kept visible through filters."""
        seq = self.append(text)
        first = self.first_seq
        self._markers = {s for s in self._markers if s >= first}
        self._markers.add(seq)
        return seq

    def is_marker(self, seq: int) -> bool:
        return seq in self._markers and seq >= self.first_seq

    def get(self, seq: int) -> str | None:
        index = seq - self.first_seq
        if 0 <= index < len(self._lines):
            return self._lines[index]
        return None

    def missed(self, seq: int) -> int:
        """Lines after ``seq`` no longer kept (dropped by the bound or cleared): a reader
        that last saw ``seq`` shows a "+N lines skipped" marker when this is not 0."""
        return max(0, self.first_seq - max(seq, 0) - 1)

    def after(self, seq: int) -> list[tuple[int, str]]:
        """Kept lines with a sequence number greater than ``seq``, oldest first."""
        return list(self._iter_after(seq))

    def lines(self) -> list[str]:
        return list(self._lines)

    def lines_view(self) -> Sequence[str]:
        """The kept lines without a copy (index 0: ``first_seq``); read, never keep."""
        return self._lines

    def lines_after(self, seq: int) -> list[str]:
        """The kept lines after ``seq`` (no pairs: the view's fast path)."""
        return [line for _, line in self._iter_after(seq)]

    def view(
        self,
        line_filter: LineFilter | None = None,
        *,
        after: int = 0,
        keep_markers: bool = True,
    ) -> list[tuple[int, str]]:
        """``(seq, line)`` of the kept lines after ``after`` that pass the filter."""
        pairs = self._iter_after(after)
        if line_filter is None or line_filter.empty:
            return list(pairs)
        search = line_filter.compiled.search
        if keep_markers and self._markers:
            markers = self._markers
            return [(s, line) for s, line in pairs if s in markers or search(line)]
        return [(s, line) for s, line in pairs if search(line)]

    def clear(self) -> None:
        """Forget the kept lines (the admin's "clear"); sequence numbers keep counting."""
        self._cleared += len(self._lines)
        self._lines.clear()
        self._markers.clear()
        self._chars = 0

    def _iter_after(self, seq: int) -> Iterator[tuple[int, str]]:
        first = self.first_seq
        skip = max(0, seq + 1 - first)
        size = len(self._lines)
        if skip >= size:
            return iter(())
        wanted = size - skip
        if wanted < skip:
            # Walk from the right end: asking for the newest few lines stays cheap.
            newest = list(islice(reversed(self._lines), wanted))
            newest.reverse()
            return zip(count(first + skip), newest, strict=False)
        return zip(count(first + skip), islice(self._lines, skip, None), strict=False)
