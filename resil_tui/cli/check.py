"""`resil-tui check [--site S]`: a monitoring plugin per the Nagios plugin guidelines
(core/nagios.py): one status line with performance data, one line per finding, exit 0 OK,
1 WARNING, 2 CRITICAL, 3 UNKNOWN.

Everything that keeps it from telling ends in UNKNOWN (3), never in a traceback or in
another code: a bad argument, a bad inventory, an unknown site, the time running out
(`--timeout`, default 30 s: nodes that have not answered by then are reported as such,
and the whole check never lasts longer). No Textual, and the SSH layer is loaded only
once the arguments are checked.
"""

from __future__ import annotations

import argparse
import signal
import sys
from types import FrameType
from typing import TYPE_CHECKING, NoReturn

from resil_tui.cli.common import (
    CliError,
    GlobalArgs,
    Io,
    bounded_float,
    maybe_lab,
    resolve_inventory,
)
from resil_tui.cli.context import Context
from resil_tui.core.records import record
from resil_tui.lazy import lazy_module

if TYPE_CHECKING:
    from resil_tui.core import nagios
else:
    nagios = lazy_module("resil_tui.core.nagios")

EXIT_UNKNOWN = 3
# What the poll leaves to the rest (judging, printing, closing connections) of --timeout.
MARGIN = 1.5


def _usage_is_unknown(parser: argparse.ArgumentParser) -> None:
    """A plugin reports bad arguments as UNKNOWN (3), not argparse's 2 (CRITICAL)."""

    def error(message: str) -> NoReturn:
        sys.stdout.write(f"RESIL UNKNOWN - bad arguments: {message}\n")
        parser.print_usage(sys.stderr)
        raise SystemExit(EXIT_UNKNOWN)

    parser.error = error  # type: ignore[method-assign]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--site", metavar="NAME", help="only this site (default: every site)")
    p.add_argument(
        "-w",
        "--latency-warning",
        type=bounded_float(0.001, 3600.0, "--latency-warning"),
        default=1.0,
        metavar="SECONDS",
        help="WARNING when a node's latency reaches it (1)",
    )
    p.add_argument(
        "-c",
        "--latency-critical",
        type=bounded_float(0.001, 3600.0, "--latency-critical"),
        default=5.0,
        metavar="SECONDS",
        help="CRITICAL when a node's latency reaches it (5)",
    )
    p.add_argument(
        "-t",
        "--timeout",
        type=bounded_float(2.0, 3600.0, "--timeout"),
        default=30.0,
        metavar="SECONDS",
        help="UNKNOWN when no answer within it (30)",
    )
    _usage_is_unknown(p)


@record
class CheckArgs:
    site: str | None = None
    latency_warning: float = 1.0
    latency_critical: float = 5.0
    timeout: float = 30.0

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace) -> CheckArgs:
        return cls(ns.site, ns.latency_warning, ns.latency_critical, ns.timeout)


async def _check(ctx: Context, args: CheckArgs) -> nagios.PluginResult:
    inventory = ctx.inventory
    sites = [inventory.site(args.site)] if args.site else list(inventory.sites.values())
    patience = max(1.0, args.timeout - MARGIN)
    import asyncio

    async with ctx.session() as session:
        reports = await asyncio.gather(
            *(session.collector.poll_site(s, patience=patience) for s in sites)
        )
    checks = [nagios.SiteCheck(r.snapshot, r.verdicts, r.waiting) for r in reports]
    thresholds = nagios.Thresholds(args.latency_warning, args.latency_critical)
    return nagios.plugin_output(checks, thresholds)


def _reason(exc: BaseException) -> str:
    from resil_tui.inventory import InventoryError, InventoryNotFound

    if isinstance(exc, InventoryNotFound):
        return " ".join(str(exc).split())
    if isinstance(exc, InventoryError):
        return f"invalid inventory: {exc}".replace("\n", "; ")
    if isinstance(exc, CliError | LookupError):
        return str(exc)
    return f"unexpected error: {type(exc).__name__}: {exc} (details in the debug log)"


async def _timed(ctx: Context, args: CheckArgs) -> nagios.PluginResult:
    import asyncio
    import logging

    try:
        return await asyncio.wait_for(_check(ctx, args), args.timeout)
    except TimeoutError:
        return nagios.unknown_output(f"no complete answer within {args.timeout:g}s (--timeout)")
    except Exception as exc:
        logging.getLogger(__name__).exception("check failed")
        return nagios.unknown_output(_reason(exc))


async def main(ctx: Context, ns: argparse.Namespace) -> int:
    """The check on a context built by the caller (tests; `offline` builds its own)."""
    result = await _timed(ctx, CheckArgs.from_namespace(ns))
    ctx.io.out.write(result.text)
    ctx.io.out.flush()
    return result.code


def _failsafe(seconds: float) -> None:
    """If the event loop itself hangs past the timeout, still say UNKNOWN and exit 3."""

    def fire(_signum: int, _frame: FrameType | None) -> None:
        import os

        os.write(1, b"RESIL UNKNOWN - timed out (the check did not end in time)\n")
        os._exit(EXIT_UNKNOWN)

    signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)


def offline(ns: argparse.Namespace, options: GlobalArgs, io: Io) -> int:
    """The product's path: the inventory and the lab are loaded here, under the timeout,
    so that their failures are UNKNOWN too."""
    import asyncio

    args = CheckArgs.from_namespace(ns)
    _failsafe(args.timeout + 3.0)

    async def everything() -> nagios.PluginResult:
        try:
            async with asyncio.timeout(args.timeout):
                async with maybe_lab(options) as lab:
                    ctx = Context(options, resolve_inventory(options, lab), io, lab)
                    return await _timed(ctx, args)
        except TimeoutError:
            return nagios.unknown_output(f"no complete answer within {args.timeout:g}s (--timeout)")
        except Exception as exc:
            return nagios.unknown_output(_reason(exc))

    try:
        result = asyncio.run(everything())
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    io.out.write(result.text)
    io.out.flush()
    return result.code
