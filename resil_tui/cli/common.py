"""What every subcommand shares: exit codes, errors, global options, the one prompt, the
inventory and lab set-up. What an online command runs with (its Context, which opens
the session) is in context.py.

No Textual here, nor anywhere in this package: `resil-tui status --json` runs in monitoring
loops and must not pay for the TUI (make lint checks it, a test checks sys.modules).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO, TypeVar

from resil_tui.core import validators
from resil_tui.core.records import record, replace
from resil_tui.core.sanitize import clean
from resil_tui.inventory_model import Inventory

if TYPE_CHECKING:
    from resil_tui.lab.server import Lab

T = TypeVar("T")

EXIT_OK = 0
EXIT_FAILED = 1  # the node was reached and the change or check failed
EXIT_USAGE = 2  # bad usage, validation error, refusal (read-only, not confirmed)
EXIT_UNEXPECTED = 3  # a bug: the details are in the debug log


class CliError(Exception):
    """An error to show the admin as one clear message (no traceback); exit code attached."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


class Refused(CliError):
    """Not confirmed, read-only, or no terminal to ask on: nothing was sent."""

    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_USAGE)


# --- argument types --------------------------------------------------------------------------


def checked(validate: Callable[[str], T]) -> Callable[[str], T]:
    """An argparse `type=` from one of core/validators.py's rules: the CLI refuses exactly
    what the rule refuses, with its message."""

    def parse(text: str) -> T:
        try:
            return validate(text)
        except validators.InvalidValue as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = getattr(validate, "__name__", "value")
    return parse


def bounded_float(low: float, high: float, what: str) -> Callable[[str], float]:
    """A finite number in [low, high] (nan, inf and -1 are refused)."""

    def parse(text: str) -> float:
        return validators.parse_number(text, what=what, minimum=low, maximum=high, integer=False)

    return checked(parse)


def bounded_int(low: int, high: int, what: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        return int(
            validators.parse_number(text, what=what, minimum=low, maximum=high, integer=True)
        )

    return checked(parse)


def timestamp(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return value if value.tzinfo else value.astimezone()  # naive: the workstation's zone


# --- global options --------------------------------------------------------------------------


def add_global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """Accepted before and after the subcommand ("resil-tui --demo status" and "resil-tui
    status --demo"); SUPPRESS keeps a sub-parser from erasing the top-level values."""
    default: Any = None if top else argparse.SUPPRESS
    flag: Any = False if top else argparse.SUPPRESS
    parser.add_argument("--hosts", metavar="FILE", default=default, help="inventory file")
    parser.add_argument(
        "--read-only",
        action="store_true",
        default=flag,
        help="refuse every command that changes a node",
    )
    parser.add_argument("--theme", metavar="NAME", default=default, help="colour theme")
    parser.add_argument(
        "--demo",
        action="store_true",
        default=flag,
        help="run against the embedded simulated deployment (the lab)",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=flag, help="also log to stderr"
    )


SubParsers = argparse._SubParsersAction  # the type argparse gives add_subparsers()


def subparser(
    sub: SubParsers[argparse.ArgumentParser], name: str, text: str
) -> argparse.ArgumentParser:
    """A subcommand's parser, with the global options accepted after it too."""
    parser = sub.add_parser(name, help=text, description=text)
    add_global_options(parser, top=False)
    return parser


@record
class GlobalArgs:
    """The options every command accepts, before or after its name, and the console's."""

    hosts: str | None = None
    read_only: bool = False
    theme: str | None = None
    demo: bool = False
    verbose: bool = False
    refresh: float | None = None  # console only
    log_buffer: int | None = None  # console only

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace) -> GlobalArgs:
        return cls(
            hosts=ns.hosts,
            read_only=bool(ns.read_only),
            theme=ns.theme,
            demo=bool(ns.demo),
            verbose=bool(ns.verbose),
            refresh=ns.refresh,
            log_buffer=ns.log_buffer,
        )


# --- input and output ------------------------------------------------------------------------


class TextSink(Protocol):
    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...


class SafeWriter:
    """A text stream whose every write passes the sanitizer: whatever a command prints
    (node output, error messages, diffs, log lines) can never act on the terminal."""

    def __init__(self, inner: TextSink) -> None:
        self.inner = inner

    def write(self, text: str) -> int:
        return self.inner.write(clean(text))

    def flush(self) -> None:
        self.inner.flush()

    def isatty(self) -> bool:
        isatty = getattr(self.inner, "isatty", None)
        try:
            return bool(isatty()) if callable(isatty) else False
        except ValueError:  # a closed stream
            return False

    def getvalue(self) -> str:
        """What a StringIO behind it holds (tests)."""
        value: str = self.inner.getvalue()  # type: ignore[attr-defined]
        return value


def one_line(text: object) -> str:
    """`text` as part of one printed line: what a node said (a DISCONNECT reason, a status
    field, a script's line) keeps its newlines through SafeWriter, so a field that can
    hold remote text passes here, where a newline is shown as `␤` (the sanitizer's
    one-line form): it cannot forge a row, a verdict or a prompt of its own."""
    return clean(str(text), one_line=True)


def _safe(sink: TextSink) -> SafeWriter:
    return sink if isinstance(sink, SafeWriter) else SafeWriter(sink)


class Io:
    """Where a command writes and reads; the one y/N and typed-confirmation prompt. Every
    write to `out` and `err` is sanitized (core/sanitize.py), here, once."""

    def __init__(
        self,
        out: TextSink | None = None,
        err: TextSink | None = None,
        stdin: TextIO | None = None,
    ) -> None:
        self.out: SafeWriter = _safe(sys.stdout if out is None else out)
        self.err: SafeWriter = _safe(sys.stderr if err is None else err)
        self.stdin: TextIO = sys.stdin if stdin is None else stdin

    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def note(self, text: str) -> None:
        """Progress and explanations: stderr, so stdout stays what scripts parse."""
        self.err.write(text + "\n")
        self.err.flush()

    @property
    def interactive(self) -> bool:
        try:
            return bool(self.stdin.isatty())
        except (AttributeError, ValueError):
            return False

    async def ask(self, prompt: str) -> str:
        self.err.write(prompt)
        self.err.flush()
        import asyncio

        line = await asyncio.to_thread(self.stdin.readline)
        return line.strip()

    async def confirm(self, question: str, *, yes: bool) -> None:
        """Return when confirmed (or --yes); raise Refused otherwise. Never asks without a
        terminal: a script gets a refusal that names --yes."""
        if yes:
            return
        if not self.interactive:
            raise Refused(f"{question}: refused, stdin is not a terminal (pass --yes to confirm)")
        answer = await self.ask(f"{question} [y/N] ")
        if answer.lower() not in ("y", "yes"):
            raise Refused("not confirmed: nothing was sent")

    async def typed_confirm(self, word: str, *, yes: bool, why: str = "") -> None:
        """The admin types `word` (a node id) to confirm; --yes waives it, and says so."""
        if yes:
            self.say(f"--yes given: taken as the typed confirmation ({word}).")
            return
        if not self.interactive:
            raise Refused(
                f"typing {word} is required to confirm and stdin is not a terminal "
                "(--yes waives it)"
            )
        if why:
            self.note(why)
        answer = await self.ask(f"Type {word} to confirm: ")
        if answer != word:
            raise Refused(f"typed {answer!r}, not {word!r}: nothing was sent")


# --- inventory and lab (what online commands run with: context.py) ---------------------------


def resolve_inventory(options: GlobalArgs, lab: Lab | None) -> Inventory:
    from resil_tui.inventory import find_inventory, load_inventory

    if lab is not None:
        inv = replace(load_inventory(lab.inventory_path), demo=True)
    else:
        inv = load_inventory(find_inventory(options.hosts))
    if options.read_only:
        inv = replace(inv, read_only=True)
    return inv


@contextlib.asynccontextmanager
async def maybe_lab(options: GlobalArgs) -> AsyncIterator[Lab | None]:
    """With --demo, the simulated deployment, started for this command and stopped after."""
    if not options.demo:
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
