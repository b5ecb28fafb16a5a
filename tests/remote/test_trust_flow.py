"""The one host-key trust flow (ops/trust.py) against real SSH servers: jump hosts first,
revoked keys never offered, ProxyJump hops of ~/.ssh/config checked against the same
known_hosts file, the global known_hosts read, and `resil-tui trust` on top of it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import asyncssh
import pytest
from labkit import run_cli
from remote_server import HOST, Keys, TestServer, known_hosts_line, make_node

from resil_tui.inventory_model import Inventory, Site
from resil_tui.ops import trust
from resil_tui.ops.trust import TrustState
from resil_tui.remote.commands import Command
from resil_tui.remote.errors import ErrorKind, RemoteError
from resil_tui.remote.pool import Pool

NOOP = Command("t", ("exit", "0"), mutates=False)


def inventory_of(*nodes: object) -> Inventory:
    master, slave = nodes  # type: ignore[misc]
    m = dataclasses.replace(master, id="t.xivo.master", name="xivo.master")  # type: ignore[type-var]
    s = dataclasses.replace(slave, id="t.xivo.slave", name="xivo.slave")  # type: ignore[type-var]
    return Inventory(path=None, sites={"t": Site("t", m, s)})


@pytest.fixture
async def jump(keys: Keys, tmp_path: Path) -> TestServer:
    server = await TestServer(keys.other_host, keys.client_pub, tmp_path).start()
    yield server  # type: ignore[misc]
    await server.stop()


async def test_an_unknown_jump_host_is_offered_first_then_the_node(
    keys: Keys, server: TestServer, jump: TestServer, tmp_path: Path, pool: Pool
) -> None:
    kh = tmp_path / "empty_known_hosts"  # neither the jump host nor the node is known
    spec = f"tester@{HOST}:{jump.port}"
    node = make_node(server.port, keys, kh, jump=spec)
    first = await trust.check(pool, node)
    assert first.state is TrustState.UNKNOWN and first.offer is not None
    assert first.hop == spec and first.offer.label.startswith(f"jump host {spec}")
    assert first.offer.info.fingerprint == keys.other_host.get_fingerprint("sha256")
    assert not kh.exists()  # checking trusts nothing
    trust.accept(pool, first.offer, step="test")
    second = await trust.check(pool, node)
    assert second.state is TrustState.UNKNOWN and second.offer is not None
    assert second.hop is None and second.offer.label == node.id
    assert second.offer.info.fingerprint == keys.host.get_fingerprint("sha256")
    trust.accept(pool, second.offer, step="test")
    assert (await trust.check(pool, node)).state is TrustState.TRUSTED
    assert (await pool.run(node, NOOP)).ok


async def test_trust_yes_behind_an_unknown_jump_host_trusts_both(
    keys: Keys, server: TestServer, jump: TestServer, tmp_path: Path
) -> None:
    kh = tmp_path / "kh"
    spec = f"tester@{HOST}:{jump.port}"
    a = make_node(server.port, keys, kh, jump=spec)
    inv = inventory_of(a, a)
    run = await run_cli(inv, "trust", "t.xivo.master", "--yes")
    assert run.code == 0, run.err
    assert "unexpected error" not in run.err and "Traceback" not in run.err
    assert f"jump host {spec}" in run.out
    assert f"[{HOST}]:{jump.port}" in kh.read_text() and f"[{HOST}]:{server.port}" in kh.read_text()
    assert "host keys trusted" in run.out


async def test_trust_without_a_terminal_asks_nothing_and_writes_nothing(
    keys: Keys, server: TestServer, jump: TestServer, tmp_path: Path
) -> None:
    kh = tmp_path / "kh"
    node = make_node(server.port, keys, kh, jump=f"tester@{HOST}:{jump.port}")
    run = await run_cli(inventory_of(node, node), "trust", "t.xivo.master")
    assert run.code == 1 and "not trusted" in run.out and "--yes" in run.err
    assert not kh.exists()


async def test_a_revoked_key_is_refused_with_that_word_and_never_offered(
    keys: Keys, server: TestServer, tmp_path: Path, pool: Pool
) -> None:
    kh = tmp_path / "kh"
    kh.write_text("@revoked " + known_hosts_line(keys.host, server.port))
    node = make_node(server.port, keys, kh)
    with pytest.raises(RemoteError) as info:
        await pool.run(node, NOOP)
    assert info.value.kind is ErrorKind.HOST_KEY_REVOKED
    assert "REVOKED" in info.value.message and f"{kh} line 1" in info.value.message
    found = await trust.check(pool, node)
    assert found.state is TrustState.REVOKED and found.offer is None
    run = await run_cli(inventory_of(node, node), "trust", "t.xivo.master", "--yes")
    assert run.code == 2 and "REVOKED" in run.err
    assert kh.read_text().count("\n") == 1  # nothing appended


async def test_a_revoked_key_beside_another_key_is_still_revoked(
    keys: Keys, server: TestServer, tmp_path: Path, pool: Pool
) -> None:
    kh = tmp_path / "kh"
    other = known_hosts_line(keys.other_host, server.port)
    kh.write_text(other + "@revoked " + known_hosts_line(keys.host, server.port))
    found = await trust.check(pool, make_node(server.port, keys, kh))
    assert found.state is TrustState.REVOKED
    assert found.offer is None


async def test_a_proxyjump_hop_of_ssh_config_uses_our_known_hosts(
    keys: Keys,
    server: TestServer,
    jump: TestServer,
    tmp_path: Path,
    pool: Pool,
    isolated_home: Path,
) -> None:
    """An unknown ProxyJump hop is the hop's unknown key, never the node's key 'CHANGED'."""
    (isolated_home / ".ssh").mkdir()
    (isolated_home / ".ssh" / "config").write_text(
        f"Host xivo-behind\n  HostName {HOST}\n  Port {server.port}\n"
        f"  ProxyJump tester@{HOST}:{jump.port}\n"
    )
    kh = tmp_path / "kh"
    kh.write_text(known_hosts_line(keys.host, server.port))  # the node is known, the hop not
    node = make_node(None, keys, kh, host="xivo-behind", use_ssh_config=True)
    with pytest.raises(RemoteError) as info:
        await pool.run(node, NOOP)
    assert info.value.kind is ErrorKind.HOST_KEY_UNKNOWN, info.value.message
    assert info.value.hop == f"tester@{HOST}:{jump.port}"
    found = await trust.check(pool, node)
    assert found.state is TrustState.UNKNOWN and found.offer is not None
    assert found.offer.info.fingerprint == keys.other_host.get_fingerprint("sha256")
    trust.accept(pool, found.offer, step="test")
    assert (await pool.run(node, NOOP)).ok
    assert jump.rec.direct_tcpip == [(HOST, server.port)]


async def test_the_global_known_hosts_file_is_read(
    keys: Keys,
    server: TestServer,
    tmp_path: Path,
    pool: Pool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    glob = tmp_path / "ssh_known_hosts"
    glob.write_text(known_hosts_line(keys.host, server.port))
    monkeypatch.setenv("RESIL_TUI_GLOBAL_KNOWN_HOSTS", str(glob))
    node = make_node(server.port, keys, tmp_path / "user_known_hosts")  # empty user file
    assert (await pool.run(node, NOOP)).ok
    # A key that differs from the global entry is CHANGED, and the message names that file.
    glob.write_text(known_hosts_line(asyncssh.generate_private_key("ssh-ed25519"), server.port))
    other = make_node(server.port, keys, tmp_path / "user_known_hosts", node_id="t.other")
    with pytest.raises(RemoteError) as info:
        await pool.run(other, NOOP)
    assert info.value.kind is ErrorKind.HOST_KEY_CHANGED
    assert f"{glob} line 1" in info.value.message
