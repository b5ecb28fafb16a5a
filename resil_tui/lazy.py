"""Modules imported on first use, so that a command pays only for what it runs.

`resil-tui check-config` runs in scripts and must start in tens of milliseconds, and a
subcommand's `--help` or usage error should cost no more; most handlers need the SSH layer
(asyncssh alone is over 100 ms to import) or the status collector. Handlers reach those
modules through `lazy_module`, typed through a TYPE_CHECKING import of the same module
(tests/unit/test_lazy_module.py checks the pairing, which the import contracts rely on).

The console does the same for what only polling needs (the status poll's reads and
parsers, loaded when the first poll starts; the .env scanner and known_hosts, at the first
Edge answer and the first connection): its first screen shows nodes not polled yet, and
creating a dataclass alone costs about 0.5 ms at import.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_module(name: str) -> ModuleType:
    """The module `name`, loaded when one of its attributes is first read."""
    found = sys.modules.get(name)
    if found is not None:
        return found
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ImportError(f"no module named {name!r}")
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    # As the import system does once it has loaded a submodule: `import pkg.mod` then
    # `pkg.mod.x` (and mock.patch("pkg.mod.x")) find it on its package.
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)
    loader.exec_module(module)
    return module
