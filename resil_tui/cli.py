"""Command-line entry point.

Never imports Textual at module level: `resil-tui status --json` runs in monitoring loops
and must not pay for the TUI (a test checks sys.modules).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resil_tui import __version__, localfiles
from resil_tui import paths as xdg
from resil_tui.inventory import InventoryError, InventoryNotFound, find_inventory, load_inventory
from resil_tui.inventory_model import Inventory

if TYPE_CHECKING:
    from resil_tui.lab.server import Lab

log = logging.getLogger("resil_tui")

EXIT_OK = 0
EXIT_USAGE = 2


class CliError(Exception):
    """An error to show the admin as one clear message (no traceback); exit code attached."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Context:
    args: argparse.Namespace
    inventory: Inventory
    lab: Lab | None = None


def _setup_debug_log(verbose: bool) -> None:
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


# --- argument parsing ----------------------------------------------------------------------


def _timestamp(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return value if value.tzinfo else value.astimezone()  # naive: the workstation's zone


def _global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # Global options are accepted before and after the subcommand ("resil-tui --demo status"
    # and "resil-tui status --demo"); SUPPRESS keeps the sub-parser from erasing top values.
    default: Any = None if top else argparse.SUPPRESS
    parser.add_argument("--hosts", metavar="FILE", default=default, help="inventory file")
    parser.add_argument(
        "--read-only",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="refuse every command that changes a node",
    )
    parser.add_argument("--theme", metavar="NAME", default=default, help="colour theme")
    parser.add_argument(
        "--demo",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="run against the embedded simulated deployment (the lab)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="also print log messages to stderr",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="resil-tui",
        description="Console for XiVO high-availability administration.",
        epilog="Without a command, opens the terminal UI.",
    )
    parser.add_argument("--version", action="version", version=f"resil-tui {__version__}")
    _global_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        _global_options(p, top=False)
        return p

    # Console settings (precedence: flag > RESIL_TUI_* environment > preferences > default).
    parser.add_argument(
        "--refresh",
        metavar="SECONDS",
        type=float,
        default=None,
        help="seconds between two Status polls in the console",
    )
    parser.add_argument(
        "--log-buffer",
        metavar="LINES",
        type=int,
        default=None,
        help="lines kept per followed log stream in the console",
    )

    p = add("init", "create an inventory with a form that tests each SSH target live")
    p.add_argument(
        "file", nargs="?", help="where to write it (default: $XDG_CONFIG_HOME/resil-tui/hosts.toml)"
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace an existing file (the old one is kept as FILE.DATE.bak)",
    )

    p = add("check-config", "validate an inventory file; exit 0 when valid, 2 when not")
    p.add_argument("file", nargs="?", help="inventory file (default: the lookup order)")

    p = add("lab", "run the simulated XiVO deployment standalone, with a fault prompt")
    p.add_argument("--state-dir", metavar="DIR", help="keep the lab's state in DIR between runs")

    p = add("status", "print the status of every node and the cluster verdicts")
    p.add_argument("--json", action="store_true", help="machine-readable output (stable schema)")
    p.add_argument("--site", metavar="NAME", help="only this site")
    p.add_argument("--watch", metavar="SECONDS", type=float, help="repeat every SECONDS")

    p = add("ha", "show or change HA modes and run the HA scripts")
    ha = p.add_subparsers(dest="ha_command", metavar="ACTION", required=True)
    hp = ha.add_parser("show", help="HA mode, peer, cron, SIP expiry of each XiVO node")
    _global_options(hp, top=False)
    hp.add_argument("--site", metavar="NAME")
    hp = ha.add_parser("set", help="set a XiVO node's HA mode through sysconfd")
    _global_options(hp, top=False)
    hp.add_argument("node", metavar="NODE", help="node id, e.g. paris.xivo.master")
    hp.add_argument("--mode", choices=("disabled", "master", "slave"), required=True)
    hp.add_argument("--peer", metavar="IP", help="the other node's VoIP IP (master, slave)")
    hp.add_argument("--restart", action="store_true", help="then run xivo-service restart")
    hp.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    for name, text in (
        ("replicate", "run xivo-master-slave-db-replication on the master"),
        ("sync", "run xivo-sync on the master, then show its log"),
        ("check", "run xivo-check-master-status on the slave"),
    ):
        hp = ha.add_parser(name, help=text, description=text)
        _global_options(hp, top=False)
        hp.add_argument("--site", metavar="NAME")
        hp.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    p = add("logs", "print a node's log stream (xuc by default on CC nodes)")
    p.add_argument("node", metavar="NODE", help="node id, e.g. paris.cc.slave")
    p.add_argument("--stream", metavar="NAME", help="stream name (see the Logs pane)")
    p.add_argument("--tail", type=int, default=100, metavar="N", help="history lines first")
    p.add_argument("--no-follow", action="store_true", help="print history and exit")
    p.add_argument(
        "--until-ready",
        action="store_true",
        help="follow until the readiness line appears: exit 0, or 1 at --timeout",
    )
    p.add_argument("--timeout", type=float, default=180.0, metavar="S")
    p.add_argument(
        "--since",
        dest="not_before",
        type=_timestamp,
        metavar="TIME",
        help="with --until-ready: count readiness lines from TIME (ISO 8601, e.g. the "
        "time you restarted xuc); default: from now, so an old line never counts",
    )

    p = add("trust", "show a node's unknown host key fingerprint and trust it on yes")
    p.add_argument("node", metavar="NODE", help="node id, e.g. paris.xivo.master")
    p.add_argument("--yes", action="store_true", help="trust without asking (scripts)")

    p = add("plan", "print the failover or failback runbook of a site, as Markdown")
    p.add_argument("direction", choices=("failover", "failback"))
    p.add_argument("--site", metavar="NAME", help="the site (default: the first)")
    p.add_argument("--only", metavar="PARTS", help="comma-separated: xivo,cc,xds,edge")
    p.add_argument("--json", action="store_true", help="the steps as JSON instead")

    p = add("edge", "preview, apply or roll back the Edge .env switch")
    edge = p.add_subparsers(dest="edge_command", metavar="ACTION", required=True)
    for name, text in (
        ("plan", "print the diff of the switch (exit 0: changes, 1: nothing to do)"),
        ("apply", "switch the Edge to a side: backup, atomic write, verify, edge-dcomp up -d"),
        ("rollback", "restore a backup of the Edge .env, then edge-dcomp up -d"),
    ):
        ep = edge.add_parser(name, help=text, description=text)
        _global_options(ep, top=False)
        ep.add_argument("--site", metavar="NAME", help="the site (default: the first)")
        if name in ("plan", "apply"):
            ep.add_argument("--to", choices=("slave", "master"), required=True)
        if name in ("apply", "rollback"):
            ep.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        if name == "rollback":
            ep.add_argument("--backup", metavar="NAME", help="backup file (default: newest)")
    return parser


# --- commands -------------------------------------------------------------------------------


def _resolve_inventory(args: argparse.Namespace, lab: Lab | None) -> Inventory:
    if lab is not None:
        inv = load_inventory(lab.inventory_path)
        inv = replace(inv, demo=True)
    else:
        inv = load_inventory(find_inventory(args.hosts))
    if args.read_only:
        inv = replace(inv, read_only=True)
    return inv


@contextlib.asynccontextmanager
async def _maybe_lab(args: argparse.Namespace) -> AsyncIterator[Lab | None]:
    if not args.demo:
        yield None
        return
    from resil_tui.lab.server import Lab
    from resil_tui.lab.spec import LabTiming

    state = os.environ.get("RESIL_TUI_DEMO_DIR")
    # RESIL_TUI_DEMO_FAST=1: sub-second lab timings (the tmux end-to-end test uses it).
    fast = os.environ.get("RESIL_TUI_DEMO_FAST", "").strip() not in ("", "0")
    timing = LabTiming.fast() if fast else LabTiming.demo()
    lab = await Lab.start(Path(state) if state else None, timing=timing)
    try:
        yield lab
    finally:
        await lab.stop()


def cmd_check_config(args: argparse.Namespace) -> int:
    path = find_inventory(args.file or args.hosts)
    inv = load_inventory(path)
    nodes = len(inv.nodes())
    print(f"{path}: OK ({len(inv.sites)} site(s), {nodes} node(s))")
    return EXIT_OK


def cmd_plan(args: argparse.Namespace) -> int:
    import json

    from resil_tui.core.runbook import Direction, build_runbook, parse_parts
    from resil_tui.core.runbook_markdown import render_markdown

    inventory = _resolve_inventory(args, None)
    try:
        site = inventory.site(args.site)
        only = parse_parts(args.only) if args.only else None
    except (LookupError, ValueError) as exc:
        raise CliError(str(exc).strip("'\"")) from None
    runbook = build_runbook(site, Direction(args.direction), only)
    if args.json:
        print(json.dumps(runbook.to_dict(), indent=2))
    else:
        print(render_markdown(runbook))
    return EXIT_OK


def cmd_lab(args: argparse.Namespace) -> int:
    from resil_tui.lab.standalone import main as lab_main

    argv = ["--state-dir", args.state_dir] if args.state_dir else []
    return lab_main(argv)


async def cmd_status(ctx: Context) -> int:
    from resil_tui.status_cli import run_status

    return await run_status(ctx.inventory, ctx.args)


async def cmd_plan_demo(ctx: Context) -> int:
    # With --demo the lab's inventory is only known once the lab runs.
    ctx.args.hosts = str(ctx.lab.inventory_path) if ctx.lab else ctx.args.hosts
    return cmd_plan(ctx.args)


async def cmd_ha(ctx: Context) -> int:
    from resil_tui.ha_cli import run_ha

    return await run_ha(ctx.inventory, ctx.args)


async def cmd_logs(ctx: Context) -> int:
    from resil_tui.logs_cli import run_logs

    return await run_logs(ctx.inventory, ctx.args)


async def cmd_trust(ctx: Context) -> int:
    from resil_tui.trust_cli import run_trust

    return await run_trust(ctx.inventory, ctx.args)


async def cmd_edge(ctx: Context) -> int:
    from resil_tui.edge_cli import run_edge

    return await run_edge(ctx.inventory, ctx.args)


async def run_tui(ctx: Context) -> int:
    from resil_tui.ops.session import open_pool
    from resil_tui.preferences import PreferencesError, console_settings
    from resil_tui.ui.app import ResilApp

    try:
        settings = console_settings(
            theme_flag=ctx.args.theme,
            refresh_flag=getattr(ctx.args, "refresh", None),
            log_buffer_flag=getattr(ctx.args, "log_buffer", None),
            sites=list(ctx.inventory.sites),
        )
    except PreferencesError as exc:
        raise CliError(str(exc)) from None
    async with open_pool(ctx.inventory) as pool:
        app = ResilApp(
            ctx.inventory,
            read_only=ctx.inventory.read_only,
            theme=settings.theme.value,
            demo=ctx.lab is not None,
            pool=pool,
            lab=ctx.lab,
            status_refresh_interval=settings.refresh_interval.value,
            site=settings.site.value,
            log_buffer_lines=settings.log_buffer.value,
            preference_keys=settings.keys,
            preferences_path=xdg.preferences_path(),
            startup_warnings=settings.problems,
        )
        result = await app.run_async()
    return int(result or 0)


_ASYNC_COMMANDS: dict[str | None, Callable[[Context], Awaitable[int]]] = {
    None: run_tui,
    "status": cmd_status,
    "edge": cmd_edge,
    "trust": cmd_trust,
    "ha": cmd_ha,
    "logs": cmd_logs,
    "plan": cmd_plan_demo,
}


async def _run_async(args: argparse.Namespace) -> int:
    handler = _ASYNC_COMMANDS[args.command]
    async with _maybe_lab(args) as lab:
        ctx = Context(args=args, inventory=_resolve_inventory(args, lab), lab=lab)
        return await handler(ctx)


def _validate_theme(name: str | None) -> None:
    if name is None:
        return
    from resil_tui.theme_files import validate_theme_name

    try:
        validate_theme_name(name)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_debug_log(args.verbose)
    try:
        _validate_theme(args.theme)
        if args.command == "init":
            from resil_tui.init_cli import cmd_init

            return cmd_init(args)
        if args.command is None and not args.demo:
            from resil_tui.init_cli import first_run

            # No inventory anywhere: offer init or the demo instead of a path error.
            code = first_run(args)
            if code is not None:
                return code
        if args.command == "check-config":
            return cmd_check_config(args)
        if args.command == "lab":
            return cmd_lab(args)
        if args.command == "plan" and not args.demo:
            return cmd_plan(args)
        return asyncio.run(_run_async(args))
    except InventoryNotFound as exc:
        print(f"resil-tui: {exc}", file=sys.stderr)
        print(
            "Create one with `resil-tui init` (a form that tests each node) or from "
            "hosts.example.toml, pass --hosts FILE, or try the simulated deployment: "
            "resil-tui --demo",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except InventoryError as exc:
        print(f"resil-tui: invalid inventory:\n{exc}", file=sys.stderr)
        return EXIT_USAGE
    except CliError as exc:
        print(f"resil-tui: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `resil-tui plan ... | head`: the reader left; not an error worth a message.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:  # last line of defence: no tracebacks for users
        log.exception("unexpected error")
        print(
            f"resil-tui: unexpected error: {exc.__class__.__name__}: {exc}\n"
            f"(details in {xdg.debug_log_path()})",
            file=sys.stderr,
        )
        return 3


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
