"""Safety net for every test: resil-tui's own files (audit log, debug log, preferences,
wizard runs) go to a temporary XDG tree, never to the real home of whoever runs the suite.
Tests that care set these themselves, as they did before. And the cyclic collector is left
as a process starts with it: on, nothing frozen."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from labkit import start_lab

from resil_tui.inventory import load_inventory
from resil_tui.inventory_model import Inventory
from resil_tui.lab.server import Lab
from resil_tui.ops.session import make_pool
from resil_tui.remote.pool import Pool


@pytest.fixture(autouse=True)
def _private_xdg_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = tmp_path_factory.mktemp("xdg")
    monkeypatch.setenv("XDG_STATE_HOME", str(base / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(base / "config"))
    monkeypatch.delenv("RESIL_TUI_HOSTS", raising=False)
    for name in ("RESIL_TUI_THEME", "RESIL_TUI_REFRESH", "RESIL_TUI_LOG_BUFFER", "RESIL_TUI_SITE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _collector_as_at_start() -> Iterator[None]:
    # entry.main() and the console freeze what start-up built, once per process in real
    # use; called in-process by a test, they would freeze the whole worker's heap (its
    # garbage cycles then never collected, and a later test's gc.collect() order-bound),
    # and the console's young threshold (gc_policy.py) would stay for the worker's life.
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.enable()
    gc.set_threshold(*threshold)


def pytest_report_header(config: pytest.Config) -> str:
    return f"resil-tui tests: XDG dirs are temporary (see {Path(__file__).name})"


@pytest.fixture
async def lab(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Lab]:
    """The demo site at fast timings. The slave's check-master-status cron (the ticker)
    runs only for tests marked `@pytest.mark.lab(ticker=True)` (or a module's pytestmark);
    `@pytest.mark.lab(edges=("web", "sip"))` gives the site a 3-server Edge."""
    marker = request.node.get_closest_marker("lab")
    ticker = bool(marker.kwargs.get("ticker", False)) if marker is not None else False
    edges = tuple(marker.kwargs.get("edges", ())) if marker is not None else ()
    running = await start_lab(tmp_path / "lab", ticker=ticker, edges=edges)
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def ticking_lab(tmp_path: Path) -> AsyncIterator[Lab]:
    """The demo site with the slave's check-master-status cron running (fast)."""
    running = await start_lab(tmp_path / "lab", ticker=True)
    try:
        yield running
    finally:
        await running.stop()


# The lab's inventory, and a pool on it with its own audit log: what most lab tests drive
# (a module that needs other settings defines its own fixture of the same name).
@pytest.fixture
def inventory(lab: Lab) -> Inventory:
    return load_inventory(lab.inventory_path)


@pytest.fixture
async def pool(inventory: Inventory, tmp_path: Path) -> AsyncIterator[Pool]:
    pool = make_pool(inventory, audit_path=tmp_path / "audit.jsonl")
    try:
        yield pool
    finally:
        await pool.close()


# The slowest test file starts first, on a fresh worker (`make test`: xdist hands out
# whole files in collection order, `--no-loadscope-reorder`). The read-only walk
# takes about a minute on a fresh process; started last, on a worker that had run
# hundreds of Textual apps before it, it took six minutes and more (every redraw slower)
# and ran into its timeout.
FIRST = ("tests/reliability/test_read_only_walk.py",)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return FIRST.index(path) if path in FIRST else len(FIRST)

    items.sort(key=rank)  # stable: the order within each rank is kept
