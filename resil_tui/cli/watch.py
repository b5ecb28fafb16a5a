"""`resil-tui watch`: the headless watcher (meant to run as a systemd service on the jump
host; examples/systemd/): polls every site as the console does, writes the incident
journal, prints each new entry, runs the inventory's `[watch] on_change` command, and with
`--listen 127.0.0.1:PORT` serves `/metrics` for Prometheus.

Runs until SIGTERM or SIGINT (exit 0). No Textual: a test asserts it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
from typing import TYPE_CHECKING

from resil_tui import gc_policy
from resil_tui.cli.common import CliError, bounded_float, one_line
from resil_tui.cli.context import Context
from resil_tui.core.records import record
from resil_tui.lazy import lazy_module

if TYPE_CHECKING:
    from resil_tui.ops import metrics_http, notify, watch
else:
    metrics_http = lazy_module("resil_tui.ops.metrics_http")
    notify = lazy_module("resil_tui.ops.notify")
    watch = lazy_module("resil_tui.ops.watch")

# Seconds between polls of a site: sub-second for a lab's fast timings, up to a day.
INTERVAL_RANGE = (0.2, 86400.0)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--site", metavar="NAME", help="only this site")
    p.add_argument(
        "--interval",
        metavar="SECONDS",
        type=bounded_float(*INTERVAL_RANGE, "--interval"),
        default=10.0,
        help="seconds from the end of one poll of a site to the start of the next (10)",
    )
    p.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help="serve /metrics there (loopback only, e.g. 127.0.0.1:9477)",
    )
    p.add_argument(
        "--allow-remote-listen",
        action="store_true",
        help="let --listen bind an address that is not loopback",
    )
    p.add_argument("--quiet", action="store_true", help="do not print the journal's new entries")


@record
class WatchArgs:
    site: str | None = None
    interval: float = 10.0
    listen: str | None = None
    allow_remote_listen: bool = False
    quiet: bool = False

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace) -> WatchArgs:
        return cls(
            site=ns.site,
            interval=ns.interval,
            listen=ns.listen,
            allow_remote_listen=bool(ns.allow_remote_listen),
            quiet=bool(ns.quiet),
        )


def _check_program(argv: tuple[str, ...]) -> None:
    program = argv[0]
    if not os.path.isfile(program) or not os.access(program, os.X_OK):
        raise CliError(f"[watch] on_change: {program} is not an executable file")


async def run(ctx: Context, args: WatchArgs) -> int:
    import asyncio

    inventory = ctx.inventory
    sites = [inventory.site(args.site)] if args.site else list(inventory.sites.values())
    address = None
    if args.listen is not None:
        try:
            address = metrics_http.listen_address(
                args.listen, allow_remote=args.allow_remote_listen
            )
        except metrics_http.ListenRefused as exc:
            raise CliError(f"--listen: {exc}") from None
    settings = inventory.watch
    notifier = None
    if settings.on_change:
        _check_program(settings.on_change)

        def notified(result: notify.Notified) -> None:
            detail = one_line(result.detail)
            ctx.io.note(f"on_change for {result.event_id}: {detail} ({result.seconds:.1f}s)")

        notifier = notify.ChangeNotifier(settings, on_result=notified)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with ctx.session(keep_shells=True) as session:
            watcher = watch.Watcher(
                session,
                sites,
                interval=args.interval,
                say=None if args.quiet else lambda line: ctx.io.say(one_line(line)),
                notifier=notifier,
            )
            names = ", ".join(s.name for s in sites)
            ctx.io.note(
                f"resil-tui watch: {names} every {args.interval:g}s; journal {session.journal.path}"
            )
            async with contextlib.AsyncExitStack() as stack:
                if address is not None:
                    server = metrics_http.MetricsServer(address, watcher.metrics)
                    try:
                        await stack.enter_async_context(server.serving())
                    except OSError as exc:
                        raise CliError(f"--listen {address}: {exc.strerror or exc}") from None
                    ctx.io.note(f"serving /metrics on {address.host}:{server.port}")
                # Started: the pool, the collector and the journal live as long as it does.
                # Before the first poll: the connections and answers that come and go
                # later stay collectable.
                gc_policy.collect_as_long_running()
                await watcher.run(stop)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    ctx.io.note("resil-tui watch: stopped")
    return 0


async def main(ctx: Context, ns: argparse.Namespace) -> int:
    return await run(ctx, WatchArgs.from_namespace(ns))
