"""The log view's filter: substring or regular expression, with or without case.

The admin types the pattern live, so a half-typed regex (``(foo``) is normal input, not a
crash: ``LineFilter.compile`` returns a ``FilterError`` the UI can show next to the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from resil_tui.core.records import record


@record
class FilterError:
    pattern: str
    message: str  # one line for the UI: "invalid regular expression at position 4: ..."
    position: int | None = None  # index in the pattern, when the regex engine knows it


@dataclass(frozen=True)
class LineFilter:
    """Keeps the lines that match. Raises ``ValueError`` on a bad regex: use ``compile``."""

    pattern: str
    regex: bool = False
    case_sensitive: bool = False
    _compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        source = self.pattern if self.regex else re.escape(self.pattern)
        flags = 0 if self.case_sensitive else re.IGNORECASE
        try:
            compiled = re.compile(source, flags)
        except re.error as exc:
            raise ValueError(_describe(self.pattern, exc)) from exc
        object.__setattr__(self, "_compiled", compiled)

    @classmethod
    def compile(
        cls, pattern: str, regex: bool = False, case_sensitive: bool = False
    ) -> LineFilter | FilterError:
        try:
            return cls(pattern, regex, case_sensitive)
        except ValueError as exc:
            cause = exc.__cause__
            position = cause.pos if isinstance(cause, re.error) else None
            return FilterError(pattern, str(exc), position)

    @property
    def empty(self) -> bool:
        """An empty pattern filters nothing out; the UI can show the filter as off."""
        return self.pattern == ""

    def matches(self, line: str) -> bool:
        return self._compiled.search(line) is not None

    @property
    def compiled(self) -> re.Pattern[str]:
        """The compiled pattern (e.g. to highlight the matched span)."""
        return self._compiled


def _describe(pattern: str, exc: re.error) -> str:
    where = f" at position {exc.pos}" if exc.pos is not None else ""
    return f"invalid regular expression{where}: {exc.msg}"
