"""asyncssh, loaded on first use, off the event loop.

Importing asyncssh (and the cryptography it pulls in) costs 200-350 ms, more than the rest
of the console's first screen. The remote layer's modules name it through this module, so
that `check-config` never loads it and the console loads it only once the first screen is
painted; `await load()` (before a first connection) imports it in a worker thread, so the
screen keeps answering keys meanwhile. Type checkers see the real module.

A plain import, not `importlib.util.LazyLoader`: Python's import lock makes a second
thread wait for a module another thread is importing, where a lazy module is seen half
executed.
"""

from __future__ import annotations

import asyncio
import importlib
from types import ModuleType
from typing import TYPE_CHECKING, Any

__all__ = ["asyncssh", "load"]


_imported: list[ModuleType] = []  # the module, once fully imported


def _module() -> ModuleType:
    if not _imported:
        # Through the import system each time until done: it makes this thread wait while
        # another one is still executing the module (sys.modules holds it half done).
        _imported.append(importlib.import_module("asyncssh"))
    return _imported[0]


class _OnFirstUse:
    """Stands for the module: the first attribute read imports it."""

    def __getattr__(self, name: str) -> Any:
        return getattr(_module(), name)


if TYPE_CHECKING:
    import asyncssh as asyncssh
else:
    asyncssh = _OnFirstUse()


async def load() -> None:
    """asyncssh imported, in a worker thread the first time (an import holds the GIL in
    short slices only, so the loop keeps running). Callers arriving meanwhile wait in
    threads of their own (the import lock), never on the loop."""
    if not _imported:
        await asyncio.to_thread(_module)
