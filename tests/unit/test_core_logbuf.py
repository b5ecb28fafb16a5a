import re
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from resil_tui.core.logbuf import (
    DEFAULT_READINESS_PATTERN,
    FilterError,
    LineBatcher,
    LineFilter,
    LineLevel,
    LogBuffer,
    ReadinessMatcher,
    ResumeDeduper,
    classify,
    clean_line,
    gap_marker,
    is_gap_marker,
    parse_line_time,
    render_for_save,
    since_argument,
    split_line,
)

READY = re.compile(DEFAULT_READINESS_PATTERN)
READY_TEXT = (
    "2026-11-25 10:00:05,000 INFO  [p.c.s.AkkaHttpServer] - Listening for HTTP on /0.0.0.0:9000"
)


def dline(ts: str, text: str, service: str = "xuc-1", pad: int = 2) -> str:
    """A line as `xivocc-dcomp logs -t` prints it."""
    return f"{service}{' ' * pad}| {ts} {text}"


# -- LogBuffer -----------------------------------------------------------------------------


def test_buffer_sequence_numbers_and_after():
    buf = LogBuffer(5)
    assert buf.last_seq == 0 and buf.first_seq == 1 and len(buf) == 0
    assert buf.after(0) == []
    assert [buf.append(x) for x in "abc"] == [1, 2, 3]
    assert buf.after(0) == [(1, "a"), (2, "b"), (3, "c")]
    assert buf.after(2) == [(3, "c")]
    assert buf.after(3) == [] and buf.after(99) == []
    assert buf.after(-7) == buf.after(0)
    assert buf.get(2) == "b" and buf.get(0) is None and buf.get(4) is None


def test_buffer_drops_oldest_and_counts():
    buf = LogBuffer(3)
    assert buf.extend(f"l{i}" for i in range(1, 8)) == 7
    assert buf.lines() == ["l5", "l6", "l7"]
    assert (buf.first_seq, buf.last_seq, buf.dropped, buf.total) == (5, 7, 4, 7)
    # A reader that last saw seq 2 missed 3 and 4; one that saw 4 missed nothing.
    assert buf.missed(2) == 2 and buf.missed(4) == 0 and buf.missed(7) == 0
    assert buf.after(2) == [(5, "l5"), (6, "l6"), (7, "l7")]
    assert buf.after(6) == [(7, "l7")]
    assert buf.get(4) is None and buf.get(5) == "l5"


def test_buffer_after_from_either_end_agree():
    buf = LogBuffer(1000)
    buf.extend(str(i) for i in range(1, 2501))
    for seq in (0, 1500, 1501, 1800, 2000, 2499, 2500):
        expected = [(i, str(i)) for i in range(max(seq + 1, 1501), 2501)]
        assert buf.after(seq) == expected


def test_buffer_million_appends_stay_bounded():
    buf = LogBuffer(1000)
    for i in range(1_000_000):
        buf.append("x")
        if i % 100_000 == 0:
            assert len(buf) <= 1000
    assert len(buf) == 1000
    assert buf.last_seq == 1_000_000 and buf.first_seq == 999_001
    assert buf.dropped == 999_000
    buf.extend("y" for _ in range(1_000_000))
    assert len(buf) == 1000 and buf.last_seq == 2_000_000 and buf.lines()[-1] == "y"


def test_buffer_rejects_zero_capacity():
    with pytest.raises(ValueError):
        LogBuffer(0)


def test_buffer_clear_keeps_counting():
    buf = LogBuffer(10)
    buf.extend(["a", "b"])
    buf.clear()
    assert len(buf) == 0 and buf.dropped == 0 and buf.after(0) == []
    assert buf.append("c") == 3
    assert buf.after(0) == [(3, "c")]


def test_view_filters_without_losing_and_keeps_markers():
    buf = LogBuffer(100)
    buf.extend(["INFO start", "ERROR boom", "info again"])
    marker = buf.append_marker(gap_marker("connection lost", datetime(2026, 1, 1, 10, 1, 2)))
    buf.append("error later")
    f = LineFilter("error")
    assert buf.view(f) == [(2, "ERROR boom"), (marker, buf.get(marker)), (5, "error later")]
    assert buf.view(f, keep_markers=False) == [(2, "ERROR boom"), (5, "error later")]
    assert buf.view(f, after=2) == [(4, buf.get(4)), (5, "error later")]
    assert buf.is_marker(marker) and not buf.is_marker(2)
    # Nothing was lost: no filter, or an empty one, shows everything.
    assert len(buf.view()) == 5 and len(buf.view(LineFilter(""))) == 5


def test_markers_forgotten_when_dropped():
    buf = LogBuffer(2)
    m = buf.append_marker("── x at 10:00:00 ──")
    buf.extend(["a", "b"])
    assert not buf.is_marker(m)
    assert buf.view(LineFilter("zzz")) == []


def test_view_over_100k_lines():
    buf = LogBuffer(100_000)
    buf.extend(
        f"2026-11-25 10:00:00,000 {'ERROR' if i % 1000 == 0 else 'INFO '} n={i}"
        for i in range(100_000)
    )
    f = LineFilter.compile(r"ERROR\s+n=\d+0000$", regex=True)
    assert isinstance(f, LineFilter)
    assert [seq for seq, _ in buf.view(f)] == [i + 1 for i in range(10_000, 100_000, 10_000)]
    assert len(buf.view(LineFilter("error", case_sensitive=False))) == 100


# -- LineFilter ----------------------------------------------------------------------------


def test_filter_substring_is_literal_and_case_insensitive_by_default():
    f = LineFilter("a.b")
    assert f.matches("xx A.B yy")
    assert not f.matches("axb")  # the dot is not a wildcard in substring mode


def test_filter_case_sensitive():
    f = LineFilter("Error", case_sensitive=True)
    assert f.matches("an Error here") and not f.matches("an ERROR here")


def test_filter_regex():
    f = LineFilter(r"^\[(error|warn)\]", regex=True)
    assert f.matches("[warn] slow") and f.matches("[ERROR] x") and not f.matches("x [warn]")
    g = LineFilter(r"^\[(error|warn)\]", regex=True, case_sensitive=True)
    assert not g.matches("[ERROR] x")


def test_filter_invalid_regex_is_a_value_not_an_exception():
    err = LineFilter.compile("(foo", regex=True)
    assert isinstance(err, FilterError)
    assert err.pattern == "(foo" and err.position == 0
    assert "invalid regular expression" in err.message and "position 0" in err.message
    # The same text is fine as a substring.
    ok = LineFilter.compile("(foo")
    assert isinstance(ok, LineFilter) and ok.matches("call (foo)")
    with pytest.raises(ValueError):
        LineFilter("[", regex=True)


# -- classify ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "level"),
    [
        ("2026-11-25 10:00:01,123 ERROR [akka] - Boom", LineLevel.ERROR),
        ("2026-11-25 10:00:01,123 WARN  [akka] - slow", LineLevel.WARN),
        ("2026-11-25 10:00:01,123 INFO  [akka] - fine", LineLevel.INFO),
        ("[error] a.a.ActorSystemImpl - failure", LineLevel.ERROR),
        ("[warn] p.c.s.AkkaHttpServer - hmm", LineLevel.WARN),
        ("[info] play.api.Play - Application started (Prod)", LineLevel.INFO),
        ("[ERROR] [11/25/2026 10:00:01.123] [sys-akka.actor] [akka://sys] dead", LineLevel.ERROR),
        ("[WARN] [11/25/2026 10:00:01.123] [sys-akka.actor] slow", LineLevel.WARN),
        ("WARNING: An illegal reflective access operation has occurred", LineLevel.WARN),
        ("2026-11-25 10:00:01,123 [1234] (ERROR): Synchronization failure", LineLevel.ERROR),
        ("2026-11-25 10:00:01,123 [1234] (INFO): Synchronization successful", LineLevel.INFO),
        ("2026/11/25 10:00:01 [error] 12#12: *1 connect() failed", LineLevel.ERROR),
        ("2026/11/25 10:00:01 [warn] 12#12: conflicting server name", LineLevel.WARN),
        ('time="..." level=error msg="x"', LineLevel.ERROR),
        ("java.net.BindException: Address already in use", LineLevel.ERROR),
        ("Caused by: java.io.IOException: reset", LineLevel.ERROR),
        ("INFO Retrying after ERROR from peer", LineLevel.INFO),  # first level token decides
        ("processed 0 errors, no warnings", LineLevel.INFO),
        ("WARNINGS_DISABLED=1 MY-ERROR-CODE", LineLevel.INFO),
        ("", LineLevel.INFO),
        ("plain text", LineLevel.INFO),
    ],
)
def test_classify_levels(line, level):
    assert classify(line, READY) is level
    assert classify(dline("2026-11-25T10:00:01.1Z", line), READY) is level


def test_classify_ready_marker_and_ansi():
    assert classify(READY_TEXT, READY) is LineLevel.READY
    assert classify(READY_TEXT, None) is LineLevel.INFO
    assert classify(gap_marker("connection lost", datetime(2026, 1, 1)), READY) is LineLevel.MARKER
    coloured = "\x1b[36mxuc-1  |\x1b[0m [\x1b[31merror\x1b[0m] boom"
    assert classify(coloured, READY) is LineLevel.ERROR


def test_classify_prefix_does_not_count_as_level():
    # A service named like a level must not colour its lines.
    assert classify("error-svc-1  | all fine", None) is LineLevel.INFO


# -- timestamps ----------------------------------------------------------------------------


def test_time_docker_rfc3339_nanoseconds():
    line = dline("2026-11-25T10:00:01.123456789Z", "hello")
    assert parse_line_time(line) == datetime(2026, 11, 25, 10, 0, 1, 123456, tzinfo=UTC)
    parts = split_line(line)
    assert parts.service == "xuc-1" and parts.docker_time and parts.message == "hello"


def test_time_docker_short_fraction_offset_and_v1_prefix():
    assert parse_line_time("xuc_1  | 2026-11-25T10:00:01.5Z x") == datetime(
        2026, 11, 25, 10, 0, 1, 500000, tzinfo=UTC
    )
    t = parse_line_time("2026-11-25T11:00:01+01:00 x")  # docker logs -t, no compose prefix
    assert t == datetime(2026, 11, 25, 10, 0, 1, tzinfo=UTC)
    assert t is not None and t.utcoffset() == timedelta(hours=1)


def test_docker_time_wins_over_the_application_time():
    line = dline("2026-11-25T09:00:01.000000001Z", "2026-11-25 10:00:01,123 INFO  [x] - y")
    assert parse_line_time(line) == datetime(2026, 11, 25, 9, 0, 1, tzinfo=UTC)


def test_time_logback_and_xivo_sync_are_naive():
    assert parse_line_time("2026-11-25 10:00:01,123 INFO  [main] - x") == datetime(
        2026, 11, 25, 10, 0, 1, 123000
    )
    assert parse_line_time("2026-11-25 10:00:01,123 [1234] (INFO): Synchronizing") == datetime(
        2026, 11, 25, 10, 0, 1, 123000
    )
    # Without -t, the application time after a compose prefix still counts.
    assert parse_line_time("xuc-1  | 2026-11-25 10:00:01.7 INFO x") == datetime(
        2026, 11, 25, 10, 0, 1, 700000
    )
    assert parse_line_time("[INFO] [11/25/2026 10:00:01.250] [t] m") == datetime(
        2026, 11, 25, 10, 0, 1, 250000
    )


@pytest.mark.parametrize(
    "line",
    [
        "",
        "no time here",
        "2026-13-45 10:00:01,123 impossible date",
        "2026-11-25T25:00:01Z bad hour",
        "12345678-11-25 10:00:01 too many digits",
        "xuc-1  | ",
        "0001-01-01T00:30:00+01:00 before year 1 in UTC",
        "==> /var/log/xivo-sync.log <==",
    ],
)
def test_time_absent_or_invalid(line):
    assert parse_line_time(line) is None


def test_since_argument():
    aware = datetime(2026, 11, 25, 11, 0, 1, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert since_argument(aware) == "2026-11-25T10:00:01.123456Z"
    assert since_argument(datetime(2026, 11, 25, 10, 0, 1)) == "2026-11-25T10:00:01.000000"
    # Round trip through a docker line.
    t = parse_line_time(dline("2026-11-25T10:00:01.123456789Z", "x"))
    assert t is not None
    assert since_argument(t) == "2026-11-25T10:00:01.123456Z"


# -- readiness -----------------------------------------------------------------------------


def test_readiness_default_pattern_matches_inventory_default():
    from resil_tui.inventory_model import DEFAULT_READINESS_PATTERN as inventory_default

    assert inventory_default == DEFAULT_READINESS_PATTERN


def test_readiness_plain_and_sticky():
    m = ReadinessMatcher()
    assert not m.feed("2026-11-25 10:00:01,000 INFO  [x] - starting")
    assert m.feed(READY_TEXT)
    assert m.ready and m.matched_line == READY_TEXT
    assert m.feed("anything after")  # stays ready


def test_readiness_strips_compose_prefix_before_matching():
    m = ReadinessMatcher(r"^Listening for HTTP")
    assert not m.feed("xuc-1  | Starting")
    assert m.feed("xuc-1  | Listening for HTTP on /0.0.0.0:9000")
    m2 = ReadinessMatcher(r"^Listening for HTTP")
    assert m2.feed(dline("2026-11-25T10:00:05Z", "Listening for HTTP on /0.0.0.0:9000"))


def test_readiness_not_before_ignores_previous_start():
    restart = datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC)
    m = ReadinessMatcher(DEFAULT_READINESS_PATTERN, not_before=restart)
    history = [
        dline("2026-11-25T09:00:00.000000001Z", "Starting"),
        dline("2026-11-25T09:00:06.000000001Z", "Listening for HTTP on /0.0.0.0:9000"),
        dline("2026-11-25T10:00:00.5Z", "Starting"),
    ]
    assert not m.feed_many(history)
    assert m.stale_matches == 1 and not m.ready
    fresh = dline("2026-11-25T10:00:06.000000001Z", "Listening for HTTP on /0.0.0.0:9000")
    assert m.feed(fresh)
    assert m.matched_time == datetime(2026, 11, 25, 10, 0, 6, tzinfo=UTC)


def test_readiness_untimed_line_inherits_previous_time():
    restart = datetime(2026, 11, 25, 10, 0, 0)
    m = ReadinessMatcher("Listening", not_before=restart)
    assert not m.feed("2026-11-25 09:00:00,000 INFO old start")
    assert not m.feed("  continuation: Listening (old)")  # inherits 09:00: stale
    assert m.stale_matches == 1
    assert not m.feed("2026-11-25 10:00:02,000 INFO new start")
    assert m.feed("  continuation: Listening (new)")


def test_readiness_unknown_time_does_not_count():
    restart = datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC)
    m = ReadinessMatcher(not_before=restart)
    assert not m.feed("Listening for HTTP on /0.0.0.0:9000")  # no -t, no time at all
    # Naive node-local time cannot be compared with an aware start time.
    assert not m.feed("2026-11-25 11:00:00,000 INFO Listening for HTTP on /0.0.0.0:9000")
    assert m.unverified_matches == 2 and not m.ready


def test_readiness_invalid_pattern():
    with pytest.raises(ValueError, match="invalid readiness pattern"):
        ReadinessMatcher("(")


# -- resume dedup --------------------------------------------------------------------------


def run_dedup(previous, resumed):
    d = ResumeDeduper(previous)
    out = []
    for line in resumed:
        out += d.feed(line)
    out += d.flush()
    return out, d.dropped


def test_dedup_exact_overlap():
    prev = ["a", "b", "c"]
    assert run_dedup(prev, ["a", "b", "c", "d", "e"]) == (["d", "e"], 3)


def test_dedup_partial_overlap():
    prev = ["a", "b", "c"]
    assert run_dedup(prev, ["b", "c", "d"]) == (["d"], 2)
    assert run_dedup(prev, ["c", "d"]) == (["d"], 1)


def test_dedup_no_overlap():
    assert run_dedup(["a", "b", "c"], ["d", "e"]) == (["d", "e"], 0)
    # "b" equals a seen line but is not followed by "c": not an overlap at the end.
    assert run_dedup(["a", "b", "c"], ["b", "x"]) == (["b", "x"], 0)
    assert run_dedup([], ["a"]) == (["a"], 0)


def test_dedup_empty_resume():
    d = ResumeDeduper(["a", "b"])
    assert d.flush() == [] and d.dropped == 0
    assert d.feed("c") == ["c"]


def test_dedup_repeated_identical_lines_as_a_sequence():
    # Seen: x x y x x ; the resumed stream re-sends the last three and adds new ones.
    assert run_dedup(["x", "x", "y", "x", "x"], ["y", "x", "x", "x", "z"]) == (["x", "z"], 3)
    assert run_dedup(["x", "y"], ["y", "y"]) == (["y"], 1)


def test_dedup_holds_only_while_ambiguous():
    d = ResumeDeduper(["x", "x", "x"])
    assert d.feed("x") == [] and d.feed("x") == []
    assert d.feed("y") == ["y"]  # overlap was "x x"
    assert d.dropped == 2 and d.decided
    assert d.feed("x") == ["x"]  # after the decision everything passes


def test_dedup_newer_timestamp_settles_at_once():
    prev = [
        dline("2026-11-25T10:00:01.000000001Z", "hb"),
        dline("2026-11-25T10:00:02.000000001Z", "hb"),
    ]
    d = ResumeDeduper(prev)
    assert d.feed(prev[1]) == []
    new = dline("2026-11-25T10:00:03.000000001Z", "hb")
    assert d.feed(new) == [new]  # same text, but newer than anything seen
    assert d.dropped == 1


def test_dedup_ignores_prefix_padding_change():
    prev = [dline("2026-11-25T10:00:01Z", "a", pad=2), dline("2026-11-25T10:00:02Z", "b", pad=2)]
    resumed = [dline("2026-11-25T10:00:02Z", "b", pad=7), dline("2026-11-25T10:00:03Z", "c", pad=7)]
    assert run_dedup(prev, resumed) == ([resumed[1]], 1)


def test_gap_marker_text():
    lost, back = datetime(2026, 1, 1, 10, 1, 2), datetime(2026, 1, 1, 10, 1, 9)
    text = gap_marker("connection lost", lost, back)
    assert text == "── connection lost at 10:01:02, resumed at 10:01:09 ──"
    assert is_gap_marker(text)
    assert gap_marker("", datetime(2026, 1, 1, 10, 1, 2)) == "── stream interrupted at 10:01:02 ──"
    assert not is_gap_marker("── ──") and not is_gap_marker("plain")


@given(
    n=st.integers(0, 40),
    seen=st.integers(0, 40),
    keep=st.integers(0, 15),
    back=st.integers(0, 15),
)
def test_dedup_unique_lines_shows_each_line_exactly_once(n, seen, keep, back):
    log = [dline(f"2026-11-25T10:00:{i:02d}.000000001Z", f"msg {i % 3}") for i in range(n)]
    seen = min(seen, n)
    previous = log[max(0, seen - keep) : seen]
    start = max(seen - min(back, len(previous)), 0)  # resume inside the kept tail
    out, dropped = run_dedup(previous, log[start:])
    assert out == log[seen:]
    assert dropped == seen - start


@given(
    log=st.lists(st.sampled_from("xyz"), max_size=30),
    seen=st.integers(0, 30),
    keep=st.integers(0, 12),
    back=st.integers(0, 12),
)
def test_dedup_never_drops_a_line_not_already_seen(log, seen, keep, back):
    seen = min(seen, len(log))
    previous = log[max(0, seen - keep) : seen]
    start = max(seen - min(back, len(previous)), 0)
    resumed = log[start:]
    out, dropped = run_dedup(previous, resumed)
    # Only a start of the resumed stream is dropped, and it equals the end of what was seen.
    assert resumed[dropped:] == out
    assert resumed[:dropped] == previous[len(previous) - dropped :]
    # The true overlap is always dropped (no line shown twice).
    assert dropped >= seen - start


# -- batcher -------------------------------------------------------------------------------


def test_batcher_split_chunks():
    b = LineBatcher()
    b.feed("hel")
    assert b.take() == [] and b.pending == "hel"
    b.feed("lo\nwor")
    b.feed("ld\n\nlast")
    assert b.take() == ["hello", "world", ""]
    assert b.take() == []
    assert b.flush() == ["last"]
    assert b.flush() == []


def test_batcher_crlf_and_pty_output():
    b = LineBatcher()
    for chunk in ["a\r", "\nb\r\r\n", "c\r\n"]:
        b.feed(chunk)
    assert b.take() == ["a", "b", "c"]


def test_batcher_strips_escapes_unless_asked_not_to():
    b = LineBatcher()
    b.feed("\x1b[36mxuc-1  |\x1b[0m hi\x07\tthere\n")
    # Colours go; any other control is made visible (core/sanitize.py), never emitted.
    assert b.take() == ["xuc-1  | hi␇\tthere"]
    raw = LineBatcher(clean=False)
    raw.feed("\x1b[36mx\x1b[0m\r\n")
    assert raw.take() == ["\x1b[36mx\x1b[0m"]


def test_batcher_bytes_split_inside_utf8():
    b = LineBatcher()
    data = "Connexion établie → ok\n".encode()
    cut = data.index("é".encode()) + 1
    b.feed(data[:cut])
    b.feed(data[cut:])
    assert b.take() == ["Connexion établie → ok"]
    b.feed(b"bad \xff byte\n")
    assert b.take() == ["bad \ufffd byte"]
    b.feed(b"\xc3")  # truncated sequence at end of stream
    assert b.flush() == ["\ufffd"]


def test_batcher_bounds_an_endless_line():
    b = LineBatcher(max_line_chars=10)
    for _ in range(25):
        b.feed("x")
    assert b.take() == ["x" * 10, "x" * 10]
    assert b.pending == "x" * 5
    b.feed("y" * 22 + "\n")
    assert b.take() == ["x" * 5 + "y" * 5, "y" * 10, "y" * 7]


def test_batcher_flush_a_lone_carriage_return_is_no_line() -> None:
    # Found by the property below: a stream ending in "\r" (a PTY's, a progress line's)
    # left an empty line in the view.
    for text, lines in (("\r", []), ("a\n\r", ["a"]), ("a\r", ["a"]), ("\r\r", [])):
        b = LineBatcher(clean=False)
        b.feed(text)
        assert b.flush() == lines, text


@given(
    text=st.text(st.characters(blacklist_categories=("Cs",)), max_size=300),
    cuts=st.lists(st.integers(0, 300), max_size=20),
)
def test_batcher_any_chunking_yields_the_text_lines(text, cuts):
    b = LineBatcher(clean=False, max_line_chars=10_000)
    bounds = sorted({0, len(text), *(c for c in cuts if c <= len(text))})
    out = []
    for lo, hi in pairwise(bounds):
        b.feed(text[lo:hi])
        out += b.take()
    out += b.flush()
    expected = [line.replace("\r", "") for line in text.split("\n")]
    if expected[-1] == "":
        expected.pop()  # a final newline ends the last line, it does not start one
    assert out == expected


@given(
    text=st.text(st.characters(blacklist_categories=("Cs",)), max_size=200),
    cuts=st.lists(st.integers(0, 1000), max_size=20),
)
def test_batcher_any_byte_chunking_equals_str_chunking(text, cuts):
    data = text.encode()
    bounds = sorted({0, len(data), *(c for c in cuts if c <= len(data))})
    b = LineBatcher()
    out = []
    for lo, hi in pairwise(bounds):
        b.feed(data[lo:hi])
        out += b.take()
    out += b.flush()
    whole = LineBatcher()
    whole.feed(text)
    assert out == whole.flush()


# -- cleaning and save ---------------------------------------------------------------------


def test_clean_line():
    assert clean_line("\x1b[1;31mred\x1b[0m\r") == "red"
    assert clean_line("\x1b]0;title\x07\x1b[1;31mred\x1b[0m\r") == "␛]0;title␇red"
    assert clean_line("tab\tkept\x00\x7f\x9b\u202e") == "tab\tkept␀␡⟨U+009B⟩⟨U+202E⟩"


def test_render_for_save():
    assert render_for_save([]) == ""
    assert render_for_save(["a", "", "b\r", "c\nd"]) == "a\n\nb\nc␤d\n"
    buf = LogBuffer(10)
    buf.extend(["x 1", "y", "x 2"])
    assert render_for_save(line for _, line in buf.view(LineFilter("x"))) == "x 1\nx 2\n"


@given(
    line=st.one_of(
        st.text(max_size=120),
        st.builds(
            lambda ts, body: dline(ts, body),
            st.from_regex(
                r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,12})?(Z|[+-]\d{2}:\d{2})?",
                fullmatch=True,
            ),
            st.text(max_size=40),
        ),
        st.from_regex(
            r"\[?\d{4}[-/]\d{2}[-/]\d{2}[ T]\d{2}:\d{2}:\d{2}([.,]\d{1,12})?.{0,20}", fullmatch=True
        ),
    )
)
def test_line_parsing_never_raises(line):
    parts = split_line(line)
    assert parts.time is None or isinstance(parts.time, datetime)
    assert classify(line, READY) in set(LineLevel)
    for not_before in (None, datetime(2026, 1, 1), datetime(2026, 1, 1, tzinfo=UTC)):
        ReadinessMatcher(not_before=not_before).feed(line)
    ResumeDeduper([line, "other"]).feed(line)
    if parts.time is not None:
        assert since_argument(parts.time)
