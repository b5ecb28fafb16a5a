"""The batch catalog entry against a real POSIX shell: what dash (and bash) do with the line.

sshd runs a client's line as `$SHELL -c LINE`. Each test builds a batch of read-only
catalog commands over local files, runs its line through `sh -c` (and `bash -c`, root's
login shell on XiVO) and checks every part against the same command run alone, without a
shell (`subprocess.run(argv)`): same stdout, stderr and exit status, part by part.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resil_tui.core.batch import BEGIN_FORMAT, END_OUT_FORMAT, PartOutput, split_batch
from resil_tui.remote import commands as C
from resil_tui.remote.commands import Batch, Command, CommandError

SHELLS = [s for s in ("/bin/sh", "/bin/bash") if Path(s).exists()]


# Bytes decoded as asyncssh does: no universal-newline translation (text=True would turn
# a file's lone "\r" before a marker's "\n" into one newline).
def alone(command: Command) -> PartOutput:
    p = subprocess.run(command.argv, capture_output=True, check=False, timeout=30)
    return PartOutput(p.stdout.decode(), p.stderr.decode(), p.returncode)


def through_shell(batch: Batch, shell: str) -> tuple[str, str]:
    # What sshd does with the line: the login shell's `-c`, the line as one argument.
    p = subprocess.run([shell, "-c", batch.command.line], capture_output=True, timeout=30)
    return p.stdout.decode(), p.stderr.decode()


def check_against_alone(parts: list[Command], shell: str) -> None:
    batch = C.batch(parts)
    split = split_batch(*through_shell(batch, shell), batch.nonce, len(parts))
    assert split.usable  # markers seen, and `$?` passed the probe
    assert list(split.parts) == [alone(c) for c in parts]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    made = {
        "plain": "one\ntwo\n",
        "no_newline": "no final newline",
        "empty": "",
        "markers": (
            "0123456789abcdef0123456789abcdef B 0\n"
            "\n0123456789abcdef0123456789abcdef E 0 0\n"
            "%s B %d\\n $? \"$?\" '$?' ; && || >&2\n"
        ),
    }
    out = {}
    for name, text in made.items():
        path = tmp_path / name
        path.write_text(text)
        out[name] = str(path)
    out["missing"] = str(tmp_path / "missing")
    out["dir"] = str(tmp_path)
    return out


@pytest.mark.parametrize("shell", SHELLS)
def test_every_part_is_what_it_prints_alone(files: dict[str, str], shell: str) -> None:
    parts = [
        C.cat(files["plain"]),
        C.cat(files["no_newline"]),
        C.cat(files["empty"]),
        C.cat(files["markers"]),
        C.cat(files["missing"]),  # stderr and exit 1
        C.cat(files["dir"]),  # another stderr text
        C.test_exists(files["missing"]),
        C.test_exists(files["plain"]),
        C.tail_files([files["plain"], files["missing"], files["no_newline"]], 5),
        C.ls(files["dir"]),
    ]
    check_against_alone(parts, shell)


@pytest.mark.parametrize("shell", SHELLS)
def test_hostile_arguments_reach_the_part_as_they_are(shell: str) -> None:
    hostile = [
        "; echo pwned",
        "$(echo pwned)",
        "`echo pwned`",
        '"$?"',
        "'$?'",
        "a\nb",
        "\\n%s%d",
        "&& false || true >&2",
        "$HOME ~ * #",
        "",
    ]
    # printf as a part: it shows each argument exactly as the shell passed it.
    parts = [Command("show", ("printf", "[%s]\\n", h), mutates=False) for h in hostile]
    check_against_alone(parts, shell)


@pytest.mark.parametrize("shell", SHELLS)
def test_exit_statuses_are_each_parts_own(shell: str) -> None:
    parts = [
        Command("t", ("false",), mutates=False),
        Command("t", ("true",), mutates=False),
        Command("t", ("sh", "-c", "exit 7"), mutates=False),
        Command("t", ("resil-tui-no-such-program",), mutates=False),
    ]
    batch = C.batch(parts)
    split = split_batch(*through_shell(batch, shell), batch.nonce, len(parts))
    assert [p.exit_status for p in split.parts] == [1, 0, 7, 127]
    assert "resil-tui-no-such-program" in split.parts[3].stderr  # the shell's own message
    assert split.problems == []


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.text(
            st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=80
        ),
        min_size=1,
        max_size=4,
    )
)
def test_any_file_contents_come_back_whole(tmp_path: Path, contents: list[str]) -> None:
    paths = []
    for i, text in enumerate(contents):
        path = tmp_path / f"f{i}"
        path.write_bytes(text.encode("utf-8"))
        paths.append(str(path))
    check_against_alone([C.cat(p) for p in paths], SHELLS[0])


def test_the_line_never_holds_a_marker() -> None:
    # A server that echoes the line back (an error message, a naive emulation) cannot
    # produce a marker: the nonce and the part index are separate printf arguments.
    batch = C.batch([C.cat("/etc/xivo/ha.conf"), C.xivo_service_status(all=True)])
    for i in range(2):  # without their newlines, which the line never holds (below)
        assert (BEGIN_FORMAT % (batch.nonce, i)).strip() not in batch.command.line
        assert (END_OUT_FORMAT % (batch.nonce, i, 0)).strip() not in batch.command.line
    assert f"{batch.nonce} B" not in batch.command.line
    assert f"{batch.nonce} E" not in batch.command.line
    echoed = split_batch(batch.command.line, batch.command.line, batch.nonce, 2)
    assert not echoed.markers_seen
    assert "\n" not in batch.command.line
    assert shlex.split(batch.command.line)[:2] == ["sh", "-c"]


def test_every_batch_has_its_own_nonce() -> None:
    parts = [C.cat("/etc/xivo/ha.conf"), C.test_exists("/var/lib/xivo/disabled")]
    assert len({C.batch(parts).nonce for _ in range(50)}) == 50


@pytest.mark.parametrize(
    "part",
    [
        C.xivo_service("restart"),  # mutates
        C.tail("/var/log/xivo-sync.log", 10, follow=True),  # pty, long running
        C.compose_logs("xivocc-dcomp", "xuc", follow=True),
        Command("x", ("cat",), mutates=False, stdin=b"data"),
        Command("x", ("exec", "reboot"), mutates=False),
        Command("x", ("exit", "0"), mutates=False),
        Command("x", ("set", "-e"), mutates=False),
        Command("x", ("eval", "reboot"), mutates=False),
        Command("x", (".", "/tmp/x"), mutates=False),
        Command("x", ("source", "/tmp/x"), mutates=False),  # bash's `.`
        Command("x", ("builtin", "exit"), mutates=False),
        Command("x", ("umask", "0"), mutates=False),
        Command("x", ("a;b",), mutates=False),
        Command("x", ("$(reboot)",), mutates=False),
    ],
    ids=lambda c: c.line,
)
def test_unsafe_parts_are_refused(part: Command) -> None:
    with pytest.raises(CommandError):
        C.batch([C.cat("/etc/xivo/ha.conf"), part])


def test_a_batch_is_read_only_and_not_empty() -> None:
    assert not C.batch([C.cat("/etc/xivo/ha.conf")]).command.mutates
    with pytest.raises(CommandError):
        C.batch([])
    with pytest.raises(CommandError):
        C.batch(["cat /etc/passwd"])  # type: ignore[list-item]
    with pytest.raises(CommandError):
        C.batch([C.cat("/etc/xivo/ha.conf")] * (C.MAX_BATCH_PARTS + 1))
    with pytest.raises(ValueError):
        C.batch([C.cat("/etc/xivo/ha.conf")], nonce="'; reboot; '")


@pytest.mark.skipif(shutil.which("dash") is None, reason="dash not installed")
def test_dash_itself() -> None:
    # /bin/sh is dash on Debian (and on XiVO); say so rather than assume it.
    parts = [C.cat("/etc/hostname"), C.test_exists("/nonexistent")]
    check_against_alone(parts, str(shutil.which("dash")))


@given(
    st.lists(
        st.lists(st.text(st.characters(blacklist_categories=["Cs"]), min_size=1), min_size=1),
        min_size=1,
        max_size=4,
    )
)
def test_a_batch_line_is_its_argv_quoted_by_shlex(argvs: list[list[str]]) -> None:
    # The line is assembled from pieces quoted once per set of parts (commands.batch):
    # it must be what shlex.join of the argv gives, whatever the parts hold (quotes too).
    parts = []
    for i, argv in enumerate(argvs):
        words = [w for w in ["prog", *argv] if "\x00" not in w]
        parts.append(Command(f"p{i}", tuple(words), mutates=False))
    made = C.batch(parts)
    assert made.command.line == shlex.join(made.command.argv)
