"""The readiness of xuc's current run (core/xuc_readiness.py) from plain strings.

Lines are written the way docker compose prints them (a `xuc-1  | ` prefix, docker's
RFC 3339 time with nanoseconds under `-t`, then logback's own node-local time); inspect
documents are shaped like docker's (State.StartedAt, Health only with a health check)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from resil_tui.core.compose import parse_compose_ps
from resil_tui.core.xuc_readiness import (
    ANCHOR_MAX_LINES,
    Anchor,
    FollowMatcher,
    LogWindow,
    ProbeAnswer,
    StartSource,
    XucReadiness,
    XucRun,
    XucState,
    anchor_of,
    current_run,
    judge,
    parse_go_time,
    parse_inspect,
    parse_probe,
    uptime_range,
)

READY = re.compile(r"Listening for HTTP on")
T0 = datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC).timestamp()  # the current run's start


def go(t: float) -> str:
    d = datetime.fromtimestamp(t, UTC)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond:06d}123Z"


def app(t: float) -> str:
    # logback's time, node-local: a zone two hours east of UTC, as a real node may have.
    d = datetime.fromtimestamp(t + 7200, UTC).replace(tzinfo=None)
    return d.strftime("%Y-%m-%d %H:%M:%S,") + f"{d.microsecond // 1000:03d}"


def line(t: float, msg: str, *, docker: bool = True, app_time: bool = True) -> str:
    stamp = f"{go(t)} " if docker else ""
    own = f"{app(t)} INFO  [x] - " if app_time else "[info] x - "
    return f"xuc-1  | {stamp}{own}{msg}"


def history(
    *, docker: bool = True, app_time: bool = True, restart_ready: bool, now: float
) -> list[str]:
    """An earlier run (ready two days ago), its stop, the current run from T0."""
    old = T0 - 2 * 86400
    out = [line(old, "Starting xuc", docker=docker, app_time=app_time)]
    out.append(
        line(old + 6, "Listening for HTTP on /0.0.0.0:9000", docker=docker, app_time=app_time)
    )
    out += [line(T0 - 60 + k, f"traffic {k}", docker=docker, app_time=app_time) for k in range(5)]
    out.append(line(T0 - 1, "Stopping server...", docker=docker, app_time=app_time))
    out.append(line(T0 + 0.1, "Starting xuc", docker=docker, app_time=app_time))
    if restart_ready:
        out.append(
            line(T0 + 8, "Listening for HTTP on /0.0.0.0:9000", docker=docker, app_time=app_time)
        )
    t = T0 + 9
    while t < now:
        out.append(line(t, "AMI event", docker=docker, app_time=app_time))
        t += 2
    return out


def run(start: float = T0, **kw: object) -> XucRun:
    values: dict[str, object] = {
        "source": StartSource.INSPECT,
        "running": True,
        "status": "running",
        "started_at": start,
        "started_latest": start,
        "container": "xivocc-xuc-1",
        "container_id": "ab" * 32,
    }
    values.update(kw)
    return XucRun(**values)  # type: ignore[arg-type]


def window(lines: list[str], full: bool = False) -> LogWindow:
    return LogWindow(tuple(lines), full=full)


# --- docker inspect and ps -----------------------------------------------------------------


def test_go_times() -> None:
    assert parse_go_time("2026-11-25T10:00:00Z") == T0
    assert parse_go_time("2026-11-25T10:00:00.5Z") == T0 + 0.5
    assert parse_go_time("2026-11-25T11:00:00.123456789+01:00") == pytest.approx(T0 + 0.123456)
    assert parse_go_time("0001-01-01T00:00:00Z") is None  # docker's "never"
    assert parse_go_time("yesterday") is None and parse_go_time(None) is None


def inspect_doc(**state: object) -> str:
    base = {
        "Status": "running",
        "Running": True,
        "Restarting": False,
        "StartedAt": "2026-11-25T10:00:00.081394688Z",
        "FinishedAt": "2026-11-25T09:59:59.9Z",
        "ExitCode": 0,
    }
    base.update(state)
    doc = [{"Id": "ab" * 32, "Name": "/xivocc-xuc-1", "State": base}]
    return json.dumps(doc, indent=4)


def test_inspect_full_document_and_state_only() -> None:
    found = parse_inspect(inspect_doc())
    assert found is not None and found.exact and found.running
    assert found.started_at == pytest.approx(T0 + 0.081394)
    assert found.container == "xivocc-xuc-1" and found.health is None
    state_only = json.dumps({"Status": "exited", "Running": False, "StartedAt": go(T0)})
    stopped = parse_inspect(state_only)
    assert stopped is not None and stopped.running is False and stopped.status == "exited"
    healthy = parse_inspect(inspect_doc(Health={"Status": "healthy", "FailingStreak": 0}))
    assert healthy is not None and healthy.health == "healthy"
    restarting = parse_inspect(inspect_doc(Restarting=True))
    assert restarting is not None and restarting.running is False
    assert restarting.status == "restarting"


def test_inspect_nothing_usable() -> None:
    assert parse_inspect("[]\n") is None  # no such container
    assert parse_inspect("Error: No such object: xivocc-xuc-1") is None
    assert parse_inspect("") is None


def test_inspect_picks_the_named_container_first() -> None:
    other = {"Id": "cd" * 32, "Name": "/xivocc_xuc_1", "State": {"Status": "exited"}}
    doc = json.loads(inspect_doc())
    text = json.dumps([other, *doc])
    found = parse_inspect(text, ["xivocc-xuc-1", "xivocc_xuc_1"])
    assert found is not None and found.container == "xivocc-xuc-1"


@pytest.mark.parametrize(
    ("status", "low", "high"),
    [
        ("Up Less than a second", 0, 1),
        ("Up 1 second", 1, 2),
        ("Up 42 seconds (health: starting)", 42, 43),
        ("Up About a minute", 60, 120),
        ("Up 8 minutes (healthy)", 480, 540),
        ("Up About an hour", 3600, 5400),
        ("Up 5 hours", 16200, 19800),
        ("Up 2 days", 171000, 257400),
        ("Up 3 weeks", 3 * 604800 - 1800, 4 * 604800),
    ],
)
def test_uptime_ranges(status: str, low: float, high: float) -> None:
    assert uptime_range(status) == (low, high)


def test_uptime_without_duration() -> None:
    assert uptime_range("Up") is None  # docker-compose 1.x
    assert uptime_range("Exited (0) 3 minutes ago") is None


PS = (
    "NAME           SERVICE   STATUS                              PORTS\n"
    "xivocc-xuc-1   xuc       Up 42 seconds (health: starting)    0.0.0.0:8090->9000/tcp\n"
)


def test_current_run_prefers_inspect_and_falls_back_to_ps() -> None:
    ps = parse_compose_ps(PS)
    now = T0 + 100
    exact = current_run(inspect_doc(), ps, now)
    assert exact is not None and exact.exact and exact.health == "starting"  # from ps
    rough = current_run("[]", ps, now)
    assert rough is not None and rough.source is StartSource.PS
    assert rough.started_at == now - 43 and rough.started_latest == now - 42
    chosen = current_run(inspect_doc(), ps, now, prefer=StartSource.PS)
    assert chosen is not None and chosen.source is StartSource.PS
    absent = current_run("[]", parse_compose_ps(""), now)
    assert absent is not None and absent.running is False and absent.status == "not listed"
    assert current_run(None, None, now) is None


def test_same_run() -> None:
    assert run().same_run(run())
    assert not run().same_run(run(T0 + 30))
    rough = run(T0 - 30, source=StartSource.PS, started_latest=T0 + 30, container_id=None)
    assert rough.same_run(run()) and not rough.same_run(run(T0 + 120))


# --- judging the current run ---------------------------------------------------------------


def test_ready_with_docker_times_since_the_line() -> None:
    now = T0 + 60
    result = judge(run(), window(history(restart_ready=True, now=now)), pattern=READY, now=now)
    assert result.state is XucState.READY and result.since == pytest.approx(T0 + 8)
    assert "docker times" in result.basis and "Listening" in (result.line or "")


def test_earlier_run_line_does_not_count_with_docker_times() -> None:
    now = T0 + 60
    result = judge(run(), window(history(restart_ready=False, now=now)), pattern=READY, now=now)
    assert result.state is XucState.STARTING and result.since == T0
    assert any("earlier run" in e for e in result.evidence)


def test_starting_turns_not_ready_after_the_grace() -> None:
    now = T0 + 200
    lines = history(restart_ready=False, now=now)
    late = judge(run(), window(lines), pattern=READY, now=now, grace=180)
    assert late.state is XucState.NOT_READY and "grace 180" in late.basis
    patient = judge(run(), window(lines), pattern=READY, now=now, grace=300)
    assert patient.state is XucState.STARTING


@pytest.mark.parametrize("restart_ready", [True, False])
def test_application_times_alone_tell_the_runs_apart(restart_ready: bool) -> None:
    # No docker -t (a wrapper that drops it): logback's node-local times, compared only
    # with each other, still place the earlier run's line before this run's start.
    now = T0 + 60
    lines = history(docker=False, restart_ready=restart_ready, now=now)
    result = judge(run(), window(lines), pattern=READY, now=now)
    if restart_ready:
        assert result.state is XucState.READY and "application times" in result.basis
        assert result.since is None  # no docker time: when exactly is not known
    else:
        assert result.state is XucState.STARTING


def test_no_time_at_all_needs_an_anchor() -> None:
    now = T0 + 60
    lines = history(docker=False, app_time=False, restart_ready=False, now=now)
    unknown = judge(run(), window(lines), pattern=READY, now=now)
    assert unknown.state is XucState.UNKNOWN and "cannot be told" in unknown.basis
    # The log's end just before the product's own restart: only what follows counts.
    cut = lines.index(next(x for x in lines if "Stopping server" in x))
    anchor = anchor_of(lines[:cut], T0 - 2, run(T0 - 2 * 86400), "before the restart")
    starting = judge(run(), window(lines), pattern=READY, now=now, anchor=anchor)
    assert starting.state is XucState.STARTING
    ready_lines = history(docker=False, app_time=False, restart_ready=True, now=now)
    ready = judge(run(), window(ready_lines), pattern=READY, now=now, anchor=anchor)
    assert ready.state is XucState.READY and "anchor" in ready.basis


def test_the_only_readiness_line_of_a_long_run_counts_without_times() -> None:
    # A wrapper that prints no time at all, xuc up for days: the whole log holds one
    # readiness line, the run is older than its grace: ready, and the basis says assumed.
    now = T0 + 2 * 86400
    lines = [line(T0 + k, f"boot {k}", docker=False, app_time=False) for k in range(3)]
    lines.append(line(T0 + 5, "Listening for HTTP on /0.0.0.0:9000", docker=False, app_time=False))
    lines += [line(T0 + 9 + k, f"traffic {k}", docker=False, app_time=False) for k in range(4)]
    whole = LogWindow(tuple(lines), full=False, whole=True)
    ready = judge(run(), whole, pattern=READY, now=now)
    assert ready.state is XucState.READY and "assumed" in ready.basis, ready.basis
    assert ready.line is not None and "Listening" in ready.line
    # Later looks of the same run keep saying it was assumed.
    later = judge(run(), window(lines[-2:]), pattern=READY, now=now + 10, previous=ready)
    assert later.state is XucState.READY and "assumed" in later.basis, later.basis
    # A --since slice is a later part of the log: its one line says nothing of the rest.
    sliced = judge(run(), window(lines), pattern=READY, now=now)
    assert sliced.state is XucState.UNKNOWN
    # Not when the window was cut (older lines exist: an earlier run may be among them)...
    cut = LogWindow(tuple(lines), full=True, whole=True)
    assert judge(run(), cut, pattern=READY, now=now).state is not XucState.READY
    # ...nor within the grace (a restart may not have logged yet)...
    young = judge(run(), whole, pattern=READY, now=T0 + 60)
    assert young.state is XucState.UNKNOWN
    # ...nor with two readiness lines (two runs at least), nor after our own restart.
    again = line(T0 + 30, "Listening for HTTP on /0.0.0.0:9000", docker=False, app_time=False)
    twice = [*lines, again]
    two = LogWindow(tuple(twice), full=False, whole=True)
    assert judge(run(), two, pattern=READY, now=now).state is not XucState.READY
    late = judge(run(), whole, pattern=READY, now=now, not_before=T0 + 1)
    assert late.state is not XucState.READY
    # ...nor when the start came from ps: it cannot say the container never ran before.
    from_ps = run(source=StartSource.PS, started_latest=T0 + 60)
    assert judge(from_ps, whole, pattern=READY, now=now).state is XucState.UNKNOWN


def test_no_readiness_line_at_all_is_not_ready_without_times() -> None:
    now = T0 + 300
    lines = [line(T0 + k, f"boot {k}", docker=False, app_time=False) for k in range(5)]
    result = judge(run(), window(lines), pattern=READY, now=now)
    assert result.state is XucState.NOT_READY


def test_anchor_of_the_same_run_means_no_restart_yet() -> None:
    now = T0 + 10
    anchor = anchor_of(["x"], T0 - 1, run(), "before the restart")
    result = judge(run(), window(["xuc-1  | y"]), pattern=READY, now=now, anchor=anchor)
    assert result.state is XucState.STARTING and "before the restart" in result.basis


def test_start_up_out_of_view_is_unknown_not_not_ready() -> None:
    # A busy xuc up for days: the last 400 lines are all traffic, the start-up is older.
    now = T0 + 3 * 86400
    lines = [line(now - 400 + k, f"traffic {k}") for k in range(400)]
    result = judge(run(), window(lines, full=True), pattern=READY, now=now)
    assert result.state is XucState.UNKNOWN and "not in view" in result.basis


def test_previous_look_of_the_same_run_keeps_ready() -> None:
    now = T0 + 3 * 86400
    earlier = XucReadiness(
        XucState.READY,
        T0 + 8,
        "readiness line of this run (docker times)",
        run=run(),
        line="Listening for HTTP on",
        judged_at=T0 + 60,
    )
    lines = [line(now - 400 + k, f"traffic {k}") for k in range(400)]
    kept = judge(run(), window(lines, full=True), pattern=READY, now=now, previous=earlier)
    assert kept.state is XucState.READY and kept.since == T0 + 8 and "seen at" in kept.basis
    restarted = judge(
        run(now - 5), window(lines, full=True), pattern=READY, now=now, previous=earlier
    )
    assert restarted.state is not XucState.READY


def test_health_and_probe() -> None:
    now = T0 + 400
    lines = history(restart_ready=False, now=now)
    sick = judge(run(health="unhealthy"), window(lines), pattern=READY, now=now)
    assert sick.state is XucState.NOT_READY and "unhealthy" in sick.basis
    healthy = judge(run(health="healthy"), window(lines), pattern=READY, now=now)
    assert healthy.state is XucState.READY and "healthy" in healthy.basis
    answered = ProbeAnswer("http://127.0.0.1:8090/", 401)
    probed = judge(run(), window(lines), pattern=READY, now=now, probe=answered)
    assert probed.state is XucState.READY and "401" in probed.basis
    silent = ProbeAnswer("http://127.0.0.1:8090/", None, "curl: (7) Failed to connect")
    refused = judge(run(), window(lines), pattern=READY, now=now, probe=silent)
    assert refused.state is XucState.NOT_READY
    assert any("Failed to connect" in e for e in refused.evidence)
    starting = judge(run(health="starting"), window(lines), pattern=READY, now=now)
    assert starting.state is XucState.STARTING  # docker's start period says so


def test_down_and_unknown_runs() -> None:
    now = T0 + 10
    gone = judge(
        run(running=False, status="exited", finished_at=T0 + 5), None, pattern=READY, now=now
    )
    assert gone.state is XucState.DOWN and gone.since == T0 + 5
    assert gone.describe(now) == "✖ down (exited)"
    absent = judge(XucRun(None, False, "not listed"), None, pattern=READY, now=now)
    assert absent.state is XucState.DOWN and absent.basis == "no xuc container"
    assert judge(None, None, pattern=READY, now=now).state is XucState.UNKNOWN
    unread = judge(run(), LogWindow((), True, "permission denied"), pattern=READY, now=now)
    assert unread.state is XucState.UNKNOWN and "permission denied" in unread.basis


def test_ps_start_range_is_taken_at_its_earliest() -> None:
    # "Up 2 minutes": the run began 120 to 180 s ago; a line 150 s ago counts.
    now = T0 + 1000
    rough = run(now - 180, source=StartSource.PS, started_latest=now - 120)
    lines = [line(now - 190, "Stopping server..."), line(now - 150, "Listening for HTTP on /:9000")]
    result = judge(rough, window(lines), pattern=READY, now=now)
    assert result.state is XucState.READY


def test_describe_and_round_trip() -> None:
    now = T0 + 40
    result = judge(run(health="starting"), window([]), pattern=READY, now=now)
    assert result.describe(now) == "… starting for 40s (health: starting)"
    again = XucReadiness.from_dict(json.loads(json.dumps(result.to_dict())))
    assert again == result
    anchor = Anchor(("a", "b"), T0, run(), "why")
    assert Anchor.from_dict(json.loads(json.dumps(anchor.to_dict()))) == anchor


def test_probe_output() -> None:
    assert parse_probe("u", "401", "", 0).code == 401
    refused = parse_probe("u", "000", "curl: (7) Failed to connect to 127.0.0.1 port 8090\n", 7)
    assert refused.code is None and "Failed to connect" in refused.detail
    assert parse_probe("u", "", "", 28).code is None


# --- following after a snapshot ------------------------------------------------------------


def test_follow_counts_docker_timed_lines_of_this_run_only() -> None:
    matcher = FollowMatcher(READY, anchor=None, started_at=T0, replay=2)
    assert not matcher.feed(line(T0 - 100, "Listening for HTTP on /0.0.0.0:9000"))
    assert matcher.ignored == 1
    assert matcher.feed(line(T0 + 5, "Listening for HTTP on /0.0.0.0:9000"))
    assert matcher.matched_at == pytest.approx(T0 + 5)


def test_follow_without_times_counts_after_the_anchor() -> None:
    old = [line(0, f"old {k}", docker=False, app_time=False) for k in range(5)]
    ready = line(0, "Listening for HTTP on /0.0.0.0:9000", docker=False, app_time=False)
    anchor = anchor_of(old, T0, None, "snapshot")
    matcher = FollowMatcher(READY, anchor=anchor, started_at=T0, replay=50)
    replayed = [ready, *old]  # the follow's --tail replays history, the old ready included
    assert not any(matcher.feed(x) for x in replayed)
    assert matcher.past_anchor and matcher.ignored == 1
    assert matcher.feed(ready)


def test_follow_passes_an_anchor_that_scrolled_out() -> None:
    anchor = anchor_of(["never seen"], T0, None, "snapshot")
    matcher = FollowMatcher(READY, anchor=anchor, started_at=T0, replay=3)
    ready = line(0, "Listening for HTTP on /0.0.0.0:9000", docker=False, app_time=False)
    filler = line(0, "x", docker=False, app_time=False)
    assert not matcher.feed(ready)  # still inside the replay
    for _ in range(3):
        matcher.feed(filler)
    assert matcher.feed(ready)


def untimed(*messages: str) -> list[str]:
    return [line(0, m, docker=False, app_time=False) for m in messages]


LISTENING = "Listening for HTTP on /0.0.0.0:9000"


def test_an_anchor_takes_as_many_last_lines_as_it_needs_to_be_unique() -> None:
    log = untimed("boot", "tick", "tick", "tick", LISTENING, "tick", "tick", "tick")
    # "tick tick tick" also ends at the 4th line: one more line makes it unique.
    assert anchor_of(log, T0).lines == tuple(log[-4:])
    assert anchor_of(log[:2], T0).lines == tuple(log[:2])  # shorter than 3: all of it
    assert len(anchor_of(untimed(*["tick"] * 80), T0).lines) == ANCHOR_MAX_LINES


def test_follow_does_not_take_an_earlier_repeat_for_the_anchor() -> None:
    # Untimed, a log that repeats itself: with the last 3 lines as the anchor, the follow's
    # replay passed it at its first repeat and counted the old run's readiness line.
    old = untimed("boot", "tick", "tick", "tick", LISTENING, "tick", "tick", "tick")
    matcher = FollowMatcher(READY, anchor=anchor_of(old, T0), started_at=T0, replay=50)
    assert not any(matcher.feed(x) for x in old)
    assert matcher.past_anchor and matcher.ignored == 1
    assert matcher.feed(line(0, LISTENING, docker=False, app_time=False))


def test_an_anchor_found_twice_leaves_what_lies_between_unplaced() -> None:
    # The new run logged the very lines the anchor was made of: the anchor is one of the
    # two places, so the readiness line between them is neither this run's nor an older's.
    old = untimed("boot", LISTENING, "a", "b", "c")
    anchor = anchor_of(old, T0 - 1, None, "before the restart")
    assert anchor.lines == tuple(old[-3:])
    again = [*old, *untimed("boot", LISTENING, "a", "b", "c")]
    now = T0 + 600
    unplaced = judge(run(), window(again), pattern=READY, now=now, anchor=anchor)
    assert unplaced.state is XucState.UNKNOWN, unplaced.basis
    # After the last one, a readiness line counts.
    later = [*again, *untimed("d", LISTENING)]
    ready = judge(run(), window(later), pattern=READY, now=now, anchor=anchor)
    assert ready.state is XucState.READY and "anchor" in ready.basis


def test_a_window_that_cuts_the_anchor_through_does_not_count_its_lines() -> None:
    old = untimed("x", LISTENING, "t", "t", "t", "y", LISTENING, "t", "t", "t")
    anchor = anchor_of(old, T0 - 1, None, "before the restart")
    assert anchor.lines == tuple(old[-5:])  # from "y": the shortest unique ending
    # A full window (older lines exist) that starts inside the anchor, after its first line:
    # the old readiness line at its head is not this run's.
    cut = [*old[-4:], *untimed("booting", "loading")]
    now = T0 + 600
    result = judge(run(), window(cut, full=True), pattern=READY, now=now, anchor=anchor)
    assert result.state is not XucState.READY, result.basis
    ready = judge(
        run(),
        window([*cut, *untimed(LISTENING)], full=True),
        pattern=READY,
        now=now,
        anchor=anchor,
    )
    assert ready.state is XucState.READY, ready.basis


def test_a_cut_window_with_a_repeat_of_the_anchor_does_not_place_what_precedes_it() -> None:
    # The window starts inside the real anchor (cut), and the new run logged the anchor's
    # lines again: that repeat is not the anchor, the readiness line before it is the new
    # run's or not, which cannot be told.
    old = untimed("x", LISTENING, "t", "t", "t", "y", LISTENING, "t", "t", "t")
    anchor = anchor_of(old, T0 - 1, None, "before the restart")
    cut = [*old[-4:], *untimed("boot", LISTENING, "q"), *old[-5:], *untimed("r")]
    now = T0 + 600
    result = judge(run(), window(cut, full=True), pattern=READY, now=now, anchor=anchor)
    assert result.state is XucState.UNKNOWN, result.basis
