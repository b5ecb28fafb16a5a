"""Where a read ends on a kept shell (core/shell_frames.py)."""

from __future__ import annotations

import shlex

import pytest

from resil_tui.core.shell_frames import end_of_stderr, end_of_stdout, readiness, resume_at
from resil_tui.remote import commands as cat
from resil_tui.remote.read_shell import ready_line, request_line

NONCE = "5f" * 16


def out_end(status: str) -> bytes:
    return f"\n{NONCE} Z {status}\n".encode()


ERR_END = f"\n{NONCE} Z\n".encode()


@pytest.mark.parametrize(
    ("body", "expected"),
    [(b"a\nb\n", b"a\nb\n"), (b"no newline", b"no newline"), (b"", b""), (b"\n", b"\n")],
)
def test_the_body_is_what_the_read_wrote(body: bytes, expected: bytes) -> None:
    end = end_of_stdout(body + out_end("0"), NONCE)
    assert end is not None and (end.body, end.status, end.trailing) == (expected, 0, b"")
    err = end_of_stderr(body + ERR_END, NONCE)
    assert err is not None and (err.body, err.trailing) == (expected, b"")


def test_nothing_ends_before_the_whole_marker() -> None:
    whole = b"output" + out_end("127")
    for cut in range(len(whole)):
        assert end_of_stdout(whole[:cut], NONCE) is None, cut
    end = end_of_stdout(whole, NONCE)
    assert end is not None and end.status == 127
    for cut in range(len(b"x" + ERR_END)):
        assert end_of_stderr((b"x" + ERR_END)[:cut], NONCE) is None


def test_another_nonce_or_a_garbled_status_is_not_an_exit_status() -> None:
    other = "6a" * 16
    assert end_of_stdout(f"x\n{other} Z 0\n".encode(), NONCE) is None
    for status in ("$?", "-1", "1234", "", "0 extra"):
        end = end_of_stdout(b"x" + out_end(status), NONCE)
        assert end is not None and end.status is None, status
    # A status that never ends (no newline) is given up on past its longest form.
    end = end_of_stdout(b"x" + f"\n{NONCE} Z 00000".encode(), NONCE)
    assert end is not None and end.status is None


def test_what_follows_the_marker_is_kept_apart() -> None:
    end = end_of_stdout(b"x" + out_end("1") + b"more", NONCE)
    assert end is not None and (end.body, end.status, end.trailing) == (b"x", 1, b"more")


def test_readiness_is_the_status_of_false_and_a_stderr_marker() -> None:
    err = f"{NONCE} R\n".encode()
    assert readiness(b"motd chatter\n" + f"{NONCE} R 1\n".encode(), b"chatter\n" + err, NONCE)
    assert readiness(f"{NONCE} R 1\n".encode(), b"", NONCE) is None  # stderr not there yet
    assert readiness(f"{NONCE} R 0\n".encode(), err, NONCE) is False  # `$?` not trusted
    assert readiness(f"{NONCE} R 10\n".encode(), err, NONCE) is False
    assert readiness(f"{NONCE} R $?\n".encode(), err, NONCE) is False
    assert readiness(f"{NONCE} R 1".encode(), err, NONCE) is None  # not whole yet
    assert readiness(f"{NONCE} R ".encode(), err, NONCE) is None
    assert readiness(f"{NONCE} R 12345".encode(), err, NONCE) is False  # past any status


def test_a_search_resumed_finds_a_marker_cut_anywhere() -> None:
    whole = b"x" * 100 + out_end("42")
    for cut in range(len(whole)):
        start = resume_at(cut, NONCE)
        assert end_of_stdout(whole[:cut], NONCE) is None
        end = end_of_stdout(whole, NONCE, start)
        assert end is not None and end.status == 42, cut
        err = b"y" * 50 + ERR_END
        assert end_of_stderr(err, NONCE, resume_at(min(cut, len(err) - 1), NONCE)) is not None


def test_the_lines_sent_never_hold_a_marker() -> None:
    # The nonce travels as a printf argument: a node echoing its input ends nothing.
    line = request_line(cat.tail("/var/log/xivo-sync.log", 10), NONCE)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert line.startswith(b"tail -n 10 /var/log/xivo-sync.log </dev/null ; ")
    assert end_of_stdout(line, NONCE) is None and end_of_stderr(line, NONCE) is None
    assert readiness(ready_line(NONCE), ready_line(NONCE), NONCE) is None


def test_the_line_sent_is_the_read_then_its_two_markers() -> None:
    read = cat.tail_files(["/etc/xivo/ha.conf", "/var/log/xivo-sync.log"], 5)
    words = shlex.split(request_line(read, NONCE).decode())
    assert words == [
        *read.argv,
        "</dev/null",
        ";",
        "printf",
        "\\n%s Z %d\\n",
        NONCE,
        "$?",
        ";",
        "printf",
        "\\n%s Z\\n",
        NONCE,
        ">&2",
    ]
