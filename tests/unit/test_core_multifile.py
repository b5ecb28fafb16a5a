"""Splitting `tail -n N -- FILE...` output, checked against the real GNU tail."""

from __future__ import annotations

import subprocess
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from resil_tui.core.multifile import split_multi_tail


def real_tail(paths: list[Path], lines: int = 60) -> tuple[str, str]:
    proc = subprocess.run(
        ["tail", "-n", str(lines), "--", *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout, proc.stderr


def test_real_tail_output_splits_back(tmp_path: Path) -> None:
    files = {
        "ha.conf": '{"node_type": "master"}\n',
        "empty": "",
        "cron": "0 * * * * root x\n\n",
        "tricky": "==> ha.conf <==\nnot a header\n",
    }
    paths = []
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        paths.append(tmp_path / name)
    paths.insert(2, tmp_path / "missing")
    out, err = real_tail(paths)
    got = split_multi_tail(out, err, [str(p) for p in paths])
    for name, text in files.items():
        assert got.text(str(tmp_path / name)) == text
    assert got.text(str(tmp_path / "missing")) is None
    assert not got.problems


def test_single_file_has_no_header() -> None:
    assert split_multi_tail("a\n", "", ["/x"]).text("/x") == "a\n"
    assert (
        split_multi_tail(
            "", "tail: cannot open '/x' for reading: No such file or directory", ["/x"]
        ).text("/x")
        is None
    )


def test_permission_problem_is_reported() -> None:
    got = split_multi_tail(
        "==> /b <==\nz\n", "tail: cannot open '/a' for reading: Permission denied", ["/a", "/b"]
    )
    assert got.problems == {"/a": "Permission denied"}
    assert got.text("/b") == "z\n"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.text(alphabet="ab=>< \n", max_size=30).map(
            lambda t: t if t.endswith("\n") or not t else t + "\n"
        ),
        min_size=1,
        max_size=4,
    )
)
def test_any_texts_round_trip_through_real_tail(tmp_path_factory, texts: list[str]) -> None:
    d = tmp_path_factory.mktemp("mt")
    paths = []
    for i, text in enumerate(texts):
        p = d / f"f{i}"
        p.write_text(text)
        paths.append(p)
    out, err = real_tail(paths, lines=1000)
    got = split_multi_tail(out, err, [str(p) for p in paths])
    assert [got.text(str(p)) for p in paths] == texts


def test_a_file_holding_the_next_files_header_makes_both_problems(tmp_path: Path) -> None:
    # tail's output cannot tell a forged header from its own: the split shifts, so the two
    # files it may have mixed are not read (as an unreadable file), never judged as whole.
    names = ["ha.conf", "cron", "sync"]
    paths = [str(tmp_path / n) for n in names]
    texts = {
        "ha.conf": f"node_type = slave\n==> {paths[1]} <==\nFORGED\n",
        "cron": "* * * * * root /usr/sbin/xivo-check-master-status 10.0.0.1\n",
        "sync": "sync ok\n",
    }
    for name, text in texts.items():
        (tmp_path / name).write_text(text)
    got = split_multi_tail(*real_tail([Path(p) for p in paths]), paths)
    assert got.text(paths[0]) is None and got.text(paths[1]) is None
    assert set(got.problems) == {paths[0], paths[1]}
    assert "cannot be split" in got.problems[paths[0]]
    assert got.text(paths[2]) == "sync ok\n"


def test_a_directory_real_tail_heads_but_cannot_read_is_a_problem(tmp_path: Path) -> None:
    # GNU tail writes a directory's header, then "error reading ...: Is a directory": the
    # split keeps every other file in place and never reads the directory as empty.
    (tmp_path / "a").write_text("x\n")
    (tmp_path / "dir").mkdir()
    (tmp_path / "b").write_text("y\n")
    paths = [tmp_path / "a", tmp_path / "dir", tmp_path / "b"]
    out, err = real_tail(paths)
    assert f"==> {tmp_path / 'dir'} <==" in out and "error reading" in err
    got = split_multi_tail(out, err, [str(p) for p in paths])
    assert got.text(str(tmp_path / "a")) == "x\n" and got.text(str(tmp_path / "b")) == "y\n"
    assert got.text(str(tmp_path / "dir")) is None
    assert got.problems == {str(tmp_path / "dir"): "Is a directory"}


def test_a_single_directory_read_is_a_problem_not_an_empty_file(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    out, err = real_tail([tmp_path / "dir"])
    got = split_multi_tail(out, err, [str(tmp_path / "dir")])
    assert got.text(str(tmp_path / "dir")) is None
    assert got.problems == {str(tmp_path / "dir"): "Is a directory"}
