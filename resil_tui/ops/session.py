"""One place that builds the remote pool from the inventory and the XDG paths."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from resil_tui import paths as xdg
from resil_tui.inventory_model import Inventory
from resil_tui.remote.pool import NodeLink, Pool


def make_pool(
    inventory: Inventory,
    *,
    audit_path: Path | None = None,
    on_state_change: Callable[[NodeLink], None] | None = None,
) -> Pool:
    return Pool(
        read_only=inventory.read_only,
        audit=audit_path or xdg.audit_log_path(),
        on_state_change=on_state_change,
    )


@contextlib.asynccontextmanager
async def open_pool(inventory: Inventory, **kwargs: object) -> AsyncIterator[Pool]:
    pool = make_pool(inventory, **kwargs)  # type: ignore[arg-type]
    try:
        yield pool
    finally:
        await pool.close()
