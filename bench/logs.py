"""Live logs benchmark (issue 7).

1. Ingest: a headless app with the Logs pane's `LogView` (bounded buffer, Textual `Log`
   flushed with one `write_lines()` per timer tick) fed by an in-process generator at
   50,000 lines/s for 20 s (1,000,000 unique lines). Figures: sustained lines/s, event-loop
   lag (a 10 ms timer recording how late it fires: p50/p99/max) and RSS growth.
2. Baseline, same run: a plain `Log.write_line()` per line at the same target rate for 2 s.
3. End to end over real SSH: the lab (own process) appends to a node's xivo-sync log, the
   product follows it with `tail -F` through `LogFollower` into a `LogView`.

    python -m bench.logs [--seconds S] [--rate N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from textual.app import App, ComposeResult
from textual.widgets import Log

from bench.results import Measured, Target
from resil_tui.ui.widgets.log_view import DEFAULT_BUFFER_LINES, DEFAULT_DISPLAY_LINES, LogView

RATE = 50_000
SECONDS = 20.0
BASELINE_SECONDS = 2.0
TICK = 0.01  # producer and lag-probe period


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
        lags = sorted(self.lags) or [0.0]
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
        rss0 = rss_mb()
        probe = LagProbe()
        probe.start()
        sent, elapsed = await produce(view.ingest, rate, seconds)
        await pilot.pause(0.2)
        await probe.stop()
        rss1 = rss_mb()
        view.flush()
        caught_up = view.shown_seq == view.buffer.last_seq
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
        probe = LagProbe()
        probe.start()

        def per_line(lines: list[str]) -> None:
            for line in lines:
                log.write_line(line)

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


TARGETS = (
    # The producer offers RATE lines/s and no more: the figure is the share of it sustained
    # (caught up at the end, else 0), 1.000 = kept up.
    Target(
        "logs-ingest",
        f"Logs ingest in process at {RATE:,} lines/s (share kept up)",
        0.98,
        "",
        True,
        3,
    ),
    Target("logs-ssh", "Logs end to end over SSH into the pane (lines/s)", 100_000, "/s", True, 0),
)
QUICK_SECONDS = 3.0


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
        f"(target < 100), max {ours['max']:.1f} ms"
    )
    out.append(
        f"logs ingest: RSS growth {ours['rss']:.1f} MB after {ours['lines']:,.0f} lines "
        f"(target < 50; buffer keeps {ours['kept']:,.0f}, Log widget {ours['shown']:,.0f})"
    )
    base_seconds = 1.0 if quick else BASELINE_SECONDS
    base = await baseline(rate, base_seconds)
    out.append(
        f"logs baseline (Log.write_line per line, {base_seconds:.0f}s at target {rate:,}/s):"
        f" {base['rate']:,.0f} lines/s sustained, lag p99 {base['p99']:.1f} ms, "
        f"max {base['max']:.1f} ms"
    )
    ratio = ours["rate"] / base["rate"] if base["rate"] else float("inf")
    lag_ratio = base["p99"] / ours["p99"] if ours["p99"] else float("inf")
    out.append(
        f"logs ratio: {ratio:.2f}x the baseline's sustained rate, {lag_ratio:.1f}x lower p99 lag"
    )
    kept_up = ours["rate"] / rate if ours["caught_up"] else 0.0
    try:
        e2e = await end_to_end(10_000, 3.0)
        e2e_lines = [
            f"logs end-to-end over SSH (lab process, tail -F): {e2e['received']:,.0f}/"
            f"{e2e['lines']:,.0f} lines in {e2e['elapsed']:.1f}s = {e2e['rate']:,.0f} lines/s"
        ]
        e2e_rate: float | None = e2e["rate"]
    except Exception as exc:  # the figures above stand on their own
        e2e_lines = [f"logs end-to-end over SSH: failed: {exc.__class__.__name__}: {exc}"]
        e2e_rate = None
    return [Measured(out, kept_up), Measured(e2e_lines, e2e_rate)]


def run(quick: bool = False, rate: int = RATE, seconds: float = SECONDS) -> list[Measured]:
    return asyncio.run(main_async(rate, QUICK_SECONDS if quick else seconds, quick))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=SECONDS)
    parser.add_argument("--rate", type=int, default=RATE)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    for measured, target in zip(run(args.quick, args.rate, args.seconds), TARGETS, strict=True):
        print("\n".join(measured.lines), flush=True)
        print(target.result_line(measured.value), flush=True)


if __name__ == "__main__":
    main()
