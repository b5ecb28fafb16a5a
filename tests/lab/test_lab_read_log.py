"""The lab's container logs read as they grow: only what was appended is parsed, and what
comes back is always what reading the whole file would give (appends, lines still being
written, a file replaced or cut, bytes that are not UTF-8)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resil_tui.lab import containers


def whole(path: Path) -> list[tuple[float, str]]:
    """The whole file, parsed at once (what read_log did before it kept anything)."""
    if not path.exists():
        return []
    out = []
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        t, sep, text = raw.partition("\t")
        try:
            out.append((float(t), text) if sep else (0.0, raw))
        except ValueError:
            out.append((0.0, raw))
    return out


def test_appended_lines_are_read_and_earlier_ones_kept(tmp_path: Path) -> None:
    path = tmp_path / "xuc.log"
    path.write_bytes(b"1.000000\tfirst\n2.000000\tsecond\n")
    first = containers.read_log(path)
    assert first == [(1.0, "first"), (2.0, "second")]
    with open(path, "ab") as f:
        f.write(b"3.000000\tthird\n4.0000")  # the last line still being written
    assert containers.read_log(path) == [
        (1.0, "first"),
        (2.0, "second"),
        (3.0, "third"),
        (0.0, "4.0000"),
    ]
    assert first == [(1.0, "first"), (2.0, "second")]  # what a caller holds does not move
    with open(path, "ab") as f:
        f.write(b"00\tfourth\n")
    assert containers.read_log(path)[-1] == (4.0, "fourth")


def test_a_removed_then_new_file_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "xuc.log"
    path.write_bytes(b"1.000000\told run\n" * 3)
    assert len(containers.read_log(path)) == 3
    path.unlink()
    assert containers.read_log(path) == []
    path.write_bytes(b"9.000000\tnew run, a longer first line than before\n")
    assert containers.read_log(path) == [(9.0, "new run, a longer first line than before")]


def test_a_file_rewritten_in_place_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "xuc.log"
    path.write_bytes(b"1.000000\taaaa\n")
    containers.read_log(path)
    with open(path, "r+b") as f:  # same inode, same size, other bytes
        f.write(b"2.000000\tbbbb\n")
    assert containers.read_log(path) == [(2.0, "bbbb")]
    os.truncate(path, 0)
    assert containers.read_log(path) == []


# Bytes a log may hold: tabs, times, line ends of every kind, a split UTF-8 sequence.
PIECES = st.sampled_from(
    [
        b"1.5\t",
        b"12.000001\t",
        b"text",
        b"\n",
        b"\r",
        b"\r\n",
        b"\x0b",
        "\u00e9".encode(),
        b"\xc3",
        b"\xa9",
        b"\t",
        b"x" * 70,
    ]
)
CHUNKS = st.lists(PIECES, max_size=12).map(b"".join)
STEPS = st.lists(
    st.tuples(
        st.sampled_from(["append", "append", "append", "replace", "truncate", "remove"]), CHUNKS
    ),
    max_size=25,
)
CREATED = iter(range(10**9))


def first_line() -> bytes:
    """How a container's log starts: a line stamped with its creation, to the microsecond
    (no two logs start alike)."""
    return f"{1_764_000_000 + next(CREATED) / 1e6:.6f}\tStarting\n".encode()


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=STEPS)
def test_what_is_read_is_what_the_whole_file_holds(
    tmp_path: Path, steps: list[tuple[str, bytes]]
) -> None:
    path = tmp_path / "fuzz.log"
    path.unlink(missing_ok=True)
    for action, data in steps:
        if action == "append":
            with open(path, "ab") as f:
                f.write(data)
        elif action == "replace":  # a new container: a new file under the old name
            path.unlink(missing_ok=True)
            path.write_bytes(first_line() + data)
        elif action == "truncate":  # the same file, cut and written again
            with open(path, "r+b" if path.exists() else "wb") as f:
                f.truncate(0)
                f.write(first_line() + data)
        else:
            path.unlink(missing_ok=True)
        assert list(containers.read_log(path)) == whole(path), steps


def test_what_is_kept_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(containers, "_READ_LOGS", {})
    monkeypatch.setattr(containers, "_read_logs_lines", 0)
    monkeypatch.setattr(containers, "_READ_LOGS_LINES", 10)
    parsed: list[int] = []
    real = containers._log_lines

    def counting(text: str) -> list[tuple[float, str]]:
        out = real(text)
        parsed.append(len(out))
        return out

    monkeypatch.setattr(containers, "_log_lines", counting)
    logs = [tmp_path / f"log{i}.log" for i in range(3)]
    for p in logs:
        p.write_bytes(b"1.000000\tline\n" * 4)
    for _ in range(3):  # read in the same order every refresh, as the lab does
        for p in logs:
            assert containers.read_log(p) == whole(p)
    # Two logs kept (8 lines), the third parsed at each read: not each dropped in turn.
    assert sum(parsed) == 4 + 4 + 3 * 4
    big = tmp_path / "big.log"
    big.write_bytes(b"2.000000\tline\n" * 11)
    assert len(containers.read_log(big)) == 11
    assert big not in containers._READ_LOGS and logs[0] in containers._READ_LOGS
    assert containers._read_logs_lines == sum(len(k.lines) for k in containers._READ_LOGS.values())
