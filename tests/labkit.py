"""What tests share to drive the product against the in-process lab: one lab start, the
lab's inventory written out, a session and a console built on it, and a patient wait.

The `lab` and `ticking_lab` fixtures are in tests/conftest.py and use `start_lab`."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from resil_tui.core.wizard_run import StepState
from resil_tui.inventory import load_inventory
from resil_tui.inventory_model import Inventory, Node
from resil_tui.lab.server import Lab
from resil_tui.lab.spec import LabSpec, LabTiming
from resil_tui.ops.session import LabControl, Session, make_pool
from resil_tui.ops.status import StatusCollector
from resil_tui.ops.wizard import EngineOptions, WizardEngine
from resil_tui.remote import commands as cat
from resil_tui.remote.pool import Pool

ROOT = Path(__file__).resolve().parents[1]
# Property tests count their cases here (hypothesis name -> examples run, whole session);
# tests/reliability/conftest.py prints the counts at the end of the run.
FUZZ_COUNTS: Counter[str] = Counter()
EXAMPLE = ROOT / "hosts.example.toml"
# The wizard engine at test speed: quick polls and countdown ticks, short Edge and final waits.
WIZARD_FAST = EngineOptions(poll_interval=0.1, tick=0.2, edge_wait_timeout=10.0, final_timeout=20.0)


async def start_lab(where: Path, *, ticker: bool = False, edges: tuple[str, ...] = ()) -> Lab:
    """The demo site at fast timings; `ticker`: the slave's check-master-status cron runs;
    `edges`: a 3-server Edge with these node names (demo.edge.NAME) instead of demo.edge."""
    spec = LabSpec.demo(edges=edges) if edges else None
    return await Lab.start(where, spec=spec, timing=LabTiming.fast(), ticker=ticker)


def lab_inventory(
    lab: Lab,
    tmp_path: Path,
    *,
    edit: Callable[[str], str] | None = None,
    read_only: bool = False,
    name: str = "hosts.toml",
) -> tuple[Inventory, Path]:
    """The lab's inventory, optionally edited, written to tmp_path and loaded."""
    text = lab.inventory_path.read_text()
    if edit is not None:
        text = edit(text)
    path = tmp_path / name
    path.write_text(text)
    inventory = load_inventory(path)
    if read_only:
        inventory = dataclasses.replace(inventory, read_only=True)
    return inventory, path


def short_timeouts(text: str, connect: float = 2.0, command: float = 3.0) -> str:
    """Shorter deadlines so a hung node is reported within seconds, not a minute."""
    return text.replace("connect_timeout = 5.0", f"connect_timeout = {connect}").replace(
        "command_timeout = 60.0", f"command_timeout = {command}"
    )


def hurried(node: Node, command_timeout: float = 0.3) -> Node:
    """The node with a command deadline a `slow` fault (lab) passes: its reads time out."""
    return dataclasses.replace(
        node, ssh=dataclasses.replace(node.ssh, command_timeout=command_timeout)
    )


async def eventually(
    check: Callable[[], Awaitable[bool]] | Callable[[], bool],
    timeout: float = 15.0,
    what: str = "condition",
    interval: float = 0.05,
) -> None:
    """Poll until `check` holds (a generous deadline, never a timing assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(interval)


def audit_records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@asynccontextmanager
async def open_pool(
    inv: Inventory, audit: Path, *, keep_shells: bool = False
) -> AsyncIterator[Pool]:
    """A pool on the inventory, closed on exit; `keep_shells` polls as the console does."""
    pool = make_pool(inv, audit_path=audit, keep_shells=keep_shells)
    try:
        yield pool
    finally:
        await pool.close()


async def shell_kept(pool: Pool, node: Node, timeout: float = 15.0) -> None:
    """Reads on the node until its shell is kept (a read on a connected node opens one in
    the background: remote/read_shell.py)."""
    async with asyncio.timeout(timeout):
        while not pool.kept_shell(node.id):
            result = await pool.run(node, cat.test_exists("/etc/hostname"))
            assert result.exit_status is not None, result
            await asyncio.sleep(0.05)


def session_for(
    inventory: Inventory,
    *,
    pool: Pool | None = None,
    lab: LabControl | None = None,
    audit_path: Path | None = None,
) -> Session:
    """A session over `pool` (or a new one: it connects only when something polls)."""
    pool = pool or make_pool(inventory, audit_path=audit_path)
    return Session(inventory, pool, StatusCollector(inventory, pool), lab)


AppT = TypeVar("AppT")


def console(
    inventory: Inventory,
    *,
    pool: Pool | None = None,
    lab: LabControl | None = None,
    read_only: bool = False,
    app_class: Callable[..., AppT] | None = None,
    audit_path: Path | None = None,
    **options: Any,
) -> AppT:
    """The console on the inventory. Without a pool nothing is polled (poll=False) unless
    asked: a layout test must not resolve the example inventory's host names."""
    from resil_tui.ui.app import ResilApp

    if read_only:  # never weaker than the inventory, as in the product
        inventory = dataclasses.replace(inventory, read_only=True)
    options.setdefault("poll", pool is not None)
    options.setdefault("demo", lab is not None)
    session = session_for(inventory, pool=pool, lab=lab, audit_path=audit_path)
    factory: Callable[..., Any] = app_class or ResilApp
    app: AppT = factory(session, **options)
    return app


@dataclasses.dataclass(frozen=True)
class CliRun:
    code: int
    out: str
    err: str


async def run_cli(
    inventory: Inventory,
    *argv: str,
    stdin: str | io.StringIO = "",
    lab: Lab | None = None,
    call: Callable[[Any, Any], Awaitable[int]] | None = None,
) -> CliRun:
    """`resil-tui ARGV` on an inventory already loaded, inside the test's event loop.
    `call(ctx, ns)` replaces the subcommand's own entry (e.g. to pass test timings)."""
    from resil_tui import cli
    from resil_tui.cli.common import Io
    from resil_tui.cli.context import Context

    ns, options = cli.parse(list(argv))
    stream = stdin if isinstance(stdin, io.StringIO) else io.StringIO(stdin)
    out, err = io.StringIO(), io.StringIO()
    ctx = Context(options, inventory, Io(out, err, stream), lab)
    if call is None:
        code = await cli.dispatch(ctx, ns)
    else:
        try:
            code = await call(ctx, ns)
        except Exception as exc:
            reported = cli.report(exc, ctx.io)
            if reported is None:
                raise
            code = reported
    return CliRun(code, out.getvalue(), err.getvalue())


async def drive_wizard(eng: WizardEngine, until: str | None = None) -> None:
    """Do what an admin does: run each step, say done for manual ones; stop before `until`.
    Every step must end done (the run stops at the first that does not)."""
    while (step := eng.current) is not None and step.id != until:
        if step.kind.value == "manual":
            await eng.mark_done(step.id)
        else:
            await eng.run_step(step.id)
        rec = eng.record(step.id)
        assert rec.state is StepState.DONE, f"{step.id}: {rec.state.value}: {rec.message}"
