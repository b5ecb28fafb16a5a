"""The remote layer against a hostile SSH server: nothing it sends reaches our text raw;
no forwarding and no SHA-1 whatever the ssh config says; output buffers bounded; a secret
stays masked across read boundaries."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncssh
import pytest
from hostile import ALL, leaks
from hostile_server import HOST, HostileServer, spy_forwarding

from resil_tui.inventory_model import Node, NodeKind, SshSettings
from resil_tui.remote import commands, sftp
from resil_tui.remote.commands import Command
from resil_tui.remote.errors import ErrorKind, RemoteError
from resil_tui.remote.pool import LINE_CUT_MARKER, MAX_LINE_BYTES, Pool, algorithms, is_sha1


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("keys")
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(d / "id_ed25519")
    asyncssh.generate_private_key("ssh-rsa", key_size=2048).write_private_key(d / "id_rsa")
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(d / "host")
    return d


def _pub(path: Path) -> str:
    return asyncssh.read_private_key(path).export_public_key().decode()


async def _server(key_dir: Path, root: Path, **options: object) -> HostileServer:
    root.mkdir(parents=True, exist_ok=True)
    srv = HostileServer(
        asyncssh.read_private_key(key_dir / "host"),
        _pub(key_dir / "id_ed25519") + _pub(key_dir / "id_rsa"),
        root,
    )
    srv.server_options = dict(options)
    return await srv.start()


@pytest.fixture
async def server(key_dir: Path, tmp_path: Path) -> AsyncIterator[HostileServer]:
    srv = await _server(key_dir, tmp_path / "root")
    try:
        yield srv
    finally:
        await srv.stop()


def _node(srv: HostileServer, key_dir: Path, tmp_path: Path, **ssh: object) -> Node:
    known = tmp_path / "known_hosts"
    host_pub = asyncssh.read_private_key(key_dir / "host").export_public_key().decode().strip()
    known.write_text(f"[{HOST}]:{srv.port} {host_pub}\n")
    settings: dict[str, object] = dict(
        host=HOST,
        port=srv.port,
        user="admin",
        identity_files=(str(key_dir / "id_ed25519"),),
        known_hosts=str(known),
        connect_timeout=5.0,
        command_timeout=10.0,
        keepalive_interval=0.0,
        use_ssh_config=False,
    )
    settings.update(ssh)
    return Node("t.xivo.master", "t", NodeKind.XIVO, None, SshSettings(**settings))  # type: ignore[arg-type]


@pytest.fixture
async def pool(tmp_path: Path) -> AsyncIterator[Pool]:
    p = Pool(audit=tmp_path / "audit.jsonl", connect_attempts=1)
    try:
        yield p
    finally:
        await p.close()


def raw(*argv: str, mutates: bool = False, pty: bool = False) -> Command:
    return Command("test", argv, mutates=mutates, pty=pty, long_running=pty)


# --- text from the node -------------------------------------------------------------------


async def test_command_output_and_error_text_are_sanitized(
    server: HostileServer, key_dir: Path, tmp_path: Path, pool: Pool
) -> None:
    node = _node(server, key_dir, tmp_path)
    result = await pool.run(node, raw("hostile"))
    assert result.exit_status == 1
    assert leaks(result.stdout) == 0 and leaks(result.stderr) == 0
    # Made visible, not dropped: the admin sees that something odd came.
    assert "␛]52;c;" in result.stdout and "⟨U+202E⟩" in result.stdout
    assert "status " in result.stdout and " done\n" in result.stdout  # CR LF -> LF


async def test_auth_banner_never_surfaces(
    server: HostileServer,
    key_dir: Path,
    tmp_path: Path,
    pool: Pool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.mode = "banner"
    node = _node(server, key_dir, tmp_path)
    result = await pool.run(node, raw("hostile"))
    assert leaks(result.stdout) == 0
    assert "Welcome" not in result.stdout + result.stderr + result.note
    assert leaks(pool.state(node.id).reason or "") == 0
    assert sum(leaks(r.getMessage()) for r in caplog.records if r.name.startswith("resil_tui")) == 0


async def test_disconnect_reason_before_authentication_is_sanitized(
    server: HostileServer, key_dir: Path, tmp_path: Path, pool: Pool
) -> None:
    server.mode = "disconnect"
    node = _node(server, key_dir, tmp_path)
    with pytest.raises(RemoteError) as info:
        await pool.run(node, raw("hostile"))
    err = info.value
    assert server.seen.authenticated == 0  # no credentials were needed to send this
    assert "maintenance" in err.message and "␛" in err.message
    assert leaks(err.message) == 0 and leaks(str(err)) == 0 and leaks(repr(err)) == 0
    link = pool.state(node.id)
    assert leaks(link.reason or "") == 0 and "maintenance" in (link.reason or "")


async def test_stream_lines_are_sanitized(
    server: HostileServer, key_dir: Path, tmp_path: Path, pool: Pool
) -> None:
    node = _node(server, key_dir, tmp_path)
    got: list[str] = []
    async with pool.stream(node, raw("stream", pty=True)) as lines:
        async for line in lines:
            got.append(line)
            if len(got) == 20:
                break
    assert [g.split(" ", 2)[:2] for g in got] == [["line", str(i)] for i in range(20)]
    assert leaks(got) == 0


async def test_a_megabyte_line_is_cut_with_a_marker(
    server: HostileServer, key_dir: Path, tmp_path: Path, pool: Pool
) -> None:
    node = _node(server, key_dir, tmp_path)
    async with pool.stream(node, raw("bigline", "1048576")) as lines:
        got = [line async for line in lines]
    marker = LINE_CUT_MARKER.format(limit=MAX_LINE_BYTES)
    assert len(got) == 2, [len(g) for g in got]
    assert got[0].endswith(marker) and len(got[0]) == MAX_LINE_BYTES + len(marker)
    assert got[1] == "after"
    assert lines.cut_lines == 1


async def test_pty_secret_masked_across_a_4k_boundary(
    server: HostileServer, key_dir: Path, tmp_path: Path, pool: Pool
) -> None:
    node = _node(server, key_dir, tmp_path)
    secret = "correct-horse-battery-staple"
    chunks: list[str] = []
    async with pool.open_pty(node, raw("secret-split", mutates=True, pty=True)) as session:
        session.send_secret(secret)
        while True:
            chunk = await session.read(5)
            if not chunk:
                break
            chunks.append(chunk)
        transcript = session.transcript
    out = "".join(chunks)
    assert len(chunks) >= 2  # it did come in more than one read
    assert secret not in out and secret[:14] not in out and secret[14:] not in out
    assert "*** echoed" in out
    assert secret not in transcript and leaks(out) == 0
    assert secret not in (tmp_path / "audit.jsonl").read_text()


async def test_sftp_bytes_kept_and_error_text_sanitized(
    server: HostileServer, key_dir: Path, tmp_path: Path, pool: Pool
) -> None:
    node = _node(server, key_dir, tmp_path)
    env = server.root / "etc" / "docker" / "edge" / ".env"
    env.parent.mkdir(parents=True)
    data = f"EDGE_FQDN=edge{ALL}\nXIVO_HOST=10.0.0.1\n".encode() + b"\x9b\xff\n"
    env.write_bytes(data)
    # Bytes are bytes: the planner must write back exactly what it read.
    assert await sftp.read_file(pool, node, "/etc/docker/edge/.env") == data
    with pytest.raises(RemoteError) as info:
        await sftp.read_file(pool, node, "/hostile-error")
    assert "cannot open" in info.value.message and leaks(info.value.message) == 0


async def test_sftp_never_reads_a_file_past_the_cap(
    server: HostileServer,
    key_dir: Path,
    tmp_path: Path,
    pool: Pool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(commands, "MAX_ANSWER_BYTES", 1 << 20)
    node = _node(server, key_dir, tmp_path)
    env = server.root / "etc" / "docker" / "edge" / ".env"
    env.parent.mkdir(parents=True)
    env.write_bytes(b"x" * ((1 << 20) + 1))
    with pytest.raises(RemoteError) as info:
        await sftp.read_file(pool, node, "/etc/docker/edge/.env")
    assert "larger than 1 MiB: not read" in info.value.message
    env.write_bytes(b"y" * (1 << 20))  # at the cap: every byte
    assert await sftp.read_file(pool, node, "/etc/docker/edge/.env") == b"y" * (1 << 20)
    env.write_bytes(b"")
    assert await sftp.read_file(pool, node, "/etc/docker/edge/.env") == b""


# --- forwarding and algorithms ------------------------------------------------------------


async def test_forward_agent_in_ssh_config_is_not_honoured(
    server: HostileServer,
    key_dir: Path,
    tmp_path: Path,
    pool: Pool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = Path.home()
    (home / ".ssh").mkdir(exist_ok=True)
    (home / ".ssh" / "config").write_text(
        "Host *\n  ForwardAgent yes\n  ForwardX11 yes\n  ForwardX11Trusted yes\n"
    )
    monkeypatch.setenv("SSH_AUTH_SOCK", str(tmp_path / "agent.sock"))
    monkeypatch.setenv("DISPLAY", "127.0.0.1:0")
    spy_forwarding(monkeypatch, server.seen)
    node = _node(server, key_dir, tmp_path, use_ssh_config=True)

    # Control: asyncssh itself, reading the same config, does ask for both.
    async with asyncssh.connect(
        HOST,
        port=server.port,
        username="admin",
        known_hosts=node.ssh.known_hosts,
        client_keys=[str(key_dir / "id_ed25519")],
    ) as conn:
        await conn.run("control", check=False)
    await asyncio.sleep(0.1)
    assert server.seen.agent_requests >= 1, "the spy cannot see agent requests"
    assert server.seen.x11_requests >= 1, "the spy cannot see X11 requests"
    server.seen.agent_requests = server.seen.x11_requests = 0

    await pool.run(node, raw("hostile"))
    async with pool.stream(node, raw("stream", pty=True)) as lines:
        async for _ in lines:
            break
    await asyncio.sleep(0.1)
    assert server.seen.agent_requests == 0
    assert server.seen.x11_requests == 0


def test_no_sha1_algorithm_is_offered() -> None:
    algs = algorithms()
    KEX_ALGS, MAC_ALGS, SIGNATURE_ALGS = algs.kex, algs.mac, algs.signature
    for names in (KEX_ALGS, MAC_ALGS, SIGNATURE_ALGS):
        assert names and not [n for n in names if is_sha1(n)]
        assert not [n for n in names if "sha1" in n]
    assert "ssh-rsa" not in SIGNATURE_ALGS and "rsa-sha2-256" in SIGNATURE_ALGS
    assert "curve25519-sha256" in KEX_ALGS and "hmac-sha2-256-etm@openssh.com" in MAC_ALGS


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"kex_algs": ["diffie-hellman-group14-sha1"]}, "id_ed25519"),
        # A MAC is only negotiated with a non-AEAD cipher (GCM and ChaCha carry their own).
        ({"mac_algs": ["hmac-sha1"], "encryption_algs": ["aes128-ctr"]}, "id_ed25519"),
        ({"signature_algs": ["ssh-rsa"]}, "id_rsa"),
    ],
    ids=["kex", "mac", "signature"],
)
async def test_a_sha1_only_server_is_refused(
    key_dir: Path, tmp_path: Path, pool: Pool, options: dict[str, list[str]], key: str
) -> None:
    srv = await _server(key_dir, tmp_path / "root", **options)
    try:
        node = _node(srv, key_dir, tmp_path, identity_files=(str(key_dir / key),))
        # Control: asyncssh's defaults would accept the SHA-1 algorithm.
        async with asyncssh.connect(
            HOST,
            port=srv.port,
            username="admin",
            known_hosts=node.ssh.known_hosts,
            client_keys=[str(key_dir / key)],
            config=None,
        ) as conn:
            assert (await conn.run("control", check=False)).exit_status == 0
        with pytest.raises(RemoteError) as info:
            await pool.run(node, raw("hostile"))
        assert info.value.kind in (ErrorKind.ERROR, ErrorKind.AUTH, ErrorKind.DROPPED)
        assert srv.seen.commands == ["control"]
    finally:
        await srv.stop()
