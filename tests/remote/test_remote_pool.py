"""The pool against a real (in-process) SSH server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import pytest
from remote_server import HOST, Keys, TestServer, known_hosts_line, make_node, wait_until

from resil_tui.audit import AuditLog
from resil_tui.remote import commands as C
from resil_tui.remote.commands import Command
from resil_tui.remote.errors import ErrorKind, RemoteError
from resil_tui.remote.pool import LinkState, NodeLink, Pool, parse_jump


def raw(*argv: str, mutates: bool = False, pty: bool = False) -> Command:
    """Test-only commands the test server understands (the catalog builds the real ones)."""
    return Command("test", tuple(argv), mutates=mutates, pty=pty)


async def test_run_round_trip_quotes_hostile_values(pool: Pool, node, server: TestServer) -> None:
    hostile = ["; rm -rf /", "$(reboot)", "`id`", "a b\nc", "'\"", "*"]
    result = await pool.run(node, raw("echo-argv", *hostile))
    assert result.ok, result
    assert json.loads(result.stdout) == hostile
    assert pool.state(node.id).state is LinkState.CONNECTED


async def test_exit_status_and_invalid_utf8_keep_connection(pool: Pool, node, server) -> None:
    result = await pool.run(node, raw("badutf8"))
    assert result.exit_status == 3 and not result.ok and not result.lost
    assert "\ufffd" in result.stdout and result.stdout.startswith("bad ")
    assert "\ufffd" in result.stderr
    again = await pool.run(node, raw("lines", "3"))
    assert again.ok and again.stdout.splitlines() == ["line 0", "line 1", "line 2"]
    assert server.rec.connections == 1


async def test_thirty_commands_share_one_connection_under_session_cap(
    pool: Pool, node, server: TestServer
) -> None:
    results = await asyncio.gather(*(pool.run(node, raw("sleep", "0.05")) for _ in range(30)))
    assert all(r.ok for r in results), [r for r in results if not r.ok]
    assert server.rec.connections == 1
    assert server.rec.refused_sessions == 0
    assert server.rec.max_sessions <= 8


async def test_server_refuses_past_ten_sessions(
    keys: Keys, node, server: TestServer, tmp_path: Path
) -> None:
    """The test server really enforces MaxSessions: without the cap, runs fail (the pool
    retries a refused channel for ~1.4 s, so the sessions here outlast the retries)."""
    p = Pool(audit=tmp_path / "a.jsonl", max_channels=30)
    try:
        results = await asyncio.gather(
            *(p.run(node, raw("sleep", "2")) for _ in range(20)), return_exceptions=True
        )
    finally:
        await p.close()
    assert server.rec.refused_sessions > 0
    assert any(isinstance(r, RemoteError) for r in results)


async def test_global_connect_cap(
    keys: Keys, server: TestServer, known_hosts: Path, tmp_path: Path
) -> None:
    nodes = [make_node(server.port, keys, known_hosts, node_id=f"t.n{i}") for i in range(6)]
    p = Pool(audit=tmp_path / "a.jsonl", max_connects=2)
    try:
        results = await asyncio.gather(*(p.run(n, raw("exit", "0")) for n in nodes))
    finally:
        await p.close()
    assert all(r.ok for r in results)
    assert server.rec.connections == 6
    assert server.rec.max_pending <= 2


async def test_command_timeout_closes_channel(pool: Pool, node, server: TestServer) -> None:
    result = await pool.run(node, raw("sleep", "30"), timeout=0.3)
    assert result.timed_out and not result.ok and result.exit_status is None
    assert result.error is not None and result.error.kind is ErrorKind.TIMEOUT
    assert "closed the channel" in result.note
    await wait_until(lambda: "sleep 30" in server.rec.closed)
    assert (await pool.run(node, raw("exit", "0"))).ok  # the connection survived


async def test_cancelled_run_closes_channel(pool: Pool, node, server: TestServer) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(pool.run(node, raw("sleep", "30")), 0.3)
    await wait_until(lambda: "sleep 30" in server.rec.closed)
    assert (await pool.run(node, raw("exit", "0"))).ok


async def test_connect_timeout_on_silent_socket(
    keys: Keys, known_hosts: Path, tmp_path: Path
) -> None:
    accepted: list[object] = []
    release = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)
        await release.wait()  # accept, never speak
        writer.close()

    srv = await asyncio.start_server(silent, HOST, 0)
    port = srv.sockets[0].getsockname()[1]
    node = make_node(port, keys, known_hosts, connect_timeout=0.3)
    p = Pool(audit=tmp_path / "a.jsonl")
    try:
        with pytest.raises(RemoteError) as info:
            await p.run(node, raw("exit", "0"))
        assert p.state(node.id).state is LinkState.DOWN
        assert p.state(node.id).error_kind is ErrorKind.TIMEOUT
    finally:
        await p.close()
        release.set()
        srv.close()
        await srv.wait_closed()
    assert info.value.kind is ErrorKind.TIMEOUT
    assert len(accepted) == 1  # reached the socket once: timeouts are not retried


async def test_refused_port(keys: Keys, known_hosts: Path, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port = s.getsockname()[1]  # closed once we leave: nothing listens
    node = make_node(port, keys, known_hosts)
    p = Pool(audit=tmp_path / "a.jsonl", backoff_base=0.01)
    try:
        with pytest.raises(RemoteError) as info:
            await p.run(node, raw("exit", "0"))
    finally:
        await p.close()
    assert info.value.kind is ErrorKind.REFUSED
    assert p.state(node.id).failures == 2  # connect_attempts=2: retried once with backoff


async def test_auth_failure_is_not_retried(
    keys: Keys, server: TestServer, known_hosts: Path, pool: Pool
) -> None:
    node = make_node(server.port, keys, known_hosts, identity_files=(str(keys.stranger_path),))
    with pytest.raises(RemoteError) as info:
        await pool.run(node, raw("exit", "0"))
    assert info.value.kind is ErrorKind.AUTH
    seen = server.rec.connections
    assert seen == 1  # no automatic retry
    with pytest.raises(RemoteError) as again:
        await pool.run(node, raw("exit", "0"))
    assert again.value.kind is ErrorKind.AUTH
    assert server.rec.connections == seen  # sticky until reset: no new attempt
    pool.reset(node)
    with pytest.raises(RemoteError):
        await pool.run(node, raw("exit", "0"))
    assert server.rec.connections == seen + 1


async def test_drop_mid_command_is_lost_then_reconnects(pool: Pool, node, server) -> None:
    states: list[NodeLink] = []
    pool.on_state_change = states.append
    result = await pool.run(node, raw("drop"))
    assert result.lost and not result.ok and result.exit_status is None
    assert result.error is not None and result.error.kind is ErrorKind.DROPPED
    await wait_until(lambda: pool.state(node.id).state is LinkState.DOWN)
    assert pool.state(node.id).error_kind is ErrorKind.DROPPED
    again = await pool.run(node, raw("echo-argv", "back"))
    assert again.ok and json.loads(again.stdout) == ["back"]
    assert server.rec.connections == 2
    assert [s.state for s in states] == [
        LinkState.CONNECTING,
        LinkState.CONNECTED,
        LinkState.DOWN,
        LinkState.CONNECTING,
        LinkState.CONNECTED,
    ]


async def test_server_restart_reconnects(pool: Pool, node, server: TestServer) -> None:
    assert (await pool.run(node, raw("exit", "0"))).ok
    server.abort_all()
    await wait_until(lambda: pool.state(node.id).state is LinkState.DOWN)
    assert (await pool.run(node, raw("exit", "0"))).ok
    assert server.rec.connections == 2


async def test_read_only_refuses_mutating_before_connecting(
    keys: Keys, server: TestServer, node, tmp_path: Path
) -> None:
    audit = tmp_path / "audit.jsonl"
    p = Pool(read_only=True, audit=audit)
    try:
        for cmd in C.mutating_entries():
            with pytest.raises(RemoteError) as info:
                await p.run(node, cmd)
            assert info.value.kind is ErrorKind.READ_ONLY
        with pytest.raises(RemoteError):
            async with p.stream(node, C.xivo_sync()):
                pass
        assert server.rec.connections == 0 and server.rec.commands == []
        # Read-only entries still run.
        ok = await p.run(node, C.xivo_service_status(all=True))
        assert ok.ok and server.rec.command_lines() == ["xivo-service status all"]
    finally:
        await p.close()
    assert not audit.exists()  # nothing mutated, nothing audited


async def test_mutating_commands_are_audited_without_secrets(
    pool: Pool, node, server: TestServer
) -> None:
    cmd = Command("t", ("cat-stdin",), mutates=True, stdin=b"body ", secret_stdin=True)
    result = await pool.run(node, cmd, input_secret="hunter2-pw", step="test step")
    assert result.ok and result.stdout == "stdin:body hunter2-pw\n"
    await pool.run(node, C.xivo_service_status())  # read-only: not audited
    records = AuditLog(pool.audit.path).read()
    # Recorded before it was sent, then with its result: one op, two records.
    assert [r["result"] for r in records] == ["started", "ok"]
    started, rec = records
    assert started["op"] and started["op"] == rec["op"] and started["exit_status"] is None
    assert rec["command"] == "cat-stdin" and rec["node"] == node.id and rec["site"] == "t"
    assert rec["exit_status"] == 0 and rec["step"] == "test step" and rec["result"] == "ok"
    assert "hunter2" not in pool.audit.path.read_text()


async def test_stream_yields_lines_and_closes_channel(pool: Pool, node, server) -> None:
    cmd = Command("t", ("follow",), mutates=False, pty=True, long_running=True)
    got: list[str] = []
    async with pool.stream(node, cmd) as lines:
        async for line in lines:
            got.append(line)
            if len(got) == 5:
                break
    assert got == [f"tick {i}" for i in range(5)]
    await wait_until(lambda: "follow" in server.rec.closed)
    assert server.rec.commands[0].pty
    assert ("follow", "HUP") in server.rec.signals
    assert (await pool.run(node, raw("exit", "0"))).ok


async def test_stream_ends_with_exit_status(pool: Pool, node, server) -> None:
    async with pool.stream(node, raw("lines", "4")) as lines:
        got = [line async for line in lines]
    assert got == ["line 0", "line 1", "line 2", "line 3"]
    assert lines.exit_status == 0 and not lines.lost


async def test_stream_drop_raises_dropped(pool: Pool, node, server) -> None:
    with pytest.raises(RemoteError) as info:
        async with pool.stream(node, raw("drop")) as lines:
            async for _ in lines:
                pass
    assert info.value.kind is ErrorKind.DROPPED


async def test_pty_session_answers_prompt_with_secret(pool: Pool, node, server) -> None:
    cmd = Command("t", ("prompt",), mutates=True, pty=True, secret_stdin=True)
    async with pool.open_pty(node, cmd, step="sync init") as session:
        prompt = await session.expect(r"password: ", timeout=5)
        assert "password" in prompt
        session.send_secret("s3cret")
        status = await session.wait(timeout=5)
    assert status == 0
    assert "key copied" in session.transcript and "s3cret" not in session.transcript
    rec = AuditLog(pool.audit.path).read()[-1]
    assert rec["command"] == "prompt" and rec["exit_status"] == 0
    assert "s3cret" not in pool.audit.path.read_text()


@pytest.mark.parametrize(
    ("secret", "colour_at", "split_at"),
    [
        ("S3cretPass", -1, 0),  # a plain echo, one read
        ("S3cretPass", -1, 5),  # a plain echo, two reads
        ("S3cretPass", 6, 0),  # "S3cret\x1b[0mPass": masked only once the SGR is removed
        ("S3cretPass", 6, 3),  # "S3c" | "ret\x1b[0mPass"
        ("S3cretPass", 6, 6),  # "S3cret" | "\x1b[0mPass"
        ("S3cretPass", 6, 7),  # "S3cret\x1b" | "[0mPass"
        ("S3cretPass", 6, 9),  # "S3cret\x1b[0" | "mPass"
        ("S3cretPass", 6, 10),  # "S3cret\x1b[0m" | "Pass"
        ("S3cretPass", 6, 12),  # "S3cret\x1b[0mPa" | "ss"
        ("S3cretPass", 6, 15),  # between CR and LF
        # A secret clean() changes (a bidi mark): masked as sent and as shown.
        ("pa\u200ess", -1, 0),
        ("pa\u200ess", 5, 0),  # "pa\u200e\x1b[0mss": only clean()'s form of it is there
        ("pa\u200ess", 5, 3),
        ("pa\u200ess", 5, 5),
    ],
)
async def test_pty_secret_masked_when_its_echo_carries_a_colour_code(
    pool: Pool, node, server: TestServer, secret: str, colour_at: int, split_at: int
) -> None:
    cmd = raw("echo-split", str(colour_at), str(split_at), mutates=True, pty=True)
    chunks: list[str] = []
    async with pool.open_pty(node, cmd) as session:
        chunks.append(await session.expect(r"password: ", timeout=5))
        session.send_secret(secret)
        while chunk := await session.read(5):
            chunks.append(chunk)
        transcript = session.transcript
    out = "".join(chunks)
    assert out == "root@slave's password: ***\ndone\n", chunks
    assert "***" in transcript and "done" in transcript
    audit = pool.audit.path.read_text()
    for shown in (secret, secret.replace("\u200e", "⟨U+200E⟩"), "S3cret", "Pass"):
        assert shown not in out and shown not in transcript and shown not in audit


def test_pty_holds_back_only_what_may_still_become_a_colour_code_or_a_newline() -> None:
    # Bounded: clean() removes at most 64 parameter characters of a colour sequence, and a
    # PTY ends a line with at most `\r\r\n`; a node sending longer runs is shown as it
    # comes, not held back (and rescanned) until it pauses.
    from resil_tui.remote.pool import PtySession

    session = PtySession("t.xivo.master", raw("x", mutates=True, pty=True), None)  # type: ignore[arg-type]
    assert session._unfinished("out \x1b[1;3") == len("\x1b[1;3")
    assert session._unfinished("out \x1b") == 1
    assert session._unfinished("out \x1b[" + "1;" * 40) == 0
    assert session._unfinished("out\r\r\r\r") == 2


async def test_ssh_config_supplies_host_port_user(
    keys: Keys, server: TestServer, known_hosts: Path, isolated_home: Path, pool: Pool
) -> None:
    ssh_dir = isolated_home / ".ssh"
    ssh_dir.mkdir()
    (ssh_dir / "config").write_text(
        f"Host xivo-alias\n  HostName {HOST}\n  Port {server.port}\n  User tester\n"
        f"Host {HOST}\n  Port {server.port}\n"
    )
    node = make_node(None, keys, known_hosts, user=None, use_ssh_config=True, host="xivo-alias")
    assert (await pool.run(node, raw("exit", "0"))).ok
    direct = make_node(None, keys, known_hosts, use_ssh_config=True, node_id="t.direct")
    assert (await pool.run(direct, raw("exit", "0"))).ok
    assert server.rec.connections == 2
    # use_ssh_config=False: the Port line is ignored, so port 22 is tried instead.
    off = make_node(None, keys, known_hosts, use_ssh_config=False, node_id="t.off")
    with pytest.raises(RemoteError):
        await pool.run(off, raw("exit", "0"))
    assert server.rec.connections == 2


async def test_jump_host_shared_by_targets(
    keys: Keys, server: TestServer, known_hosts: Path, tmp_path: Path, pool: Pool
) -> None:
    jump = await TestServer(keys.host, keys.client_pub, tmp_path).start()
    try:
        with known_hosts.open("a") as f:
            f.write(known_hosts_line(keys.host, jump.port))
        spec = f"tester@{HOST}:{jump.port}"
        a = make_node(server.port, keys, known_hosts, node_id="t.a", jump=spec)
        b = make_node(server.port, keys, known_hosts, node_id="t.b", jump=spec)
        ra, rb = await asyncio.gather(pool.run(a, raw("exit", "0")), pool.run(b, raw("exit", "0")))
        assert ra.ok and rb.ok
        assert jump.rec.connections == 1
        assert jump.rec.direct_tcpip == [(HOST, server.port), (HOST, server.port)]
        assert server.rec.connections == 2
    finally:
        await pool.close()
        await jump.stop()


async def test_unknown_jump_host_key_is_fetched_and_trusted(
    keys: Keys, server: TestServer, known_hosts: Path, tmp_path: Path, pool: Pool
) -> None:
    jump = await TestServer(keys.other_host, keys.client_pub, tmp_path).start()
    try:
        node = make_node(server.port, keys, known_hosts, jump=f"tester@{HOST}:{jump.port}")
        with pytest.raises(RemoteError) as info:
            await pool.run(node, raw("exit", "0"))
        assert info.value.kind is ErrorKind.HOST_KEY_UNKNOWN and info.value.via_jump
        assert info.value.node_id == node.id and "jump host" in info.value.message
        assert info.value.hop == f"tester@{HOST}:{jump.port}"
        key = await pool.fetch_host_key(node, hop=info.value.hop)
        assert key.fingerprint == keys.other_host.get_fingerprint("sha256")
        assert key.port == jump.port
        pool.trust_host_key(node, key)
        assert (await pool.run(node, raw("exit", "0"))).ok
        assert jump.rec.authenticated == 1 and server.rec.connections == 1
    finally:
        await pool.close()
        await jump.stop()


def test_parse_jump() -> None:
    assert parse_jump("admin@bastion.example.com:2222") == ("admin", "bastion.example.com", 2222)
    assert parse_jump("bastion") == (None, "bastion", None)
    assert parse_jump("u@[::1]:22") == ("u", "::1", 22)
    with pytest.raises(ValueError):
        parse_jump("u@host:99999")


async def test_a_briefly_refused_channel_is_retried(
    keys: Keys, node, server: TestServer, tmp_path: Path
) -> None:
    # Past MaxSessions for a moment (sshd frees a slot only once the previous command's
    # process is reaped): nothing was sent, so the pool waits and opens the channel again.
    p = Pool(audit=tmp_path / "a.jsonl", max_channels=30)
    try:
        results = await asyncio.gather(*(p.run(node, raw("sleep", "0.1")) for _ in range(12)))
    finally:
        await p.close()
    assert server.rec.refused_sessions > 0
    assert all(r.ok for r in results)
