"""`python -m bench [--quick] [--only MODULE...]`: every benchmark, each ending with its RESULT.

Every benchmark prints its figures and ends with exactly one line

    RESULT <name> <figure> <target> ok|short

`make bench` (the full run) also writes bench/RESULTS.md; `make bench-quick` (`--quick`:
every benchmark in a short form, the whole run in under 120 s) only prints. A benchmark
that fails is reported (RESULT ... failed ... short) and the others still run; the exit
status is then 1.
"""

from __future__ import annotations

import argparse
import math
import time
import traceback
from types import ModuleType

from bench import fanout, monitoring, results, sanitize, scale, startup, status
from bench.results import Measured, Section, Target

logs: ModuleType | None
try:
    from bench import logs
except ImportError as exc:  # one benchmark that does not import must not stop the others
    logs = None
    LOGS_MISSING = f"bench/logs.py not importable: {exc}"

MODULES: list[tuple[str, ModuleType | None]] = [
    ("status", status),
    ("fanout", fanout),
    ("scale", scale),
    ("logs", logs),
    ("startup", startup),
    ("monitoring", monitoring),
    ("sanitize", sanitize),
]
QUICK_BUDGET_S = 120.0


def run_module(name: str, module: ModuleType | None, quick: bool) -> list[Section]:
    """Run one module's benchmarks and print them, each with its RESULT line."""
    if module is None:
        target = Target(name, f"{name} (not importable)", float("nan"))
        measured: list[Measured] = [Measured([LOGS_MISSING], None)]
        targets: tuple[Target, ...] = (target,)
        seconds, failed = 0.0, True
    else:
        targets = module.TARGETS
        t0 = time.monotonic()
        try:
            measured = module.run(quick=quick)
            if len(measured) != len(targets):
                raise RuntimeError(f"{len(measured)} figures for {len(targets)} targets")
            failed = False
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            traceback.print_exc()
            why = f"FAILED: {exc.__class__.__name__}: {exc}"
            measured = [Measured([why], None) for _ in targets]
            failed = True
        seconds = time.monotonic() - t0
    notes = str(getattr(module, "NOTES", "")) if module is not None else ""
    sections = []
    for i, (target, got) in enumerate(zip(targets, measured, strict=True)):
        print(f"== {target.title}", flush=True)
        lines = got.lines
        if got.missed:  # why a figure within its target still reads short
            lines = [*lines, f"not met besides the figure: {'; '.join(got.missed)}"]
        for line in lines:
            print(line, flush=True)
        result = target.result_line(got.value, got.missed)
        print(result, flush=True)
        sections.append(
            Section(
                target.title,
                lines,
                got.notes or (notes if i == 0 else ""),
                seconds if i == 0 else 0.0,
                failed or got.value is None or math.isnan(got.value),  # NaN: no figure
                result,
            )
        )
    return sections


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every benchmark, short form")
    parser.add_argument("--only", nargs="+", choices=[n for n, _ in MODULES], metavar="MODULE")
    args = parser.parse_args(argv)
    load = results.load_average()
    t0 = time.monotonic()
    sections: list[Section] = []
    for name, module in MODULES:
        if args.only is None or name in args.only:
            sections += run_module(name, module, args.quick)
    took = time.monotonic() - t0
    if args.quick:
        over = "" if took <= QUICK_BUDGET_S else f" OVER the {QUICK_BUDGET_S:.0f} s budget"
        print(f"== quick run took {took:.0f} s{over}", flush=True)
    elif args.only is None:
        path = results.write(sections, load_at_start=load)
        print(f"== written {path} ({took / 60:.1f} min)", flush=True)
    return 1 if any(s.failed for s in sections) else 0
