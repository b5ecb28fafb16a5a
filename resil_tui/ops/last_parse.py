"""The last input and result of each parse of one node's outputs, for the polls that repeat.

A console or a watcher reads the same parts of a node every few seconds, and most of them
say the same thing from one poll to the next (a CC's `ps` and `docker inspect`, its xuc
log between two lines logged). A parse that is a pure function of its input need not run
again on an input equal to the last one's: `LastParse.get` hands back the last result.

Only for parses that depend on nothing but the input given (not the clock, not the
previous poll: what does is worked out at every poll from the result), and whose results
are never changed afterwards (frozen dataclasses, tuples), since two polls share them.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TypeVar, cast

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


@dataclass
class LastParse:
    """Per name, the last input parsed and what the parse made of it (one node's polls)."""

    _last: dict[str, tuple[Callable[..., object], object, object]] = field(default_factory=dict)

    def get(self, name: str, parse: Callable[[K], T], given: K) -> T:
        """`parse(given)`, or the last result under `name` when that came from the same
        function and an input equal to `given` (compared whole: one character changed is
        parsed again). `parse`: a module-level function (a lambda made per call would never
        be the same one)."""
        last = self._last.get(name)
        if last is not None and last[0] is parse and last[1] == given:
            return cast(T, last[2])
        result = parse(given)
        self._last[name] = (parse, given, result)
        return result
