"""Resuming a followed log after a reconnect without showing lines twice.

The new stream (``logs -f --since <last time>`` or a small ``--tail``) starts by re-sending
lines the admin already saw. ``ResumeDeduper`` drops the longest start of the new stream
that equals the end of what was seen (a suffix/prefix match of the two sequences, so
repeated identical lines are counted, never treated as a set) and passes everything after.

Guarantee: the dropped lines are exactly ``resumed[:d] == previous[-d:]`` for one ``d``;
no line is dropped that does not equal the seen line at that place. With ``-t`` every line
carries a nanosecond time, lines are unique and the match is exact. Without times, a new
line identical to the last seen ones (a repeated heartbeat) can be taken for overlap: that
ambiguity is inherent. Keep ``tail_of_previous`` at least as long as the ``--tail`` used to
resume, else older history re-sent before the kept tail is shown again.

While a longer overlap is still possible the deduper holds lines back (at most
``len(tail_of_previous)``); a line timed after the last seen time cannot be overlap and
settles it at once. ``flush()`` releases held lines (end of stream, or an idle timer).
"""

from __future__ import annotations

from datetime import datetime

from resil_tui.core.log_lines import comparable, split_line, strip_compose_prefix


def _key(line: str) -> str:
    # The compose prefix is padded to the longest service name of that stream: a resumed
    # stream may pad differently, so compare the service name and the text after the bar.
    service, rest = strip_compose_prefix(line)
    return line if service is None else f"{service}\x00{rest}"


class ResumeDeduper:
    def __init__(self, tail_of_previous: list[str]) -> None:
        self._previous = [_key(line) for line in tail_of_previous]
        self._positions: dict[str, list[int]] = {}
        for index, key in enumerate(self._previous):
            self._positions.setdefault(key, []).append(index)
        times = [t for t in (split_line(line).time for line in tail_of_previous) if t]
        # The latest time seen (max, not last: interleaved services are not time-ordered).
        self._last_seen: datetime | None = (
            max(t for t in times if comparable(t, times[-1])) if times else None
        )
        self._candidates: list[int] = []  # start indexes in previous still matching
        self._held: list[str] = []
        self._best = 0  # longest overlap completed so far
        self.decided = not self._previous
        self.dropped = 0

    def feed(self, line: str) -> list[str]:
        """Lines to show now (possibly none, possibly earlier held ones first)."""
        if self.decided:
            return [line]
        if self._newer_than_seen(line):
            return [*self._decide(), line]
        key = _key(line)
        matched = len(self._held)
        if matched == 0:
            self._candidates = list(self._positions.get(key, ()))
        else:
            previous = self._previous
            self._candidates = [j for j in self._candidates if previous[j + matched] == key]
        self._held.append(line)
        matched += 1
        end = len(self._previous) - matched
        if self._candidates and self._candidates[-1] == end:
            # Candidates ascend; only the last can end exactly at the previous stream's end.
            self._best = matched
            self._candidates.pop()
        if not self._candidates:
            return self._decide()
        return []

    def feed_many(self, lines: list[str]) -> list[str]:
        out: list[str] = []
        for line in lines:
            out.extend(self.feed(line))
        return out

    def flush(self) -> list[str]:
        """Settle now: keep the longest overlap found, release what was held after it."""
        return [] if self.decided else self._decide()

    def _newer_than_seen(self, line: str) -> bool:
        if self._last_seen is None:
            return False
        when = split_line(line).time
        return when is not None and comparable(when, self._last_seen) and when > self._last_seen

    def _decide(self) -> list[str]:
        released = self._held[self._best :]
        self.dropped = self._best
        self.decided = True
        self._held = []
        self._candidates = []
        self._positions = {}
        return released
