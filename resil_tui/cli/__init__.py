"""The command line: one module per subcommand (its parser next to its handler), typed
arguments, shared exit codes, errors and prompt (common.py).

`run_command()` runs every subcommand that does not open the console; the program's entry
point (resil_tui/entry.py) sends the others (no command, `init`) to the TUI. Nothing in this
package imports Textual: `status --json` must stay cheap (make lint enforces it).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal

from resil_tui import __version__
from resil_tui import paths as xdg
from resil_tui.cli.common import (
    EXIT_UNEXPECTED,
    EXIT_USAGE,
    CliError,
    GlobalArgs,
    Io,
    add_global_options,
    bounded_float,
    bounded_int,
    maybe_lab,
    one_line,
    resolve_inventory,
)
from resil_tui.core.records import record
from resil_tui.inventory import InventoryError, InventoryNotFound

if TYPE_CHECKING:
    from resil_tui.cli.context import Context


@record
class Command:
    """A subcommand as `resil-tui --help` lists it. Its module (resil_tui/cli/<module>.py)
    adds its arguments (`add_arguments(parser)`) and runs it; it is imported only when the
    command is the one given, so a command pays for its own module alone."""

    name: str
    module: str
    help: str
    # online: `main(ctx, ns)` with a Context (talks to nodes or the lab); offline:
    # `offline(ns, options, io)`, no inventory loaded by us (`check` loads its own, so that
    # a bad one is the plugin's UNKNOWN); console: parsed here, run by ui/launch.py.
    runs: Literal["online", "offline", "console"]
    # Logs nothing (reads local files, prints): its debug log is opened only if it fails
    # unexpectedly (see guard), which spares `logging` in scripts that run it often.
    quiet: bool = False


INIT = "init"
# In the order of `resil-tui --help`.
COMMANDS: tuple[Command, ...] = (
    Command(
        INIT, "init", "create an inventory with a form that tests each SSH target live", "console"
    ),
    Command(
        "check-config",
        "check_config",
        "validate an inventory file; exit 0 when valid, 2 when not",
        "offline",
        quiet=True,
    ),
    Command(
        "lab", "lab", "run the simulated XiVO deployment standalone, with a fault prompt", "offline"
    ),
    Command(
        "status", "status", "print the status of every node and the cluster verdicts", "online"
    ),
    Command(
        "check",
        "check",
        "monitoring plugin (Nagios, Icinga, Zabbix): one status line, exit 0/1/2/3",
        "offline",
    ),
    Command(
        "metrics",
        "metrics",
        "print the status as Prometheus metrics (or write a node_exporter textfile)",
        "online",
    ),
    Command(
        "watch",
        "watch",
        "poll every site headless, record the incident journal, serve /metrics",
        "online",
    ),
    Command(
        "history",
        "history",
        "print the incident journal (status changes, actions, wizard runs)",
        "offline",
    ),
    Command("ha", "ha", "show or change HA modes and run the HA scripts", "online"),
    Command("logs", "logs", "print a node's log stream (xuc by default on CC nodes)", "online"),
    Command(
        "trust",
        "trust",
        "show a node's unknown host key fingerprint (or its jump host's) and trust it on yes",
        "online",
    ),
    Command(
        "plan", "plan", "print the failover or failback runbook of a site, as Markdown", "online"
    ),
    Command("edge", "edge", "preview, apply or roll back the Edge .env switch", "online"),
)
BY_NAME = {c.name: c for c in COMMANDS}
# Parsed here, run by the console (ui/launch.py).
CONSOLE_COMMANDS = (None, *(c.name for c in COMMANDS if c.runs == "console"))


def command_module(name: str) -> ModuleType:
    """The module of subcommand `name` (imported now if it was not)."""
    command = BY_NAME.get(name)
    if command is None:
        raise CliError(f"unknown command {name!r}")
    return importlib.import_module(f"{__name__}.{command.module}")


def terminal_columns() -> int:
    """The width argparse wraps help at, found as `shutil.get_terminal_size()` finds it
    (COLUMNS, else stdout's terminal, else 80), without importing shutil: 2 ms (bz2,
    lzma) that check-config paid for the first parser's formatter."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns > 0:
        return columns
    stdout = sys.__stdout__
    try:
        columns = os.get_terminal_size(stdout.fileno()).columns if stdout else 0
    except (ValueError, OSError):  # closed, detached, or not a terminal
        columns = 0
    return columns or 80


class _Formatter(argparse.HelpFormatter):
    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
    ) -> None:
        # argparse's own default, computed here (its "- 2" included).
        width = terminal_columns() - 2 if width is None else width
        super().__init__(prog, indent_increment, max_help_position, width)


class _Parser(argparse.ArgumentParser):
    """argparse's parser with the formatter above; the subcommands' parsers, and theirs,
    are of this class too (argparse gives them the class of their parent)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)


class _Subcommands(argparse._SubParsersAction):  # type: ignore[type-arg]
    """The subcommands, each with a parser only once it is the one on the command line
    (built then, with its arguments; its own `--help` included). The top parser's help
    and its "invalid choice" error need only the names and one-line helps: building a
    parser per subcommand was most of check-config's start-up, and building 13 empty
    ones still cost it 3 ms."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # What argparse checks the command against and lists in "choose from", in order;
        # argparse's own map holds only the parsers built.
        self._descriptions: dict[str, str] = {}
        self.choices = self._descriptions

    def declare(self, name: str, text: str) -> None:
        """A subcommand as `add_parser(name, help=text, description=text)` declares it,
        its parser left to `fill`."""
        self._choices_actions.append(self._ChoicesPseudoAction(name, (), text))
        self._descriptions[name] = text

    def fill(self, name: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser | None = self._name_parser_map.get(name)
        if parser is None:
            parser = self.add_parser(name, description=self._descriptions[name])
            add_global_options(parser, top=False)
            command_module(name).add_arguments(parser)
        return parser

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        if isinstance(values, Sequence) and values and values[0] in BY_NAME:
            chosen = self.fill(str(values[0]))
            if "error" in vars(chosen):
                # The subcommand reports usage errors its own way (`check`: UNKNOWN), the
                # ones the top parser finds after it too ("unrecognized arguments").
                parser.error = chosen.error  # type: ignore[method-assign]
        super().__call__(parser, namespace, values, option_string)


# The console settings' bounds are the preferences' (one rule); that module is loaded only
# when one of these flags is given, not by every command.
def _refresh_seconds(text: str) -> float:
    from resil_tui.preferences import REFRESH_RANGE

    return bounded_float(*REFRESH_RANGE, "--refresh")(text)


def _log_buffer_lines(text: str) -> int:
    from resil_tui.preferences import LOG_BUFFER_RANGE

    return bounded_int(*LOG_BUFFER_RANGE, "--log-buffer")(text)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
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
        type=_refresh_seconds,
        default=None,
        help="seconds between two Status polls in the console",
    )
    parser.add_argument(
        "--log-buffer",
        metavar="LINES",
        type=_log_buffer_lines,
        default=None,
        help="lines kept per followed log stream in the console",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", action=_Subcommands)
    assert isinstance(sub, _Subcommands)
    for command in COMMANDS:
        sub.declare(command.name, command.help)
    return parser


def parse(argv: Sequence[str] | None) -> tuple[argparse.Namespace, GlobalArgs]:
    ns = build_parser().parse_args(argv)
    return ns, GlobalArgs.from_namespace(ns)


def setup_debug_log(command: str | None, verbose: bool) -> None:
    """The debug log of the program, for every command but the quiet ones."""
    found = BY_NAME.get(command) if command is not None else None
    if found is None or not found.quiet:
        open_debug_log(verbose)


def open_debug_log(verbose: bool) -> None:
    import logging

    from resil_tui import localfiles
    from resil_tui.log_format import SafeFormatter

    # 0600 in the 0700 state directory whatever the umask (it names hosts and commands).
    # Records quote what nodes said: every handler writes through the sanitizer.
    handler = localfiles.debug_log_handler()
    handler.setFormatter(SafeFormatter())
    root = logging.getLogger("resil_tui")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG)
    if verbose:
        stderr = logging.StreamHandler(sys.stderr)
        stderr.setFormatter(SafeFormatter("%(message)s"))
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


async def _online(module: ModuleType, ns: argparse.Namespace, options: GlobalArgs, io: Io) -> int:
    from resil_tui.cli.context import Context  # online commands only

    main: Callable[[Context, argparse.Namespace], Awaitable[int]] = module.main
    async with maybe_lab(options) as running_lab:
        ctx = Context(options, resolve_inventory(options, running_lab), io, running_lab)
        return await main(ctx, ns)


def run_command(ns: argparse.Namespace, options: GlobalArgs, io: Io | None = None) -> int:
    """Run a subcommand that does not open the console; errors propagate (see guard)."""
    io = io or Io()
    validate_theme(options.theme)
    module = command_module(ns.command)
    if BY_NAME[ns.command].runs == "offline":
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
    # One line each: a refusal or an error may quote a node (a RemoteError's message).
    if isinstance(exc, CliError):
        io.note(f"resil-tui: {one_line(exc)}")
        return exc.code
    if isinstance(exc, LookupError):  # an unknown site or node name: the message lists them
        io.note(f"resil-tui: {one_line(exc)}")
        return EXIT_USAGE
    return None


async def dispatch(ctx: Context, ns: argparse.Namespace) -> int:
    """Run an online subcommand with a context built by the caller (tests, the console)."""
    main: Callable[[Context, argparse.Namespace], Awaitable[int]] = command_module(ns.command).main
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
        import logging

        root = logging.getLogger("resil_tui")
        if not root.handlers:  # a quiet command (setup_debug_log)
            open_debug_log(verbose=False)
        root.exception("unexpected error")
        io.note(
            f"resil-tui: unexpected error: {exc.__class__.__name__}: {one_line(exc)}\n"
            f"(details in {xdg.debug_log_path()})"
        )
        return EXIT_UNEXPECTED
