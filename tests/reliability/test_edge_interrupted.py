"""Data safety: the Edge apply interrupted at every step, on real sshd and its sftp-server.

Two ways to interrupt: the connection is killed (every session process of the Edge's sshd
SIGKILLed) at a chosen point, and the client process itself (`resil-tui --hosts INV edge
apply --to slave --yes`) is SIGKILLed there. The points are reached deterministically by
wrapping asyncssh's SFTP client calls (test-side only; the product runs unchanged):

  after_backup      the backup file has been renamed into place
  after_temp_write  the new content is written and fsynced to the temp file
  before_rename     right before posix_rename(temp, .env)
  after_rename      right after it
  before_up         the file is verified, `edge-dcomp up -d` not sent yet
  during_wait       `up -d` done, watching `edge-dcomp ps`

After each: the .env holds exactly the old or exactly the new bytes, and whenever it
changed a backup holding the old bytes exists next to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from labkit import ROOT, eventually
from sshd_fixture import SshdLab, _is_alive

from resil_tui.core.edge_env import Direction
from resil_tui.inventory import load_inventory
from resil_tui.ops import edge as edge_ops
from resil_tui.ops.edge import ContainerWait, NodeState, StepStarted
from resil_tui.ops.session import make_pool

pytestmark = pytest.mark.sshd

EDGE = "demo.edge"
POINTS = [
    "after_backup",
    "after_temp_write",
    "before_rename",
    "after_rename",
    "before_up",
    "during_wait",
]

# The hook the client subprocess runs: pause forever at POINT (after writing MARKER) so the
# test can SIGKILL it there; then the real CLI.
HOOK = r"""
import asyncio, os, sys, time
import asyncssh
from resil_tui.remote.pool import Pool
point, marker = os.environ["HOOK_POINT"], os.environ["HOOK_MARKER"]
calls = {"posix_rename": 0, "chmod": 0}

async def pause():
    with open(marker, "w") as f:
        f.write(point)
    while True:
        await asyncio.sleep(3600)

real_rename, real_chmod, real_run = (asyncssh.SFTPClient.posix_rename,
                                     asyncssh.SFTPClient.chmod, Pool.run)

async def posix_rename(self, old, new):
    calls["posix_rename"] += 1
    n = calls["posix_rename"]
    if n == 2 and point == "before_rename":
        await pause()
    result = await real_rename(self, old, new)
    if (n == 1 and point == "after_backup") or (n == 2 and point == "after_rename"):
        await pause()
    return result

async def chmod(self, path, mode, *a, **kw):
    calls["chmod"] += 1
    if calls["chmod"] == 2 and point == "after_temp_write":
        await pause()
    return await real_chmod(self, path, mode, *a, **kw)

async def run(self, node, command, **kw):
    if command.name == "edge_up" and point == "before_up":
        await pause()
    result = await real_run(self, node, command, **kw)
    if command.name == "edge_up" and point == "during_wait":
        await pause()
    return result

asyncssh.SFTPClient.posix_rename = posix_rename
asyncssh.SFTPClient.chmod = chmod
Pool.run = run
from resil_tui.entry import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture
def edge_env(sshd_module: SshdLab) -> Iterator[tuple[Path, bytes]]:
    """The Edge .env on the node (a real file behind sshd); restored after the test, and
    the change lock a killed console left behind removed (each test is a new console)."""
    inv = load_inventory(sshd_module.inventory_path)
    path = Path(inv.node(EDGE).paths.edge_env)
    lock = Path(inv.node(EDGE).paths.lock_dir)
    old = path.read_bytes()
    yield path, old
    sshd_module.start_node(EDGE)
    for p in path.parent.iterdir():
        if p.name.startswith(".env.resil-"):
            p.unlink()
    path.write_bytes(old)
    if lock.exists():
        for p in lock.iterdir():
            p.unlink()
        lock.rmdir()
    sshd_module.chown_lab()


def new_content(lab: SshdLab, old: bytes) -> bytes:
    inv = load_inventory(lab.inventory_path)
    site = inv.site("demo")
    preview = edge_ops.EdgePreview(
        "demo",
        inv.node(EDGE),
        inv.node(EDGE).paths.edge_env,
        edge_ops.decode_env(old),
        edge_ops.edge_addresses(site),
        0.0,
    )
    plan = preview.plan(Direction.TO_SLAVE)
    assert plan.applicable
    return edge_ops.encode_env(plan.new_text)


def check_invariant(path: Path, old: bytes, new: bytes) -> str:
    """Old or new, never anything else; a backup of the old bytes whenever it changed."""
    now = path.read_bytes()
    assert now in (old, new), f"{path} holds neither the old nor the new content: {now!r}"
    backups = [
        p
        for p in path.parent.iterdir()
        if p.name.startswith(".env.resil-") and p.name.endswith(".bak")
    ]
    if now == new:
        assert [b.read_bytes() for b in backups] == [old], backups
    leftovers = [p.name for p in path.parent.iterdir() if "resil-tmp" in p.name]
    return ("new" if now == new else "old") + (f" (+{len(leftovers)} temp)" if leftovers else "")


def kill_sessions(lab: SshdLab, node_id: str) -> None:
    procs = lab.node_processes(node_id)
    for p in procs:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while any(_is_alive(p.pid) for p in procs) and time.monotonic() < deadline:
        time.sleep(0.01)


@pytest.mark.parametrize("point", POINTS)
async def test_connection_killed(
    sshd_module: SshdLab,
    edge_env: tuple[Path, bytes],
    tmp_path: Path,
    point: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lab = sshd_module
    path, old = edge_env
    new = new_content(lab, old)
    inv = load_inventory(lab.inventory_path)
    calls = {"posix_rename": 0, "chmod": 0}
    real_rename, real_chmod = asyncssh.SFTPClient.posix_rename, asyncssh.SFTPClient.chmod
    killed: list[str] = []

    def kill() -> None:
        killed.append(point)
        kill_sessions(lab, EDGE)

    async def posix_rename(self: Any, a: Any, b: Any) -> None:
        calls["posix_rename"] += 1
        n = calls["posix_rename"]
        if n == 2 and point == "before_rename":
            kill()
        await real_rename(self, a, b)
        if (n == 1 and point == "after_backup") or (n == 2 and point == "after_rename"):
            kill()

    async def chmod(self: Any, p: Any, mode: int, *a: Any, **kw: Any) -> None:
        calls["chmod"] += 1
        if calls["chmod"] == 2 and point == "after_temp_write":
            kill()
        await real_chmod(self, p, mode, *a, **kw)

    async def on_event(event: object) -> None:
        if isinstance(event, StepStarted) and (
            (event.step.value == "up" and point == "before_up")
            or (event.step.value == "wait" and point == "during_wait")
        ):
            kill()

    monkeypatch.setattr(asyncssh.SFTPClient, "posix_rename", posix_rename)
    monkeypatch.setattr(asyncssh.SFTPClient, "chmod", chmod)
    pool = make_pool(inv, audit_path=tmp_path / "audit.jsonl")
    try:
        preview = await edge_ops.load_preview(pool, inv.site("demo"), inv.site("demo").edges[0])
        outcome = await asyncio.wait_for(
            edge_ops.apply_switch(
                pool,
                preview.node,
                preview.plan(Direction.TO_SLAVE),
                on_event=on_event,
                wait=ContainerWait(timeout=15, interval=0.2),
            ),
            90,
        )
    finally:
        await pool.close()
    assert killed == [point]
    check_invariant(path, old, new)
    now = path.read_bytes()
    # The outcome tells the truth about what the node holds.
    if outcome.state is NodeState.UNCHANGED:
        assert now == old, outcome.message
    elif outcome.state in (NodeState.WRITTEN, NodeState.APPLIED):
        assert now == new, outcome.message
    if point in ("after_rename", "before_up", "during_wait"):
        assert now == new  # the rename happened: the new content is in place
    if point in ("after_backup", "after_temp_write"):
        assert now == old and outcome.state is NodeState.UNCHANGED, outcome.message


@pytest.mark.parametrize("point", POINTS)
def test_client_process_killed(
    sshd_module: SshdLab, edge_env: tuple[Path, bytes], tmp_path: Path, point: str
) -> None:
    lab = sshd_module
    path, old = edge_env
    new = new_content(lab, old)
    marker = tmp_path / "reached"
    env = {
        **os.environ,
        "HOOK_POINT": point,
        "HOOK_MARKER": str(marker),
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            HOOK,
            "--hosts",
            str(lab.inventory_path),
            "edge",
            "apply",
            "--to",
            "slave",
            "--yes",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            if proc.poll() is not None:
                out, err = proc.communicate()
                raise AssertionError(
                    f"the CLI ended before {point}: {proc.returncode}\n"
                    f"{out.decode()}\n{err.decode()}"
                )
            assert time.monotonic() < deadline, f"{point} never reached"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        proc.communicate()
    # The node's side of the dead client (sftp-server, session) goes away by itself.
    asyncio.run(eventually(lambda: not lab.node_processes(EDGE), 15, "sessions gone"))
    check_invariant(path, old, new)
    # Its change lock stays: the next console is told who held it (stale after 15 min,
    # or broken on purpose), never left to race whatever the dead one was doing.
    holder = Path(load_inventory(lab.inventory_path).node(EDGE).paths.lock_dir) / "holder.json"
    assert holder.exists() and '"action": "edge apply"' in holder.read_text()
    now = path.read_bytes()
    if point in ("after_backup", "after_temp_write", "before_rename"):
        assert now == old
    else:
        assert now == new
