"""The cyclic garbage collector as a running console or watcher has it, for benchmarks
that measure them in this process."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

from resil_tui.gc_policy import collect_as_long_running


@contextlib.contextmanager
def long_running_collector() -> Iterator[None]:
    """The collector as the console and `resil-tui watch` run it once started
    (resil_tui/gc_policy.py); then as it was, so that the benchmarks after are not
    measured under it. Without it a benchmark measures the harness: Python's default
    thresholds, and every full collection scanning what the benchmarks before it left
    (the in-process logs' lag p99 70 ms alone, 118 ms after the others in `make bench`,
    against 36 ms under the policy; a full collection of 70 ms now and then in a warm
    refresh of 200 nodes, 2026-12-04). Not nested, nor after anything else froze: on
    exit it thaws what was frozen before it too."""
    threshold = gc.get_threshold()
    collect_as_long_running()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
