"""What an online subcommand runs with (`main(ctx, ns)`): its options, the inventory, its
input and output, the lab (--demo), and the session it opens.

Apart from common.py so that the commands that talk to no node (check-config, history,
the console) do not create the dataclass: about half a millisecond each on Python 3.11.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from resil_tui.cli.common import GlobalArgs, Io
from resil_tui.inventory_model import Inventory

if TYPE_CHECKING:
    from resil_tui.lab.server import Lab
    from resil_tui.ops.session import Session


@dataclass
class Context:
    """What a subcommand runs with: its global options, the inventory, the lab (--demo)."""

    options: GlobalArgs
    inventory: Inventory
    io: Io
    lab: Lab | None = None

    @contextlib.asynccontextmanager
    async def session(self, *, keep_shells: bool = False) -> AsyncIterator[Session]:
        """`keep_shells`: the subcommand polls again and again (see ops.session.make_pool)."""
        # Imported here: the SSH layer costs 100+ ms, which check-config must not pay.
        from resil_tui.ops.session import open_session

        async with open_session(self.inventory, lab=self.lab, keep_shells=keep_shells) as session:
            yield session
