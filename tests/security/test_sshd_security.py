"""The security rules against real OpenSSH sshd (the sshd tier, tests/sshd/sshd_fixture.py):
no forwarding request reaches sshd whatever ~/.ssh/config says; no SHA-1 algorithm is
negotiated; two consoles applying the same Edge switch at once: exactly one proceeds."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from resil_tui.audit import local_user
from resil_tui.core.edge_env import Direction
from resil_tui.inventory import load_inventory
from resil_tui.ops import edge as edge_ops
from resil_tui.ops.session import make_pool
from resil_tui.ops.status import StatusCollector
from resil_tui.remote import commands as cat
from resil_tui.remote import lock as node_lock
from resil_tui.remote.errors import ErrorKind

SSHD_DIR = Path(__file__).resolve().parents[1] / "sshd"
if str(SSHD_DIR) not in sys.path:
    sys.path.insert(0, str(SSHD_DIR))

from sshd_fixture import SshdLab, SshdUnavailable, start_sshd_lab  # noqa: E402

pytestmark = pytest.mark.sshd
EDGE = "demo.edge"
AGENT_REQ = "req auth-agent-req@openssh.com"
X11_REQ = "req x11-req"


@pytest.fixture(scope="module")
def tier() -> Iterator[SshdLab]:
    try:
        lab = start_sshd_lab()
    except SshdUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"sshd tier cannot run in CI: {exc}", pytrace=False)
        pytest.skip(f"sshd tier unavailable: {exc}")
    try:
        # The Edge's sshd logs every channel request (debug1: session_input_channel_req).
        node = lab.node(EDGE)
        node.config.write_text(node.config.read_text().replace("LogLevel INFO", "LogLevel DEBUG1"))
        lab.restart_node(EDGE)
        yield lab
    finally:
        lab.close(keep_files=os.environ.get("RESIL_SSHD_KEEP") == "1")


@pytest.fixture
def forwarding_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = Path(os.environ["HOME"])
    (home / ".ssh").mkdir(exist_ok=True)
    (home / ".ssh" / "config").write_text(
        "Host *\n  ForwardAgent yes\n  ForwardX11 yes\n  ForwardX11Trusted yes\n"
    )
    monkeypatch.setenv("SSH_AUTH_SOCK", str(tmp_path / "agent.sock"))
    monkeypatch.setenv("DISPLAY", "127.0.0.1:0")


async def _settle(lab: SshdLab, node_id: str) -> str:
    await asyncio.sleep(0.5)  # sshd writes its log lines as the sessions end
    return lab.sshd_log(node_id)


async def test_forward_agent_in_the_ssh_config_never_reaches_sshd(
    tier: SshdLab, forwarding_config: None, tmp_path: Path
) -> None:
    inventory = load_inventory(tier.inventory_path)
    edge = inventory.node(EDGE)
    assert edge.ssh.use_ssh_config  # the tier's inventory reads ~/.ssh/config
    address, port = tier.address(EDGE)

    # Control: asyncssh on its own, same ~/.ssh/config, does ask sshd for the agent.
    async with asyncssh.connect(
        address,
        port=port,
        username=tier.user,
        known_hosts=str(tier.known_hosts),
        client_keys=[str(tier.client_key)],
    ) as conn:
        await conn.run("edge-dcomp ps -a", check=False)
    log = await _settle(tier, EDGE)
    before_agent, before_x11 = log.count(AGENT_REQ), log.count(X11_REQ)
    assert before_agent >= 1, "sshd's log does not show agent requests: the test is blind"
    assert before_x11 >= 1, "sshd's log does not show X11 requests: the test is blind"

    pool = make_pool(inventory, audit_path=tmp_path / "audit.jsonl")
    try:
        await StatusCollector(inventory, pool).poll_node(edge)
        await pool.run(edge, cat.edge_ps())
        async with pool.stream(edge, cat.compose_logs("edge-dcomp", follow=True, tail=2)) as lines:
            async for _ in lines:
                break
    finally:
        await pool.close()
    log = await _settle(tier, EDGE)
    sessions = log.count("session_input_channel_req: session") - log.count(AGENT_REQ)
    assert sessions > 0  # our sessions are in the log...
    assert log.count(AGENT_REQ) == before_agent  # ...and none asked for the agent
    assert log.count(X11_REQ) == before_x11


async def test_real_sshd_connects_and_negotiates_no_sha1(tier: SshdLab, tmp_path: Path) -> None:
    inventory = load_inventory(tier.inventory_path)
    pool = make_pool(inventory, audit_path=tmp_path / "audit.jsonl")
    try:
        result = await pool.run(inventory.node(EDGE), cat.edge_ps())
    finally:
        await pool.close()
    assert result.ok
    log = await _settle(tier, EDGE)
    kex = [line for line in log.splitlines() if "kex: algorithm:" in line]
    macs = [line for line in log.splitlines() if "MAC:" in line]
    assert kex and all("sha1" not in line for line in kex[-1:]), kex[-1:]
    assert all("sha1" not in line for line in macs[-2:]), macs[-2:]


async def test_two_consoles_apply_at_once_on_real_sshd(tier: SshdLab, tmp_path: Path) -> None:
    inventory = load_inventory(tier.inventory_path)
    site, edge = inventory.site("demo"), inventory.node(EDGE)
    a = make_pool(inventory, audit_path=tmp_path / "a.jsonl")
    b = make_pool(inventory, audit_path=tmp_path / "b.jsonl")
    lock_dir = Path(edge.paths.lock_dir)
    try:
        plans = [
            (await edge_ops.load_preview(p, site, site.edges[0])).plan(Direction.TO_SLAVE)
            for p in (a, b)
        ]
        in_write, go = asyncio.Event(), asyncio.Event()

        async def hold(event: Any) -> None:
            if isinstance(event, edge_ops.StepStarted) and event.step is edge_ops.EdgeStep.WRITE:
                in_write.set()
                await go.wait()

        wait = edge_ops.ContainerWait(timeout=20.0, interval=0.3)
        first = asyncio.create_task(
            edge_ops.apply_switch(a, edge, plans[0], on_event=hold, wait=wait)
        )
        await asyncio.wait_for(in_write.wait(), 60)
        assert lock_dir.is_dir()  # a real directory, made by OpenSSH's sftp-server
        second = await edge_ops.apply_switch(b, edge, plans[1], wait=wait)
        go.set()
        done = await first
        # Put the site back for the other tests of the module.
        back = (await edge_ops.load_preview(a, site, site.edges[0])).plan(Direction.TO_MASTER)
        restored = await edge_ops.apply_switch(a, edge, back, wait=wait)
    finally:
        await a.close()
        await b.close()
    assert done.ok, done.message
    assert second.error is not None and second.error.kind is ErrorKind.LOCKED
    assert f"edge apply by {local_user()}@{node_lock.local_host()} since" in second.message
    assert restored.ok, restored.message
    assert not lock_dir.exists()
