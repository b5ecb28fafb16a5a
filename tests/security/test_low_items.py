"""The low items of issue 14: `up -d` timeout and no rollback while compose may run;
buffers bounded by size; read-only SFTP; `curl -q` / `psql -X`."""

from __future__ import annotations

from pathlib import Path

import pytest

from resil_tui.core.edge_env import Direction
from resil_tui.core.logbuf import LogBuffer
from resil_tui.inventory import load_inventory
from resil_tui.lab.server import Lab
from resil_tui.ops import edge as edge_ops
from resil_tui.ops.session import make_pool
from resil_tui.remote import commands as cat
from resil_tui.remote.errors import ErrorKind, RemoteError
from resil_tui.remote.pool import Pool, ReadOnlySFTP

EDGE = "demo.edge"


async def test_up_timeout_says_compose_may_run_and_offers_no_rollback(
    lab: Lab, tmp_path: Path
) -> None:
    path = tmp_path / "hosts.toml"
    path.write_text(
        lab.inventory_path.read_text().replace("command_timeout = 60.0", "command_timeout = 0.5")
    )
    inventory = load_inventory(path)
    site, edge = inventory.site("demo"), inventory.node(EDGE)

    async def slow_up(event: edge_ops.EdgeEvent) -> None:
        if isinstance(event, edge_ops.StepStarted) and event.step is edge_ops.EdgeStep.UP:
            await lab.slow(EDGE, 2.0)
        if isinstance(event, edge_ops.StepFinished) and event.step is edge_ops.EdgeStep.UP:
            await lab.slow(EDGE, 0.0)

    async with make_pool(inventory, audit_path=tmp_path / "audit.jsonl") as pool:
        plan = (await edge_ops.load_preview(pool, site, site.edges[0])).plan(Direction.TO_SLAVE)
        outcome = await edge_ops.apply_switch(
            pool,
            edge,
            plan,
            on_event=slow_up,
            wait=edge_ops.ContainerWait(1.0, 0.2),
            up_timeout=1.0,
        )
    assert not outcome.ok and outcome.failed_step is edge_ops.EdgeStep.UP
    assert outcome.state is edge_ops.NodeState.WRITTEN
    assert "did not finish within 1s" in outcome.message
    assert "compose may still be running: check before rolling back" in outcome.message
    assert outcome.compose_may_run and not outcome.rollback_offered


def test_up_gets_its_own_longer_timeout() -> None:
    assert edge_ops.UP_TIMEOUT >= 300.0


def test_the_log_buffer_is_bounded_by_size_too() -> None:
    buf = LogBuffer(max_lines=1000, max_chars=1000)
    buf.extend(["x" * 300] * 3)
    assert len(buf) == 3 and buf.chars == 900
    buf.append("y" * 300)  # 1200 > 1000: the oldest goes
    assert len(buf) == 3 and buf.chars == 900 and buf.dropped == 1
    buf.append_marker("── gap ──")
    buf.extend(["z" * 600])
    assert buf.chars <= 1000 and buf.lines()[-1] == "z" * 600
    assert buf.dropped == buf.total - len(buf)
    one = LogBuffer(max_lines=10, max_chars=10)
    one.append("w" * 50)  # a single line longer than the bound stays (it was cut upstream)
    assert one.lines() == ["w" * 50]


async def test_the_read_only_sftp_accessor_cannot_write(lab: Lab, tmp_path: Path) -> None:
    inventory = load_inventory(lab.inventory_path)
    edge = inventory.node(EDGE)
    async with Pool(read_only=True, audit=tmp_path / "a.jsonl") as pool:
        async with pool.sftp(edge) as client:
            assert isinstance(client, ReadOnlySFTP)
            assert await client.read_bytes("/etc/docker/edge/.env")
            for name in (
                "open",
                "remove",
                "rename",
                "posix_rename",
                "mkdir",
                "rmdir",
                "chmod",
                "chown",
                "setstat",
                "symlink",
            ):
                assert not hasattr(client, name), name
        with pytest.raises(RemoteError) as info:
            async with pool.sftp_writable(edge, "write the .env"):
                pass
    assert info.value.kind is ErrorKind.READ_ONLY and "nothing was sent" in info.value.message
    assert [c for c in lab.commands(EDGE) if c.get("kind") == "sftp"] == []


def test_curl_and_psql_ignore_the_nodes_rc_files() -> None:
    for command in (cat.sysconfd_get_ha_config(), cat.sysconfd_update_ha_config("disabled", None)):
        assert command.argv[:2] == ("curl", "-q")  # curl reads -q only as the first option
    assert cat.sip_expiry_query().argv[:2] == ("psql", "-X")
