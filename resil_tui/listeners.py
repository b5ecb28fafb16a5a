"""Who hears what a long-lived object tells: the status collector's poll results, the
journal's new entries. A listener's bug is logged, never raised into the teller: a poll or
an append must not fail because a screen could not draw it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)


class Listeners(Generic[T]):
    def __init__(self, what: str) -> None:
        self._what = what  # named in the debug log when a listener fails
        self._listeners: list[Callable[[T], None]] = []

    def subscribe(self, listener: Callable[[T], None]) -> Callable[[], None]:
        """Hear every message from now on; returns the unsubscribe call."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def tell(self, message: T) -> None:
        for listener in list(self._listeners):
            try:
                listener(message)
            except Exception:
                log.exception("%s listener failed", self._what)
