"""Payloads and helpers of the security tier (imported by its tests and conftest).

The forbidden sets are written here again, independently of resil_tui.core.sanitize, so
that a test checks the product against a second reading of the rule.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# --- hypothesis profiles ---------------------------------------------------------------

settings.register_profile(
    "quick",
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "fuzz",
    max_examples=1500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
PROFILE = os.environ.get("RESIL_TUI_HYPOTHESIS", "quick")
if PROFILE not in ("quick", "fuzz"):
    raise RuntimeError(f"RESIL_TUI_HYPOTHESIS must be quick or fuzz, not {PROFILE!r}")
FUZZ = settings(settings.get_profile(PROFILE))

CASES: Counter[str] = Counter()
# payload -> display path -> {"leaked": n, "escapes": n, "visible": n} (test_matrix.py)
MATRIX: dict[str, dict[str, dict[str, int]]] = {}


def counted(name: str) -> None:
    CASES[name] += 1


# --- what must never come out --------------------------------------------------------------

ESC = "\x1b"
C1 = {chr(c) for c in range(0x80, 0xA0)}
BIDI = {
    "\u061c",
    "\u200e",
    "\u200f",
    *map(chr, range(0x202A, 0x202F)),
    *map(chr, range(0x2066, 0x206A)),
}
C0 = {chr(c) for c in range(0x20)} - {"\t", "\n"}
DEL = "\x7f"


def leaks(text: Any) -> int:
    """Characters of `text` (str, or a structure of them) that would act on a terminal."""
    if isinstance(text, str):
        return sum(1 for ch in text if ch in C0 or ch in C1 or ch in BIDI or ch == DEL)
    if isinstance(text, bytes):
        return leaks(text.decode("utf-8", "replace"))
    if isinstance(text, dict):
        return sum(leaks(k) + leaks(v) for k, v in text.items())
    if isinstance(text, list | tuple | set | frozenset):
        return sum(leaks(v) for v in text)
    return 0


def escapes(text: str) -> int:
    """ESC and C1 characters only: the figure docs/SECURITY.md reports."""
    return sum(1 for ch in text if ch == ESC or ch in C1)


# --- payloads --------------------------------------------------------------------------------

OSC52 = "\x1b]52;c;cm0gLXJmIC8K\x07"  # writes "rm -rf /" into the admin's clipboard
OSC8 = "\x1b]8;;https://evil.example/\x1b\\click here\x1b]8;;\x1b\\"
CSI_CLEAR = "\x1b[2J\x1b[H"
CURSOR = "\x1b[1A\x1b[2K\x1b[10;10H\x1b7\x1b8"
C1_SEQ = "\x9b2J\x9d52;c;eA==\x9c"  # 8-bit CSI, OSC, ST
BIDI_SEQ = "\u202e10.0.0.2\u202c \u2066x\u2069\u200f\u061c"
CR_OVERWRITE = "\rFAKE ALL OK"
PAYLOADS: dict[str, str] = {
    "OSC 52": OSC52,
    "OSC 8": OSC8,
    "CSI 2J": CSI_CLEAR,
    "cursor moves": CURSOR,
    "C1": C1_SEQ,
    "bidi": BIDI_SEQ,
    "CR overwrite": CR_OVERWRITE,
}
ALL = "".join(PAYLOADS.values())

hostile_text = st.one_of(
    st.text(),
    st.builds(
        "".join,
        st.lists(st.sampled_from([*PAYLOADS.values(), "a", " ", "\n", "\r", "\t", "é"])),
    ),
    st.builds("".join, st.lists(st.sampled_from(sorted(C0 | C1 | BIDI | {DEL, "x", "\n"})))),
)
