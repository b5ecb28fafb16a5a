"""The remote-text sanitizer (issue 14): what `core.sanitize.clean` costs per MB.

Three inputs of ~4 MB each, made once: clean log text (what nodes print almost always),
log text with a colour sequence on every line (`docker compose logs` under a PTY), and
hostile text (an escape, a C1 and a bidi control on every line). Each is cleaned as one
string and as 64 KiB chunks (what a PTY read hands over). The baselines, measured in the
same run on the same strings: a plain copy of the text (`(" " + text)[1:]`) and the UTF-8
decode every remote byte already pays (`bytes.decode("utf-8", "replace")`).

    python -m bench.sanitize
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from bench.results import Measured, Target
from resil_tui.core.sanitize import clean, is_clean

LINES = 40_000
QUICK_LINES = 10_000
CHUNK = 64 * 1024
RUNS = 7
QUICK_RUNS = 3
# The logs target of issue 17 is 100,000 lines/s of ~120 bytes end to end (12 MB/s): the
# sanitizer must keep up with that even when every line is hostile. The headline figure is
# the slowest input cleaned as 64 KiB chunks (what a PTY read hands over), in MB/s.
TARGETS = (
    Target(
        "sanitize-worst-input",
        "Remote-text sanitizer, slowest input in 64 KiB chunks (MB/s; logs need 12)",
        12,
        "MB/s",
        higher_is_better=True,
        digits=0,
    ),
)

NOTES = """Median of 7 runs per figure, all in one process, the inputs built once (~4 MB
each, 40,000 log-like lines). A ratio is the figure's time over the plain copy's time on
the same input in the same run. "decode" is what `_decode` already did before the
sanitizer existed: `bytes.decode("utf-8", "replace")`.
"""


def _line(i: int) -> str:
    return (
        f"xuc-1  | 2026-11-25T10:00:{i % 60:02d}.{i:06d}Z INFO [services.agent.AgentManager] "
        f"- Agent {i} changed state to ready on 10.0.{i % 256}.{i % 200}"
    )


def inputs(lines: int = LINES) -> dict[str, str]:
    plain = "\n".join(_line(i) for i in range(lines)) + "\n"
    coloured = "\n".join(f"\x1b[36m{_line(i)}\x1b[0m" for i in range(lines)) + "\n"
    hostile = (
        "\n".join(f"\x1b]52;c;aGk=\x07{_line(i)}\x9b2J\u202e{i}\u202c" for i in range(lines)) + "\n"
    )
    return {"clean text": plain, "colour on every line": coloured, "hostile on every line": hostile}


def _median(fn: Callable[[], object], runs: int = RUNS) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _rows(name: str, text: str, runs: int) -> tuple[list[str], float]:
    """The table rows of one input, and its MB/s cleaned as 64 KiB chunks."""
    data = text.encode("utf-8")
    mb = len(data) / 1e6
    chunks = [text[i : i + CHUNK] for i in range(0, len(text), CHUNK)]
    assert is_clean(clean(text)), f"{name}: output still unsafe"
    copy = _median(lambda: (" " + text)[1:], runs)
    decode = _median(lambda: data.decode("utf-8", "replace"), runs)
    chunked = _median(lambda: [clean(x) for x in chunks], runs)
    figures = [
        ("plain copy (baseline)", copy),
        ("decode (what `_decode` did before)", decode),
        ("clean, one string", _median(lambda: clean(text), runs)),
        ("clean, 64 KiB chunks", chunked),
    ]
    rows = [
        f"| {name} | {mb:.1f} | {label} | {seconds * 1000:.2f} | {mb / seconds:,.0f} "
        f"| {seconds / copy:.1f} |"
        for label, seconds in figures
    ]
    return rows, mb / chunked


def run(quick: bool = False) -> list[Measured]:
    rows = [
        "| input | MB | operation | median ms | MB/s | ratio to plain copy |",
        "| --- | ---: | --- | ---: | ---: | ---: |",
    ]
    rates = {}
    runs = QUICK_RUNS if quick else RUNS
    for name, text in inputs(QUICK_LINES if quick else LINES).items():
        more, rates[name] = _rows(name, text, runs)
        rows += more
    worst = min(rates, key=lambda k: rates[k])
    rows.append(f"slowest input in 64 KiB chunks: {worst}, {rates[worst]:,.0f} MB/s")
    return [Measured(rows, rates[worst])]


if __name__ == "__main__":
    import sys

    for m, t in zip(run("--quick" in sys.argv), TARGETS, strict=True):
        print("\n".join(m.lines))
        print(t.result_line(m.value))
