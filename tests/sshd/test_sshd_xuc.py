"""xuc's readiness through real OpenSSH: a running xuc with docker's timestamps passed
through, and behind a wrapper that drops `-t` and `--since` (issue 15)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from labkit import run_cli
from sshd_fixture import SshdLab, SshdLabFactory

from resil_tui.core.xuc_readiness import XucState
from resil_tui.inventory import load_inventory
from resil_tui.lab.emulation import LabSpec
from resil_tui.lab.spec import XucSpec
from resil_tui.ops.session import make_pool
from resil_tui.ops.status import StatusCollector
from resil_tui.ops.xuc_wait import plan_xuc_restart, plan_xuc_wait, take_mark, wait_for_xuc

CC = "demo.cc.master"


@pytest.fixture(autouse=True)
def _xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


@pytest.fixture(scope="module")
def stamped_lab(sshd_lab_factory: SshdLabFactory) -> SshdLab:
    """A fresh demo site behind sshd: its xuc log holds its start-up in the last 400 lines
    (the session's shared lab has logged for minutes at test speed)."""
    return sshd_lab_factory(LabSpec.demo())


@pytest.fixture(scope="module")
def plain_lab(sshd_lab_factory: SshdLabFactory) -> SshdLab:
    """The demo site behind sshd, its xivocc-dcomp dropping docker's -t and --since."""
    return sshd_lab_factory(LabSpec.demo(xuc=XucSpec(logs_timestamps=False, logs_since=False)))


@pytest.mark.parametrize("which", ["timestamps", "plain"])
async def test_running_xuc_is_ready(
    which: str, stamped_lab: SshdLab, plain_lab: SshdLab, tmp_path: Path
) -> None:
    lab = stamped_lab if which == "timestamps" else plain_lab
    inv = load_inventory(lab.inventory_path)
    node = inv.node(CC)
    async with make_pool(inv, audit_path=tmp_path / "audit.jsonl") as pool:
        snap = await StatusCollector(inv, pool).poll_node(node)
        assert snap.reachability.ok, snap.reachability
        assert snap.cc is not None and snap.cc.xuc is not None
        xuc = snap.cc.xuc
        assert xuc.state is XucState.READY, xuc
        assert xuc.run is not None and xuc.run.source is not None
        assert xuc.run.source.value == "inspect" and xuc.run.started_at is not None
        assert xuc.run.started_at < time.time() - 86400  # up for days
        if which == "timestamps":
            assert "docker times" in xuc.basis and xuc.since is not None
        else:
            assert "application times" in xuc.basis and xuc.since is None
        waited = await wait_for_xuc(pool, plan_xuc_wait(node), timeout=20)
        assert waited.ready and not waited.live, waited.summary()
    res = await run_cli(inv, "logs", CC, "--until-ready", "--timeout", "20")
    assert res.code == 0, res.err
    assert "Listening for HTTP on" in res.out
    assert not (tmp_path / "audit.jsonl").exists()  # all of it was read-only


async def test_busy_xuc_long_up_is_ready_for_until_ready(sshd_lab: SshdLab, tmp_path: Path) -> None:
    # The session's lab has logged for a while: its start-up may be past 400 lines. The
    # wait's one deeper read settles it.
    inv = load_inventory(sshd_lab.inventory_path)
    res = await run_cli(inv, "logs", CC, "--until-ready", "--timeout", "20")
    assert res.code == 0, res.err


async def test_restart_then_ready_without_timestamps(plain_lab: SshdLab, tmp_path: Path) -> None:
    inv = load_inventory(plain_lab.inventory_path)
    node = inv.node("demo.cc.slave")
    async with make_pool(inv, audit_path=tmp_path / "audit.jsonl") as pool:
        planned = plan_xuc_restart(node)
        mark = await take_mark(pool, planned, time.time())
        assert (await pool.run(node, planned.command)).ok
        snap = await StatusCollector(inv, pool).poll_node(node)
        assert snap.cc is not None and snap.cc.xuc is not None
        assert snap.cc.xuc.state in (XucState.STARTING, XucState.READY), snap.cc.xuc
        waited = await wait_for_xuc(pool, plan_xuc_wait(node), timeout=30, anchor=mark)
        assert waited.ready, waited.summary()
        run = waited.readiness.run if waited.readiness is not None else None
        assert run is not None and run.started_at is not None and mark.run is not None
        assert mark.run.started_at is not None and run.started_at > mark.run.started_at
