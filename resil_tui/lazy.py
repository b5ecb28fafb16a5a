"""Modules imported on first use, so that a command pays only for what it runs.

`resil-tui check-config` runs in scripts and must start in tens of milliseconds; the
command-line package defines every subcommand's parser at start-up, and most handlers need
the SSH layer (asyncssh alone is over 100 ms to import). Handlers reach those modules
through `lazy_module`, typed through a TYPE_CHECKING import of the same module.

The console does the same for what only a node's answer needs (the status poll's reads
and parsers, the .env scanner, known_hosts): its first screen shows nodes not polled yet,
and dataclass creation alone costs about 0.5 ms per class at import.
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
