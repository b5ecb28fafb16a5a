"""The one sanitizer (core/sanitize.py): nothing forbidden comes out, printable text is
left alone, a second pass changes nothing."""

from __future__ import annotations

from hostile import ALL, BIDI, C0, C1, DEL, FUZZ, PAYLOADS, counted, escapes, hostile_text, leaks
from hypothesis import given
from hypothesis import strategies as st

from resil_tui.core import sanitize
from resil_tui.core.sanitize import clean, code_fence, is_clean


def test_issue_example_is_made_visible() -> None:
    raw = "EDGE_FQDN=edge\x1b]52;c;aGk=\x07\x1b[2J FAKE ALL OK"
    assert clean(raw) == "EDGE_FQDN=edge␛]52;c;aGk=␇␛[2J FAKE ALL OK"


def test_every_payload_is_visible_not_emitted() -> None:
    for name, payload in PAYLOADS.items():
        out = clean(f"before {payload} after")
        assert leaks(out) == 0, name
        assert out.startswith("before ") and out.endswith(" after"), name
        # Made visible, never silently dropped (the admin must see that something was sent).
        assert out != "before  after", name


def test_scheme() -> None:
    assert clean("\x1b") == "␛"
    assert clean("\x07\x00\x7f") == "␇␀␡"
    assert clean("\x9b") == "⟨U+009B⟩"
    assert clean("\u202e") == "⟨U+202E⟩"
    assert clean("a\rb") == "a␍b"
    assert clean("a\r\nb\r\r\nc") == "a\nb\nc"
    assert clean("\udc9b") == "\\x9b"  # a byte kept by surrogateescape
    assert clean("\ud800") == "⟨U+D800⟩"
    assert clean("\x1b[31mred\x1b[0m \x1b[1;32mok\x1b[m") == "red ok"  # colours removed
    assert clean("tab\tnew\nline") == "tab\tnew\nline"
    assert clean("a\nb", one_line=True) == "a␤b"


def test_colour_removal_cannot_forge_a_sequence() -> None:
    # Removing the inner SGR joins "\x1b" and "[2J": the result must still be visible.
    out = clean("\x1b\x1b[0m[2J")
    assert out == "␛[2J"


def test_forbidden_set_matches_the_rule() -> None:
    assert {chr(c) for c in sanitize._forbidden()} - {chr(c) for c in range(0xD800, 0xE000)} == (
        C0 | C1 | BIDI | {DEL}
    )


@FUZZ
@given(hostile_text)
def test_no_forbidden_character_ever_comes_out(text: str) -> None:
    counted("sanitize: no forbidden output")
    out = clean(text)
    assert leaks(out) == 0
    assert escapes(out) == 0
    assert is_clean(out)
    assert clean(out) == out  # idempotent
    assert leaks(clean(text, one_line=True)) == 0
    assert "\n" not in clean(text, one_line=True)


@FUZZ
@given(st.text(alphabet=st.characters(exclude_categories=["Cc", "Cs"], exclude_characters=BIDI)))
def test_printable_text_is_unchanged(text: str) -> None:
    counted("sanitize: printable unchanged")
    assert clean(text) == text
    assert clean(text + "\n\t" + text) == text + "\n\t" + text


@FUZZ
@given(st.lists(st.sampled_from([*PAYLOADS.values(), "x", "\n", "\r", "\r\n"]), max_size=30))
def test_visible_markers_are_never_forbidden(parts: list[str]) -> None:
    counted("sanitize: payload mixes")
    out = clean("".join(parts))
    assert leaks(out) == 0 and clean(out) == out


def test_code_fence_cannot_be_closed_by_the_content() -> None:
    body = "ok\n```\n# INJECTED HEADING\n````\n" + ALL
    block = code_fence(body)
    fence = block.splitlines()[0]
    assert len(fence) == 5 and set(fence) == {"`"}
    inner = block.splitlines()[1:-1]
    assert all(not line.startswith(fence) for line in inner)
    assert block.splitlines()[-1] == fence
    assert leaks(block) == 0


# Every code point at or next to a forbidden range above ASCII, and some that share their
# UTF-8 lead byte (U+2026 "…", U+2019 "’", Hangul before the surrogates).
_NEAR_FORBIDDEN = [
    chr(c)
    for c in [
        *(0x7F, 0x80, 0x9F, 0xA0, 0xE9, 0x61B, 0x61C, 0x61D, 0x200D, 0x200E, 0x200F),
        *(0x2010, 0x2019, 0x2026, 0x2029, 0x202A, 0x202E, 0x202F, 0x2065, 0x2066, 0x2069),
        *(0x206A, 0xD7FF, 0xD800, 0xDC80, 0xDFFF, 0xE000, 0x1F600),
    ]
]


@FUZZ
@given(st.lists(st.sampled_from([*_NEAR_FORBIDDEN, "a", "\n", "\x1b", "\x07"]), max_size=80))
def test_the_quick_check_of_wide_text_agrees_with_the_rule(parts: list[str]) -> None:
    counted("sanitize: wide text check")
    text = "".join(parts)
    if text.isascii():
        return
    assert sanitize._wide_clean(text) is (sanitize._unsafe().search(text) is None)
    assert sanitize._wide_clean(text * 40) is (sanitize._unsafe().search(text) is None)
