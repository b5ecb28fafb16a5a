"""Live logs benchmark (issue 7).

1. Ingest: a headless app with the Logs pane's `LogView` (bounded buffer, Textual `Log`
   flushed with one `write_lines()` per timer tick) fed by an in-process generator at
   50,000 lines/s for 20 s (1,000,000 unique lines), with the cyclic collector as the
   console runs it (`bench/collector.py`). Figures: sustained lines/s, event-loop lag (a
   10 ms timer recording how late it fires: p50/p99/max) and RSS growth.
2. Baseline, same run and collector: a plain `Log.write_line()` per line at the same
   target rate for 2 s.
3. End to end over real SSH: the lab (own process) appends to a node's xivo-sync log, the
   product follows it with `tail -F` through `LogFollower` into a `LogView`.
4. Ceiling (issue 17): the same `LogView` fed as fast as the loop allows (no rate cap):
   the lines/s it absorbs, with the loop's lag meanwhile.
5. End to end over SSH into the Logs pane (issue 17): the console (`ResilApp`) on the lab
   process's inventory, its Logs pane following the xivo-sync log with `tail -F` (the
   pane's own worker and view), a writer *process* appending 2,000,000 lines at
   E2E_RATE lines/s; lines/s sustained into the pane, the loop's lag (p99) and the RSS
   growth of the console meanwhile.

    python -m bench.logs [--seconds S] [--rate N] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from textual.app import App, ComposeResult
from textual.widgets import Log

from bench.collector import long_running_collector
from bench.results import Measured, Target
from resil_tui.ui.widgets.log_view import DEFAULT_BUFFER_LINES, DEFAULT_DISPLAY_LINES, LogView

RATE = 50_000
E2E_FOLLOWER_RATE = 10_000  # lines/s the follower's end-to-end writer offers
SECONDS = 20.0
E2E_RATE = 150_000  # lines/s the writer offers (above the 100,000/s target)
E2E_LINES = 2_000_000
QUICK_SECONDS = 3.0
CEILING_SECONDS = 5.0
CEILING_BATCH = 2_000  # lines per producer step (one SSH read holds ~1,000 such lines)
BASELINE_SECONDS = 2.0
TICK = 0.01  # producer and lag-probe period
# The other criteria of each target, besides its figure: a RESULT is ok only if they hold.
INGEST_LAG_P99_MS = 100.0
INGEST_RSS_MB = 50.0
PANE_LAG_P99_MS = 50.0  # issue 17
PANE_RSS_MB = 50.0  # per E2E_LINES lines


def _against(value: float, limit: float) -> str:
    return f"target < {limit:g}: {'met' if value < limit else 'MISSED'}"


TARGETS = (
    # The capped ingest offers RATE lines/s and no more: its figure is the share of that
    # sustained (caught up at the end, else 0); the uncapped ceiling is printed with it.
    Target(
        "logs-ingest",
        f"Logs ingest in process at {RATE:,} lines/s (share kept up)",
        0.98,
        "",
        True,
        3,
    ),
    Target(
        "logs-ssh", "Logs end to end over SSH into the Logs pane (lines/s)", 100_000, "/s", True, 0
    ),
)


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def make_line(i: int) -> str:
    level = "WARN " if i % 97 == 0 else "ERROR" if i % 991 == 0 else "INFO "
    return (
        f"xuc-1  | 2026-11-25T10:00:{i % 60:02d}.{i % 1_000_000:06d}000Z 2026-11-25 "
        f"10:00:00,000 {level} [services.agent.AgentManager] - Agent {i} state changed"
    )


class LagProbe:
    def __init__(self) -> None:
        self.lags: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(TICK)
            self.lags.append(max(0.0, time.perf_counter() - start - TICK))

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def figures(self) -> tuple[float, float, float]:
        lags = sorted(self.lags)
        if not lags:  # no sample is no figure, not a lag of zero
            return math.nan, math.nan, math.nan
        p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))]
        return statistics.median(lags) * 1000, p99 * 1000, lags[-1] * 1000


async def produce(
    sink: Callable[[list[str]], None], rate: int, seconds: float, *, hard_stop: bool = False
) -> tuple[int, float]:
    """Feed `rate` lines/s in 10 ms batches; returns (lines, elapsed). A sink that cannot
    keep up makes it fall behind: the elapsed time grows (or, with `hard_stop`, fewer lines
    are sent by the deadline, in batches of at most one tick's worth)."""
    sent = 0
    total = int(rate * seconds)
    start = time.perf_counter()
    while sent < total:
        now = time.perf_counter() - start
        if hard_stop and now >= seconds:
            break
        due = min(total, int(now * rate) + 1)
        if hard_stop:
            due = min(due, sent + max(1, int(rate * TICK)))
        if due > sent:
            sink([make_line(i) for i in range(sent, due)])
            sent = due
        await asyncio.sleep(TICK)
    return sent, time.perf_counter() - start


class ViewApp(App[None]):
    def __init__(self, **view_kwargs: object) -> None:
        super().__init__()
        self.view_kwargs = view_kwargs

    def compose(self) -> ComposeResult:
        yield LogView("bench", **self.view_kwargs)  # type: ignore[arg-type]


class PlainLogApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Log(max_lines=DEFAULT_DISPLAY_LINES)


async def ingest(rate: int, seconds: float) -> dict[str, float]:
    app = ViewApp(
        buffer_lines=DEFAULT_BUFFER_LINES, display_lines=DEFAULT_DISPLAY_LINES, flush_interval=0.075
    )
    async with app.run_test(size=(160, 50)) as pilot:
        view = app.query_one(LogView)
        await pilot.pause(0.3)
        with long_running_collector():
            rss0 = rss_mb()
            probe = LagProbe()
            probe.start()
            sent, elapsed = await produce(view.ingest, rate, seconds)
            await pilot.pause(0.2)
            await probe.stop()
            rss1 = rss_mb()
        # Before any forced flush: the view's own timer must have drawn every line (a flush
        # here would make the check true by itself).
        caught_up = view.shown_seq == view.buffer.last_seq
        view.flush()  # for the line count below
        p50, p99, worst = probe.figures()
        return {
            "lines": sent,
            "elapsed": elapsed,
            "rate": sent / elapsed,
            "p50": p50,
            "p99": p99,
            "max": worst,
            "rss": rss1 - rss0,
            "caught_up": float(caught_up),
            "flushes": view.flushes,
            "kept": len(view.buffer),
            "shown": view.surface.line_count,
        }


async def baseline(rate: int, seconds: float) -> dict[str, float]:
    app = PlainLogApp()
    async with app.run_test(size=(160, 50)) as pilot:
        log = app.query_one(Log)
        await pilot.pause(0.3)

        def per_line(lines: list[str]) -> None:
            for line in lines:
                log.write_line(line)

        with long_running_collector():  # as for ours: the ratio compares the widgets alone
            probe = LagProbe()
            probe.start()
            sent, elapsed = await produce(per_line, rate, seconds, hard_stop=True)
            await probe.stop()
        p50, p99, worst = probe.figures()
        return {
            "lines": sent,
            "elapsed": elapsed,
            "rate": sent / elapsed,
            "p50": p50,
            "p99": p99,
            "max": worst,
        }


async def end_to_end(rate: int, seconds: float) -> dict[str, float]:
    from bench.labproc import lab_process
    from resil_tui.inventory import load_inventory
    from resil_tui.ops.logs import LogFollower, LogLines, find_stream
    from resil_tui.ops.session import make_pool

    with tempfile.TemporaryDirectory(prefix="bench-logs-") as tmp:
        os.environ.setdefault("XDG_STATE_HOME", tmp)
        with lab_process(Path(tmp) / "lab", 1, cc=False, edge=False, mds=0) as inv_path:
            inv = load_inventory(inv_path)
            node = next(n for n in inv.nodes() if n.id.endswith("xivo.master"))
            target = Path(tmp) / "lab" / "nodes" / node.id / "root" / "var/log/xivo-sync.log"
            pool = make_pool(inv, audit_path=Path(tmp) / "audit.jsonl")
            app = ViewApp()
            total = int(rate * seconds)
            received = 0
            try:
                async with app.run_test(size=(160, 50)) as pilot:
                    view = app.query_one(LogView)
                    follower = LogFollower(pool, node, find_stream(node, "xivo-sync"), tail=0)
                    async with follower:
                        await pilot.pause(1.0)  # the remote tail -F is running

                        def write() -> None:
                            with target.open("a") as f:
                                start = time.perf_counter()
                                for k in range(0, total, rate // 100):
                                    f.write(
                                        "".join(
                                            f"2026-11-25 10:00:00,000 [1] (INFO): e2e {i}\n"
                                            for i in range(k, min(total, k + rate // 100))
                                        )
                                    )
                                    f.flush()
                                    pause = start + (k + rate // 100) / rate - time.perf_counter()
                                    if pause > 0:
                                        time.sleep(pause)

                        writer = threading.Thread(target=write)
                        t0 = time.perf_counter()
                        writer.start()
                        deadline = t0 + seconds + 15
                        async for event in follower:
                            if isinstance(event, LogLines):
                                got = [line for line in event.lines if " e2e " in line]
                                received += len(got)
                                view.ingest(event.lines)
                            if received >= total or time.perf_counter() > deadline:
                                break
                        elapsed = time.perf_counter() - t0
                        writer.join()
            finally:
                await pool.close()
    return {"lines": total, "received": received, "elapsed": elapsed, "rate": received / elapsed}


# A separate process appends the lines, so neither its CPU nor its memory counts as the
# console's. argv: PATH RATE TOTAL
_WRITER = r"""
import sys, time
path, rate, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
step = max(1, rate // 100)
with open(path, "a") as f:
    start = time.perf_counter()
    for k in range(0, total, step):
        f.write("".join(
            f"2026-11-25 10:00:00,000 [1] (INFO): e2e {i}\n" for i in range(k, min(total, k + step))
        ))
        f.flush()
        pause = start + (k + step) / rate - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
"""


async def ingest_ceiling(seconds: float) -> dict[str, float]:
    """As many lines as the loop takes (batches of CEILING_BATCH, one loop turn apart)."""
    app = ViewApp(buffer_lines=DEFAULT_BUFFER_LINES, display_lines=DEFAULT_DISPLAY_LINES)
    async with app.run_test(size=(160, 50)) as pilot:
        view = app.query_one(LogView)
        await pilot.pause(0.3)
        with long_running_collector():
            probe = LagProbe()
            probe.start()
            sent = 0
            start = time.perf_counter()
            while time.perf_counter() - start < seconds:
                view.ingest([make_line(i) for i in range(sent, sent + CEILING_BATCH)])
                sent += CEILING_BATCH
                await asyncio.sleep(0)
            elapsed = time.perf_counter() - start
            await pilot.pause(0.2)
            await probe.stop()
        caught_up = view.shown_seq == view.buffer.last_seq  # by the view's timer, as above
        p50, p99, worst = probe.figures()
        return {
            "lines": sent,
            "rate": sent / elapsed,
            "p50": p50,
            "p99": p99,
            "max": worst,
            "caught_up": float(caught_up),
        }


async def end_to_end_pane(rate: int, total: int) -> dict[str, float]:
    """The console's Logs pane over real SSH (see the module's docstring, 5)."""
    import subprocess
    import sys

    from bench.labproc import lab_process
    from resil_tui.inventory import load_inventory
    from resil_tui.ops.logs import find_stream
    from resil_tui.ops.session import make_session
    from resil_tui.ui.app import ResilApp
    from resil_tui.ui.panes.logs import LogsPane

    with tempfile.TemporaryDirectory(prefix="bench-logs-pane-") as tmp:
        os.environ.setdefault("XDG_STATE_HOME", tmp)
        with lab_process(Path(tmp) / "lab", 1, cc=False, edge=False, mds=0) as inv_path:
            inv = load_inventory(inv_path)
            node = next(n for n in inv.nodes() if n.id.endswith("xivo.master"))
            target = Path(tmp) / "lab" / "nodes" / node.id / "root" / "var/log/xivo-sync.log"
            session = make_session(inv, audit_path=Path(tmp) / "audit.jsonl")
            app = ResilApp(session, status_refresh_interval=60.0)
            try:
                # The console sets the collector's policy as it starts (gc_policy.py); the
                # benchmarks after this one in the process (sanitize) must not run under it.
                with long_running_collector():
                    async with app.run_test(size=(120, 40)) as pilot:
                        pane = await app.ensure_pane(LogsPane.PANE_ID)
                        assert isinstance(pane, LogsPane)
                        tab = await pane.open_stream(node, find_stream(node, "xivo-sync"), tail=0)
                        await pilot.pause(1.5)  # the remote tail -F runs; the first poll is over
                        view = tab.log_view
                        base = view.buffer.total
                        rss0 = rss_mb()
                        probe = LagProbe()
                        probe.start()
                        writer = subprocess.Popen(
                            [sys.executable, "-c", _WRITER, str(target), str(rate), str(total)]
                        )
                        t0 = time.perf_counter()
                        deadline = t0 + total / rate + 20
                        while view.buffer.total - base < total and time.perf_counter() < deadline:
                            await asyncio.sleep(0.05)
                        elapsed = time.perf_counter() - t0
                        await probe.stop()
                        writer.wait(timeout=30)
                        received = view.buffer.total - base
                        rss1 = rss_mb()
                        p50, p99, worst = probe.figures()
            finally:
                await session.pool.close()
    return {
        "lines": total,
        "received": received,
        "elapsed": elapsed,
        "rate": received / elapsed,
        "p50": p50,
        "p99": p99,
        "max": worst,
        "rss": rss1 - rss0,
        "offered": rate,
    }


def e2e_pane_lines(e2e: dict[str, float]) -> list[str]:
    return [
        f"logs end-to-end over SSH into the Logs pane (console, lab process, tail -F, writer "
        f"offering {e2e['offered']:,.0f}/s): {e2e['received']:,.0f}/{e2e['lines']:,.0f} lines "
        f"in {e2e['elapsed']:.1f}s = {e2e['rate']:,.0f} lines/s sustained (target >= 100,000)",
        f"logs end-to-end into the pane: event-loop lag p50 {e2e['p50']:.1f} ms, p99 "
        f"{e2e['p99']:.1f} ms ({_against(e2e['p99'], PANE_LAG_P99_MS)}), max {e2e['max']:.1f}"
        f" ms; RSS growth {e2e['rss']:.1f} MB over {e2e['received']:,.0f} lines, "
        f"{_pane_rss(e2e):.1f} per {E2E_LINES:,} ({_against(_pane_rss(e2e), PANE_RSS_MB)})",
    ]


def _pane_rss(e2e: dict[str, float]) -> float:
    return e2e["rss"] * E2E_LINES / max(e2e["received"], 1.0)


def e2e_pane_missed(e2e: dict[str, float]) -> tuple[str, ...]:
    missed = []
    if not e2e["p99"] < PANE_LAG_P99_MS:
        missed.append(f"lag p99 {e2e['p99']:.1f} ms")
    if not _pane_rss(e2e) < PANE_RSS_MB:
        missed.append(f"RSS growth {_pane_rss(e2e):.1f} MB per {E2E_LINES:,} lines")
    return tuple(missed)


async def main_async(rate: int, seconds: float, quick: bool = False) -> list[Measured]:
    out: list[str] = []
    ours = await ingest(rate, seconds)
    out.append(
        f"logs ingest: {ours['lines']:,.0f} lines at target {rate:,}/s in {ours['elapsed']:.1f}s"
        f" = {ours['rate']:,.0f} lines/s sustained; caught up: "
        f"{'yes' if ours['caught_up'] else 'NO'}; {ours['flushes']:.0f} write_lines() flushes"
    )
    out.append(
        f"logs ingest: event-loop lag p50 {ours['p50']:.1f} ms, p99 {ours['p99']:.1f} ms "
        f"({_against(ours['p99'], INGEST_LAG_P99_MS)}), max {ours['max']:.1f} ms"
    )
    out.append(
        f"logs ingest: RSS growth {ours['rss']:.1f} MB after {ours['lines']:,.0f} lines "
        f"({_against(ours['rss'], INGEST_RSS_MB)}; buffer keeps {ours['kept']:,.0f}, "
        f"Log widget {ours['shown']:,.0f})"
    )
    ingest_missed = tuple(
        what
        for what, holds in (
            (f"lag p99 {ours['p99']:.1f} ms", ours["p99"] < INGEST_LAG_P99_MS),
            (f"RSS growth {ours['rss']:.1f} MB", ours["rss"] < INGEST_RSS_MB),
        )
        if not holds
    )
    base = await baseline(rate, BASELINE_SECONDS)
    out.append(
        f"logs baseline (Log.write_line per line, {BASELINE_SECONDS:.0f}s at target {rate:,}/s):"
        f" {base['rate']:,.0f} lines/s sustained, lag p99 {base['p99']:.1f} ms, "
        f"max {base['max']:.1f} ms"
    )
    ratio = ours["rate"] / base["rate"] if base["rate"] else float("inf")
    lag_ratio = base["p99"] / ours["p99"] if ours["p99"] else float("inf")
    out.append(
        f"logs ratio: {ratio:.2f}x the baseline's sustained rate, {lag_ratio:.1f}x lower p99 lag"
    )
    try:
        e2e = await end_to_end(E2E_FOLLOWER_RATE, 3.0)
        # Capped by its writer: the pane's figure below is the one without a cap.
        out.append(
            f"logs end-to-end over SSH (lab process, tail -F, LogFollower into a LogView, "
            f"writer offering {E2E_FOLLOWER_RATE:,}/s): {e2e['received']:,.0f}/"
            f"{e2e['lines']:,.0f} lines in {e2e['elapsed']:.1f}s = {e2e['rate']:,.0f} lines/s"
        )
    except Exception as exc:  # the figures above stand on their own
        out.append(f"logs end-to-end over SSH: failed: {exc.__class__.__name__}: {exc}")
    ceiling = await ingest_ceiling(1.0 if quick else CEILING_SECONDS)
    out.append(
        f"logs ingest ceiling (no rate cap, batches of {CEILING_BATCH:,}): "
        f"{ceiling['rate']:,.0f} lines/s into the view; lag p50 {ceiling['p50']:.1f} ms, "
        f"p99 {ceiling['p99']:.1f} ms, max {ceiling['max']:.1f} ms; caught up: "
        f"{'yes' if ceiling['caught_up'] else 'NO'}"
    )
    kept_up = ours["rate"] / rate if ours["caught_up"] else 0.0
    total = int(E2E_RATE * QUICK_SECONDS) if quick else E2E_LINES
    pane_missed: tuple[str, ...] = ()
    try:
        pane = await end_to_end_pane(E2E_RATE, total)
        pane_lines, pane_rate = e2e_pane_lines(pane), pane["rate"]
        pane_missed = e2e_pane_missed(pane)
    except Exception as exc:  # the figures above stand on their own
        pane_lines = [
            f"logs end-to-end into the Logs pane: failed: {exc.__class__.__name__}: {exc}"
        ]
        pane_rate = float("nan")
    return [
        Measured(out, kept_up, missed=ingest_missed),
        Measured(pane_lines, pane_rate, missed=pane_missed),
    ]


def run(quick: bool = False, rate: int = RATE, seconds: float = SECONDS) -> list[Measured]:
    return asyncio.run(main_async(rate, QUICK_SECONDS if quick else seconds, quick))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=SECONDS)
    parser.add_argument("--rate", type=int, default=RATE)
    parser.add_argument("--quick", action="store_true", help="short runs (about 20 s in all)")
    args = parser.parse_args()
    for measured, target in zip(run(args.quick, args.rate, args.seconds), TARGETS, strict=True):
        print("\n".join(measured.lines), flush=True)
        print(target.result_line(measured.value, measured.missed), flush=True)


if __name__ == "__main__":
    main()
