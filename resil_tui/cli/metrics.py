"""`resil-tui metrics [--site S] [--textfile PATH]`: one poll, printed in the Prometheus
text exposition format (core/prometheus.py), or written atomically to PATH for
node_exporter's textfile collector (a temporary file in the same directory, fsync,
rename: the collector never reads half a file).

For a scrape endpoint, run the watcher: `resil-tui watch --listen 127.0.0.1:PORT`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

from resil_tui import __version__
from resil_tui.cli.common import EXIT_FAILED, EXIT_OK, CliError
from resil_tui.cli.context import Context
from resil_tui.core.records import record
from resil_tui.lazy import lazy_module

if TYPE_CHECKING:
    from resil_tui.core import prometheus
else:
    prometheus = lazy_module("resil_tui.core.prometheus")

TEXTFILE_MODE = 0o644  # node_exporter runs as another user and must read it


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--site", metavar="NAME", help="only this site")
    p.add_argument(
        "--textfile",
        metavar="PATH",
        help="write atomically to PATH (node_exporter's textfile collector reads *.prom)",
    )


@record
class MetricsArgs:
    site: str | None = None
    textfile: str | None = None

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace) -> MetricsArgs:
        return cls(ns.site, ns.textfile)


async def run(ctx: Context, args: MetricsArgs) -> int:
    import asyncio

    inventory = ctx.inventory
    sites = [inventory.site(args.site)] if args.site else list(inventory.sites.values())
    target = Path(args.textfile).expanduser() if args.textfile else None
    if target is not None and target.is_dir():
        raise CliError(f"--textfile {target} is a directory; give a file name")

    async with ctx.session() as session:

        async def one(site_name: str) -> prometheus.SitePoll:
            started = time.monotonic()
            report = await session.collector.poll_site(inventory.site(site_name))
            return prometheus.SitePoll(
                report.snapshot, report.verdicts, time.monotonic() - started, time.time()
            )

        polls = await asyncio.gather(*(one(s.name) for s in sites))
    text = prometheus.exposition(polls, time.time(), __version__)
    if target is None:
        ctx.io.out.write(text)
        ctx.io.out.flush()
        return EXIT_OK
    if not target.name.endswith(".prom"):
        ctx.io.note(
            f"note: node_exporter's textfile collector reads only *.prom files, not {target.name}"
        )
    from resil_tui.localfiles import write_atomic

    try:
        write_atomic(target, text, mode=TEXTFILE_MODE)
    except OSError as exc:
        ctx.io.note(f"resil-tui metrics: cannot write {target}: {exc.strerror or exc}")
        return EXIT_FAILED
    return EXIT_OK


async def main(ctx: Context, ns: argparse.Namespace) -> int:
    return await run(ctx, MetricsArgs.from_namespace(ns))
