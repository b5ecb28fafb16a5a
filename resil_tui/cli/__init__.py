"""The command line: one module per subcommand (its parser next to its handler), typed
arguments, shared exit codes, errors and prompt (common.py).

`run_command()` runs every subcommand that does not open the console; the program's entry
point (resil_tui/entry.py) sends the others (no command, `init`) to the TUI. Nothing in this
package imports Textual: `status --json` must stay cheap (make lint enforces it).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from types import ModuleType

from resil_tui import __version__
from resil_tui import paths as xdg
from resil_tui.cli import (
    check,
    check_config,
    edge,
    ha,
    history,
    init,
    lab,
    logs,
    metrics,
    plan,
    status,
    trust,
    watch,
)
from resil_tui.cli.common import (
    EXIT_UNEXPECTED,
    EXIT_USAGE,
    CliError,
    Context,
    GlobalArgs,
    Io,
    add_global_options,
    bounded_float,
    bounded_int,
    maybe_lab,
    resolve_inventory,
)
from resil_tui.inventory import InventoryError, InventoryNotFound
from resil_tui.preferences import LOG_BUFFER_RANGE, REFRESH_RANGE

log = logging.getLogger("resil_tui")

# Subcommands that talk to nodes (or the lab): run with a Context.
ONLINE: tuple[ModuleType, ...] = (status, ha, logs, trust, plan, edge, watch, metrics)
# Subcommands that need no inventory loaded by us (`check` loads its own, so that a bad
# one is the plugin's UNKNOWN; its `main` runs on a given context, as the online ones).
OFFLINE: tuple[ModuleType, ...] = (check_config, lab, history, check)
# Parsed here, run by the console (ui/launch.py).
CONSOLE_COMMANDS = (None, init.NAME)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="resil-tui",
        description="Console for XiVO high-availability administration.",
        epilog="Without a command, opens the terminal UI.",
    )
    parser.add_argument("--version", action="version", version=f"resil-tui {__version__}")
    add_global_options(parser, top=True)
    # Console settings (precedence: flag > RESIL_TUI_* environment > preferences > default).
    parser.add_argument(
        "--refresh",
        metavar="SECONDS",
        type=bounded_float(*REFRESH_RANGE, "--refresh"),
        default=None,
        help="seconds between two Status polls in the console",
    )
    parser.add_argument(
        "--log-buffer",
        metavar="LINES",
        type=bounded_int(*LOG_BUFFER_RANGE, "--log-buffer"),
        default=None,
        help="lines kept per followed log stream in the console",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (
        init,
        check_config,
        lab,
        status,
        check,
        metrics,
        watch,
        history,
        ha,
        logs,
        trust,
        plan,
        edge,
    ):
        module.add_parser(sub)
    return parser


def parse(argv: Sequence[str] | None) -> tuple[argparse.Namespace, GlobalArgs]:
    ns = build_parser().parse_args(argv)
    return ns, GlobalArgs.from_namespace(ns)


def setup_debug_log(verbose: bool) -> None:
    from resil_tui import localfiles

    # 0600 in the 0700 state directory whatever the umask (it names hosts and commands).
    handler = localfiles.debug_log_handler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("resil_tui")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG)
    if verbose:
        stderr = logging.StreamHandler(sys.stderr)
        stderr.setLevel(logging.INFO)
        root.addHandler(stderr)
    # asyncssh logs every channel at INFO; keep its detail in the debug log only.
    logging.getLogger("asyncssh").handlers[:] = [handler]
    logging.getLogger("asyncssh").setLevel(logging.WARNING)
    logging.getLogger("asyncssh").propagate = False


def validate_theme(name: str | None) -> None:
    if name is None:
        return
    from resil_tui.theme_files import validate_theme_name

    try:
        validate_theme_name(name)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def _module(command: str) -> ModuleType:
    for module in (*ONLINE, *OFFLINE):
        if command == module.NAME:
            return module
    raise CliError(f"unknown command {command!r}")


async def _online(module: ModuleType, ns: argparse.Namespace, options: GlobalArgs, io: Io) -> int:
    main: Callable[[Context, argparse.Namespace], Awaitable[int]] = module.main
    async with maybe_lab(options) as running_lab:
        ctx = Context(options, resolve_inventory(options, running_lab), io, running_lab)
        return await main(ctx, ns)


def run_command(ns: argparse.Namespace, options: GlobalArgs, io: Io | None = None) -> int:
    """Run a subcommand that does not open the console; errors propagate (see guard)."""
    io = io or Io()
    validate_theme(options.theme)
    module = _module(ns.command)
    if module in OFFLINE:
        offline: Callable[[argparse.Namespace, GlobalArgs, Io], int] = module.offline
        return offline(ns, options, io)
    import asyncio  # here: 30 ms that check-config does not need

    return asyncio.run(_online(module, ns, options, io))


def report(exc: BaseException, io: Io) -> int | None:
    """The message and exit code of an error users may cause; None for anything else."""
    if isinstance(exc, InventoryNotFound):
        io.note(f"resil-tui: {exc}")
        io.note(
            "Create one with `resil-tui init` (a form that tests each node) or from "
            "hosts.example.toml, pass --hosts FILE, or try the simulated deployment: "
            "resil-tui --demo"
        )
        return EXIT_USAGE
    if isinstance(exc, InventoryError):
        io.note(f"resil-tui: invalid inventory:\n{exc}")
        return EXIT_USAGE
    if isinstance(exc, CliError):
        io.note(f"resil-tui: {exc}")
        return exc.code
    if isinstance(exc, LookupError):  # an unknown site or node name: the message lists them
        io.note(f"resil-tui: {exc}")
        return EXIT_USAGE
    return None


async def dispatch(ctx: Context, ns: argparse.Namespace) -> int:
    """Run an online subcommand with a context built by the caller (tests, the console)."""
    main: Callable[[Context, argparse.Namespace], Awaitable[int]] = _module(ns.command).main
    try:
        return await main(ctx, ns)
    except Exception as exc:
        code = report(exc, ctx.io)
        if code is None:
            raise
        return code


def guard(run: Callable[[], int], err: Io | None = None) -> int:
    """Run `run`, turning every error into one message on stderr and an exit code: no
    tracebacks for users (they go to the debug log)."""
    io = err or Io()
    try:
        return run()
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `resil-tui plan ... | head`: the reader left; not an error worth a message.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        code = report(exc, io)
        if code is not None:
            return code
        log.exception("unexpected error")
        io.note(
            f"resil-tui: unexpected error: {exc.__class__.__name__}: {exc}\n"
            f"(details in {xdg.debug_log_path()})"
        )
        return EXIT_UNEXPECTED
