"""How a long-running resil-tui (the console, `resil-tui watch`) runs Python's cyclic
garbage collector once it has started (entry.py runs start-up without it)."""

from __future__ import annotations

import gc

# Allocations between two young collections (Python's default: 700); measured by the
# benchmarks in bench/ (their runs apply it through bench/collector.py).
YOUNG_THRESHOLD = 20_000


def collect_as_long_running() -> None:
    """What exists now frozen out of the collector's way, and fewer, larger young
    collections: a full collection scanned it all, pauses of 100-500 ms while a log
    streams 100,000 lines/s, and now and then of 70 ms in a refresh of 200 nodes."""
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *gc.get_threshold()[1:])
