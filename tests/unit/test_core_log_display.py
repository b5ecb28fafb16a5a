"""One timestamp per line with the message first, the view's index, the merged queue."""

from __future__ import annotations

from resil_tui.core.log_display import LineIndex, ViewOptions, display_text, is_warn_or_error
from resil_tui.core.log_lines import clean_lines
from resil_tui.core.log_merge import MergeQueue

XUC = (
    "xuc-1  | 2026-11-25T10:00:01.123456789Z 2026-11-25 10:00:01,123 WARN  "
    "[services.agent.AgentManager] - Agent 5 lost"
)


def test_one_timestamp_and_the_message_first() -> None:
    assert display_text(XUC) == "10:00:01.123 WARN Agent 5 lost  ‹AgentManager›"
    assert display_text(XUC, keep_service=True).endswith("‹AgentManager› xuc-1")
    # No docker time: the application's own, shortened the same way.
    assert display_text("2026-11-25 10:00:02,5 [12] (INFO): done") == "10:00:02.5 [12] (INFO): done"
    assert display_text("no time at all") == "no time at all"
    assert display_text("── connection lost at 10:01:02 ──") == "── connection lost at 10:01:02 ──"


def test_index_filter_levels_and_repeats() -> None:
    lines = [
        "2026-11-25 10:00:00,000 INFO  [a] - same",
        "2026-11-25 10:00:01,000 INFO  [a] - same",
        "2026-11-25 10:00:02,000 INFO  [a] - same",
        "2026-11-25 10:00:03,000 ERROR [a] - broke",
        "2026-11-25 10:00:04,000 WARN  [a] - hm",
    ]
    everything = LineIndex()
    everything.reset(1, lines)
    assert len(everything) == 5 and everything.seq(4) == 5
    repeats = LineIndex(options=ViewOptions(collapse=True))
    repeats.reset(1, lines)
    assert len(repeats) == 3 and repeats.count(0) == 3  # "same" ×3, then two others
    levels = LineIndex(options=ViewOptions(levels_only=True))
    levels.reset(1, lines)
    assert [levels.seq(i) for i in range(len(levels))] == [4, 5]
    kept = LineIndex(options=ViewOptions(keep=lambda line: "hm" in line))
    kept.reset(1, lines[:2])
    kept.extend_to(5, 1, lambda seq: lines[seq:])
    assert len(kept) == 1 and kept.seq(0) == 5
    kept.forget_before(6)
    assert len(kept) == 0
    assert is_warn_or_error("java.net.BindException: Address already in use")
    assert not is_warn_or_error("INFO all is well")


def test_clean_lines_checks_a_batch_at_once_and_cleans_what_needs_it() -> None:
    batch = ["plain", "also plain"]
    assert clean_lines(batch) is batch
    assert clean_lines(["ok", "bad \x1b]52;c;AAAA\x07"]) == ["ok", "bad ␛]52;c;AAAA␇"]
    assert clean_lines(["two\nlines"]) == ["two␤lines"]


def test_merge_orders_by_time_and_tags_the_source() -> None:
    queue = MergeQueue()
    queue.add("cc1", ["2026-11-25 10:00:02,000 b", "2026-11-25 10:00:04,000 d"])
    queue.add("cc2", ["2026-11-25 10:00:01,000 a", "stack line", "2026-11-25 10:00:03,000 c"])
    # Held until half a second of log time has passed after them.
    early = queue.release()
    assert early == [
        "cc2 │ 2026-11-25 10:00:01,000 a",
        "cc2 │ stack line",
        "cc1 │ 2026-11-25 10:00:02,000 b",
        "cc2 │ 2026-11-25 10:00:03,000 c",
    ]
    assert queue.release(everything=True) == ["cc1 │ 2026-11-25 10:00:04,000 d"]
