"""An in-process asyncssh server on 127.0.0.1 that records what it is asked to do.

It enforces OpenSSH's MaxSessions (10 concurrent sessions per connection), counts
connections, handshakes in flight and direct-tcpip (jump) channels, runs a handful of
test commands, serves SFTP chrooted to a temp dir and can break the connection in the
middle of an SFTP write sequence.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh
from asyncssh.process import SSHServerProcess

from resil_tui.inventory_model import Node, NodeKind, SshSettings

HOST = "127.0.0.1"


@dataclass
class Received:
    conn: int
    command: str | None
    pty: bool


@dataclass
class ServerRecord:
    commands: list[Received] = field(default_factory=list)
    closed: list[str | None] = field(default_factory=list)  # commands whose channel closed
    signals: list[tuple[str | None, str]] = field(default_factory=list)
    connections: int = 0
    authenticated: int = 0
    pending: int = 0
    max_pending: int = 0
    max_sessions: int = 0  # most concurrent sessions seen on one connection
    refused_sessions: int = 0
    direct_tcpip: list[tuple[str, int]] = field(default_factory=list)
    sftp_ops: list[str] = field(default_factory=list)

    def command_lines(self) -> list[str | None]:
        return [c.command for c in self.commands]


async def wait_until(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll a condition (bounded wait, not a timing assertion)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


class TestServer:
    __test__ = False  # not a pytest class

    def __init__(
        self, host_key: asyncssh.SSHKey, client_pub: str, root: Path, max_sessions: int = 10
    ) -> None:
        self.host_key = host_key
        self.client_pub = client_pub
        self.root = root
        self.limit = max_sessions
        self.rec = ServerRecord()
        self.sftp_fault: str | None = None  # write | fsync | rename_before | rename_after
        self.port = 0
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._ids = itertools.count(1)
        self.conns: list[asyncssh.SSHServerConnection] = []

    async def start(self, port: int = 0) -> TestServer:
        self._acceptor = await asyncssh.listen(
            HOST,
            port,
            server_factory=lambda: _Server(self),
            server_host_keys=[self.host_key],
            authorized_client_keys=asyncssh.import_authorized_keys(self.client_pub),
            encoding=None,
            keepalive_interval=0,
        )
        self.port = self._acceptor.get_port()
        return self

    async def stop(self) -> None:
        if self._acceptor is not None:
            self._acceptor.close()
            await self._acceptor.wait_closed()
        for c in self.conns:
            c.abort()

    def abort_all(self) -> None:
        for c in self.conns:
            c.abort()

    async def handle(self, proc: SSHServerProcess[bytes], conn_no: int) -> None:
        cmd = proc.command
        self.rec.commands.append(Received(conn_no, cmd, proc.get_terminal_type() is not None))
        argv = shlex.split(cmd or "")
        name = argv[0] if argv else ""
        out = proc.stdout
        try:
            if name == "echo-argv":
                out.write(json.dumps(argv[1:]).encode() + b"\n")
                proc.exit(0)
            elif name == "sleep":
                await asyncio.sleep(float(argv[1]))
                out.write(b"slept\n")
                proc.exit(0)
            elif name == "badutf8":
                out.write(b"bad \xff\xfe\xc3 bytes\n")
                proc.stderr.write(b"\xe9rr\n")
                proc.exit(3)
            elif name == "lines":
                for i in range(int(argv[1])):
                    out.write(f"line {i}\n".encode())
                proc.exit(0)
            elif name == "drop":
                out.write(b"partial\n")
                await out.drain()
                await asyncio.sleep(0.05)
                proc.channel.get_connection().abort()
            elif name == "cat-stdin":
                data = await proc.stdin.read()
                out.write(b"stdin:" + data)
                proc.exit(0)
            elif name == "follow":
                for i in itertools.count():
                    out.write(f"tick {i}\n".encode())
                    await out.drain()
                    await asyncio.sleep(0.02)
            elif name == "prompt":
                out.write(b"root@slave's password: ")
                line = await proc.stdin.readline()
                ok = line.strip() == b"s3cret"
                out.write(b"\nkey copied\n" if ok else b"\nPermission denied\n")
                proc.exit(0 if ok else 1)
            elif name == "echo-split":
                # Echo the secret read from stdin with a colour reset inside it (at byte
                # argv[1], none if negative), in two reads split at byte argv[2].
                out.write(b"root@slave's password: ")
                secret = (await proc.stdin.readline()).rstrip(b"\r\n")
                at, split = int(argv[1]), int(argv[2])
                echo = (secret[:at] + b"\x1b[0m" + secret[at:] if at >= 0 else secret) + b"\r\n"
                out.write(echo[:split])
                await out.drain()
                await asyncio.sleep(0.05)
                out.write(echo[split:] + b"done\r\n")
                proc.exit(0)
            elif name == "exit":
                proc.exit(int(argv[1]))
            else:
                out.write(f"ran: {cmd}\n".encode())
                proc.exit(0)
        except (asyncssh.Error, OSError, asyncio.CancelledError):
            pass  # the client went away: the channel-closed record is what tests look at


class _Session(SSHServerProcess[bytes]):
    def __init__(self, server: _Server) -> None:
        t = server.t
        super().__init__(
            lambda proc: t.handle(proc, server.no), lambda chan: _SFTP(chan, t), 3, False
        )
        self._server = server

    def signal_received(self, signal: str) -> None:
        self._server.t.rec.signals.append((self.command, signal))
        super().signal_received(signal)

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.active -= 1
        self._server.t.rec.closed.append(self.command)
        super().connection_lost(exc)


class _Server(asyncssh.SSHServer):
    def __init__(self, t: TestServer) -> None:
        self.t = t
        self.no = next(t._ids)
        self.active = 0
        self.authed = False

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.t.conns.append(conn)
        r = self.t.rec
        r.connections += 1
        r.pending += 1
        r.max_pending = max(r.max_pending, r.pending)

    def auth_completed(self) -> None:
        self.authed = True
        self.t.rec.pending -= 1
        self.t.rec.authenticated += 1

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.authed:
            self.t.rec.pending -= 1

    def session_requested(self) -> Any:
        if self.active >= self.t.limit:  # OpenSSH MaxSessions
            self.t.rec.refused_sessions += 1
            return False
        self.active += 1
        self.t.rec.max_sessions = max(self.t.rec.max_sessions, self.active)
        return _Session(self)

    def connection_requested(
        self, dest_host: str, dest_port: int, orig_host: str, orig_port: int
    ) -> bool:
        self.t.rec.direct_tcpip.append((dest_host, dest_port))
        return dest_host == HOST


class _SFTP(asyncssh.SFTPServer):
    def __init__(self, chan: asyncssh.SSHServerChannel[bytes], t: TestServer) -> None:
        super().__init__(chan, chroot=str(t.root).encode())
        self.t = t
        self.names: dict[int, bytes] = {}
        self.new_files: set[int] = set()

    def _fault(self, point: str) -> bool:
        if self.t.sftp_fault == point:
            self.t.sftp_fault = None
            return True
        return False

    def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
        f = super().open(path, pflags, attrs)
        self.names[id(f)] = path
        return f

    def write(self, file_obj: object, offset: int, data: bytes) -> Any:
        name = self.names.get(id(file_obj), b"")
        self.t.rec.sftp_ops.append(f"write {name.decode()}")
        if b"NEW" in data and b".resil-tmp-" in name:
            self.new_files.add(id(file_obj))
            if self._fault("write"):
                super().write(file_obj, offset, data[: len(data) // 2])
                self.connection.abort()
                return None
        return super().write(file_obj, offset, data)

    def fsync(self, file_obj: object) -> Any:
        self.t.rec.sftp_ops.append("fsync")
        # Break on the fsync of the temp file that holds the new content.
        if id(file_obj) in self.new_files and self._fault("fsync"):
            self.connection.abort()
            return None
        return super().fsync(file_obj)

    def posix_rename(self, oldpath: bytes, newpath: bytes) -> Any:
        self.t.rec.sftp_ops.append(f"rename {newpath.decode()}")
        target = not newpath.endswith(b".bak")
        if target and self._fault("rename_before"):
            self.connection.abort()
            return None
        result = super().posix_rename(oldpath, newpath)
        if target and self._fault("rename_after"):
            self.connection.abort()
        return result


@dataclass
class Keys:
    host: asyncssh.SSHKey
    other_host: asyncssh.SSHKey
    client_path: Path
    client_pub: str
    stranger_path: Path  # a client key the server does not know


def known_hosts_line(key: asyncssh.SSHKey, port: int) -> str:
    return f"[{HOST}]:{port} {key.export_public_key().decode().strip()}\n"


def make_node(
    port: int | None, keys: Keys, known_hosts: Path, node_id: str = "t.xivo.master", **ssh: Any
) -> Node:
    settings: dict[str, Any] = dict(
        host=HOST,
        port=port,
        user="tester",
        identity_files=(str(keys.client_path),),
        known_hosts=str(known_hosts),
        connect_timeout=5.0,
        command_timeout=10.0,
        keepalive_interval=0.0,
        use_ssh_config=False,
    )
    settings.update(ssh)
    return Node(id=node_id, site="t", kind=NodeKind.XIVO, side=None, ssh=SshSettings(**settings))
