"""The incident journal file (resil_tui/journal.py): one entry per change whoever writes,
bounded, private, and readable while others write, with real concurrent processes."""

from __future__ import annotations

import fcntl
import itertools
import os
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from resil_tui import paths
from resil_tui.core.journal_event import EventKind, JournalEvent
from resil_tui.core.site_picture import Fact, SitePicture
from resil_tui.journal import Journal, JournalBounds, compacted

ROOT = Path(__file__).resolve().parents[2]


def reach(value: str, at: float, node: str = "s.n") -> SitePicture:
    return SitePicture("s", {(node, "reachability"): Fact(node, EventKind.REACHABILITY, value, at)})


def action(op: str, at: float) -> JournalEvent:
    return JournalEvent(at, "s", "s.n", EventKind.ACTION, None, "ok", "cmd", "alice", op)


def test_first_seen_then_changes_only_in_a_private_file() -> None:
    journal = Journal()  # the XDG path (a temporary state dir in tests)
    assert journal.path == paths.journal_path()
    first = journal.record_site(reach("reachable", 100.0))
    assert [(e.before, e.after) for e in first] == [(None, "reachable")]
    assert journal.record_site(reach("reachable", 110.0)) == []
    assert [(e.before, e.after) for e in journal.record_site(reach("unreachable", 120.0))] == [
        ("reachable", "unreachable")
    ]
    assert stat.S_IMODE(journal.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(journal.path.parent.stat().st_mode) == 0o700
    again = Journal()
    assert [e.after for e in again.events()] == ["reachable", "unreachable"]
    assert again.latest("s", "s.n", EventKind.REACHABILITY) is not None


def test_two_writers_record_a_change_once(tmp_path: Path) -> None:
    console, watcher = Journal(tmp_path / "j.jsonl"), Journal(tmp_path / "j.jsonl")
    heard: list[str] = []
    console.subscribe(lambda events: heard.extend(e.after for e in events))
    console.record_site(reach("reachable", 100.0))
    assert watcher.record_site(reach("reachable", 101.0)) == []  # already known
    assert len(watcher.record_site(reach("unreachable", 130.0))) == 1  # the watcher first
    assert console.record_site(reach("unreachable", 131.0)) == []  # then the console: known
    # A late observation (older than the journal's) is not recorded either.
    assert console.record_site(reach("reachable", 125.0)) == []
    assert [e.after for e in Journal(tmp_path / "j.jsonl").events()] == ["reachable", "unreachable"]
    # The console heard the watcher's entry when it read the journal before writing.
    assert heard == ["reachable", "unreachable"]
    # Actions: once per audit op, whoever records them.
    assert len(console.record([action("abc", 140.0)])) == 1
    assert watcher.record([action("abc", 140.0)]) == []
    assert [e.op for e in console.events(kinds=[EventKind.ACTION])] == ["abc"]


CHILD = textwrap.dedent(
    """
    import sys
    from resil_tui.core.journal_event import EventKind
    from resil_tui.core.site_picture import Fact, SitePicture
    from resil_tui.journal import Journal

    path, child, steps, base = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    journal = Journal(path)
    for step in range(steps):
        value = "unreachable" if step % 2 else "reachable"
        at = base + step + child / 1000
        fact = Fact("s.n", EventKind.REACHABILITY, value, at)
        journal.record_site(SitePicture("s", {("s.n", "reachability"): fact}))
        journal.record([
            __import__("resil_tui.core.journal_event", fromlist=["JournalEvent"]).JournalEvent(
                at, "s", "s.n", EventKind.ACTION, None, "ok", "cmd", "bob", f"op{step}"
            )
        ])
    """
)


def test_concurrent_processes_write_each_change_once(tmp_path: Path) -> None:
    # Times of now: older entries would be dropped by the journal's age bound.
    path, steps, children, base = tmp_path / "j.jsonl", 150, 4, time.time() - 1000
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path), str(i), str(steps), str(base)], env=env
        )
        for i in range(children)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0] * children
    events = Journal(path).events()
    seen = [e for e in events if e.kind is EventKind.REACHABILITY]
    # Every line whole, no change twice in a row, times going forward, one entry per action.
    assert len(path.read_text().splitlines()) == len(events)
    assert all(a.after != b.after for a, b in itertools.pairwise(seen))
    assert all(a.time < b.time for a, b in itertools.pairwise(seen))
    assert seen[0].before is None and all(b.before == a.after for a, b in itertools.pairwise(seen))
    assert len(seen) <= steps
    ops = [e.op for e in events if e.kind is EventKind.ACTION]
    assert sorted(ops) == sorted(f"op{i}" for i in range(steps))


def test_bounded_by_age_and_size_keeping_the_latest_of_each_fact(tmp_path: Path) -> None:
    now = [10_000.0]
    bounds = JournalBounds(max_age=100.0, max_bytes=20_000)
    writer = Journal(tmp_path / "j.jsonl", bounds, clock=lambda: now[0])
    reader = Journal(tmp_path / "j.jsonl")
    writer.record_site(reach("reachable", 1000.0, "s.old"))  # long ago, never changed since
    for i in range(40):
        writer.record_site(reach("unreachable" if i % 2 else "reachable", 9000.0 + i))
    assert len(reader.refresh()) == 41
    heard: list[JournalEvent] = []
    reader.subscribe(heard.extend)
    now[0] += 4000  # an hour later: the age bound applies at the next write
    writer.record_site(reach("unreachable", 13_500.0, "s.new"))
    kept = Journal(tmp_path / "j.jsonl").events()
    assert [e.node for e in kept] == ["s.old", "s.n", "s.new"]  # the latest of each fact
    assert stat.S_IMODE((tmp_path / "j.jsonl").stat().st_mode) == 0o600
    # A reader that had the old file reads the new one, and only the new entry is news.
    assert [e.node for e in reader.refresh()] == ["s.new"] and [e.node for e in heard] == ["s.new"]
    # Size: the oldest go first, the latest of each fact stays.
    many = [action(f"op{i}", 20_000.0 + i) for i in range(100)]
    kept = compacted(many, 20_100.0, JournalBounds(max_age=1e9, max_bytes=3000))
    assert 0 < len(kept) < 100 and kept[-1].op == "op99"


def test_a_damaged_line_is_skipped_and_a_busy_lock_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal = Journal(path, lock_timeout=0.1)
    journal.record_site(reach("reachable", 100.0))
    with open(path, "a") as handle:
        handle.write('{"not": "an entry"}\nnot json at all\n')
    assert [e.after for e in Journal(path).events()] == ["reachable"]
    fd = os.open(journal.lock_path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another process in the middle of a write
        assert journal.record_site(reach("unreachable", 110.0)) == []
        assert journal.record([action("x1", 111.0)]) == []
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    # The next poll still differs from the journal, and the action was kept.
    assert len(journal.record_site(reach("unreachable", 120.0))) == 1
    assert [e.op for e in journal.record([])] == ["x1"]
