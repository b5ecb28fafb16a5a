"""The lazy parser (a subcommand's parser built only once it is the one given, the help
width found without shutil) says exactly what argparse's eager one says: every help, every
usage error, every exit code, every parsed namespace (issue 17: check-config's start-up)."""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import io
import os
import pty
import shutil
import struct
import sys
import termios
from collections.abc import Iterator

import pytest

from resil_tui import cli
from resil_tui.cli.common import add_global_options

NAMES = [c.name for c in cli.COMMANDS]
# Top level: help, version, no command, an unknown or abbreviated one, bad or missing
# option values, a command name taken as an option's value.
TOP_CASES: list[list[str]] = [
    [],
    ["--help"],
    ["-h"],
    ["--version"],
    ["bogus"],
    ["stat"],
    ["--bogus"],
    ["--bogus", "status"],
    ["--hosts"],
    ["--hosts", "status"],
    ["--hosts", "status", "check-config"],
    ["--refresh", "0"],
    ["--refresh", "x", "status"],
    ["--log-buffer", "2000", "-h", "status"],
    ["check", "-w", "0"],
    ["check", "extra"],
]


def _command_cases(name: str) -> list[list[str]]:
    return [
        [name],
        [name, "--help"],
        [name, "-h"],
        [name, "--bogus"],
        [name, "--bogus", "--help"],
        [name, "--help", "--bogus"],
        [name, "--hosts"],
        [name, "x", "y", "z"],
        ["--read-only", name, "--demo", "--hosts", "a.toml"],
        ["--hosts", "a.toml", name, "--verbose", "-h"],
    ]


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action._name_parser_map.values():
                yield from _parsers(child)


def _eager_parser(monkeypatch: pytest.MonkeyPatch) -> argparse.ArgumentParser:
    """The same parser as argparse has it without our laziness: every subcommand declared
    by argparse's own `add_parser` (its choices the map of parsers) and given its
    arguments up front, argparse's own formatter."""
    monkeypatch.setattr(cli, "_Formatter", argparse.HelpFormatter)
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, cli._Subcommands))
    sub._choices_actions.clear()
    sub.choices = sub._name_parser_map
    for command in cli.COMMANDS:
        child = argparse._SubParsersAction.add_parser(
            sub, command.name, help=command.help, description=command.help
        )
        add_global_options(child, top=False)
        cli.command_module(command.name).add_arguments(child)
    assert {each.formatter_class for each in _parsers(parser)} == {argparse.HelpFormatter}
    return parser


def _outcome(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[object, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            result: object = sorted(vars(parser.parse_args(argv)).items(), key=repr)
        except SystemExit as exited:
            result = ("exit", exited.code)
    return result, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("columns", [None, "52", "200"])
@pytest.mark.parametrize(
    "argv", TOP_CASES + [case for name in NAMES for case in _command_cases(name)], ids=repr
)
def test_the_lazy_parser_says_what_the_eager_one_says(
    argv: list[str], columns: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    # Each parser fresh: filling one subcommand must not change what another says.
    lazy = _outcome(cli.build_parser(), argv)
    assert lazy == _outcome(_eager_parser(monkeypatch), argv)


def test_only_the_subcommand_given_gets_a_parser() -> None:
    parser = cli.build_parser()
    parser.parse_args(["check-config", "x.toml"])
    assert [p.prog for p in _parsers(parser)] == ["resil-tui", "resil-tui check-config"]


@pytest.mark.parametrize("columns", [None, "", "abc", "0", "-3", "1", "57", "300"])
def test_the_width_is_shutils(columns: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    assert cli.terminal_columns() == shutil.get_terminal_size().columns
    # On a terminal (91 columns) too, and on one that reports no width.
    for width in (91, 0):
        with _stdout_on_a_terminal(width):
            assert cli.terminal_columns() == shutil.get_terminal_size().columns
    with _stdout_on_a_terminal(91):
        expected = int(columns) if columns and columns.lstrip("-").isdigit() else 0
        assert cli.terminal_columns() == (expected if expected > 0 else 91)


@contextlib.contextmanager
def _stdout_on_a_terminal(columns: int) -> Iterator[None]:
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    saved = sys.__stdout__
    try:
        with open(follower, "w", closefd=False) as stream:
            sys.__stdout__ = stream  # type: ignore[misc]
            yield
    finally:
        sys.__stdout__ = saved  # type: ignore[misc]
        os.close(follower)
        os.close(leader)
