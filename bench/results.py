"""bench/RESULTS.md: the figures of one `make bench` run, with the machine they came from.

A ratio only means something next to the machine and the run that produced it, so the
file is rewritten whole by every run: date, machine, the RESULT lines, then one section
per benchmark.

Every benchmark has one headline figure and its target (`Target`): a benchmark module
declares its targets in `TARGETS` and its `run(quick)` returns one `Measured` per target,
in that order. The driver (`python -m bench`) prints each benchmark's lines and ends it
with exactly one line `RESULT <name> <figure> <target> ok|short`.
"""

from __future__ import annotations

import math
import os
import platform
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

RESULTS_PATH = Path(__file__).resolve().parent / "RESULTS.md"


@dataclass(frozen=True)
class Target:
    """What one benchmark's headline figure is compared with."""

    name: str  # the RESULT name: one word
    title: str  # the section title
    target: float
    unit: str = "x"  # printed after both numbers, no blank: "x", "ms", "/s", ""
    higher_is_better: bool = False
    digits: int = 2

    def ok(self, value: float | None) -> bool:
        if value is None or math.isnan(value):
            return False
        return value >= self.target if self.higher_is_better else value <= self.target

    def _number(self, value: float) -> str:
        return f"{value:.{self.digits}f}{self.unit}"

    def result_line(self, value: float | None, missed: tuple[str, ...] = ()) -> str:
        """`missed`: the target's other criteria (its lines print them) that were not met;
        any of them makes the line short whatever its figure."""
        figure = "failed" if value is None or math.isnan(value) else self._number(value)
        op = ">=" if self.higher_is_better else "<="
        verdict = "ok" if self.ok(value) and not missed else "short"
        return f"RESULT {self.name} {figure} {op}{self._number(self.target)} {verdict}"


@dataclass
class Measured:
    """What a benchmark module measured for one of its targets."""

    lines: list[str]  # figures: "| ..." lines form a Markdown table, others become bullets
    value: float | None  # the headline figure (None: not measured)
    notes: str = ""  # how it was measured (Markdown)
    # Criteria of the same target besides its figure (a lag, a memory bound) not met.
    missed: tuple[str, ...] = ()


@dataclass
class Section:
    title: str
    lines: list[str]  # figures: "| ..." lines form a Markdown table, others become bullets
    notes: str = ""  # how it was measured (Markdown), from the module's NOTES
    seconds: float = 0.0  # how long the benchmark took
    failed: bool = False
    result: str = ""  # the RESULT line


def _first_match(path: str, pattern: str) -> str | None:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return None
    m = re.search(pattern, text, re.MULTILINE)
    return m.group(1).strip() if m else None


def _tool_version(argv: list[str]) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable ({exc.__class__.__name__})"
    out = (proc.stdout + proc.stderr).strip().splitlines()
    return out[0] if out else "unknown"


def load_average() -> str:
    """/proc/loadavg's 1, 5 and 15 minute figures: other work on the machine skews ratios."""
    try:
        return " / ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def machine() -> dict[str, str]:
    mem_kb = _first_match("/proc/meminfo", r"^MemTotal:\s+(\d+)")
    versions = []
    for dist in ("textual", "asyncssh"):
        try:
            from importlib.metadata import version

            versions.append(f"{dist} {version(dist)}")
        except Exception:  # an absent distribution is worth a line, not a crash
            versions.append(f"{dist} ?")
    return {
        "nproc": str(os.cpu_count() or "?"),
        "CPU": _first_match("/proc/cpuinfo", r"^model name\s*:\s*(.+)$") or platform.processor(),
        "RAM": f"{int(mem_kb) / 1024 / 1024:.1f} GiB" if mem_kb else "?",
        "OS": _first_match("/etc/os-release", r'^PRETTY_NAME="?([^"\n]+)') or platform.platform(),
        "kernel": platform.release(),
        "Python": f"{platform.python_implementation()} {sys.version.split()[0]}",
        "OpenSSH": _tool_version(["ssh", "-V"]),
        "libraries": ", ".join(versions),
    }


def _render_lines(lines: list[str]) -> list[str]:
    out: list[str] = []
    in_table = False
    for line in lines:
        is_row = line.startswith("|")
        if is_row and not in_table and out and out[-1] != "":
            out.append("")
        if not is_row and in_table:
            out.append("")
        out.append(line if is_row else f"- {line}")
        in_table = is_row
    return out


def render(sections: list[Section], when: datetime | None = None, load_at_start: str = "") -> str:
    when = when or datetime.now(UTC)
    doc = [
        "# resil-tui benchmarks",
        "",
        f"Written by `make bench` (`python -m bench`) on {when:%Y-%m-%d %H:%M} UTC. "
        "Every ratio compares figures measured in the same run on this machine; "
        "rerun `make bench` to refresh them.",
        "",
        "## Machine",
        "",
        "| | |",
        "| --- | --- |",
    ]
    doc += [f"| {k} | {v} |" for k, v in machine().items()]
    if load_at_start:
        doc.append(f"| load average at start (1 / 5 / 15 min) | {load_at_start} |")
    doc.append(f"| load average at end (1 / 5 / 15 min) | {load_average()} |")
    total = sum(s.seconds for s in sections)
    doc += ["", f"The whole run took {total / 60:.1f} min.", "", "## Results", "", "```"]
    doc += [s.result for s in sections if s.result]
    doc += ["```"]
    for s in sections:
        doc += ["", f"## {s.title}", ""]
        if s.failed:
            doc.append("**This benchmark failed in this run:**")
            doc.append("")
        doc += _render_lines(s.lines)
        if s.result:
            doc += ["", f"`{s.result}`"]
        if s.notes.strip():
            doc += ["", s.notes.strip()]
        if s.seconds:
            doc += ["", f"_(took {s.seconds:.0f} s)_"]
    return "\n".join(doc) + "\n"


def write(sections: list[Section], path: Path = RESULTS_PATH, load_at_start: str = "") -> Path:
    path.write_text(render(sections, load_at_start=load_at_start))
    return path
