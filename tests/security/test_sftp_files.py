"""Remote files: a symlinked `.env` is replaced at its target (the link kept) or refused,
never turned into a regular file; an owner that cannot be restored is reported."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import asyncssh
import pytest
from hostile import leaks
from hostile_server import HOST, HostileServer

from resil_tui.core.edge_env import Direction
from resil_tui.inventory_model import Inventory, Node, NodeKind, SshSettings
from resil_tui.lab import facts
from resil_tui.lab.server import Lab
from resil_tui.ops import edge as edge_ops
from resil_tui.ops.session import make_pool
from resil_tui.remote import sftp
from resil_tui.remote.errors import RemoteError
from resil_tui.remote.pool import Pool

EDGE = "demo.edge"
FAST = edge_ops.ContainerWait(timeout=10.0, interval=0.2)


@pytest.fixture
async def pool(inventory: Inventory, tmp_path: Path) -> AsyncIterator[Pool]:
    p = make_pool(inventory, audit_path=tmp_path / "audit.jsonl")
    try:
        yield p
    finally:
        await p.close()


def _link_env(lab: Lab, target_name: str) -> tuple[Path, Path]:
    env = lab.world.resolve(EDGE, facts.EDGE_ENV)
    real = env.parent / target_name
    real.write_bytes(env.read_bytes())
    env.unlink()
    env.symlink_to(target_name)  # relative, as `ln -s env.real .env` makes it
    return env, real


async def test_a_symlinked_env_is_replaced_at_its_target(
    lab: Lab, inventory: Inventory, pool: Pool
) -> None:
    env, real = _link_env(lab, "env.real")
    site, edge = inventory.site("demo"), inventory.node(EDGE)
    preview = await edge_ops.load_preview(pool, site, site.edges[0])
    plan = preview.plan(Direction.TO_SLAVE)
    outcome = await edge_ops.apply_switch(pool, edge, plan, wait=FAST)
    assert outcome.ok, outcome.message
    assert env.is_symlink() and os.readlink(env) == "env.real"  # the link is kept
    assert real.read_bytes() == plan.new_text.encode()  # its target got the new content
    write = next(s for s in outcome.steps if s.step is edge_ops.EdgeStep.WRITE)
    assert "at its link target /etc/docker/edge/env.real" in write.detail
    assert outcome.backup is not None and outcome.backup.startswith(facts.EDGE_ENV + ".resil-")
    leftovers = [p.name for p in env.parent.iterdir() if ".resil-tmp-" in p.name]
    assert leftovers == []
    # Rollback goes through the same link.
    back = await edge_ops.rollback(pool, edge, wait=FAST)
    assert back.ok, back.message
    assert env.is_symlink() and real.read_bytes() == edge_ops.encode_env(preview.text)


@pytest.mark.parametrize("kind", ["dangling", "directory"])
async def test_a_link_that_is_not_a_file_is_refused(
    lab: Lab, inventory: Inventory, pool: Pool, kind: str
) -> None:
    env = lab.world.resolve(EDGE, facts.EDGE_ENV)
    before = env.read_bytes()
    env.unlink()
    if kind == "dangling":
        env.symlink_to("gone.env")
    else:
        (env.parent / "adir").mkdir()
        env.symlink_to("adir")
    edge = inventory.node(EDGE)
    with pytest.raises(RemoteError) as info:
        await sftp.replace_file(pool, edge, facts.EDGE_ENV, before, step="t")
    assert "symbolic link" in info.value.message and "nothing written" in info.value.message
    assert env.is_symlink()  # never turned into a regular file


@pytest.fixture
async def strict_server(tmp_path: Path) -> AsyncIterator[tuple[HostileServer, Node]]:
    keys = tmp_path / "keys"
    keys.mkdir()
    client = asyncssh.generate_private_key("ssh-ed25519")
    client.write_private_key(keys / "id")
    host = asyncssh.generate_private_key("ssh-ed25519")
    srv = await HostileServer(host, client.export_public_key().decode(), tmp_path / "root").start()
    srv.refuse_chown = True
    known = tmp_path / "known_hosts"
    known.write_text(f"[{HOST}]:{srv.port} {host.export_public_key().decode().strip()}\n")
    node = Node(
        "t.edge",
        "t",
        NodeKind.EDGE,
        None,
        SshSettings(
            host=HOST,
            port=srv.port,
            user="edgeadmin",
            identity_files=(str(keys / "id"),),
            known_hosts=str(known),
            connect_timeout=5.0,
            command_timeout=10.0,
            keepalive_interval=0.0,
            use_ssh_config=False,
        ),
    )
    try:
        yield srv, node
    finally:
        await srv.stop()


async def test_an_owner_that_cannot_be_restored_is_reported_and_audited(
    strict_server: tuple[HostileServer, Node], tmp_path: Path
) -> None:
    srv, node = strict_server
    local = srv.root / "etc" / "docker" / "edge" / ".env"
    local.parent.mkdir(parents=True)
    local.write_bytes(b"XIVO_HOST=10.0.0.1\n")
    async with Pool(audit=tmp_path / "audit.jsonl") as pool:
        result = await sftp.replace_file(
            pool, node, "/etc/docker/edge/.env", b"XIVO_HOST=10.0.0.2\n", step="t"
        )
    assert result.changed and local.read_bytes() == b"XIVO_HOST=10.0.0.2\n"
    owner = [w for w in result.warnings if w.startswith("owner of /etc/docker/edge/.env ")]
    assert owner and "not restored" in owner[0] and leaks(result.warnings) == 0
    last = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()][-1]
    assert last["result"].startswith("ok; owner of /etc/docker/edge/.env.resil-")  # the backup's
    assert "owner of /etc/docker/edge/.env not restored" in last["result"]
    assert leaks(last["result"]) == 0
