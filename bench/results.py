"""bench/RESULTS.md: the figures of one `make bench` run, with the machine they came from.

A ratio only means something next to the machine and the run that produced it, so the
file is rewritten whole by every run: date, machine, then one section per benchmark.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

RESULTS_PATH = Path(__file__).resolve().parent / "RESULTS.md"


@dataclass
class Section:
    title: str
    lines: list[str]  # figures: "| ..." lines form a Markdown table, others become bullets
    notes: str = ""  # how it was measured (Markdown), from the module's NOTES
    seconds: float = 0.0  # how long the benchmark took
    failed: bool = False


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
    doc += ["", f"The whole run took {total / 60:.1f} min."]
    for s in sections:
        doc += ["", f"## {s.title}", ""]
        if s.failed:
            doc.append("**This benchmark failed in this run:**")
            doc.append("")
        doc += _render_lines(s.lines)
        if s.notes.strip():
            doc += ["", s.notes.strip()]
        doc += ["", f"_(took {s.seconds:.0f} s)_"]
    return "\n".join(doc) + "\n"


def write(sections: list[Section], path: Path = RESULTS_PATH, load_at_start: str = "") -> Path:
    path.write_text(render(sections, load_at_start=load_at_start))
    return path
