"""`resil-tui trust NODE`: show an unknown host key's fingerprint and trust it only on yes.

asyncssh never adds keys by itself; this is the one place (with the Status pane) that
writes known_hosts, and only after the admin compared the fingerprint.
"""

from __future__ import annotations

import argparse
import sys

from resil_tui.inventory_model import Inventory
from resil_tui.ops.session import open_pool
from resil_tui.remote.errors import ErrorKind, RemoteError


def _ask(question: str) -> bool:
    if not sys.stdin.isatty():
        print("resil-tui: not asking without a terminal; pass --yes to trust", file=sys.stderr)
        return False
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


async def run_trust(inventory: Inventory, args: argparse.Namespace) -> int:
    try:
        node = inventory.node(args.node)
    except LookupError as exc:
        print(f"resil-tui: {exc.args[0]}", file=sys.stderr)
        return 2
    async with open_pool(inventory) as pool:
        try:
            await pool.connection(node)
            print(f"{node.id}: host key already trusted")
            return 0
        except RemoteError as exc:
            if exc.kind is not ErrorKind.HOST_KEY_UNKNOWN:
                print(f"resil-tui: {exc}", file=sys.stderr)
                return 2
        info = await pool.fetch_host_key(node)
        print(f"{node.id} ({info.host_pattern}) presents a {info.key_type} key:")
        print(f"  {info.fingerprint}")
        print("Compare it with `ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub` on the node.")
        if not (args.yes or _ask("Trust this key?")):
            print("not trusted")
            return 1
        line = pool.trust_host_key(node, info, step="trust host key (CLI)")
        print(f"trusted: {line}")
        return 0
