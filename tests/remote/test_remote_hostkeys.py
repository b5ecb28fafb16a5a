"""Strict host key checking: unknown vs changed, fetching and trusting a key."""

from __future__ import annotations

from pathlib import Path

import pytest
from remote_server import HOST, Keys, TestServer, known_hosts_line, make_node

from resil_tui.audit import AuditLog
from resil_tui.remote import hostkeys
from resil_tui.remote.commands import Command
from resil_tui.remote.errors import ErrorKind, RemoteError
from resil_tui.remote.pool import Pool

NOOP = Command("t", ("exit", "0"), mutates=False)


async def test_known_key_connects(pool: Pool, node, server: TestServer) -> None:
    assert (await pool.run(node, NOOP)).ok


async def test_unknown_key_then_fetch_and_trust(
    keys: Keys, server: TestServer, pool: Pool, tmp_path: Path
) -> None:
    kh = tmp_path / "sub" / "known_hosts"  # does not exist yet
    node = make_node(server.port, keys, kh)
    with pytest.raises(RemoteError) as info:
        await pool.run(node, NOOP)
    assert info.value.kind is ErrorKind.HOST_KEY_UNKNOWN
    assert str(kh) in info.value.message
    assert server.rec.authenticated == 0 and server.rec.commands == []

    key = await pool.fetch_host_key(node)
    assert key.fingerprint == keys.host.get_fingerprint("sha256")
    assert key.fingerprint.startswith("SHA256:") and key.key_type == "ssh-ed25519"
    assert not kh.exists()  # fetching trusts nothing

    line = pool.trust_host_key(node, key, step="first contact")
    assert line.startswith(f"[{HOST}]:{server.port} ssh-ed25519 ")
    assert kh.read_text() == line + "\n"
    assert kh.stat().st_mode & 0o777 == 0o600
    assert (await pool.run(node, NOOP)).ok
    rec = AuditLog(pool.audit.path).read()[-1]
    assert rec["kind"] == "trust_host_key" and key.fingerprint in rec["command"]


async def test_unknown_key_is_sticky_until_trusted(
    keys: Keys, server: TestServer, pool: Pool, tmp_path: Path
) -> None:
    kh = tmp_path / "known_hosts"
    kh.write_text(known_hosts_line(keys.host, server.port + 1))  # another port: not ours
    node = make_node(server.port, keys, kh)
    for _ in range(2):
        with pytest.raises(RemoteError) as info:
            await pool.run(node, NOOP)
        assert info.value.kind is ErrorKind.HOST_KEY_UNKNOWN
    assert server.rec.connections == 1  # never retried on its own


async def test_changed_key_is_refused_naming_file_and_line(
    keys: Keys, server: TestServer, pool: Pool, tmp_path: Path
) -> None:
    kh = tmp_path / "known_hosts"
    kh.write_text(
        "# comment\nother.example ssh-ed25519 "
        + keys.other_host.export_public_key().decode().split()[1]
        + "\n"
        + known_hosts_line(keys.other_host, server.port)
    )
    node = make_node(server.port, keys, kh)
    with pytest.raises(RemoteError) as info:
        await pool.run(node, NOOP)
    err = info.value
    assert err.kind is ErrorKind.HOST_KEY_CHANGED
    assert err.known_hosts == str(kh) and err.line == 3
    assert f"{kh} line 3" in err.message and "ssh-keygen -R" in err.message
    assert server.rec.authenticated == 0


def test_lookup_handles_hashed_and_plain_entries(keys: Keys, tmp_path: Path) -> None:
    import base64
    import hashlib
    import hmac

    salt = b"0123456789abcdef0123"
    digest = hmac.new(salt, b"[10.1.2.3]:2222", hashlib.sha1).digest()
    hashed = f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"
    pub = keys.host.export_public_key().decode().strip()
    kh = tmp_path / "kh"
    kh.write_text(f"xivo1 {pub}\n{hashed} {pub}\ngarbage line\n")
    assert [e.line for e in hostkeys.lookup(kh, "10.1.2.3", 2222)] == [2]
    assert [e.line for e in hostkeys.lookup(kh, "xivo1", 22)] == [1]
    assert hostkeys.lookup(kh, "xivo2", 22) == []
    assert hostkeys.lookup(tmp_path / "missing", "xivo1", 22) == []


def test_resolve_target_uses_ssh_config(isolated_home: Path) -> None:
    (isolated_home / ".ssh").mkdir()
    (isolated_home / ".ssh" / "config").write_text(
        "Host paris-m\n  HostName 192.0.2.10\n  Port 2200\n  HostKeyAlias paris-master\n"
    )
    s = make_node(None, _dummy_keys(), Path("/x"), host="paris-m", use_ssh_config=True).ssh
    t = hostkeys.resolve_target(s)
    assert (t.host, t.port, t.key_name) == ("192.0.2.10", 2200, "paris-master")
    off = hostkeys.resolve_target(make_node(None, _dummy_keys(), Path("/x"), host="paris-m").ssh)
    assert (off.host, off.port, off.key_name) == ("paris-m", 22, "paris-m")


def _dummy_keys() -> Keys:
    return Keys(
        host=None,
        other_host=None,
        client_path=Path("/none"),  # type: ignore[arg-type]
        client_pub="",
        stranger_path=Path("/none"),
    )


async def test_a_shared_jump_host_is_checked_against_each_nodes_own_known_hosts(
    keys: Keys, server: TestServer, pool: Pool, tmp_path: Path
) -> None:
    """Nodes behind the same jump spec with their own known_hosts / keys (per site or per
    node in the inventory) never ride on a hop checked or authenticated with another's."""
    root = tmp_path / "jump-root"
    root.mkdir()
    jump = await TestServer(keys.other_host, keys.client_pub, root).start()
    try:
        spec = f"tester@{HOST}:{jump.port}"
        node_line = known_hosts_line(keys.host, server.port)
        ka, kb, kc = tmp_path / "kh_a", tmp_path / "kh_b", tmp_path / "kh_c"
        ka.write_text(node_line + known_hosts_line(keys.other_host, jump.port))
        kb.write_text(node_line + known_hosts_line(keys.host, jump.port))  # another key: changed
        kc.write_text(node_line)  # the jump host is unknown to C
        a_known = ka.read_text()
        a = make_node(server.port, keys, ka, node_id="t.a", jump=spec)
        b = make_node(server.port, keys, kb, node_id="t.b", jump=spec)
        c = make_node(server.port, keys, kc, node_id="t.c", jump=spec)
        stranger = make_node(
            server.port,
            keys,
            ka,
            node_id="t.d",
            jump=spec,
            identity_files=(str(keys.stranger_path),),
        )
        same = make_node(server.port, keys, ka, node_id="t.e", jump=spec)
        # A node's own command timeout is not the hop's: it rides on A's hop as well.
        slower = make_node(server.port, keys, ka, node_id="t.f", jump=spec, command_timeout=99.0)
        assert (await pool.run(a, NOOP)).ok

        with pytest.raises(RemoteError) as info:
            await pool.run(b, NOOP)
        assert info.value.kind is ErrorKind.HOST_KEY_CHANGED and info.value.hop == spec
        assert info.value.known_hosts == str(kb) and info.value.line == 2

        with pytest.raises(RemoteError) as info:
            await pool.run(stranger, NOOP)
        assert info.value.kind is ErrorKind.AUTH and info.value.hop == spec

        # The trust flow writes the hop's key to C's file, the one C's hop is checked against.
        with pytest.raises(RemoteError) as info:
            await pool.run(c, NOOP)
        assert info.value.kind is ErrorKind.HOST_KEY_UNKNOWN and info.value.hop == spec
        assert info.value.known_hosts == str(kc)
        key = await pool.fetch_host_key(c, hop=spec)
        assert key.fingerprint == keys.other_host.get_fingerprint("sha256")
        pool.trust_host_key(c, key)
        assert f"[{HOST}]:{jump.port}" in kc.read_text()
        assert ka.read_text() == a_known  # nothing written to another node's file
        assert (await pool.run(c, NOOP)).ok

        # Identical settings still share one hop connection: E rides on A's.
        authenticated = jump.rec.authenticated
        assert (await pool.run(same, NOOP)).ok
        assert jump.rec.authenticated == authenticated
        assert pool._jump_chain(same)[0] is pool._jump_chain(a)[0]
        assert (await pool.run(slower, NOOP)).ok
        assert jump.rec.authenticated == authenticated
        assert pool._jump_chain(slower)[0] is pool._jump_chain(a)[0]
        assert pool._jump_chain(c)[0] is not pool._jump_chain(a)[0]
    finally:
        await pool.close()
        await jump.stop()
