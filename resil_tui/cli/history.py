"""`resil-tui history [--site S] [--since TIME] [--json]`: the incident journal, oldest
first: what the console and the watcher saw change, and what was done (actions and
wizard runs, linked to the audit log by their `op`).

Reads the local journal only: no inventory, no SSH. `--since` takes an ISO 8601 time
(`2025-03-01T03:00`, the workstation's zone when none is given) or an age (`90m`, `12h`,
`7d`).
"""

from __future__ import annotations

import argparse
import json
import re
import time
from datetime import datetime
from typing import TYPE_CHECKING

from resil_tui import __version__
from resil_tui.cli.common import EXIT_OK, GlobalArgs, Io, one_line
from resil_tui.core.records import record
from resil_tui.lazy import lazy_module

if TYPE_CHECKING:
    from resil_tui import journal
    from resil_tui.core import journal_event
    from resil_tui.core.journal_event import EventKind
else:
    journal = lazy_module("resil_tui.journal")
    journal_event = lazy_module("resil_tui.core.journal_event")


_AGE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")
_UNIT = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def since_time(text: str, now: float | None = None) -> float:
    """An argparse type: epoch seconds from an ISO 8601 time or an age ("90m", "7d")."""
    found = _AGE.fullmatch(text.strip())
    if found:
        return (now if now is not None else time.time()) - float(found[1]) * _UNIT[found[2]]
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a time: {text!r} (ISO 8601 such as 2025-03-01T03:00, or an age: 90m, 12h, 7d)"
        ) from None
    return (value if value.tzinfo else value.astimezone()).timestamp()


def _kind(text: str) -> EventKind:
    kinds = journal_event.EventKind
    try:
        return kinds(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"unknown kind {text!r} (one of: {', '.join(k.value for k in kinds)})"
        ) from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--site", metavar="NAME", help="only this site")
    p.add_argument("--node", metavar="NODE", help="only this node (its id)")
    p.add_argument("--kind", type=_kind, action="append", metavar="KIND", help="only this kind")
    p.add_argument("--since", type=since_time, metavar="TIME", help="ISO 8601 time or an age")
    p.add_argument("--json", action="store_true", help="machine-readable output")


@record
class HistoryArgs:
    site: str | None = None
    node: str | None = None
    kinds: tuple[EventKind, ...] = ()
    since: float | None = None
    json: bool = False

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace) -> HistoryArgs:
        return cls(ns.site, ns.node, tuple(ns.kind or ()), ns.since, bool(ns.json))


def offline(ns: argparse.Namespace, options: GlobalArgs, io: Io) -> int:
    args = HistoryArgs.from_namespace(ns)
    found = journal.Journal().events(
        site=args.site, since=args.since, node=args.node, kinds=args.kinds or None
    )
    if args.json:
        doc = {
            "schema_version": journal_event.SCHEMA_VERSION,
            "tool": f"resil-tui {__version__}",
            "events": [e.to_dict() for e in found],
        }
        io.say(json.dumps(doc, indent=2, ensure_ascii=False))
        return EXIT_OK
    if not found:
        io.note(
            "resil-tui history: no entry matches (the journal is written by the console "
            "and by `resil-tui watch`)"
        )
        return EXIT_OK
    for event in found:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(event.time))
        # The journal quotes nodes (evidence) and is read back leniently: one line each.
        io.say(one_line(f"{stamp}  {event.site:<10} {event.describe()}"))
    return EXIT_OK
