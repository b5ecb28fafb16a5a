"""Several log streams as one, in time order, each line tagged with its source.

Streams arrive in batches, each roughly in order but late with respect to one another (two
nodes, two SSH channels). `MergeQueue` holds what came for `hold` seconds of *log* time
and releases it sorted by the line's time (docker's `-t` time, else the application's;
a line without one takes its source's last time, so a stack trace stays under its head).
Lines are tagged `source │ line`. Times that cannot be compared (a naive node-local time
against docker's UTC) are ordered by arrival. Pure: the caller says what "now" is.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from resil_tui.core.log_lines import split_line

TAG_SEPARATOR = " │ "


@dataclass
class MergeQueue:
    hold: timedelta = timedelta(seconds=0.5)
    _heap: list[tuple[float, int, str]] = field(default_factory=list)
    _last: dict[str, float] = field(default_factory=dict)
    _order: itertools.count[int] = field(default_factory=itertools.count)
    _newest: float = 0.0

    @staticmethod
    def _key(when: datetime) -> float:
        # One axis for both kinds: aware times as UTC, naive ones as if they were UTC too
        # (node-local); mixing them only shifts one source against the other.
        return when.replace(tzinfo=None).timestamp() if when.tzinfo is None else when.timestamp()

    def add(self, source: str, lines: list[str]) -> None:
        last = self._last.get(source, self._newest)
        for line in lines:
            when = split_line(line).time
            if when is not None:
                # A time the platform cannot place (year 1): keep the source's last one.
                with contextlib.suppress(OverflowError, OSError, ValueError):
                    last = self._key(when)
            heapq.heappush(self._heap, (last, next(self._order), f"{source}{TAG_SEPARATOR}{line}"))
        self._last[source] = last
        self._newest = max(self._newest, last)

    def release(self, *, everything: bool = False) -> list[str]:
        """Lines old enough that no late batch should come before them (all: `everything`)."""
        limit = float("inf") if everything else self._newest - self.hold.total_seconds()
        out: list[str] = []
        heap = self._heap
        while heap and heap[0][0] <= limit:
            out.append(heapq.heappop(heap)[2])
        return out

    def __len__(self) -> int:
        return len(self._heap)
