"""A hostile SSH server in-process (asyncssh on 127.0.0.1): every text it sends carries
terminal escapes, C1 and bidi controls, and it records what the client asked for.

Modes: `banner` (an auth banner with the payloads), `disconnect` (a DISCONNECT whose reason
text carries them, sent *before* authentication), normal sessions otherwise. Commands:
`hostile` (payloads on stdout and stderr, exit 1), `bigline N` (one N-byte line, then
`after`), `secret-split` (reads a secret from stdin, prints it so that it straddles a 4 KiB
chunk boundary), `stream` (payload lines until closed), anything else echoes the payloads.
SFTP is chrooted to `root`; opening `/hostile-error` fails with a payload as its reason;
with `refuse_chown`, changing a file's owner is refused; with `refuse_lock`, rewriting or
removing a node lock's holder.json (remote/lock.py's refresh and release) fails with a
payload as its reason. `disconnect_reason` replaces the DISCONNECT's reason text.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh
from asyncssh.process import SSHServerProcess
from hostile import ALL

HOST = "127.0.0.1"
PAYLOAD = ALL.encode("utf-8")


@dataclass
class Seen:
    commands: list[str] = field(default_factory=list)
    agent_requests: int = 0
    x11_requests: int = 0
    authenticated: int = 0
    kex: list[str] = field(default_factory=list)


class HostileServer:
    def __init__(self, host_key: asyncssh.SSHKey, client_pub: str, root: Path) -> None:
        self.host_key = host_key
        self.client_pub = client_pub
        self.root = root
        self.mode = "normal"  # normal | banner | disconnect
        self.seen = Seen()
        self.port = 0
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self.server_options: dict[str, Any] = {}
        self.refuse_chown = False  # SFTP setstat with an owner: permission denied
        self.refuse_lock = False  # a lock's refresh and release: SFTP failure, payloads
        self.disconnect_reason = "maintenance " + ALL

    async def start(self) -> HostileServer:
        self._acceptor = await asyncssh.listen(
            HOST,
            0,
            server_factory=lambda: _Server(self),
            server_host_keys=[self.host_key],
            authorized_client_keys=asyncssh.import_authorized_keys(self.client_pub),
            process_factory=self._handle,
            sftp_factory=lambda chan: _SFTP(chan, self),
            encoding=None,
            agent_forwarding=True,  # accept it, so that a request would be visible
            x11_forwarding=True,
            keepalive_interval=0,
            **self.server_options,
        )
        self.port = self._acceptor.get_port()
        return self

    async def stop(self) -> None:
        if self._acceptor is not None:
            self._acceptor.close()
            await self._acceptor.wait_closed()

    async def _handle(self, proc: SSHServerProcess[bytes]) -> None:
        cmd = proc.command or ""
        self.seen.commands.append(cmd)
        conn = proc.channel.get_connection()
        self.seen.kex.append(str(conn.get_extra_info("recv_mac") or ""))
        argv = cmd.split()
        name = argv[0] if argv else ""
        try:
            if name == "hostile":
                proc.stdout.write(b"status " + PAYLOAD + b" done\r\n" + PAYLOAD + b"\n")
                proc.stderr.write(b"error: " + PAYLOAD + b"\n")
                proc.exit(1)
            elif name == "bigline":
                size = int(argv[1])
                proc.stdout.write(b"x" * size + PAYLOAD + b"\nafter\n")
                proc.exit(0)
            elif name == "secret-split":
                secret = (await proc.stdin.readline()).strip()
                # The secret's first half ends a 4096-byte chunk, its second half starts
                # the next one; a drain between them makes them two reads on the client.
                head = b"p" * (4096 - len(secret) // 2) + secret[: len(secret) // 2]
                proc.stdout.write(head)
                await proc.stdout.drain()
                await asyncio.sleep(0.05)
                proc.stdout.write(secret[len(secret) // 2 :] + b" echoed\r\n" + PAYLOAD + b"\n")
                proc.exit(0)
            elif name == "stream":
                for i in itertools.count():
                    proc.stdout.write(f"line {i} ".encode() + PAYLOAD + b"\n")
                    await proc.stdout.drain()
                    await asyncio.sleep(0.01)
            else:
                proc.stdout.write(b"ran " + PAYLOAD + b"\n")
                proc.exit(0)
        except (asyncssh.Error, OSError, asyncio.CancelledError):
            pass


class _Server(asyncssh.SSHServer):
    def __init__(self, t: HostileServer) -> None:
        self.t = t
        self.conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn

    def begin_auth(self, username: str) -> bool:
        assert self.conn is not None
        if self.t.mode == "banner":
            self.conn.send_auth_banner("Welcome " + ALL + " to the node\n")
        elif self.t.mode == "disconnect":
            # No credentials needed: the reason text reaches the client before any auth.
            self.conn.disconnect(asyncssh.DISC_BY_APPLICATION, self.t.disconnect_reason)
        return True

    def auth_completed(self) -> None:
        self.t.seen.authenticated += 1


class _SFTP(asyncssh.SFTPServer):
    def __init__(self, chan: asyncssh.SSHServerChannel[bytes], t: HostileServer) -> None:
        super().__init__(chan, chroot=str(t.root).encode())
        self.t = t

    def setstat(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> Any:
        if self.t.refuse_chown and attrs.uid is not None:
            # What a non-root login meets when the file belongs to root.
            raise asyncssh.SFTPPermissionDenied("Operation not permitted " + ALL)
        return super().setstat(path, attrs)

    def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
        if path.endswith(b"hostile-error"):
            raise asyncssh.SFTPFailure("cannot open " + ALL)
        if self.t.refuse_lock and b"/.holder.json." in path:  # refresh: the temp file
            raise asyncssh.SFTPFailure("refresh refused " + ALL)
        return super().open(path, pflags, attrs)

    def remove(self, path: bytes) -> Any:
        if self.t.refuse_lock and path.endswith(b"/holder.json"):  # release
            raise asyncssh.SFTPFailure("remove refused " + ALL)
        return super().remove(path)


def spy_forwarding(monkeypatch: Any, seen: Seen) -> None:
    """Count agent and X11 forwarding requests as asyncssh's server channel receives them
    (a spy on asyncssh, not on resil-tui: the requests are what the client sent)."""
    channel = asyncssh.channel.SSHServerChannel
    agent = channel._process_auth_agent_req_at_openssh_dot_com_request
    x11 = channel._process_x11_req_request

    def on_agent(self: Any, packet: Any) -> Any:
        seen.agent_requests += 1
        return agent(self, packet)

    def on_x11(self: Any, packet: Any) -> Any:
        seen.x11_requests += 1
        return x11(self, packet)

    monkeypatch.setattr(channel, "_process_auth_agent_req_at_openssh_dot_com_request", on_agent)
    monkeypatch.setattr(channel, "_process_x11_req_request", on_x11)
