"""`resil-tui init [FILE] [--force]`: create an inventory with a form that tests each node.

The form is the console's (resil_tui/ui/launch.py runs it); this module only declares the
command, so that parsing never imports the TUI."""

from __future__ import annotations

import argparse

from resil_tui.core.records import record


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "file", nargs="?", help="where to write it (default: $XDG_CONFIG_HOME/resil-tui/hosts.toml)"
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace an existing file (the old one is kept as FILE.DATE.bak)",
    )


@record
class InitArgs:
    file: str | None = None
    force: bool = False

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace) -> InitArgs:
        return cls(file=ns.file, force=bool(ns.force))
