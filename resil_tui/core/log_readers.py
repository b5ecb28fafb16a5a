"""Which extra log streams an inventory may declare: readers only, their flags checked.

An inventory stream (`logs = [{ name, command = [...] }]`) runs on a node even in
read-only mode, so it must not be able to change anything: `["xivo-service", "stop"]`
would stop telephony. Only these readers are accepted, with only their reading flags:

- `tail [-n N|--lines=N] [-f|-F|--follow[=name|descriptor]] [--retry] [--] PATH...`
- `cat [--] PATH...`
- `journalctl` with read flags: `-u/--unit`, `-f/--follow`, `-n/--lines`, `--since`,
  `--until`, `-o/--output`, `-p/--priority`, `-t/--identifier`, `-b` (current boot),
  `-k/--dmesg`, `-q/--quiet`, `--no-pager`, `--no-hostname`, `--utc`, `-a/--all`,
  `-x/--catalog`, `-r/--reverse`, `-e/--pager-end` (never `--vacuum-*`, `--rotate`,
  `--flush`, `--sync`, `--relinquish-var`, `--setup-keys`, ...)
- `docker logs [-f] [-t] [-n N|--tail N] [--since T] [--until T] [--details] CONTAINER`
- `xivocc-dcomp logs` / `edge-dcomp logs` `[-f] [-t] [--tail N] [--since T] [--until T]
  [--no-color] [--no-log-prefix] [SERVICE...]`

Paths go through the same rule as every remote path (validators.remote_path); names,
counts and times through conservative patterns. Programs are bare names (a planted
`/tmp/tail` is refused). Pure: the loader (check-config) and the catalog both call
`check_reader`, so the inventory is refused at load and the catalog refuses again.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from resil_tui.core.validators import InvalidValue, remote_path

_COUNT = re.compile(r"\+?[0-9]{1,7}")
_DOCKER_TAIL = re.compile(r"[0-9]{1,7}|all")
_TIME = re.compile(r"[A-Za-z0-9:.+@ -]{1,40}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}")
_UNIT = re.compile(r"[A-Za-z0-9_.@:*\\-]{1,256}")
_OUTPUT = frozenset(
    {
        "short",
        "short-full",
        "short-iso",
        "short-iso-precise",
        "short-precise",
        "short-monotonic",
        "short-unix",
        "verbose",
        "export",
        "json",
        "json-pretty",
        "json-sse",
        "json-seq",
        "cat",
        "with-unit",
    }
)
_LEVEL = "(?:[0-7]|emerg|alert|crit|err|warning|notice|info|debug)"
_PRIORITY = re.compile(rf"{_LEVEL}(?:\.\.{_LEVEL})?")

READERS = ("tail", "cat", "journalctl", "docker logs", "xivocc-dcomp logs", "edge-dcomp logs")


class ReaderRefused(InvalidValue):
    """An inventory stream command that is not one of the allowed readers."""


def _value(pattern: re.Pattern[str], what: str) -> Callable[[str], None]:
    def check(value: str) -> None:
        if not pattern.fullmatch(value):
            raise ReaderRefused(f"{value!r} is not a valid {what}")

    return check


def _path(value: str) -> None:
    try:
        remote_path(value)
    except InvalidValue as exc:
        raise ReaderRefused(str(exc)) from None


def _one_of(allowed: frozenset[str], what: str) -> Callable[[str], None]:
    def check(value: str) -> None:
        if value not in allowed:
            raise ReaderRefused(f"{value!r} is not a {what} ({', '.join(sorted(allowed))})")

    return check


class _Flags:
    """Flags of one reader: `switches` take no value, `valued` take one (`-n 5`, `-n5`,
    `--lines=5`, `--lines 5`); anything else starting with `-` is refused."""

    def __init__(
        self,
        program: str,
        switches: Sequence[str],
        valued: dict[str, Callable[[str], None]],
    ) -> None:
        self.program = program
        self.switches = frozenset(switches)
        self.valued = valued

    def split(self, args: Sequence[str]) -> list[str]:
        """Check every flag; return the operands (what is not a flag)."""
        operands: list[str] = []
        it = iter(args)
        for arg in it:
            if arg == "--":
                operands.extend(it)
                break
            if not arg.startswith("-") or arg == "-":
                operands.append(arg)
                continue
            if arg in self.switches:
                continue
            name, eq, inline = arg.partition("=")
            if arg.startswith("--") and eq:
                if name not in self.valued:
                    raise self._unknown(name)
                self.valued[name](inline)
                continue
            if arg in self.valued:
                value = next(it, None)
                if value is None:
                    raise ReaderRefused(f"{self.program} {arg} needs a value")
                self.valued[arg](value)
                continue
            short = arg[:2]
            if not arg.startswith("--") and len(arg) > 2 and short in self.valued:
                self.valued[short](arg[2:])  # -n50, -uxivo
                continue
            raise self._unknown(arg)
        return operands

    def _unknown(self, flag: str) -> ReaderRefused:
        allowed = sorted(self.switches | set(self.valued))
        return ReaderRefused(
            f"{self.program}: option {flag!r} is not a reading option "
            f"(allowed: {' '.join(allowed)})"
        )


_TAIL = _Flags(
    "tail",
    ["-f", "-F", "--follow", "--follow=name", "--follow=descriptor", "--retry", "-q", "-v"],
    {"-n": _value(_COUNT, "line count"), "--lines": _value(_COUNT, "line count")},
)
_CAT = _Flags("cat", [], {})
_TIME_CHECK = _value(_TIME, "time")
_JOURNALCTL = _Flags(
    "journalctl",
    [
        "-f",
        "--follow",
        "--no-pager",
        "--no-hostname",
        "--utc",
        "-b",
        "-k",
        "--dmesg",
        "-q",
        "--quiet",
        "-a",
        "--all",
        "-x",
        "--catalog",
        "-r",
        "--reverse",
        "-e",
        "--pager-end",
        "--no-full",
        "-l",
        "--full",
        "-m",
        "--merge",
    ],
    {
        "-u": _value(_UNIT, "unit"),
        "--unit": _value(_UNIT, "unit"),
        "-n": _value(_COUNT, "line count"),
        "--lines": _value(_COUNT, "line count"),
        "-S": _TIME_CHECK,
        "--since": _TIME_CHECK,
        "-U": _TIME_CHECK,
        "--until": _TIME_CHECK,
        "-o": _one_of(_OUTPUT, "journalctl output format"),
        "--output": _one_of(_OUTPUT, "journalctl output format"),
        "-p": _value(_PRIORITY, "priority"),
        "--priority": _value(_PRIORITY, "priority"),
        "-t": _value(_NAME, "identifier"),
        "--identifier": _value(_NAME, "identifier"),
    },
)
_DOCKER_LOGS = _Flags(
    "docker logs",
    ["-f", "--follow", "-t", "--timestamps", "--details"],
    {
        "-n": _value(_DOCKER_TAIL, "line count"),
        "--tail": _value(_DOCKER_TAIL, "line count"),
        "--since": _TIME_CHECK,
        "--until": _TIME_CHECK,
    },
)


def _compose_logs(tool: str) -> _Flags:
    return _Flags(
        f"{tool} logs",
        ["-f", "--follow", "-t", "--timestamps", "--no-color", "--no-log-prefix"],
        {
            "-n": _value(_DOCKER_TAIL, "line count"),
            "--tail": _value(_DOCKER_TAIL, "line count"),
            "--since": _TIME_CHECK,
            "--until": _TIME_CHECK,
        },
    )


_COMPOSE = {tool: _compose_logs(tool) for tool in ("xivocc-dcomp", "edge-dcomp")}


def check_reader(argv: Sequence[str]) -> tuple[str, ...]:
    """`argv` unchanged when it is an allowed reader with reading flags only; otherwise
    ReaderRefused saying why (the caller adds the stream's name and where it is declared)."""
    args = tuple(argv)
    if not args:
        raise ReaderRefused("the command is empty")
    for arg in args:
        if not isinstance(arg, str) or not arg or "\x00" in arg or "\n" in arg:
            raise ReaderRefused(f"argument {arg!r} is empty or holds NUL/newline")
        if any(not ch.isprintable() for ch in arg):
            raise ReaderRefused(f"argument {arg!r} holds control characters")
    program, rest = args[0], args[1:]
    if program == "tail":
        paths = _TAIL.split(rest)
        _paths(program, paths)
    elif program == "cat":
        _paths(program, _CAT.split(rest))
    elif program == "journalctl":
        extra = _JOURNALCTL.split(rest)
        if extra:
            # journalctl matches (FIELD=value) and paths select what to read; keep it to
            # the flags above, which say the same thing without a second syntax.
            raise ReaderRefused(f"journalctl: {extra[0]!r}: use -u UNIT / -t ID instead")
    elif program == "docker":
        if not rest or rest[0] != "logs":
            raise ReaderRefused(f"{' '.join(args[:2])!r}: only `docker logs` is a reader")
        names = _DOCKER_LOGS.split(rest[1:])
        if len(names) != 1:
            raise ReaderRefused("docker logs takes exactly one container name")
        _value(_NAME, "container name")(names[0])
    elif program in _COMPOSE:
        if not rest or rest[0] != "logs":
            raise ReaderRefused(f"{' '.join(args[:2])!r}: only `{program} logs` is a reader")
        for service in _COMPOSE[program].split(rest[1:]):
            _value(_NAME, "service name")(service)
    else:
        shown = program if len(program) <= 60 else program[:60] + "…"
        raise ReaderRefused(
            f"{shown!r} is not an allowed log reader (allowed: {', '.join(READERS)}; "
            "programs by bare name, no path)"
        )
    return args


def _paths(program: str, paths: list[str]) -> None:
    if not paths:
        raise ReaderRefused(f"{program} needs at least one file path (stdin is not a log)")
    for p in paths:
        _path(p)
