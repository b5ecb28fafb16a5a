"""The last replication result per master, kept in the state directory (ops/replication_record)."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from resil_tui.core.replication import ReplicationOutcome, ReplicationResult
from resil_tui.ops import replication_record

NODE = "paris.xivo.master"


def test_what_was_remembered_is_read_back_and_a_new_result_replaces_it(tmp_path: Path) -> None:
    assert replication_record.last(NODE, state_dir=tmp_path) is None
    failed = ReplicationResult(ReplicationOutcome.FAILURE, "no route to host", 1)
    before = time.time()
    replication_record.remember(NODE, failed, state_dir=tmp_path)
    got = replication_record.last(NODE, state_dir=tmp_path)
    # Read back with the time it was remembered (its age is a metric).
    assert got is not None and got.at is not None and got.at >= before
    assert replace(got, at=None) == failed
    # Read again without a change: the same answer (from the cache, by the file's stat).
    assert replication_record.last(NODE, state_dir=tmp_path) == replication_record.last(
        NODE, state_dir=tmp_path
    )
    ok = ReplicationResult(ReplicationOutcome.SUCCESS, None, 0)
    replication_record.remember(NODE, ok, state_dir=tmp_path)
    again = replication_record.last(NODE, state_dir=tmp_path)
    assert again is not None and replace(again, at=None) == ok
    assert replication_record.last("other.node", state_dir=tmp_path) is None


def test_a_file_changed_or_removed_behind_its_back_is_read_again(tmp_path: Path) -> None:
    ok = ReplicationResult(ReplicationOutcome.SUCCESS, None, 0)
    replication_record.remember(NODE, ok, state_dir=tmp_path)
    path = tmp_path / replication_record.FILE_NAME
    path.write_text("not json")
    assert replication_record.last(NODE, state_dir=tmp_path) is None
    path.unlink()
    assert replication_record.last(NODE, state_dir=tmp_path) is None
