"""`make bench`: run every benchmark, print its figures, write bench/RESULTS.md.

A benchmark that fails is reported (here and in RESULTS.md) and the others still run;
the exit status is then 1.
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable
from types import ModuleType

from bench import fanout, results, sanitize, scale, startup, status

logs: ModuleType | None
try:
    from bench import logs
except ImportError as exc:  # bench/logs.py is written separately (the logs issue)
    logs = None
    LOGS_MISSING = f"bench/logs.py not importable: {exc}"

BENCHMARKS: list[tuple[str, ModuleType | None]] = [
    ("Status (issue 4)", status),
    ("Fan-out against peers: 20 real sshd nodes", fanout),
    ("Warm refresh at scale: 50, 100, 200 nodes at 200 ms", scale),
    ("Logs ingest", logs),
    ("Start-up", startup),
    ("Remote-text sanitizer (issue 14)", sanitize),
]


def _section(title: str, module: ModuleType | None) -> results.Section:
    print(f"== {title}", flush=True)
    t0 = time.monotonic()
    if module is None:
        return results.Section(title, [LOGS_MISSING], failed=True)
    run: Callable[[], list[str]] = module.run
    notes = str(getattr(module, "NOTES", ""))
    try:
        lines = run()
        failed = False
    except Exception as exc:  # one broken benchmark must not hide the others' figures
        traceback.print_exc()
        lines, failed = [f"FAILED: {exc.__class__.__name__}: {exc}"], True
    for line in lines:
        print(line, flush=True)
    return results.Section(title, lines, notes, time.monotonic() - t0, failed)


def main() -> int:
    load = results.load_average()
    sections = [_section(title, module) for title, module in BENCHMARKS]
    path = results.write(sections, load_at_start=load)
    print(f"== written {path}", flush=True)
    return 1 if any(s.failed for s in sections) else 0


sys.exit(main())
