"""`resil-tui trust NODE`: show an unknown host key's fingerprint and trust it only on yes.

The flow is ops.trust's, the same as `init` and the Status pane: the nearest unknown hop
(a jump host before the node) is offered first; a changed or revoked key is refused with
the file and line to look at, and never offered. With --yes every unknown key on the way
is trusted, each one printed with its fingerprint.

Exit codes: 0 trusted (or already), 1 not trusted (declined), 2 refused (changed, revoked,
unreachable, no terminal to ask on).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from resil_tui.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    Refused,
    one_line,
)
from resil_tui.cli.context import Context
from resil_tui.core.records import record
from resil_tui.lazy import lazy_module

if TYPE_CHECKING:
    from resil_tui.ops import trust as trust
else:
    trust = lazy_module("resil_tui.ops.trust")

# An unknown jump host, then the node behind it: two offers; a loop guard beyond that.
MAX_OFFERS = 8


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("node", metavar="NODE", help="node id, e.g. paris.xivo.master")
    p.add_argument("--yes", action="store_true", help="trust without asking (scripts)")


@record
class TrustArgs:
    node: str
    yes: bool = False

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace) -> TrustArgs:
        return cls(node=ns.node, yes=bool(ns.yes))


async def run(ctx: Context, args: TrustArgs) -> int:
    node = ctx.inventory.node(args.node)
    io = ctx.io
    async with ctx.session() as session:
        trusted_any = False
        for _ in range(MAX_OFFERS):
            found = await trust.check(session.pool, node)
            if found.state is trust.TrustState.TRUSTED:
                io.say(
                    f"{node.id}: host keys trusted"
                    if trusted_any
                    else f"{node.id}: host key already trusted"
                )
                return EXIT_OK
            if found.state is not trust.TrustState.UNKNOWN or found.offer is None:
                io.note(f"resil-tui: {node.id}: {one_line(found.message)}")
                return EXIT_USAGE
            offer = found.offer
            io.say(
                one_line(
                    f"{offer.label} ({offer.info.host_pattern}) presents a "
                    f"{offer.info.key_type} key:"
                )
            )
            io.say(f"  {offer.info.fingerprint}")
            io.say("Compare it with `ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub` on that host.")
            try:
                await io.confirm("Trust this key?", yes=args.yes)
            except Refused as refused:
                io.note(f"resil-tui: {refused}")
                io.say("not trusted")
                return EXIT_FAILED
            line = trust.accept(session.pool, offer, step="trust host key (CLI)")
            io.say(f"trusted: {line}")
            trusted_any = True
        io.note(f"resil-tui: {node.id}: still not connected after {MAX_OFFERS} keys; stopping")
        return EXIT_USAGE


async def main(ctx: Context, ns: argparse.Namespace) -> int:
    return await run(ctx, TrustArgs.from_namespace(ns))
