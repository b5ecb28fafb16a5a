"""The lab's JSON documents (lab/world.py `_Documents`): re-read when another process
changed them, written only when an edit changed them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from resil_tui.lab import world as world_module
from resil_tui.lab.spec import LabSpec, LabTiming
from resil_tui.lab.world import LabWorld

NODE = "s001.xivo.master"
SITE = "s001"


def _twins(tmp_path: Path) -> tuple[LabWorld, LabWorld]:
    """Two worlds on one directory, as the lab's processes share it."""
    a = LabWorld.create(tmp_path, LabSpec.many(1, mds=0), LabTiming.demo())
    return a, LabWorld.open(tmp_path)


def test_a_change_by_another_world_is_read_even_of_the_same_size(tmp_path: Path) -> None:
    a, b = _twins(tmp_path)
    for value in ("x1", "x2", "x3"):  # same size every time, written ms apart
        with b.edit_state(NODE) as st:
            st["probe"] = value
        assert a.read_state(NODE)["probe"] == value
        with b.edit_lab() as doc:
            doc["probe"] = value
        assert a.lab_state()["probe"] == value
        with b.edit_site_state(SITE) as st:
            st["probe"] = value
        assert a.read_site_state(SITE)["probe"] == value


def test_unchanged_reads_share_one_document(tmp_path: Path) -> None:
    a, _ = _twins(tmp_path)
    assert a.read_state(NODE) is a.read_state(NODE)
    first = a.lab_state()
    a.set_fault("fail_replication", True)
    assert a.lab_state() is not first and a.fault("fail_replication") is True


def test_an_edit_writes_only_a_change(tmp_path: Path) -> None:
    a, b = _twins(tmp_path)
    path = a.state_path(NODE)
    inode = os.stat(path).st_ino
    with a.edit_state(NODE) as st:
        st["services"] = list(st["services"])  # the same value, another object
    assert os.stat(path).st_ino == inode  # not rewritten
    with a.edit_state(NODE) as st:
        st["probe"] = 1
    assert os.stat(path).st_ino != inode
    assert b.read_state(NODE)["probe"] == 1


def test_a_volatile_change_alone_is_not_written(tmp_path: Path) -> None:
    a, b = _twins(tmp_path)
    before = b.read_site_state(SITE)["last"]
    with a.edit_site_state(SITE, ("last",)) as st:
        st["last"] = before + 10
    assert b.read_site_state(SITE)["last"] == before
    with a.edit_site_state(SITE, ("last",)) as st:
        st["last"] = before + 10
        st["probe"] = True
    assert b.read_site_state(SITE)["last"] == before + 10  # written whole, as it is


def test_an_edit_that_fails_changes_nothing_seen(tmp_path: Path) -> None:
    a, _ = _twins(tmp_path)
    services = a.read_state(NODE)["services"]
    with pytest.raises(RuntimeError), a.edit_state(NODE) as st:
        st["services"] = []
        st["probe"] = 1
        raise RuntimeError("the command failed half way")
    assert a.read_state(NODE)["services"] == services
    assert "probe" not in a.read_state(NODE)


def _colliding_stamp(st: os.stat_result) -> tuple[int, int, int, int]:
    """The worst a file system can do: the inode reused at once and the times in one
    tick (ext4 before Linux 6.13), on any file system the tests run on. Only the size
    tells two versions apart."""
    return (0, 0, 0, st.st_size)


@pytest.mark.parametrize("trust_stamps", [False, True], ids=["racy", "stamp-trusted"])
def test_no_change_is_lost_when_a_stamp_comes_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trust_stamps: bool
) -> None:
    """A, B, C written within one tick with the same size can give C the stamp of A. A
    world that read A must still read C, and an edit must start from C."""
    monkeypatch.setattr(world_module, "_stamp", _colliding_stamp)
    if trust_stamps:  # every entry trusted by its stamp: reads can be stale, edits not
        monkeypatch.setattr(world_module, "RACY_NS", 0)
    a, b = _twins(tmp_path)
    with b.edit_state(NODE) as st:
        st["n"] = 10
    for attempt in range(20):
        v0 = LabWorld.open(tmp_path).read_state(NODE)["n"]
        if not trust_stamps:
            assert a.read_state(NODE)["n"] == v0, f"attempt {attempt}"
        else:
            a.read_state(NODE)
        with b.edit_state(NODE) as st:
            st["n"] += 1
        with b.edit_state(NODE) as st:
            st["n"] += 1
        if not trust_stamps:
            assert a.read_state(NODE)["n"] == v0 + 2, f"attempt {attempt}: a stale read"
        with a.edit_state(NODE) as st:
            st["n"] += 1
        on_disk = LabWorld.open(tmp_path).read_state(NODE)["n"]
        assert on_disk == v0 + 3, f"attempt {attempt}: b's changes lost"


def test_a_recent_file_read_again_unchanged_stays_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read that finds the same text again keeps checking the text while the file is
    recent: trusting its stamp then would miss the next change of the same size."""
    monkeypatch.setattr(world_module, "_stamp", _colliding_stamp)
    a, b = _twins(tmp_path)
    with b.edit_state(NODE) as st:
        st["n"] = 10
    for attempt in range(20):
        v0 = a.read_state(NODE)["n"]
        assert a.read_state(NODE)["n"] == v0  # the same text, read again
        with b.edit_state(NODE) as st:
            st["n"] += 1
        with b.edit_state(NODE) as st:
            st["n"] += 1
        assert a.read_state(NODE)["n"] == v0 + 2, f"attempt {attempt}: a stale read"
