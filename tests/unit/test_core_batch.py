"""Splitting one batched execution's output back into its parts (core/batch.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resil_tui.core import batch as batch_module
from resil_tui.core.batch import (
    BEGIN_FORMAT,
    END_ERR_FORMAT,
    END_OUT_FORMAT,
    PROBE_FORMAT,
    BatchFormatError,
    PartOutput,
    split_batch,
)

NONCE = "0123456789abcdef" * 2
OTHER = "fedcba9876543210" * 2


def emit(parts: list[PartOutput], nonce: str = NONCE) -> tuple[str, str]:
    """The two streams a shell writes for these parts (what remote.commands.batch runs)."""
    out, err = [PROBE_FORMAT % (nonce, 1)], []
    for i, p in enumerate(parts):
        out += [BEGIN_FORMAT % (nonce, i), p.stdout, END_OUT_FORMAT % (nonce, i, p.exit_status)]
        err += [BEGIN_FORMAT % (nonce, i), p.stderr, END_ERR_FORMAT % (nonce, i)]
    return "".join(out), "".join(err)


def test_parts_come_back_as_written() -> None:
    parts = [
        PartOutput("ha\n", "", 0),
        PartOutput("no final newline", "cat: x: No such file or directory\n", 1),
        PartOutput("", "", 0),
        PartOutput("\n\n", "\n", 127),
    ]
    split = split_batch(*emit(parts), NONCE, len(parts))
    assert split.parts == tuple(parts)
    assert split.markers_seen and split.problems == []
    assert all(p.complete for p in split.parts)
    assert split.statuses_trusted and split.usable


@pytest.mark.parametrize("probe", ["", PROBE_FORMAT % (NONCE, 0), f"{NONCE} S $?\n"])
def test_statuses_are_not_trusted_when_the_probe_says_otherwise(probe: str) -> None:
    # A server that runs printf but not `$?` (unset: 0, or left as is) would report
    # every part as successful: the `false` before the parts tells.
    out, err = emit([PartOutput("x\n", "", 0)])
    out = out.replace(PROBE_FORMAT % (NONCE, 1), probe)
    split = split_batch(out, err, NONCE, 1)
    assert split.markers_seen and not split.statuses_trusted and not split.usable


def test_text_before_the_first_marker_is_not_part_of_it() -> None:
    # A login shell's rc file may print before the script starts (motd, `mesg` warnings).
    out, err = emit([PartOutput("a\n", "b\n", 0)])
    split = split_batch("Welcome!" + out, "mesg: ttyname failed\n" + err, NONCE, 1)
    assert split.parts == (PartOutput("a\n", "b\n", 0),)


def test_marker_like_text_inside_a_part_does_not_shift_the_split() -> None:
    forged = (
        END_OUT_FORMAT % (OTHER, 0, 0)
        + BEGIN_FORMAT % (OTHER, 1)
        + f"{NONCE[:-1]} E 0 0\n"  # one hex digit short of the nonce
        + f"{NONCE[1:]} B 1\n"
        + "%s B %d\n"
    )
    parts = [PartOutput(forged, forged, 0), PartOutput("second\n", "", 3)]
    split = split_batch(*emit(parts), NONCE, 2)
    assert split.parts == tuple(parts)


def test_no_marker_at_all_says_so() -> None:
    split = split_batch("", "bash: sh: command not found\n", NONCE, 3)
    assert not split.markers_seen
    assert all(p.problem and p.exit_status is None for p in split.parts)


def test_a_missing_middle_part_is_reported_for_that_part_only() -> None:
    parts = [PartOutput("one\n", "", 0), PartOutput("two\n", "", 0), PartOutput("3", "e", 2)]
    out, err = emit(parts)

    def cut(stream: str, i: int) -> str:
        start = stream.index(BEGIN_FORMAT % (NONCE, i))
        return stream[:start] + stream[stream.index(BEGIN_FORMAT % (NONCE, i + 1)) :]

    split = split_batch(cut(out, 1), cut(err, 1), NONCE, 3)
    assert split.parts[0] == parts[0] and split.parts[2] == parts[2]
    assert split.parts[1].exit_status is None
    assert "no output for this part" in (split.parts[1].problem or "")


def test_an_end_marker_lost_ends_the_part_at_the_next_begin_marker() -> None:
    out, err = emit([PartOutput("one\n", "", 0), PartOutput("two\n", "", 5)])
    out = out.replace(END_OUT_FORMAT % (NONCE, 0, 0), "")
    split = split_batch(out, err, NONCE, 2)
    assert split.parts[0].stdout == "one\n" and split.parts[0].exit_status is None
    assert "cut short" in (split.parts[0].problem or "")
    assert split.parts[1] == PartOutput("two\n", "", 5)


def test_an_unexpanded_status_is_no_status() -> None:
    # A server that passed `$?` through unexpanded (or printf that printed garbage).
    out, err = emit([PartOutput("x\n", "", 0), PartOutput("y\n", "", 0)])
    out = out.replace(END_OUT_FORMAT % (NONCE, 0, 0), f"\n{NONCE} E 0 $?\n")
    split = split_batch(out, err, NONCE, 2)
    assert split.parts[0].exit_status is None
    assert "exit status was not reported" in (split.parts[0].problem or "")
    assert split.parts[1] == PartOutput("y\n", "", 0)


def test_stderr_not_delimited_is_a_problem_even_with_stdout_whole() -> None:
    out, _ = emit([PartOutput("x\n", "", 0)])
    split = split_batch(out, "", NONCE, 1)
    assert split.parts[0].stdout == "x\n" and split.parts[0].exit_status == 0
    assert "error output" in (split.parts[0].problem or "")


def test_part_ten_is_not_part_one() -> None:
    parts = [PartOutput(str(i), "", i) for i in range(12)]
    out, err = emit(parts)
    # Part 1's end marker gone: part 1 must not end at part 10's or 11's end marker.
    out = out.replace(END_OUT_FORMAT % (NONCE, 1, 1), "")
    split = split_batch(out, err, NONCE, 12)
    assert split.parts[1].stdout == "1" and split.parts[1].exit_status is None
    assert split.parts[10:] == tuple(parts[10:])


@pytest.mark.parametrize("nonce", ["", "short", "G" * 32, NONCE.upper(), NONCE + "\n", "a" * 65])
def test_bad_nonces_are_refused(nonce: str) -> None:
    with pytest.raises(BatchFormatError):
        split_batch("", "", nonce, 1)


@pytest.mark.parametrize("count", [0, -1, True])
def test_bad_counts_are_refused(count: int) -> None:
    with pytest.raises(BatchFormatError):
        split_batch("", "", NONCE, count)


# --- properties ---------------------------------------------------------------------------

# Remote text: arbitrary, plus pieces of markers (other nonces, this nonce cut short, the
# formats themselves), newlines and no final newline.
marker_bits = st.sampled_from(
    [
        BEGIN_FORMAT % (OTHER, 0),
        END_OUT_FORMAT % (OTHER, 0, 0),
        END_ERR_FORMAT % (OTHER, 1),
        f"{NONCE[:31]} B 0\n",
        f"{NONCE[1:]} E 0 0\n",
        "\n",
        "%s B %d\\n",
        " E 0 ",
        NONCE[:16],
    ]
)
remote_text = st.lists(st.one_of(st.text(max_size=30), marker_bits), max_size=6).map("".join)
part_outputs = st.builds(PartOutput, remote_text, remote_text, st.integers(0, 255))


@settings(max_examples=300, deadline=None)
@given(st.lists(part_outputs, min_size=1, max_size=6))
def test_any_parts_round_trip(parts: list[PartOutput]) -> None:
    split = split_batch(*emit(parts), NONCE, len(parts))
    assert split.parts == tuple(parts)


@settings(max_examples=300, deadline=None)
@given(st.lists(part_outputs, min_size=1, max_size=5), st.data())
def test_a_truncated_stream_keeps_every_part_before_the_cut(
    parts: list[PartOutput], data: st.DataObject
) -> None:
    out, err = emit(parts)
    cut = data.draw(st.integers(0, len(out)), label="cut")
    split = split_batch(out[:cut], err, NONCE, len(parts))
    for i, (got, want) in enumerate(zip(split.parts, parts, strict=True)):
        end = out.index(END_OUT_FORMAT % (NONCE, i, want.exit_status)) + len(
            END_OUT_FORMAT % (NONCE, i, want.exit_status)
        )
        if end <= cut:
            assert got == want  # finished before the cut: whole
        else:
            assert got.problem is not None and got.exit_status is None
            assert want.stdout.startswith(got.stdout)  # never more than was written


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200), st.text(max_size=200), st.integers(1, 8))
def test_any_text_splits_without_crashing(stdout: str, stderr: str, count: int) -> None:
    split = split_batch(stdout, stderr, NONCE, count)
    assert len(split.parts) == count
    assert not split.markers_seen  # random text never holds this batch's markers


# --- the split of a batch that ran as written, in one cut, against marker by marker --------


def _same_as_marker_by_marker(out: str, err: str, count: int) -> bool:
    """split_batch's quick way, when it takes it, says what the careful one says."""
    whole = batch_module._whole(out, err, NONCE, count)
    if whole is None:
        return False
    assert whole == batch_module._split(out, err, NONCE, count)
    return True


def test_a_batch_as_written_is_split_in_one_cut() -> None:
    parts = [
        PartOutput("a\n", "", 0),
        PartOutput("", "oops\n", 2),
        PartOutput("no newline", "x", 1),
    ]
    out, err = emit(parts)
    assert _same_as_marker_by_marker(out, err, 3)
    assert _same_as_marker_by_marker("motd\n" + out, "mesg: ttyname failed\n" + err, 3)
    # Anything out of place goes marker by marker (and says the same as before).
    assert not _same_as_marker_by_marker(out + "late\n", err, 3)
    assert not _same_as_marker_by_marker(out.replace(" S 1\n", " S 0\n"), err, 3)
    assert not _same_as_marker_by_marker(out, err, 2)


@settings(max_examples=400, deadline=None)
@given(st.lists(part_outputs, min_size=1, max_size=6), st.data())
def test_the_one_cut_split_agrees_with_marker_by_marker(
    parts: list[PartOutput], data: st.DataObject
) -> None:
    out, err = emit(parts)
    clean = not any(NONCE in p.stdout or NONCE in p.stderr for p in parts)
    # A part holding the nonce itself (a 2**-128 chance on a node) is read marker by marker.
    assert _same_as_marker_by_marker(out, err, len(parts)) is clean
    # Damaged streams: a piece cut out, or text put in, anywhere, on either stream.
    stream = data.draw(st.sampled_from(["out", "err"]), label="stream")
    text = out if stream == "out" else err
    at = data.draw(st.integers(0, len(text)), label="at")
    if data.draw(st.booleans(), label="insert"):
        text = text[:at] + data.draw(remote_text, label="inserted") + text[at:]
    else:
        text = text[:at] + text[at + data.draw(st.integers(0, 40), label="cut") :]
    damaged = (text, err) if stream == "out" else (out, text)
    _same_as_marker_by_marker(*damaged, len(parts))
    split = split_batch(*damaged, NONCE, len(parts))
    assert split == batch_module._split(*damaged, NONCE, len(parts))
