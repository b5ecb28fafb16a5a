"""`python -m bench.monitoring [--quick]`: how fast `resil-tui check` (the monitoring
plugin) starts and answers, against baselines measured in the same run.

Every figure is a fresh process timed from spawn to exit, median of RUNS, all kinds
interleaved, against one lab process (2 XiVO nodes, no added latency):
- `python -c pass`: the floor of any Python command;
- `resil-tui check-config` on that inventory: start-up and inventory, no SSH;
- `resil-tui status --json`: the command monitoring used before `check` existed;
- `resil-tui check`: the plugin, a full poll and its status line;
- `resil-tui metrics`: the same poll as Prometheus text.

Its figure, `RESULT check-start <check / status --json> <=1.15x ok|short`: the plugin
must cost no more than the status command it replaces (same poll, same imports plus its
own small modules). Run by `python -m bench` with the others.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.labproc import lab_process
from bench.results import Measured, Target

ROOT = Path(__file__).resolve().parents[1]
RUNS, QUICK_RUNS = 10, 3
TARGET = 1.15
TARGETS = (
    Target(
        "check-start", "resil-tui check (monitoring plugin) vs status --json, 2 lab nodes", TARGET
    ),
)
TIMEOUT = 60.0


def _resil_tui() -> list[str]:
    script = Path(sys.executable).with_name("resil-tui")
    return [str(script)] if script.exists() else [sys.executable, "-m", "resil_tui"]


def _wall(argv: list[str], env: dict[str, str], ok: tuple[int, ...]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(
        argv, capture_output=True, env=env, stdin=subprocess.DEVNULL, timeout=TIMEOUT, check=False
    )
    elapsed = time.perf_counter() - t0
    if proc.returncode not in ok:
        raise RuntimeError(
            f"{argv[-3:]} exited {proc.returncode}: {proc.stderr.decode(errors='replace')[-400:]}"
        )
    return elapsed


def measure(tmp: Path, runs: int) -> dict[str, float]:
    env = dict(
        os.environ,
        XDG_STATE_HOME=str(tmp / "state"),
        XDG_CONFIG_HOME=str(tmp / "config"),
        PYTHONPATH=str(ROOT),
    )
    py, tui = sys.executable, _resil_tui()
    kinds = ("pass", "check_config", "status", "check", "metrics")
    times: dict[str, list[float]] = {k: [] for k in kinds}
    with lab_process(tmp / "lab", 1, cc=False, edge=False, mds=0) as inv:
        hosts = ["--hosts", str(inv)]
        for _ in range(runs):
            times["pass"].append(_wall([py, "-c", "pass"], env, (0,)))
            times["check_config"].append(_wall([*tui, "check-config", str(inv)], env, (0,)))
            times["status"].append(_wall([*tui, *hosts, "status", "--json"], env, (0, 1)))
            times["check"].append(_wall([*tui, *hosts, "check"], env, (0, 1)))
            times["metrics"].append(_wall([*tui, *hosts, "metrics"], env, (0,)))
    return {k: statistics.median(v) for k, v in times.items()}


def run(quick: bool = False) -> list[Measured]:
    lines, ratio = table(quick)
    return [Measured(lines, ratio)]


def table(quick: bool) -> tuple[list[str], float]:
    with tempfile.TemporaryDirectory(prefix="resil-monitoring-") as d:
        t = measure(Path(d), QUICK_RUNS if quick else RUNS)
    ms = {k: v * 1000 for k, v in t.items()}
    ratio = t["check"] / t["status"]
    return [
        "| process | median ms | ratio | to |",
        "| --- | ---: | ---: | --- |",
        f"| `python -c pass` | {ms['pass']:.0f} | 1.00 | itself |",
        f"| `resil-tui check-config` (no SSH) | {ms['check_config']:.0f} "
        f"| {t['check_config'] / t['pass']:.1f} | `python -c pass` |",
        f"| `resil-tui status --json` (2 lab nodes, full poll) | {ms['status']:.0f} "
        f"| {t['status'] / t['pass']:.1f} | `python -c pass` |",
        f"| `resil-tui check` (same poll, plugin output) | {ms['check']:.0f} "
        f"| {ratio:.2f} | `status --json` |",
        f"| `resil-tui metrics` (same poll, exposition) | {ms['metrics']:.0f} "
        f"| {t['metrics'] / t['status']:.2f} | `status --json` |",
    ], ratio


if __name__ == "__main__":
    (got,) = run("--quick" in sys.argv)
    for line in got.lines:
        print(line, flush=True)
    print(TARGETS[0].result_line(got.value), flush=True)
