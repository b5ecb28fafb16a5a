"""`resil-tui check-config [FILE]`: validate an inventory; exit 0 when valid, 2 when not.

Every mistake is reported at once with file, line and key (the loader raises
InventoryError; the entry point prints it)."""

from __future__ import annotations

import argparse

from resil_tui.cli.common import EXIT_OK, GlobalArgs, Io
from resil_tui.inventory import find_inventory, load_inventory


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", nargs="?", help="inventory file (default: the lookup order)")


def offline(ns: argparse.Namespace, options: GlobalArgs, io: Io) -> int:
    path = find_inventory(ns.file or options.hosts)
    inv = load_inventory(path)
    io.say(f"{path}: OK ({len(inv.sites)} site(s), {len(inv.nodes())} node(s))")
    return EXIT_OK
