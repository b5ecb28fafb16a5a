"""How much of the xuc log a CC poll reads: the usual window until the run is seen ready
with its readiness line, then the short tail; and a short read that finds anything else
is judged from the usual window, as if it had never been short."""

from __future__ import annotations

from test_last_parse import T0, cc_node, inspect_doc, log, outputs

from resil_tui.core.batch import PartOutput
from resil_tui.core.node_status import CcStatus
from resil_tui.core.xuc_readiness import XucState
from resil_tui.ops import cc_status as cc

READY = "Listening for HTTP on /0.0.0.0:9000"


def logs_tail(previous: CcStatus | None) -> str:
    command = next(p.command for p in cc.cc_parts(cc_node(), previous) if p.name == cc.LOGS)
    return command.argv[command.argv.index("--tail") + 1]


def ready_status() -> CcStatus:
    status = cc.cc_status(cc_node(), outputs(logs=log("booting", READY)), T0 + 10)
    assert status.xuc is not None and status.xuc.ready and status.xuc.line is not None
    return status


def test_the_usual_window_until_the_run_is_seen_ready_then_the_short_tail() -> None:
    assert logs_tail(None) == str(cc.XUC_LOG_LINES)
    starting = cc.cc_status(cc_node(), outputs(logs=log("booting")), T0 + 10)
    assert starting.xuc is not None and starting.xuc.state is XucState.STARTING
    assert logs_tail(starting) == str(cc.XUC_LOG_LINES)
    ready = ready_status()
    assert cc.window_lines(ready) == cc.STEADY_LOG_LINES
    assert logs_tail(ready) == str(cc.STEADY_LOG_LINES)
    # Still --since the run's start: a wrapper that refuses it is found out as before.
    command = next(p.command for p in cc.cc_parts(cc_node(), ready) if p.name == cc.LOGS)
    assert "--since" in command.argv and command != cc.window_command(ready)
    assert cc.window_command(ready).argv[:4] == ("xivocc-dcomp", "logs", "--tail", "400")


def test_ready_without_a_line_keeps_the_usual_window() -> None:
    # Ready from docker's health check alone: no readiness line that keeps the run ready.
    healthy = inspect_doc().replace(
        '"ExitCode": 0', '"ExitCode": 0, "Health": {"Status": "healthy"}'
    )
    status = cc.cc_status(cc_node(), outputs(inspect=healthy, logs=log("booting")), T0 + 10)
    assert status.xuc is not None and status.xuc.ready and status.xuc.line is None
    assert cc.window_lines(status) == cc.XUC_LOG_LINES


def test_a_short_read_of_the_same_run_stands() -> None:
    ready = ready_status()
    short = cc.cc_status(
        cc_node(), outputs(logs=log("traffic")), T0 + 20, ready, tail=cc.STEADY_LOG_LINES
    )
    assert short.xuc is not None and short.xuc.ready
    assert not short.window_decided
    assert short.log_tail[-1].endswith("traffic")


def test_a_short_read_of_another_run_is_decided_by_the_window() -> None:
    ready = ready_status()
    restarted = outputs(inspect=inspect_doc("2025-11-25T10:00:30Z"), logs=log("traffic"))
    other = cc.cc_status(cc_node(), restarted, T0 + 40, ready, tail=cc.STEADY_LOG_LINES)
    assert other.xuc is not None and not other.xuc.ready
    assert other.window_decided


def test_down_or_unhealthy_is_judged_without_the_window() -> None:
    # The same verdict from 20 lines as from 400: no second read for these.
    ready = ready_status()
    sick = inspect_doc().replace(
        '"ExitCode": 0', '"ExitCode": 0, "Health": {"Status": "unhealthy"}'
    )
    gone = {
        **outputs(),
        cc.PS: PartOutput("", "", 0),
        cc.INSPECT: PartOutput("", "Error: No such object: xivocc-xuc-1", 1),
    }
    full_log = log(*(f"line {i}" for i in range(50)))
    for outs, state in ((outputs(inspect=sick), XucState.NOT_READY), (gone, XucState.DOWN)):
        short = cc.cc_status(
            cc_node(), {**outs, cc.LOGS: PartOutput(log("traffic"), "", 0)}, T0 + 20, ready, tail=20
        )
        full = cc.cc_status(
            cc_node(), {**outs, cc.LOGS: PartOutput(full_log, "", 0)}, T0 + 20, ready
        )
        assert short.xuc is not None and full.xuc is not None
        assert short.xuc.state is state and not short.window_decided
        assert (short.xuc.state, short.xuc.basis) == (full.xuc.state, full.xuc.basis)


def test_judged_from_the_window_a_restart_reads_as_without_the_short_read() -> None:
    ready = ready_status()
    # The run restarted 30 s in and logged its readiness line, then 39 lines more.
    lines = [f"line {i}" for i in range(60)]
    lines[20] = READY
    window = "".join(
        f"xuc-1  | 2025-11-25T10:00:{30 + i // 4:02d}.{i:09d}Z {m}\n" for i, m in enumerate(lines)
    )
    short_text = "".join(window.splitlines(keepends=True)[-cc.STEADY_LOG_LINES :])
    inspect = inspect_doc("2025-11-25T10:00:30Z")
    now = T0 + 60
    short = cc.cc_status(cc_node(), outputs(inspect=inspect, logs=short_text), now, ready, tail=20)
    # The readiness line is older than the short tail: read alone, it is not ready.
    assert short.xuc is not None and not short.xuc.ready
    assert short.window_decided
    again = cc.cc_status(cc_node(), outputs(inspect=inspect, logs=window), now, ready)
    assert again.xuc is not None and again.xuc.ready and again.xuc.line is not None
    assert READY in again.xuc.line


def test_a_log_not_read_gives_no_anchor_to_the_next_run() -> None:
    # Without docker times, order decides: an anchor is the end of the log a poll read. A
    # poll ready from docker's health check alone, its log not read, knows no end: the
    # next run must not take "nothing before" for one (every old line would count).
    def plain(*messages: str) -> str:
        return "".join(f"xuc-1  | {m}\n" for m in messages)

    healthy = '"ExitCode": 0, "Health": {"Status": "healthy"}'
    starting = '"ExitCode": 0, "Health": {"Status": "starting"}'
    first = cc.cc_status(cc_node(), outputs(logs=plain("booting", READY)), T0 + 70)
    assert first.xuc is not None and first.xuc.ready and first.xuc.line is not None
    unread = {
        **outputs(inspect=inspect_doc("2025-11-25T10:01:20Z").replace('"ExitCode": 0', healthy)),
        cc.LOGS: PartOutput("", "no complete answer in time", 1),
    }
    second = cc.cc_status(cc_node(), unread, T0 + 85, first)
    assert second.xuc is not None and second.xuc.ready and second.log_tail is None
    again = inspect_doc("2025-11-25T10:01:30Z").replace('"ExitCode": 0', starting)
    third = cc.cc_status(
        cc_node(),
        outputs(inspect=again, logs=plain("booting", READY, "booting", "booting")),
        T0 + 95,
        second,
    )
    assert third.xuc is not None and not third.xuc.ready, third.xuc.basis
