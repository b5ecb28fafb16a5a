"""The one sanitizer for text that came from a node (or any other untrusted source).

Remote text is untrusted: a `.env` value, a service name, script output or an SSH
disconnect reason can carry terminal escapes (OSC 52 writes the admin's clipboard, CSI 2J
clears the screen, cursor moves overwrite a verdict), C1 controls (0x9B is a one-byte
CSI on some terminals) or bidi overrides that make `10.0.0.2` read as something else.
`clean()` makes every such character *visible* instead of emitting it, so that the admin
sees that something odd was sent, and nothing the node sends can act on the terminal.

The scheme, one spelling per kind, none of them a control character itself:
- C0 controls (except tab and newline) and DEL: their Control Pictures (`␛` for ESC,
  `␇` for BEL, `␀` for NUL, `␡` for DEL). A lone CR is `␍` (a CR returns the cursor and
  lets the rest of the line overwrite what came before); CRs before a newline
  (`\r\n`, a PTY's `\r\r\n`) are dropped.
- C1 controls (U+0080-U+009F) and the bidi controls (U+061C, U+200E, U+200F,
  U+202A-U+202E, U+2066-U+2069): `⟨U+009B⟩`, `⟨U+202E⟩`.
- Lone surrogates: an undecodable byte kept by `surrogateescape` (U+DC80-U+DCFF) is shown
  as the byte, `\\x9b`; any other surrogate (cannot be printed at all) as `⟨U+D800⟩`.
- Colour and style sequences (SGR, `ESC [ ... m`) are removed whole: they are what
  `docker compose logs` sends under a PTY, and dropping them can only reveal text
  (concealed or black-on-black), never hide it.

Tab and newline stay. Everything else (printable text, any script) is left exactly as
it was, and `clean(clean(x)) == clean(x)`. Pure: no I/O. One table of replacements; ASCII
text without controls (nearly every line a node prints) is returned as it is after a
C-speed scan (bench/sanitize.py measures both paths).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

# Code points that must never reach a terminal, a log line or a report.
C0 = frozenset(range(0x00, 0x20)) - {0x09, 0x0A}
DEL = frozenset({0x7F})
C1 = frozenset(range(0x80, 0xA0))
BIDI = frozenset({0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)})
SURROGATES = range(0xD800, 0xE000)  # all of them together: _forbidden()

# SGR (colour/style) sequences only: anything else with an ESC is made visible.
_SGR = re.compile(r"\x1b\[[0-9;:]{0,64}m")
# CRs right before a newline cannot overwrite anything (PTYs send "\r\n", even "\r\r\n").
_CRLF = re.compile(r"\r+\n")
_ASCII_UNSAFE = bytes(c for c in range(0x80) if c in C0 or c in DEL)


@functools.cache
def _unsafe() -> re.Pattern[str]:
    """Any forbidden character. Compiled when first needed: its ranges beyond Latin-1
    were 0.4 ms of every command's start-up, and text without controls never needs it."""
    return re.compile(
        "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
    )


def _visible(code: int) -> str:
    if code in C0:
        return chr(0x2400 + code)  # Control Pictures: ␀ ... ␟
    if code == 0x7F:
        return "␡"
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"  # a byte surrogateescape kept
    return f"⟨U+{code:04X}⟩"


def _forbidden() -> frozenset[int]:
    """Every code point made visible. Built when first needed (by `_tables`): as a
    module constant it was 0.2 ms of every command's start-up."""
    return C0 | DEL | C1 | BIDI | frozenset(SURROGATES)


@functools.cache
def _tables() -> tuple[dict[int, str], dict[int, str]]:
    """The replacement of every forbidden code point, and the same table with newline
    shown too (text that must stay on one line). Built when first needed: its 2,000-odd
    entries (the surrogates) were 0.7 ms of the start-up of every command, and most
    never print a control."""
    table = {code: _visible(code) for code in _forbidden()}
    return table, {**table, 0x0A: "␤"}


def _ascii_clean(text: str) -> bool:
    # C speed (bytes.translate) on the common case: ASCII text without any control.
    raw = text.encode("ascii")
    return len(raw.translate(None, _ASCII_UNSAFE)) == len(raw)


# The forbidden code points above U+007F, by the first byte of their UTF-8 form (with
# "surrogatepass", a lone surrogate is 0xED 0xA0-0xBF), and what may follow it. Lead bytes
# never occur inside another character's encoding, so a find() lands on a character.
_WIDE_LEADS: tuple[tuple[bytes, Callable[[bytes], bool]], ...] = (
    (b"\xc2", lambda rest: 0x80 <= rest[0] <= 0x9F),  # C1
    (b"\xd8", lambda rest: rest[0] == 0x9C),  # U+061C
    (
        b"\xe2",  # U+200E, U+200F, U+202A-U+202E, U+2066-U+2069
        lambda rest: (
            (rest[0] == 0x80 and (rest[1] in (0x8E, 0x8F) or 0xAA <= rest[1] <= 0xAE))
            or (rest[0] == 0x81 and 0xA6 <= rest[1] <= 0xA9)
        ),
    ),
    (b"\xed", lambda rest: rest[0] >= 0xA0),  # surrogates
)
_WIDE_LOOKS = 64  # past this many candidates, the one regex scan is the quicker check


def _wide_clean(text: str) -> bool:
    """`_unsafe().search(text) is None` for text that is not all ASCII, at C speed in the
    common case (a few "…" or accents in a long output): the bytes are searched for the
    lead bytes of forbidden characters rather than the text scanned by a regex."""
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw.translate(None, _ASCII_UNSAFE)) != len(raw):
        return False
    looks = 0
    for lead, forbidden in _WIDE_LEADS:
        i = raw.find(lead)
        while i >= 0:
            looks += 1
            if looks > _WIDE_LOOKS:
                return _unsafe().search(text) is None
            if forbidden(raw[i + 1 : i + 3]):
                return False
            i = raw.find(lead, i + 1)
    return True


def clean(text: str, *, one_line: bool = False) -> str:
    """`text` with every control, escape and bidi character made visible (see above).
    With `one_line`, a newline is shown as `␤` too (a table cell, a status line)."""
    if not isinstance(text, str):
        text = str(text)
    if text.isascii():
        if _ascii_clean(text) and not (one_line and "\n" in text):
            return text
    elif not one_line and _wide_clean(text):
        return text  # nothing to show otherwise: `_unsafe().sub` below would find nothing
    if "\r\n" in text:
        text = _drop_crs_before_newlines(text)
    if "\x1b[" in text:
        text = _SGR.sub("", text)
    if one_line:
        return text.translate(_tables()[1])
    if text.isascii() and _ascii_clean(text):
        return text  # colour sequences were all there was
    # Sparse bad characters in a long text: a regex callback per match beats translating
    # every character (see bench/sanitize.py); the table is the same.
    return _unsafe().sub(_replace, text)


def _drop_crs_before_newlines(text: str) -> str:
    """`_CRLF.sub("\\n", text)`: a PTY's "\\r\\n" on every line goes at C speed (str.replace);
    the regex only for runs of several CRs beyond the PTY's "\\r\\r\\n"."""
    for _ in range(2):
        text = text.replace("\r\n", "\n")
        if "\r\n" not in text:
            return text
    return _CRLF.sub("\n", text)


def _replace(match: re.Match[str]) -> str:
    return _tables()[0][ord(match.group())]


def is_clean(text: str) -> bool:
    """True when `text` holds no control, escape, bidi or surrogate character."""
    if text.isascii():
        return _ascii_clean(text)
    return _unsafe().search(text) is None


def longest_backtick_run(text: str) -> int:
    """Length of the longest run of backticks in `text` (for Markdown code fences)."""
    runs = re.findall(r"`+", text)
    return max((len(r) for r in runs), default=0)


def code_fence(text: str, info: str = "") -> str:
    """`text` as a Markdown fenced block that no line of it can close: the fence is
    longer than any backtick run inside, and the text is cleaned first."""
    body = clean(text)
    fence = "`" * max(3, longest_backtick_run(body) + 1)
    if body and not body.endswith("\n"):
        body += "\n"
    return f"{fence}{info}\n{body}{fence}\n"
