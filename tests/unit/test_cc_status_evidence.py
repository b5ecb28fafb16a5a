"""The CC poll never says more than the node showed: a new run not read ready from the
old run's line, a ps answer that could not be read not taken for a missing container."""

from __future__ import annotations

from test_last_parse import PS, T0, cc_node, inspect_doc, outputs

from resil_tui.core.batch import PartOutput
from resil_tui.core.xuc_readiness import XucState
from resil_tui.ops import cc_status as cc

READY = "Listening for HTTP on /0.0.0.0:9000"


def plain(*messages: str) -> str:
    """A wrapper that drops -t, an xuc line without its own time."""
    return "".join(f"xuc-1  | {m}\n" for m in messages)


def test_a_new_run_that_never_gets_ready_is_not_read_ready_from_the_old_run_s_line() -> None:
    # docker-compose 1.x: --since refused (logs_since_ok False), so every read is the
    # container's whole log; no docker time and no application time on the lines.
    node = cc_node()
    old = ("booting", READY, "traffic 1", "traffic 2")
    first = cc.cc_status(node, outputs(logs=plain(*old)), T0 + 200)
    # The only readiness line of a whole log, up past its grace: ready (assumed).
    assert first.xuc is not None and first.xuc.ready and first.xuc.line is not None
    first = type(first)(**{**first.__dict__, "logs_since_ok": False})
    # xuc restarted at T0 + 300; its new run never logs its readiness line.
    restarted = inspect_doc("2025-11-25T10:05:00Z").replace(
        '"ExitCode": 0', '"ExitCode": 0, "FinishedAt": "2025-11-25T10:04:59Z"'
    )
    second = cc.cc_status(
        node, outputs(inspect=restarted, logs=plain(*old, "booting")), T0 + 305, first
    )
    assert second.xuc is not None and second.xuc.state is XucState.STARTING, second.xuc.basis
    # Past the 60 s grace, the new run still without its readiness line.
    third = cc.cc_status(
        node, outputs(inspect=restarted, logs=plain(*old, "booting", "waiting")), T0 + 400, second
    )
    assert third.xuc is not None
    # Not ready (unknown at least): the old run's line is in the log, the new run's is not.
    # Read ready here, it would then stay ready for the whole run: kept_ready, 20-line reads.
    assert not third.xuc.ready, (third.xuc.state, third.xuc.basis)


def test_a_ps_table_that_could_not_be_read_is_not_a_missing_container() -> None:
    # start_from = "ps" (inspect not used for the start): a ps layout the parser does not
    # know lists nothing; that is not "no xuc container".
    node = cc_node(start_from="ps")
    unknown_layout = "WARNING: something\nxuc  running  fine\n"
    status = cc.cc_status(node, outputs(ps=unknown_layout), T0 + 100)
    assert status.xuc is not None
    assert status.xuc.state is not XucState.DOWN, status.xuc.basis


def test_a_ps_state_word_not_understood_is_not_down() -> None:
    # The xuc row is there, its STATUS is a word the parser does not know: state unknown.
    node = cc_node(start_from="ps")
    odd = (
        "NAME           SERVICE   STATUS       PORTS\n"
        "xivocc-xuc-1   xuc       Migrating    0.0.0.0:8090->9000/tcp\n"
    )
    status = cc.cc_status(node, outputs(ps=odd), T0 + 100)
    assert status.xuc is not None
    assert status.xuc.state is not XucState.DOWN, status.xuc.basis


def test_inspect_not_readable_and_ps_not_readable_is_unknown_not_down() -> None:
    # start_from = "inspect", but docker inspect is refused on this node: ps is the fallback,
    # and its table could not be read either.
    node = cc_node()
    outs = {
        **outputs(ps="WARNING: something\nxuc  running  fine\n"),
        cc.INSPECT: PartOutput("", "permission denied while trying to connect", 1),
    }
    status = cc.cc_status(node, outs, T0 + 100)
    assert status.xuc is not None
    assert status.xuc.state is not XucState.DOWN, status.xuc.basis


def test_with_start_from_ps_an_untimed_line_is_never_assumed_this_run_s() -> None:
    # ps cannot say whether the container ran before: its one readiness line may be the
    # previous run's (a restart keeps the log), so a healthy-looking log stays unknown.
    up = PS.replace("Up 42 seconds", "Up 2 hours")
    log_text = plain("booting", READY, "traffic 1")
    by_ps = cc.cc_status(cc_node(start_from="ps"), outputs(ps=up, logs=log_text), T0 + 7200)
    assert by_ps.xuc is not None
    assert by_ps.xuc.state is XucState.UNKNOWN, (by_ps.xuc.state, by_ps.xuc.basis)
    # The same log with inspect's start, a container that never ran before: assumed ready.
    by_inspect = cc.cc_status(cc_node(), outputs(ps=up, logs=log_text), T0 + 7200)
    assert by_inspect.xuc is not None and by_inspect.xuc.ready, by_inspect.xuc.basis


def test_the_log_end_kept_for_the_next_run_is_unique_in_its_read() -> None:
    # Kept as the next run's anchor: its last 3 lines repeat earlier in the read, so it
    # takes one line more.
    log_text = plain("tick", "tick", "tick", READY, "tick", "tick", "tick")
    status = cc.cc_status(cc_node(), outputs(logs=log_text), T0 + 100)
    assert status.log_tail == tuple(log_text.splitlines()[-4:])
    timed = cc.cc_status(cc_node(), outputs(logs=plain("a", "b", "c", "d")), T0 + 100)
    assert timed.log_tail == tuple(plain("b", "c", "d").splitlines())


def test_a_full_window_with_a_blank_line_is_not_taken_for_the_whole_log() -> None:
    # The tail asked for XUC_LOG_LINES and got them, one of them blank (an application
    # that logs an empty line): older lines exist, so an xuc up for two days whose
    # readiness line is out of view is not known, never "not ready" (critical).
    node = cc_node()
    up_two_days = inspect_doc("2025-11-23T10:00:00Z")
    for blanks in (0, 1):
        lines = [
            f"2025-11-25 09:{i // 60:02d}:{i % 60:02d},000 INFO traffic {i}"
            for i in range(cc.XUC_LOG_LINES - blanks)
        ]
        lines[10:10] = [""] * blanks
        text = "\n".join(lines) + "\n"
        assert len(text.splitlines()) == cc.XUC_LOG_LINES
        got = cc.cc_status(node, outputs(inspect=up_two_days, logs=text), T0)
        assert got.xuc is not None and got.xuc.state is XucState.UNKNOWN, (blanks, got.xuc.basis)
        assert "older than the last" in got.xuc.basis
