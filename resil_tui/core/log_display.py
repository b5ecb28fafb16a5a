"""How one log line is shown: one timestamp, the message first, and the index of the view.

`display_text(raw)`: a compose line carries docker's `-t` time *and* the application's own
(`xuc-1  | 2026-11-25T10:00:01.123456789Z 2026-11-25 10:00:01,123 INFO  [a.b.Agent] - m`):
it is shown with one time, docker's (node clock, `HH:MM:SS.mmm`), the level, the message,
and the logger and the service after the message (`10:00:01.123 INFO m ‹Agent› xuc-1`),
so at 80 columns the message is what is read first. A line without a docker time keeps
its own timestamp, shortened the same way. Saved files keep the raw lines.

`LineIndex`: which buffer lines a view shows, in order: everything (no per-line cost: a
follow at 100,000 lines/s only moves two numbers), or the lines that pass a filter, the
WARN/ERROR lines only, with consecutive repeats collapsed to one entry with a count.
Pure: plain strings in, numbers out.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from resil_tui.core.log_lines import (
    _APP_TS,  # the one spelling of an application's own timestamp
    LineLevel,
    classify,
    is_gap_marker,
    split_line,
)
from resil_tui.core.records import record

_LOGBACK_REST = re.compile(
    r"^(?P<level>ERROR|WARN|WARNING|INFO|DEBUG|TRACE)\s+\[(?P<logger>[^\]]*)\]\s+-\s+"
)
# Any token that may make a line WARN or ERROR: a cheap first pass before `classify`.
_MAYBE_WARN = re.compile(
    r"(?i:error|err\b|fatal|severe|critical|crit\b|alert|emerg|warn)|Exception|Caused by"
)


def _short_time(message: str, parts_time_text: str | None) -> tuple[str, str]:
    """(the time to show, the message without its own leading timestamp)."""
    own = _APP_TS.match(message)
    rest = message[own.end() :].lstrip() if own is not None else message
    if parts_time_text is not None:
        return parts_time_text, rest
    if own is not None:
        clock = own["time"] + (f".{own['frac'][:3]}" if own["frac"] else "")
        return clock, rest
    return "", message


def display_text(raw: str, *, keep_service: bool = False) -> str:
    """The line as the view shows it (see the module's docstring)."""
    if is_gap_marker(raw):
        return raw
    parts = split_line(raw)
    docker = None
    if parts.docker_time and parts.time is not None:
        docker = f"{parts.time:%H:%M:%S}.{parts.time.microsecond // 1000:03d}"
    clock, message = _short_time(parts.message, docker)
    tail: list[str] = []
    logback = _LOGBACK_REST.match(message)
    if logback is not None:
        logger = logback["logger"].rsplit(".", 1)[-1]
        message = f"{logback['level']} {message[logback.end() :]}"
        if logger:
            tail.append(f"‹{logger}›")
    if parts.service and keep_service:
        tail.append(parts.service)
    text = f"{clock} {message}" if clock else message
    return f"{text}  {' '.join(tail)}" if tail else text


def repeat_key(raw: str) -> str:
    """What two lines must share to count as a repeat: the message, times left out."""
    parts = split_line(raw)
    return _short_time(parts.message, "")[1] if parts.time is not None else parts.message


def is_warn_or_error(raw: str) -> bool:
    if _MAYBE_WARN.search(raw) is None:
        return False
    return classify(raw) in (LineLevel.WARN, LineLevel.ERROR)


@record
class ViewOptions:
    """What the view leaves out. All off: every line, as it came."""

    keep: Callable[[str], bool] | None = None  # the filter's test
    levels_only: bool = False  # WARN / ERROR (and the product's markers) only
    collapse: bool = False  # consecutive repeats as one entry "×N"

    @property
    def everything(self) -> bool:
        return self.keep is None and not self.levels_only and not self.collapse


@dataclass
class LineIndex:
    """The entries of a view over a source of lines numbered `first .. first+len-1`.

    With every option off the entries are the source's lines themselves; otherwise a list
    of sequence numbers (and repeat counts) kept in step with the source by `extend`."""

    options: ViewOptions = field(default_factory=ViewOptions)
    markers: Callable[[int], bool] = lambda _seq: False
    _seqs: list[int] = field(default_factory=list)
    _counts: dict[int, int] = field(default_factory=dict)
    _first: int = 1  # everything: the first sequence number shown
    _last: int = 0  # the newest sequence number indexed
    _last_key: str | None = None

    def reset(self, first: int, lines: Sequence[str]) -> None:
        """Index `lines` (numbered from `first`) from scratch."""
        self._seqs, self._counts, self._last_key = [], {}, None
        self._first, self._last = first, first - 1
        self.extend(first, lines)

    def extend(self, first: int, lines: Sequence[str]) -> None:
        """New lines numbered from `first` (lines already indexed are skipped)."""
        skip = max(0, self._last + 1 - first)
        if skip >= len(lines):
            return
        start = first + skip
        new = lines[skip:] if skip else lines
        self._last = start + len(new) - 1
        options = self.options
        if options.everything:
            return
        kept: list[tuple[int, str]] = list(zip(range(start, start + len(new)), new, strict=True))
        if options.keep is not None:
            keep = options.keep
            kept = [(s, line) for s, line in kept if self.markers(s) or keep(line)]
        if options.levels_only:
            kept = [(s, line) for s, line in kept if self.markers(s) or is_warn_or_error(line)]
        if not options.collapse:
            self._seqs.extend(s for s, _ in kept)
            return
        for seq, line in kept:
            key = repeat_key(line)
            if key == self._last_key and self._seqs:
                top = self._seqs[-1]
                self._counts[top] = self._counts.get(top, 1) + 1
                continue
            self._last_key = key
            self._seqs.append(seq)

    def extend_to(
        self, last: int, first_kept: int, lines_after: Callable[[int], Sequence[str]]
    ) -> None:
        """The source now holds `first_kept .. last`; `lines_after(seq)` gives the lines
        after `seq` (read only when an option needs the text: showing everything moves one
        number)."""
        if last <= self._last:
            return
        if self.options.everything:
            self._last = last
            return
        start = max(self._last + 1, first_kept)
        self.extend(start, lines_after(start - 1))

    def forget_before(self, first: int) -> None:
        """The source no longer holds lines before `first`."""
        if self.options.everything:
            self._first = max(self._first, first)
            return
        if self._seqs and self._seqs[0] < first:
            cut = bisect_left(self._seqs, first)
            for seq in self._seqs[:cut]:
                self._counts.pop(seq, None)
            del self._seqs[:cut]

    def __len__(self) -> int:
        if self.options.everything:
            return max(0, self._last - self._first + 1)
        return len(self._seqs)

    def seq(self, index: int) -> int:
        if self.options.everything:
            return self._first + index
        return self._seqs[index]

    def count(self, index: int) -> int:
        """How many lines the entry stands for (collapsed repeats: more than 1)."""
        if self.options.everything:
            return 1
        return self._counts.get(self._seqs[index], 1)
