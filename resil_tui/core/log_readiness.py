"""A readiness line in a followed log, counted from a moment on (``not_before``).

This is the line matcher for any stream (``resil-tui logs --until-ready`` on a stream other
than xuc). xuc's own readiness, that of the *current run* of its container, is decided by
``core/xuc_readiness.py`` from ``docker inspect`` and the log together; it also works when
the wrapper drops docker's ``-t``.

A tail replays history, which may hold an older readiness line: with ``not_before`` set, a
line counts only when its time (docker's ``-t`` time, else the application's own) is at or
after ``not_before``.

A line without a time of its own (stack trace, multi-line message) takes the time of the
last timed line before it. A match whose time is unknown, or not comparable (naive
node-local time against an aware ``not_before``), does not count: waiting until the
wizard's timeout is safer than telling users to reconnect to a xuc that is not up. Such
matches are counted in ``unverified_matches`` so the UI can say why it is still waiting.

``not_before`` is compared with the node's clock: take it from the node (or allow for
clock skew) rather than from the admin's workstation.
"""

from __future__ import annotations

import re
from datetime import datetime

from resil_tui.core.log_lines import comparable, split_line

# Play logs "Listening for HTTP on /0.0.0.0:9000" once it serves (XIVO.md: unverified,
# configurable per CC node). Same value as the inventory's default.
DEFAULT_READINESS_PATTERN = r"Listening for HTTP on"


class ReadinessMatcher:
    def __init__(
        self,
        pattern: str | re.Pattern[str] = DEFAULT_READINESS_PATTERN,
        not_before: datetime | None = None,
    ) -> None:
        if isinstance(pattern, re.Pattern):
            self.pattern: re.Pattern[str] = pattern
        else:
            try:
                self.pattern = re.compile(pattern)
            except re.error as exc:
                # The inventory validates the pattern; this guards direct callers.
                raise ValueError(f"invalid readiness pattern {pattern!r}: {exc}") from exc
        self.not_before = not_before
        self.ready = False
        self.matched_line: str | None = None
        self.matched_time: datetime | None = None
        self.stale_matches = 0  # matches from before not_before (the previous start)
        self.unverified_matches = 0  # matches whose time could not be checked
        self._last_time: datetime | None = None

    def feed(self, line: str) -> bool:
        """Take one line; True once a qualifying readiness line was seen (stays True)."""
        if self.ready:
            return True
        parts = split_line(line)
        if parts.time is not None:
            self._last_time = parts.time
        if self.pattern.search(parts.message) is None:
            return False
        when = parts.time if parts.time is not None else self._last_time
        if self.not_before is not None:
            if when is None or not comparable(when, self.not_before):
                self.unverified_matches += 1
                return False
            if when < self.not_before:
                self.stale_matches += 1
                return False
        self.ready = True
        self.matched_line = line
        self.matched_time = when
        return True

    def feed_many(self, lines: list[str]) -> bool:
        for line in lines:
            if self.feed(line):
                return True
        return self.ready
