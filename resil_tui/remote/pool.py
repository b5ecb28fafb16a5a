"""The connection pool: the only way resil-tui sends anything to a node.

One asyncssh connection per node, opened on demand and reused. A per-connection
semaphore keeps channels under OpenSSH's MaxSessions (10, SFTP included), a global one
keeps simultaneous handshakes under sshd's MaxStartups. Every command is a catalog
`Command`; read-only mode refuses mutating ones before connecting. A mutating one is
written to the audit log *before* it is sent (no record, nothing sent) and again with its
result; every stream start is recorded too.

Whatever `~/.ssh/config` says, no agent or X11 forwarding is ever requested (root on a
compromised node could use the admin's agent while a log follow keeps the channel open),
and no SHA-1 key exchange, MAC or signature is offered. Every byte a node sends becomes
text through `core.sanitize.clean` here: command results, stream lines, PTY reads.
"""

from __future__ import annotations

import asyncio
import codecs
import collections
import contextlib
import dataclasses
import functools
import logging
import os
import re
import time
from asyncio.subprocess import PIPE, STDOUT
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resil_tui.audit import STARTED, AuditLog, AuditUnavailable, new_op_id
from resil_tui.core import validators
from resil_tui.core.records import record
from resil_tui.core.sanitize import clean
from resil_tui.inventory_model import Node, SshSettings
from resil_tui.lazy import lazy_module
from resil_tui.remote import ssh
from resil_tui.remote.errors import ErrorKind, RemoteError, classify
from resil_tui.remote.ssh import asyncssh

if TYPE_CHECKING:
    from resil_tui.remote import commands, hostkeys, read_shell
    from resil_tui.remote.commands import Command
else:
    # known_hosts is read at the first connection, after the console's first screen.
    hostkeys = lazy_module("resil_tui.remote.hostkeys")
    read_shell = lazy_module("resil_tui.remote.read_shell")
    commands = lazy_module("resil_tui.remote.commands")

log = logging.getLogger(__name__)

# Failures that retrying cannot fix: kept until reset() / trust_host_key().
STICKY_KINDS = frozenset(
    {
        ErrorKind.AUTH,
        ErrorKind.HOST_KEY_UNKNOWN,
        ErrorKind.HOST_KEY_CHANGED,
        ErrorKind.HOST_KEY_REVOKED,
    }
)
# How deep ProxyJump chains found in ~/.ssh/config are followed (a loop stops there).
MAX_HOPS = 5

# How often a live connection's refusal to open a channel is tried again.
CHANNEL_OPEN_TRIES = 4

PREFERRED_CIPHERS = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes256-ctr",
    "aes192-ctr",
    "aes128-ctr",
)

# How long we wait for a closed channel to be acknowledged before giving up on it.
CLOSE_GRACE = 2.0

# A kept shell (remote/read_shell.py): how long its readiness check may take, and how many
# times one connection may try one before its reads go one execution each for good.
SHELL_READY_TIMEOUT = 5.0
SHELL_TRIES = 3

# A stream line longer than this is cut (and says so): a node must not make us buffer
# a megabyte line, nor a log view render one.
MAX_LINE_BYTES = 64 * 1024
LINE_CUT_MARKER = " ⟨… line cut at {limit} bytes⟩"
STREAM_READ = 64 * 1024
# A PTY read that may end inside a secret (or between CR and LF, or inside a colour
# sequence) is held back this long for the rest before it is handed out as it is.
PTY_HOLD = 0.2
# The end of a PTY read that may still become a colour sequence, which clean() removes
# whole (a secret echoed with one inside it is masked once it is removed).
_SGR_UNFINISHED = re.compile(r"\x1b(?:\[[0-9;:]{0,64})?")  # clean()'s _SGR: at most 64

_SHA1 = re.compile(r"sha1(?![0-9])")
_SHA1_SIGNATURES = frozenset(
    {"ssh-rsa", "ssh-dss", "ssh-rsa-cert-v01@openssh.com", "ssh-dss-cert-v01@openssh.com"}
)


def is_sha1(name: str) -> bool:
    """A key exchange, MAC or signature algorithm built on SHA-1."""
    return name in _SHA1_SIGNATURES or name.startswith("x509v3-") or bool(_SHA1.search(name))


def _without_sha1(names: list[bytes]) -> tuple[str, ...]:
    return tuple(n.decode("ascii") for n in names if not is_sha1(n.decode("ascii")))


@record
class Algorithms:
    """What the pool offers a node in the SSH handshake: asyncssh's defaults without SHA-1."""

    kex: tuple[str, ...]
    mac: tuple[str, ...]
    signature: tuple[str, ...]


@functools.cache
def algorithms() -> Algorithms:
    """asyncssh's own defaults (its preference order), minus SHA-1: OpenSSH has offered
    SHA-2 alternatives of each for a decade (curve25519, hmac-sha2-*, rsa-sha2-*). Read on
    first use, with asyncssh."""
    from asyncssh.kex import get_default_kex_algs
    from asyncssh.mac import get_default_mac_algs
    from asyncssh.public_key import get_default_public_key_algs

    return Algorithms(
        kex=_without_sha1(get_default_kex_algs()),
        mac=_without_sha1(get_default_mac_algs()),
        signature=_without_sha1(get_default_public_key_algs()),
    )


class LinkState(StrEnum):
    IDLE = "idle"  # never connected, or closed by us
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DOWN = "down"  # last attempt failed or the connection was lost


@record
class NodeLink:
    """Connection state of one node, for the UI."""

    node_id: str
    state: LinkState
    since: datetime
    reason: str | None = None
    error_kind: ErrorKind | None = None
    failures: int = 0  # consecutive failed connection attempts


@record
class Result:
    """How a catalog command ended on a node: its output, or that it was lost or timed out."""

    node_id: str
    command: Command
    exit_status: int | None
    stdout: str
    stderr: str
    duration: float
    lost: bool = False  # the connection went away: the command may or may not have run
    timed_out: bool = False  # we gave up waiting and closed the channel
    # It wrote more than commands.MAX_ANSWER_BYTES on one stream: we stopped it and closed
    # the channel; what it wrote is dropped, not judged.
    overflowed: bool = False
    exit_signal: str | None = None
    note: str = ""
    # From the connection in hand to the end: the channel, the command, its answer. Unlike
    # `duration`, no wait for a connect slot and no handshake (a cold run's first command).
    round_trip: float | None = None

    @property
    def ok(self) -> bool:
        return self.exit_status == 0 and not self.incomplete

    @property
    def incomplete(self) -> bool:
        """No whole answer came (lost, timed out, or too long): half an answer is none."""
        return self.lost or self.timed_out or self.overflowed

    @property
    def latency(self) -> float:
        """How long the node took to answer: the round trip once connected (`duration`
        when it is not known)."""
        return self.round_trip if self.round_trip is not None else self.duration

    @property
    def line(self) -> str:
        return self.command.line

    @property
    def error(self) -> RemoteError | None:
        """The failure as a RemoteError when the command did not complete."""
        if self.lost:
            return RemoteError(ErrorKind.DROPPED, self.node_id, self.note or "connection lost")
        if self.timed_out:
            return RemoteError(ErrorKind.TIMEOUT, self.node_id, self.note or "command timed out")
        if self.overflowed:
            return RemoteError(ErrorKind.ERROR, self.node_id, self.note or "too much output")
        return None

    def summary(self) -> str:
        if self.lost:
            return "lost"
        if self.timed_out:
            return "timeout"
        if self.overflowed:
            return "too much output"
        if self.exit_status is None:
            return f"signal {self.exit_signal}" if self.exit_signal else "no exit status"
        return "ok" if self.exit_status == 0 else f"exit {self.exit_status}"


def _overflow_note(stream: str, done: str) -> str:
    return (
        f"it wrote more than {commands.MAX_ANSWER_BYTES / 2**20:g} MiB on {stream}: {done}; "
        "its answer was dropped"
    )


class _Overflow(Exception):
    """A command's answer ran past commands.MAX_ANSWER_BYTES on the stream named."""


class _Answer:
    """A command's stdout and stderr, read as they come, each up to the cap: asyncssh's own
    wait() would buffer all of it, however much the node sends."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.err = bytearray()

    async def read(self, proc: asyncssh.SSHClientProcess[bytes]) -> None:
        """Until both streams end; _Overflow when one passes the cap. Both are read at once:
        asyncssh stops the whole channel while either stream's buffer is full."""
        readers = [
            asyncio.ensure_future(self._drain(proc.stdout, self.out, "stdout")),
            asyncio.ensure_future(self._drain(proc.stderr, self.err, "stderr")),
        ]
        try:
            # The first overflow ends the wait, whichever stream it is on.
            await asyncio.gather(*readers)
        finally:
            for reader in readers:
                if not reader.done():
                    reader.cancel()  # the other one, or both when the caller gave up
                elif not reader.cancelled():
                    reader.exception()  # both failed (a drop): one is raised, none logged

    @staticmethod
    async def _drain(stream: asyncssh.SSHReader[bytes], into: bytearray, name: str) -> None:
        while chunk := await stream.read(STREAM_READ):
            into += chunk
            if len(into) > commands.MAX_ANSWER_BYTES:
                raise _Overflow(name)

    def joined(self, proc: asyncssh.SSHClientProcess[bytes]) -> tuple[bytes, bytes]:
        """What was read, then what arrived and was not read yet (a deadline, a drop)."""
        out, err = proc.collect_output()
        return bytes(self.out) + out, bytes(self.err) + err


async def sftp_read(client: asyncssh.SFTPClient, path: str) -> bytes | None:
    """A remote file's bytes over SFTP, None when it does not exist. A file larger than
    commands.MAX_ANSWER_BYTES is an SFTP failure, not read into memory."""
    cap = commands.MAX_ANSWER_BYTES
    too_big = asyncssh.SFTPFailure(f"larger than {cap / 2**20:g} MiB: not read")
    try:
        async with client.open(path, "rb", encoding=None) as f:
            # As many bytes as the file has, asked for: read() alone would take the size
            # from a second stat, whatever it says.
            size = (await f.stat()).size
            if size is not None and size > cap:
                raise too_big
            data = await f.read(cap + 1 if size is None else size)
            if size is not None and await f.read(1):
                raise asyncssh.SFTPFailure("changed while it was read: read again")
    except asyncssh.SFTPNoSuchFile:
        return None
    raw = data if isinstance(data, bytes) else data.encode("utf-8")
    if len(raw) > cap:
        raise too_big
    return raw


def parse_jump(spec: str) -> tuple[str | None, str, int | None]:
    """`[user@]host[:port]` (IPv6 as `[addr]:port`) -> (user, host, port): the inventory's
    own parser (core/validators.ssh_target), so what check-config accepts connects."""
    try:
        target = validators.ssh_target(spec)
    except validators.InvalidValue as exc:
        raise ValueError(f"invalid jump host {spec!r}: {exc} (expected user@host:port)") from None
    return target.user, target.host, target.port


OnLost = Callable[["asyncssh.SSHClientConnection", Exception | None], None]


@functools.cache
def _client_class() -> Callable[[OnLost], asyncssh.SSHClient]:
    """The client class, made on first use: subclassing asyncssh's at import time would
    load asyncssh with this module."""

    class _Client(asyncssh.SSHClient):
        def __init__(self, on_lost: OnLost):
            self._on_lost = on_lost
            self._conn: asyncssh.SSHClientConnection | None = None

        def connection_made(self, conn: asyncssh.SSHClientConnection) -> None:
            self._conn = conn

        def connection_lost(self, exc: Exception | None) -> None:
            if self._conn is not None:
                self._on_lost(self._conn, exc)

    return _Client


DEFAULT_IDENTITIES = ("~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa")


def _fix_evidence(settings: SshSettings, kind: ErrorKind) -> tuple[tuple[str, int, int], ...]:
    """(path, mtime_ns, size) of the files whose edit fixes a sticky failure: known_hosts
    for host keys, the identity files for auth. Sticky failures are never retried as such
    (no lockouts); they are retried once after one of these files changed."""
    if kind is ErrorKind.AUTH:
        paths = [
            Path(os.path.expanduser(p)) for p in (settings.identity_files or DEFAULT_IDENTITIES)
        ]
    else:
        paths = hostkeys.known_hosts_paths(settings)
    found: list[tuple[str, int, int]] = []
    for path in paths:
        try:
            st = path.stat()
        except OSError:
            found.append((str(path), -1, -1))
        else:
            found.append((str(path), st.st_mtime_ns, st.st_size))
    return tuple(found)


def _consume(task: asyncio.Task[Any]) -> None:
    # A connect task may finish after every waiter gave up: read its outcome so asyncio
    # does not report "exception was never retrieved".
    if not task.cancelled():
        task.exception()


@dataclass
class _Link:
    """The pool's state for one node: its connection (or the one being opened) and failures."""

    node: Node
    channels: asyncio.Semaphore
    state: NodeLink
    conn: asyncssh.SSHClientConnection | None = None
    connecting: asyncio.Task[asyncssh.SSHClientConnection] | None = None
    failures: int = 0
    next_attempt: float = 0.0
    sticky: RemoteError | None = None
    # What the admin edits to fix the sticky failure, as it was then (see _fix_evidence).
    sticky_evidence: tuple[tuple[str, int, int], ...] = ()
    closing: set[int] = field(default_factory=set)  # id() of connections we close on purpose
    # The shell kept open for reads (Pool(keep_shells=True)), the task opening one, the
    # connection they belong to and how many tries failed on it.
    shell: read_shell.ReadShell | None = None
    shell_opening: asyncio.Task[None] | None = None
    shell_conn: asyncssh.SSHClientConnection | None = None
    shell_failures: int = 0
    # The last stdout read through the kept shell, and its text (`_decode_kept`).
    last_stdout: tuple[bytes, str] | None = None


# What a jump hop's connection is made of: for each hop up to and including it, its spec
# and what its trust and login come from (known_hosts, keys, ~/.ssh/config); timeouts
# are the first node's, as one connection has one (see Pool._jump_chain).
_HopKey = tuple[tuple[str, str | None, tuple[str, ...], bool], ...]


@dataclass
class _Jump:
    """One hop of a jump chain, shared by every node behind the same chain checked and
    logged into the same way (known_hosts, keys, ssh config: see Pool._jump_chain)."""

    chain: str  # the hops up to and including this one, "a,b" (what `hop=` may name)
    spec: str  # this hop, as written: "admin@bastion:22"
    settings: SshSettings
    conn: asyncssh.SSHClientConnection | None = None
    connecting: asyncio.Task[asyncssh.SSHClientConnection] | None = None


def shown_text(data: bytes) -> str:
    """Bytes read otherwise (SFTP) as a poll's answer holds the same bytes: what screens
    show, and what a diff shown from a poll was made of."""
    return _decode(data, pty=False)


def _decode(data: bytes | str | None, pty: bool) -> str:
    """Remote bytes as text the product may show: invalid UTF-8 replaced (strict decoding
    would tear the connection down), escapes and controls made visible. A PTY's "\r\n"
    becomes "\n" (clean() drops CRs before a newline in any case)."""
    if data is None:
        return ""
    text = data if isinstance(data, str) else data.decode("utf-8", errors="replace")
    return clean(text)


def _decode_kept(link: _Link, data: bytes) -> str:
    """`_decode` of a stdout read through the link's kept shell: the last one's text when
    the bytes are the same. A poll sends the same lines every few seconds and many answers
    are alike (a CC's 30 KB xuc log window between two lines logged, which is not ASCII
    when one line is not, and then costs tens of microseconds to check)."""
    last = link.last_stdout
    if last is not None and last[0] == data:
        return last[1]
    text = _decode(data, False)
    link.last_stdout = (data, text)
    return text


class Pool:
    def __init__(
        self,
        *,
        read_only: bool = False,
        audit: AuditLog | Path | str | None = None,
        max_channels: int = 8,
        max_connects: int = 8,
        connect_attempts: int = 2,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        on_state_change: Callable[[NodeLink], None] | None = None,
        keep_shells: bool = False,
    ) -> None:
        self.read_only = read_only
        # A console or a watcher, which read the same nodes again and again: reads go
        # through one shell kept open per connection (remote/read_shell.py).
        self.keep_shells = keep_shells
        self.audit = audit if isinstance(audit, AuditLog) else AuditLog(audit)
        self.max_channels = max_channels
        self.connect_attempts = max(1, connect_attempts)
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.on_state_change = on_state_change
        self._connect_sem = asyncio.Semaphore(max_connects)
        self._links: dict[str, _Link] = {}
        self._jumps: dict[_HopKey, _Jump] = {}
        self._closed = False
        # Per node: how many changing commands ended without us knowing whether they ran
        # (link lost, or given up on). The node's lock reads it (remote/lock.py).
        self.unsure_changes: dict[str, int] = {}

    async def __aenter__(self) -> Pool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- state -----------------------------------------------------------------------

    def state(self, node_id: str) -> NodeLink:
        link = self._links.get(node_id)
        if link is None:
            return NodeLink(node_id, LinkState.IDLE, datetime.now(UTC))
        return link.state

    def states(self) -> dict[str, NodeLink]:
        return {node_id: link.state for node_id, link in self._links.items()}

    def _set_state(
        self,
        link: _Link,
        state: LinkState,
        error: RemoteError | None = None,
        reason: str | None = None,
    ) -> None:
        new = NodeLink(
            node_id=link.node.id,
            state=state,
            since=datetime.now(UTC) if state is not link.state.state else link.state.since,
            reason=error.message if error is not None else (clean(reason) if reason else None),
            error_kind=error.kind if error is not None else None,
            failures=link.failures,
        )
        if new == link.state:
            return
        link.state = new
        if self.on_state_change is not None:
            try:
                self.on_state_change(new)
            except Exception:  # a UI bug must not break the connection machinery
                log.exception("on_state_change callback failed")

    def _link(self, node: Node) -> _Link:
        link = self._links.get(node.id)
        if link is None:
            link = _Link(
                node=node,
                channels=asyncio.Semaphore(self.max_channels),
                state=NodeLink(node.id, LinkState.IDLE, datetime.now(UTC)),
            )
            self._links[node.id] = link
        elif link.node is not node and link.node.ssh != node.ssh:
            # The inventory changed under us: the old connection targets the old settings.
            self._drop_conn(link)
            link.sticky, link.failures, link.next_attempt = None, 0, 0.0
            link.node = node
        else:
            link.node = node
        return link

    def reset(self, node: Node) -> None:
        """Forget a failure (and its backoff) so the next call connects at once."""
        link = self._link(node)
        link.sticky, link.failures, link.next_attempt = None, 0, 0.0
        if link.conn is None:
            self._set_state(link, LinkState.IDLE)

    # --- read-only guard -------------------------------------------------------------

    def check_allowed(self, node: Node, command: Command) -> None:
        if command.mutates and self.read_only:
            raise RemoteError(
                ErrorKind.READ_ONLY,
                node.id,
                f"read-only mode: refused `{command.line}`; nothing was sent",
            )

    def require_writable(self, node: Node, what: str) -> None:
        if self.read_only:
            raise RemoteError(
                ErrorKind.READ_ONLY, node.id, f"read-only mode: refused to {what}; nothing was sent"
            )

    # --- connecting ------------------------------------------------------------------

    async def connection(self, node: Node) -> asyncssh.SSHClientConnection:
        """The node's live connection, opened (single-flight, with backoff) if needed."""
        if self._closed:
            raise RemoteError(ErrorKind.ERROR, node.id, "the connection pool is closed")
        link = self._link(node)
        if link.conn is not None and not link.conn.is_closed():
            return link.conn
        if link.sticky is not None:
            if _fix_evidence(link.node.ssh, link.sticky.kind) == link.sticky_evidence:
                raise link.sticky
            # known_hosts (host keys) or the key files (auth) changed since: the admin acted
            # on the message, so one new attempt is worth it (and is not a blind retry).
            link.sticky, link.failures, link.next_attempt = None, 0, 0.0
        if link.connecting is None or link.connecting.done():
            link.connecting = asyncio.create_task(self._connect_with_retries(link))
            link.connecting.add_done_callback(_consume)
        # shield: one caller giving up must not cancel the attempt others wait for.
        return await asyncio.shield(link.connecting)

    async def warm_up(self) -> None:
        """The SSH library loaded (in a thread, the first time): callers that put a
        deadline on a first connection await this first, so that the import (a second or
        more on a loaded machine) is not counted as the node's slowness."""
        await ssh.load()

    async def _connect_with_retries(self, link: _Link) -> asyncssh.SSHClientConnection:
        await ssh.load()
        attempt = 0
        while True:
            delay = link.next_attempt - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self._set_state(link, LinkState.CONNECTING)
            node = link.node
            try:
                tunnel = await self._jump_connection(node)
                conn = await self._open(node.id, node.ssh, tunnel, link)
            except RemoteError as err:
                link.failures += 1
                backoff = min(self.backoff_cap, self.backoff_base * 2 ** (link.failures - 1))
                link.next_attempt = time.monotonic() + backoff
                if err.kind in STICKY_KINDS:
                    link.sticky = err
                    link.sticky_evidence = _fix_evidence(node.ssh, err.kind)
                self._set_state(link, LinkState.DOWN, err)
                attempt += 1
                if not err.transient or attempt >= self.connect_attempts:
                    raise
                continue
            link.conn, link.failures, link.next_attempt = conn, 0, 0.0
            self._set_state(link, LinkState.CONNECTED)
            return conn

    def _connect_kwargs(
        self, settings: SshSettings, tunnel: asyncssh.SSHClientConnection | None
    ) -> dict[str, object]:
        kw: dict[str, object] = {
            # Strict: only this file, re-read at every connect (a key trusted a moment ago
            # counts); a missing file means "no key known", never a silent fallback.
            "known_hosts": hostkeys.load_known_hosts(hostkeys.known_hosts_paths(settings)),
            "connect_timeout": settings.connect_timeout,
            "keepalive_interval": max(0.0, settings.keepalive_interval),
            "keepalive_count_max": 3,
            # () = asyncssh's default: load ~/.ssh/config; None = load no config file.
            "config": () if settings.use_ssh_config else None,
            # AES-GCM first: asyncssh's chacha20-poly1305 builds a cipher context per packet
            # and was half of a poll's client CPU. Every OpenSSH since 6.2 offers AES-GCM;
            # the rest of asyncssh's defaults stay as fallbacks.
            "encryption_algs": PREFERRED_CIPHERS,
            "kex_algs": algorithms().kex,
            "mac_algs": algorithms().mac,
            "signature_algs": algorithms().signature,
            # Explicit False: asyncssh otherwise takes ForwardAgent / ForwardX11Trusted
            # from ~/.ssh/config, and a node's root could then use the admin's agent.
            "agent_forwarding": False,
            "x11_forwarding": False,
        }
        # Unset values are left out, not passed as None, so ~/.ssh/config decides.
        if settings.port is not None:
            kw["port"] = settings.port
        if settings.user is not None:
            kw["username"] = settings.user
        if settings.identity_files:
            kw["client_keys"] = [os.path.expanduser(p) for p in settings.identity_files]
        # Always explicit: None stops asyncssh from following a ProxyJump of ~/.ssh/config
        # on its own, with the default known_hosts and keys instead of ours (the pool
        # resolves ProxyJump itself, see _hops).
        kw["tunnel"] = tunnel
        return kw

    async def _open(
        self,
        node_id: str,
        settings: SshSettings,
        tunnel: asyncssh.SSHClientConnection | None,
        link: _Link | None,
        label: str = "",
        hop: str | None = None,
    ) -> asyncssh.SSHClientConnection:
        kw = self._connect_kwargs(settings, tunnel)
        where = label or self._where(settings)

        def factory() -> asyncssh.SSHClient:
            return _client_class()(lambda conn, exc: self._on_conn_lost(link, conn, exc))

        async with self._connect_sem:
            try:
                conn = await asyncssh.connect(settings.host, client_factory=factory, **kw)
            except (TimeoutError, OSError, asyncssh.Error, ValueError) as exc:
                err = self.classify(node_id, settings, exc, where)
                failure: BaseException = exc
            else:
                return conn
        if err.kind is ErrorKind.HOST_KEY_UNKNOWN:
            # asyncssh says "not trusted" even for a key known_hosts marks @revoked when
            # no plain entry exists: look at the key itself, so a revoked key is called so.
            err = await self._revoked_or(err, node_id, settings, tunnel, where)
        err.hop = hop
        raise err from failure

    async def _revoked_or(
        self,
        err: RemoteError,
        node_id: str,
        settings: SshSettings,
        tunnel: asyncssh.SSHClientConnection | None,
        where: str,
    ) -> RemoteError:
        paths = hostkeys.known_hosts_paths(settings)
        target = hostkeys.resolve_target(settings)
        revoked = [e for e in hostkeys.lookup_all(paths, target) if e.revoked]
        if not revoked:
            return err
        try:
            info = await asyncio.wait_for(
                hostkeys.fetch_host_key(settings, tunnel), settings.connect_timeout
            )
        except (TimeoutError, OSError, asyncssh.Error, ValueError):
            return err
        entry = next((e for e in revoked if e.fingerprint == info.fingerprint), None)
        if entry is None:
            return err
        return RemoteError(
            ErrorKind.HOST_KEY_REVOKED,
            node_id,
            f"host key REVOKED for {target.pattern} ({where}): the key the server presents "
            f"({info.fingerprint}) is marked @revoked in {entry.where}. Connection refused; "
            "this key is never offered for trust.",
            known_hosts=str(entry.path),
            line=entry.line,
        )

    @staticmethod
    def _where(settings: SshSettings) -> str:
        user = f"{settings.user}@" if settings.user else ""
        port = f":{settings.port}" if settings.port else ""
        return f"{user}{settings.host}{port}"

    def classify(
        self, node_id: str, settings: SshSettings, exc: BaseException, where: str = ""
    ) -> RemoteError:
        """Turn an exception into a RemoteError, telling unknown from changed host keys."""
        where = where or self._where(settings)
        if isinstance(exc, asyncssh.KeyExchangeFailed):
            found = re.match(
                r"No matching (.+?) algorithm found, sent .* and received (.*)", str(exc)
            )
            if found and "host key" not in found.group(1):
                # Not a key problem: no algorithm in common (e.g. a server that offers SHA-1
                # only). Host-key advice here would point at a correct known_hosts line.
                return RemoteError(
                    ErrorKind.ERROR,
                    node_id,
                    f"no {found.group(1)} algorithm in common with {where}: it offers only "
                    f"{found.group(2)[:200]}; resil-tui offers no SHA-1 algorithm (update the "
                    "server's OpenSSH or its Kex/MAC settings)",
                )
        if isinstance(exc, asyncssh.HostKeyNotVerifiable | asyncssh.KeyExchangeFailed):
            paths = hostkeys.known_hosts_paths(settings)
            user_file = paths[0]
            target = hostkeys.resolve_target(settings)
            pattern = target.pattern
            if isinstance(exc, asyncssh.HostKeyNotVerifiable) and "revoked" in str(exc).lower():
                revoked = [e for e in hostkeys.lookup_all(paths, target) if e.revoked]
                where_line = f" ({revoked[0].where})" if revoked else ""
                return RemoteError(
                    ErrorKind.HOST_KEY_REVOKED,
                    node_id,
                    f"host key REVOKED for {pattern} ({where}): the key the server presents is "
                    f"marked @revoked in known_hosts{where_line}. Connection refused; this key "
                    "is never offered for trust.",
                    known_hosts=str(revoked[0].path if revoked else user_file),
                    line=revoked[0].line if revoked else None,
                )
            entries = [e for e in hostkeys.lookup_all(paths, target) if not e.revoked]
            if entries:
                first = entries[0]
                return RemoteError(
                    ErrorKind.HOST_KEY_CHANGED,
                    node_id,
                    f"HOST KEY CHANGED for {pattern} ({where}): the key the server presents "
                    f"does not match {first.path} line {first.line} ({first.key_type} "
                    f"{first.fingerprint}). Connection refused. If the change is expected "
                    f"(reinstalled node), remove that line "
                    f"({hostkeys.removal_hint(first.path, target)})"
                    " and trust the new key after checking its fingerprint.",
                    known_hosts=str(first.path),
                    line=first.line,
                )
            if isinstance(exc, asyncssh.HostKeyNotVerifiable):
                return RemoteError(
                    ErrorKind.HOST_KEY_UNKNOWN,
                    node_id,
                    f"unknown host key for {pattern} ({where}): not in {user_file}. Check its "
                    "fingerprint and trust it before connecting.",
                    known_hosts=str(user_file),
                )
        return classify(exc, node_id, where)

    def _on_conn_lost(
        self, link: _Link | None, conn: asyncssh.SSHClientConnection, exc: Exception | None
    ) -> None:
        if link is None or link.conn is not conn:
            return
        link.conn = None
        self._drop_shell(link)  # its channel slot back now, not at the next connection
        if id(conn) in link.closing:
            link.closing.discard(id(conn))
            self._set_state(link, LinkState.IDLE, reason="closed")
            return
        reason = f"connection lost: {exc}" if exc else "connection closed by the server"
        self._set_state(link, LinkState.DOWN, RemoteError(ErrorKind.DROPPED, link.node.id, reason))

    def hop_specs(self, node: Node) -> list[str]:
        """The jump hosts a node is reached through, nearest to us first: the inventory's
        `jump` (comma-separated like ProxyJump), else ProxyJump of ~/.ssh/config for the
        node, with the first hop's own ProxyJump followed the same way."""
        spec = node.ssh.jump or hostkeys.resolve_target(node.ssh).proxy_jump
        if not spec:
            return []
        hops = [h.strip() for h in spec.split(",") if h.strip()]
        while hops and len(hops) < MAX_HOPS:
            first = self._hop_settings(node, hops[0])
            before = hostkeys.resolve_target(first).proxy_jump if first.use_ssh_config else None
            if not before:
                break
            earlier = [h.strip() for h in before.split(",") if h.strip()]
            if any(h in hops for h in earlier):
                break  # a loop in ~/.ssh/config: stop following it
            hops = earlier + hops
        return hops

    @staticmethod
    def _hop_settings(node: Node, spec: str) -> SshSettings:
        try:
            user, host, port = parse_jump(spec)
        except ValueError as exc:
            raise RemoteError(ErrorKind.ERROR, node.id, str(exc)) from None
        s = node.ssh
        # The node lends its keys, known_hosts and timeouts to its jump hosts.
        return SshSettings(
            host=host,
            port=port,
            user=user,
            identity_files=s.identity_files,
            known_hosts=s.known_hosts,
            connect_timeout=s.connect_timeout,
            command_timeout=s.command_timeout,
            keepalive_interval=s.keepalive_interval,
            use_ssh_config=s.use_ssh_config,
        )

    def _jump_chain(self, node: Node) -> list[_Jump]:
        """The node's jump hops, nearest first. A hop's connection is shared only by nodes
        for which it is the same connection: the same hops before it, each checked and
        logged into the same way (the node lends its known_hosts and keys to its hops; a
        node's own command timeout does not make another hop). Keyed by the spec alone, a
        node would ride on a hop whose host key was checked against another node's
        known_hosts file (a per-site or per-node `known_hosts`)."""
        chain: list[_Jump] = []
        key: _HopKey = ()
        for spec in self.hop_specs(node):
            settings = self._hop_settings(node, spec)
            trust = (spec, settings.known_hosts, settings.identity_files, settings.use_ssh_config)
            key = (*key, trust)
            jump = self._jumps.get(key)
            if jump is None:
                label = f"{chain[-1].chain},{spec}" if chain else spec
                jump = _Jump(label, spec, settings)
                self._jumps[key] = jump
            chain.append(jump)
        return chain

    def _jump_for(self, node: Node, hop: str | None = None) -> _Jump:
        """The node's last jump hop, or the hop whose spec is `hop`."""
        chain = self._jump_chain(node)
        if not chain:
            raise ValueError(f"{node.id} has no jump host")
        if hop is None:
            return chain[-1]
        for jump in chain:
            if hop in (jump.spec, jump.chain):
                return jump
        raise ValueError(f"{node.id} is not reached through {hop!r}")

    async def _jump_connection(self, node: Node) -> asyncssh.SSHClientConnection | None:
        """The connection of the node's last jump hop (None: reached directly)."""
        conn: asyncssh.SSHClientConnection | None = None
        for jump in self._jump_chain(node):
            conn = await self._hop_connection(node, jump, conn)
        return conn

    async def _hop_connection(
        self, node: Node, jump: _Jump, tunnel: asyncssh.SSHClientConnection | None
    ) -> asyncssh.SSHClientConnection:
        if jump.conn is not None and not jump.conn.is_closed():
            return jump.conn
        if jump.connecting is None or jump.connecting.done():
            jump.connecting = asyncio.create_task(
                self._open(
                    node.id,
                    jump.settings,
                    tunnel,
                    None,
                    label=f"jump host {jump.spec}",
                    hop=jump.spec,
                )
            )
            jump.connecting.add_done_callback(_consume)
        try:
            jump.conn = await asyncio.shield(jump.connecting)
        except RemoteError as err:
            # The attempt may have been started for another node: re-address the error.
            mine = RemoteError(
                err.kind, node.id, err.message, known_hosts=err.known_hosts, line=err.line
            )
            mine.hop = jump.spec
            raise mine from err
        return jump.conn

    def _drop_conn(self, link: _Link) -> asyncssh.SSHClientConnection | None:
        conn, link.conn = link.conn, None
        self._drop_shell(link)
        if conn is not None:
            link.closing.add(id(conn))
            conn.close()
        self._set_state(link, LinkState.IDLE, reason="closed")
        return conn

    async def disconnect(self, node: Node) -> None:
        """Close the node's connection (the next command opens a new one)."""
        link = self._links.get(node.id)
        if link is None:
            return
        conn = self._drop_conn(link)
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.wait_closed(), CLOSE_GRACE)

    async def close(self) -> None:
        self._closed = True
        conns: list[asyncssh.SSHClientConnection] = []
        for link in self._links.values():
            if link.connecting is not None and not link.connecting.done():
                link.connecting.cancel()
            conn = self._drop_conn(link)
            if conn is not None:
                conns.append(conn)
        for jump in self._jumps.values():
            if jump.connecting is not None and not jump.connecting.done():
                jump.connecting.cancel()
            if jump.conn is not None:
                jump.conn.close()
                conns.append(jump.conn)
                jump.conn = None
        for conn in conns:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.wait_closed(), CLOSE_GRACE)

    # --- host keys -------------------------------------------------------------------

    def hop_target(self, node: Node, hop: str | None = None) -> hostkeys.Target:
        """Where the node (hop=None) or one of its jump hops really is, for known_hosts."""
        settings = self._jump_for(node, hop).settings if hop is not None else node.ssh
        return hostkeys.resolve_target(settings)

    async def fetch_host_key(self, node: Node, *, hop: str | None = None) -> hostkeys.HostKeyInfo:
        """The key the node (hop=None) or one of its jump hops presents, and its SHA256
        fingerprint, to show the admin. Trusts nothing; authenticates only to the hops
        before it (which must be trusted already)."""
        tunnel: asyncssh.SSHClientConnection | None = None
        if hop is not None:
            wanted = self._jump_for(node, hop)
            settings = wanted.settings
            for jump in self._jump_chain(node):
                if jump is wanted:
                    break
                tunnel = await self._hop_connection(node, jump, tunnel)
        else:
            settings = node.ssh
            tunnel = await self._jump_connection(node)
        try:
            async with self._connect_sem:
                return await asyncio.wait_for(
                    hostkeys.fetch_host_key(settings, tunnel), settings.connect_timeout
                )
        except (TimeoutError, OSError, asyncssh.Error) as exc:
            err = classify(exc, node.id, self._where(settings))
            err.hop = hop
            raise err from exc

    def trust_host_key(self, node: Node, info: hostkeys.HostKeyInfo, *, step: str = "") -> str:
        """Append an accepted key (the node's or one of its jump hops') to the node's
        known_hosts file. Call only after the admin confirmed `info.fingerprint`. Returns
        the line written."""
        path = hostkeys.known_hosts_path(node.ssh)
        line = hostkeys.append_known_host(path, info)
        self.audit.record(
            site=node.site,
            node=node.id,
            kind="trust_host_key",
            command=f"append to {path}: {info.host_pattern} {info.key_type} {info.fingerprint}",
            exit_status=0,
            duration=0.0,
            step=step or "trust host key",
            result="ok",
        )
        # Every link whose failure was an unknown key may now connect: retry them at once.
        for link in self._links.values():
            if link.sticky is not None and link.sticky.kind is ErrorKind.HOST_KEY_UNKNOWN:
                link.sticky = None
                link.failures, link.next_attempt = 0, 0.0
        return line

    # --- running commands ------------------------------------------------------------

    async def _process(
        self, node: Node, command: Command, *, stderr_to_stdout: bool
    ) -> tuple[_Link, asyncssh.SSHClientProcess[bytes], float]:
        """Open a channel for `command`; the caller holds link.channels. Also when the
        connection the channel is on was in hand (time.monotonic())."""
        link = self._link(node)
        refusals = 0
        reconnected = False  # one fresh connection at most per command
        while True:
            conn = await self.connection(node)
            connected_at = time.monotonic()
            try:
                proc: asyncssh.SSHClientProcess[bytes] = await conn.create_process(
                    command.line,
                    encoding=None,  # bytes in, bytes out: we decode with errors="replace"
                    stderr=STDOUT if stderr_to_stdout else PIPE,
                    request_pty="force" if command.pty else False,
                    term_type="dumb" if command.pty else None,
                )
                return link, proc, connected_at
            except asyncssh.ChannelOpenError as exc:
                # asyncssh says "SSH connection closed" as soon as the transport is gone,
                # before is_closed() turns true.
                if conn.is_closed() or exc.reason == "SSH connection closed":
                    # The connection died under us (e.g. the node dropped it): no command was
                    # started, so reconnecting once is safe even for a mutating entry.
                    self._drop_conn(link)
                    if not reconnected:
                        reconnected = True
                        continue
                    raise RemoteError(
                        ErrorKind.DROPPED, node.id, f"connection lost: {exc.reason}"
                    ) from exc
                # A live connection refusing a session: sshd frees a session slot only once
                # the previous command's process is reaped, so right at MaxSessions a new
                # channel can be refused for a moment. Nothing was sent: wait and retry.
                refusals += 1
                if refusals < CHANNEL_OPEN_TRIES:
                    await asyncio.sleep(0.1 * 2**refusals)
                    continue
                raise RemoteError(
                    ErrorKind.ERROR, node.id, f"{node.id} refused a new channel: {exc.reason}"
                ) from exc
            except (OSError, asyncssh.Error) as exc:
                err = self.classify(node.id, node.ssh, exc)
                # A stale connection found at use: safe to retry once when nothing mutates.
                if not reconnected and not command.mutates and err.kind is ErrorKind.DROPPED:
                    reconnected = True
                    self._drop_conn(link)
                    continue
                raise err from exc

    # --- the audit log, before and after --------------------------------------------------

    def audit_started(
        self,
        node: Node,
        kind: str,
        command: str,
        step: str,
        *secrets: str | None,
    ) -> str:
        """Write the `started` record of a change about to be sent; its op id. Raises
        RemoteError(AUDIT) when the audit log cannot be written: then nothing may be sent."""
        op = new_op_id()
        try:
            self.audit.record(
                site=node.site,
                node=node.id,
                kind=kind,
                command=command,
                exit_status=None,
                duration=0.0,
                step=step,
                result=STARTED,
                secrets=[s for s in secrets if s],
                op=op,
            )
        except AuditUnavailable as exc:
            raise RemoteError(
                ErrorKind.AUDIT,
                node.id,
                f"{exc}: refused `{command}` so that no change goes unrecorded; nothing was "
                "sent (fix the file or its directory, then retry)",
            ) from exc
        return op

    def audit_result(
        self,
        node: Node,
        kind: str,
        command: str,
        op: str | None,
        status: int | None,
        duration: float,
        step: str,
        result: str,
        *secrets: str | None,
        **extra: str | None,
    ) -> str | None:
        """Write a change's result record. The change already happened: a failure here is
        logged and returned as a warning for the caller's outcome, never raised."""
        try:
            self.audit.record(
                site=node.site,
                node=node.id,
                kind=kind,
                command=command,
                exit_status=status,
                duration=duration,
                step=step,
                result=result,
                secrets=[s for s in secrets if s],
                op=op,
                **extra,
            )
        except AuditUnavailable as exc:
            log.error("audit result of %r on %s not recorded: %s", command, node.id, exc)
            return f"the result was not recorded in the audit log ({exc})"
        return None

    async def run(
        self,
        node: Node,
        command: Command,
        *,
        timeout: float | None = None,
        input_secret: str | None = None,
        step: str = "",
    ) -> Result:
        """Run one catalog entry and wait for it. Connection failures raise RemoteError;
        a drop or timeout during the command returns a Result that is not ok. A mutating
        entry is audited before it is sent (RemoteError AUDIT: nothing sent) and after."""
        self.check_allowed(node, command)
        if command.secret_stdin and input_secret is None and not command.pty:
            raise ValueError(f"{command.name} needs a secret on stdin")
        limit = timeout if timeout is not None else node.ssh.command_timeout
        if (
            self.keep_shells
            and node.ssh.keep_shell
            and commands.shared_shell_refusal(command) is None
            and input_secret is None
        ):
            answered = await self._run_in_shell(node, command, limit)
            if answered is not None:
                return answered
        op = (
            self.audit_started(node, "command", command.line, step, input_secret)
            if command.mutates
            else None
        )
        link = self._link(node)
        start = time.monotonic()

        def closing(status: int | None, result: str) -> str | None:
            if not command.mutates:
                return None
            return self.audit_result(
                node,
                "command",
                command.line,
                op,
                status,
                time.monotonic() - start,
                step,
                result,
                input_secret,
            )

        async with link.channels:
            start = time.monotonic()
            try:
                link, proc, connected_at = await self._process(
                    node, command, stderr_to_stdout=False
                )
            except RemoteError as failure:
                if failure.kind is ErrorKind.DROPPED:
                    # The exec request may have left before the link died: record the doubt.
                    closing(None, f"not confirmed: {failure.message}")
                else:
                    closing(None, f"not sent: {failure.kind.value}: {failure.message}")
                raise
            except asyncio.CancelledError:
                closing(None, "cancelled before it was sent")
                raise
            data = command.stdin or b""
            if input_secret is not None:
                data += input_secret.encode("utf-8") + b"\n"
            lost = timed_out = overflowed = False
            note = ""
            answer = _Answer()
            try:
                if data:
                    proc.stdin.write(data)
                if not command.pty:
                    proc.stdin.write_eof()
                # A deadline on this task (asyncssh's own timeout= runs the wait as one
                # more task per command); what arrived before it is kept, as asyncssh does.
                async with asyncio.timeout(limit):
                    await answer.read(proc)
                    done = await proc.wait()
                out, err = answer.joined(proc)
                status, signal = done.exit_status, done.exit_signal
            except _Overflow as too_long:
                overflowed = True
                out, err = b"", b""
                status, signal = None, None
                await self._stop(node, command, proc, closing, "too much output")
                note = _overflow_note(str(too_long), "stopped it and closed the channel")
            except TimeoutError:
                timed_out = True
                out, err = answer.joined(proc)
                status, signal = None, None
                await self._stop(node, command, proc, closing, f"no answer after {limit:g}s")
                note = (
                    f"no answer after {limit:g}s: sent TERM and closed the channel "
                    "(a command that ignores both may still be running)"
                )
            except asyncio.CancelledError:
                # The caller gave up (e.g. a poll deadline): do not leave the command running.
                self._abandon(proc)
                self._unsure(node, command)
                closing(None, "cancelled: channel closed")
                raise
            except (OSError, asyncssh.Error) as exc:
                lost = True
                out, err = answer.joined(proc)
                status, signal = None, None
                note = clean(f"connection lost during the command: {exc}")
            if not (timed_out or lost or overflowed) and status is None and signal is None:
                # asyncssh may end a process without an exit status when the link drops.
                lost = True
                note = "connection lost: no exit status received"
            if lost and link.conn is not None and link.conn.is_closed():
                link.conn = None
            result = Result(
                node_id=node.id,
                command=command,
                exit_status=status,
                stdout=_decode(out, command.pty),
                stderr=_decode(err, command.pty),
                duration=time.monotonic() - start,
                lost=lost,
                timed_out=timed_out,
                overflowed=overflowed,
                exit_signal=clean(signal[0]) if signal else None,
                note=note,
                round_trip=time.monotonic() - connected_at,
            )
        if result.incomplete:
            self._unsure(node, command)
        warning = closing(result.exit_status, result.summary())
        if warning is not None:
            result = dataclasses.replace(
                result, note=f"{result.note}; {warning}" if result.note else warning
            )
        return result

    # --- reads through a kept shell -------------------------------------------------------

    def kept_shell(self, node_id: str) -> bool:
        """Whether the node's next read goes through a shell kept open on its connection
        (rather than an execution of its own)."""
        link = self._links.get(node_id)
        return link is not None and link.shell is not None and not link.shell.closed

    async def _run_in_shell(self, node: Node, command: Command, limit: float) -> Result | None:
        """The read, through the connection's kept shell; None: run it as an execution of
        its own (no shell yet, busy, refused, or it just failed: a read is safe to send
        again)."""
        link = self._link(node)
        conn = link.conn
        if conn is None or conn.is_closed():
            return None  # the execution path connects (with its retries and backoff)
        if link.shell_conn is not conn:
            self._drop_shell(link)
            link.shell_conn, link.shell_failures = conn, 0
        shell = link.shell
        if shell is None or shell.closed:
            if shell is not None:
                shell.close()  # ended between two reads: its channel slot back (idempotent)
            link.shell = None
            self._open_shell_soon(link, conn)
            return None
        if shell.busy:
            return None

        def failed() -> None:
            # Only the shell this read used: a newer one (after a reconnect) stays.
            if link.shell is shell:
                link.shell, link.shell_failures = None, link.shell_failures + 1

        def unanswered(note: str, *, timed_out: bool = False, overflowed: bool = False) -> Result:
            return Result(
                node_id=node.id,
                command=command,
                exit_status=None,
                stdout="",
                stderr="",
                duration=time.monotonic() - start,
                timed_out=timed_out,
                overflowed=overflowed,
                note=note,
            )

        start = time.monotonic()
        try:
            answer = await shell.run(command, limit)
        except asyncio.CancelledError:
            # The caller gave up (a poll's deadline): the shell was closed; a node always
            # that slow stops getting new ones on this connection after SHELL_TRIES.
            failed()
            raise
        except TimeoutError:
            failed()
            return unanswered(
                f"no answer after {limit:g}s: closed the shell it was sent to "
                "(a command that ignores that may still be running)",
                timed_out=True,
            )
        except read_shell.ShellGone as gone:
            failed()
            if gone.overflowed is not None:
                note = _overflow_note(gone.overflowed, "closed the shell it was sent to")
                return unanswered(note, overflowed=True)
            # clean(): a channel refusal carries the server's own words (--verbose: a tty).
            log.info(
                "%s: the kept shell failed (%s); the read goes on its own",
                node.id,
                clean(str(gone)),
            )
            return None
        return Result(
            node_id=node.id,
            command=command,
            exit_status=answer.exit_status,
            stdout=_decode_kept(link, answer.stdout),
            stderr=_decode(answer.stderr, False),
            duration=time.monotonic() - start,
            round_trip=answer.round_trip,
        )

    def _open_shell_soon(self, link: _Link, conn: asyncssh.SSHClientConnection) -> None:
        """Open a shell on `conn` in the background (the read in hand does not wait)."""
        if link.shell_opening is not None and not link.shell_opening.done():
            return
        if link.shell_failures >= SHELL_TRIES or link.channels.locked():
            return  # refused on this connection, or no channel slot free now
        link.shell_opening = asyncio.create_task(self._open_shell(link, conn))
        link.shell_opening.add_done_callback(_consume)

    async def _open_shell(self, link: _Link, conn: asyncssh.SSHClientConnection) -> None:
        # The shell holds one of the connection's channel slots for as long as it is open.
        await link.channels.acquire()
        timeout = min(SHELL_READY_TIMEOUT, link.node.ssh.command_timeout)
        try:
            shell = await read_shell.ReadShell.open(conn, timeout, link.channels.release)
        except read_shell.ShellGone as gone:
            # Not a shell (a ForceCommand, an emulation): nothing more to try on this link.
            # A check that timed out (a node hung for a while) may be tried again.
            if link.shell_conn is conn:  # not a newer connection's count
                link.shell_failures = SHELL_TRIES if gone.refused else link.shell_failures + 1
            log.info("%s: reads go one execution each: %s", link.node.id, clean(str(gone)))
            return
        if self._closed or link.conn is not conn or link.shell_conn is not conn:
            shell.close()
            return
        link.shell = shell

    @staticmethod
    def _drop_shell(link: _Link) -> None:
        if link.shell_opening is not None and not link.shell_opening.done():
            link.shell_opening.cancel()
        link.shell_opening = None
        if link.shell is not None:
            link.shell.close()
            link.shell = None
        link.shell_conn = None

    def _unsure(self, node: Node, command: Command) -> None:
        """A changing command ended without us knowing whether it ran on the node."""
        if command.mutates:
            self.unsure_changes[node.id] = self.unsure_changes.get(node.id, 0) + 1

    @staticmethod
    def _abandon(proc: asyncssh.SSHClientProcess[bytes]) -> None:
        """Signal the remote process, then close the channel (a PTY gets SIGHUP)."""
        for sig in ("HUP", "TERM"):
            with contextlib.suppress(OSError, asyncssh.Error):
                proc.send_signal(sig)
        proc.close()

    async def _stop(
        self,
        node: Node,
        command: Command,
        proc: asyncssh.SSHClientProcess[bytes],
        closing: Callable[[int | None, str], str | None],
        why: str,
    ) -> None:
        """End a command we gave up on; cancelled meanwhile, leave it signalled and closed
        (its result recorded as such) and go on being cancelled."""
        try:
            await self._kill(proc)
        except asyncio.CancelledError:
            self._abandon(proc)
            self._unsure(node, command)
            closing(None, f"{why}, then cancelled: channel closed")
            raise

    @staticmethod
    async def _kill(proc: asyncssh.SSHClientProcess[bytes]) -> None:
        """End a remote process and wait (briefly) for the channel to be closed."""
        Pool._abandon(proc)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(proc.wait_closed(), CLOSE_GRACE)

    @contextlib.asynccontextmanager
    async def stream(
        self, node: Node, command: Command, *, step: str = ""
    ) -> AsyncIterator[LineStream]:
        """Run a (usually long-running) entry and yield its output lines as they come.
        Leaving the block ends the remote process and closes the channel.

        Every start is audited (`stream` records, read-only streams included). A mutating
        stream is refused when its `started` record cannot be written; a read-only one is
        still run (it changes nothing) and the failure is logged."""
        self.check_allowed(node, command)
        # A changing stream (a script with live output) is a command like any other; a
        # read-only one is recorded as a stream start.
        kind = "command" if command.mutates else "stream"
        if command.mutates:
            op: str | None = self.audit_started(node, kind, command.line, step)
        else:
            try:
                op = self.audit_started(node, kind, command.line, step)
            except RemoteError as err:
                log.warning("read-only stream start not audited: %s", err.message)
                op = None
        link = self._link(node)
        async with link.channels:
            start = time.monotonic()
            try:
                link, proc, _ = await self._process(node, command, stderr_to_stdout=True)
            except (RemoteError, asyncio.CancelledError) as failure:
                if command.mutates:
                    why = (
                        f"not sent: {failure.kind.value}: {failure.message}"
                        if isinstance(failure, RemoteError)
                        else "cancelled before it was sent"
                    )
                    self.audit_result(node, kind, command.line, op, None, 0.0, step, why)
                raise
            lines = LineStream(node.id, command, proc)
            try:
                yield lines
            finally:
                await lines.aclose()
                if command.mutates:
                    self.audit_result(
                        node,
                        kind,
                        command.line,
                        op,
                        lines.exit_status,
                        time.monotonic() - start,
                        step,
                        "lost" if lines.lost else f"exit {lines.exit_status}",
                    )

    @contextlib.asynccontextmanager
    async def open_pty(
        self, node: Node, command: Command, *, step: str = ""
    ) -> AsyncIterator[PtySession]:
        """An interactive run on a PTY (e.g. `xivo-sync -i` asking for a password)."""
        self.check_allowed(node, command)
        if not command.pty:
            raise ValueError(f"{command.name} is not a PTY command")
        op = self.audit_started(node, "command", command.line, step) if command.mutates else None
        link = self._link(node)
        async with link.channels:
            start = time.monotonic()
            try:
                link, proc, _ = await self._process(node, command, stderr_to_stdout=True)
            except (RemoteError, asyncio.CancelledError) as failure:
                if command.mutates:
                    why = (
                        f"not sent: {failure.kind.value}: {failure.message}"
                        if isinstance(failure, RemoteError)
                        else "cancelled before it was sent"
                    )
                    self.audit_result(node, "command", command.line, op, None, 0.0, step, why)
                raise
            session = PtySession(node.id, command, proc)
            try:
                yield session
            finally:
                await session.aclose()
                if command.mutates:
                    self.audit_result(
                        node,
                        "command",
                        command.line,
                        op,
                        session.exit_status,
                        time.monotonic() - start,
                        step,
                        session.summary(),
                        *session.secrets,
                    )

    # --- SFTP ----------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _sftp_client(self, node: Node) -> AsyncIterator[asyncssh.SFTPClient]:
        link = self._link(node)
        async with link.channels:
            conn = await self.connection(node)
            try:
                client = await conn.start_sftp_client()
            except (OSError, asyncssh.Error) as exc:
                raise self.classify(node.id, node.ssh, exc) from exc
            try:
                yield client
            finally:
                client.exit()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.wait_closed(), CLOSE_GRACE)

    @contextlib.asynccontextmanager
    async def sftp(self, node: Node) -> AsyncIterator[ReadOnlySFTP]:
        """An SFTP session that can only read (stat, read, list, resolve links); counted
        against the channel cap. Allowed in read-only mode."""
        async with self._sftp_client(node) as client:
            yield ReadOnlySFTP(client)

    @contextlib.asynccontextmanager
    async def sftp_writable(self, node: Node, what: str) -> AsyncIterator[asyncssh.SFTPClient]:
        """A write-capable SFTP session: refused in read-only mode before connecting.
        `what` says what it is for ("write /etc/docker/edge/.env")."""
        self.require_writable(node, what)
        async with self._sftp_client(node) as client:
            yield client


class ReadOnlySFTP:
    """The reading half of an asyncssh SFTP client: what read-only mode may use."""

    def __init__(self, client: asyncssh.SFTPClient) -> None:
        self._client = client

    async def read_bytes(self, path: str) -> bytes | None:
        """The file's bytes, None when it does not exist."""
        return await sftp_read(self._client, path)

    async def stat(self, path: str) -> asyncssh.SFTPAttrs:
        return await self._client.stat(path)

    async def lstat(self, path: str) -> asyncssh.SFTPAttrs:
        return await self._client.lstat(path)

    async def exists(self, path: str) -> bool:
        return await self._client.exists(path)

    async def readdir(self, path: str) -> list[asyncssh.SFTPName]:
        return list(await self._client.readdir(path))

    async def readlink(self, path: str) -> str:
        target = await self._client.readlink(path)
        return target if isinstance(target, str) else target.decode("utf-8", "surrogateescape")

    async def realpath(self, path: str) -> str:
        found = await self._client.realpath(path)
        return found if isinstance(found, str) else found.decode("utf-8", "surrogateescape")


class LineStream:
    """Async iterator of decoded, sanitized output lines (stderr merged). A line longer
    than MAX_LINE_BYTES is cut with a visible marker and the rest of it dropped. A drop
    raises `dropped`.

    Each read is decoded and sanitized as one text, not line by line: a UTF-8 sequence
    never spans a newline byte and the sanitizer treats newlines as separators, so the
    lines are the same, at C speed per read instead of Python calls per line (a log
    follow hands 100,000 lines/s through here). `batches()` hands them out per read."""

    def __init__(
        self, node_id: str, command: Command, proc: asyncssh.SSHClientProcess[bytes]
    ) -> None:
        self.node_id = node_id
        self.command = command
        self._proc = proc
        self.exit_status: int | None = None
        self.lost = False
        self._ended = False
        self._buf = bytearray()
        self._lines: collections.deque[str] = collections.deque()
        self._skipping = False  # inside a line already cut: drop until its newline
        self._eof = False
        self.cut_lines = 0

    def __aiter__(self) -> LineStream:
        return self

    def _text(self, raw: bytes | bytearray) -> str:
        return clean(bytes(raw).decode("utf-8", errors="replace").rstrip("\r"))

    def _split(self, chunk: bytes) -> None:
        if self._skipping:
            newline = chunk.find(b"\n")
            if newline < 0:
                return
            self._skipping = False
            chunk = chunk[newline + 1 :]
        last = chunk.rfind(b"\n")
        if last < 0:
            self._buf += chunk
            self._cut_partial()
            return
        head = bytes(self._buf) + chunk[: last + 1] if self._buf else chunk[: last + 1]
        self._buf = bytearray(chunk[last + 1 :])
        if len(head) > MAX_LINE_BYTES and max(map(len, head.split(b"\n"))) > MAX_LINE_BYTES:
            self._split_slowly(head)
        else:
            text = clean(head.decode("utf-8", errors="replace"))
            self._lines.extend(text.split("\n")[:-1])
        self._cut_partial()

    def _split_slowly(self, head: bytes) -> None:
        """Line by line, for a read holding a line over the limit (cut, rest dropped)."""
        for raw in head.split(b"\n")[:-1]:
            if len(raw) > MAX_LINE_BYTES:
                line = self._text(raw[:MAX_LINE_BYTES])
                self._lines.append(line + LINE_CUT_MARKER.format(limit=MAX_LINE_BYTES))
                self.cut_lines += 1
            else:
                self._lines.append(self._text(raw))

    def _cut_partial(self) -> None:
        if len(self._buf) > MAX_LINE_BYTES:
            head = self._text(self._buf[:MAX_LINE_BYTES])
            self._lines.append(head + LINE_CUT_MARKER.format(limit=MAX_LINE_BYTES))
            self._buf.clear()
            self._skipping = True
            self.cut_lines += 1

    async def _fill(self) -> bool:
        """Read until lines are waiting; False at the end of the output."""
        while not self._lines:
            if self._ended:
                return False
            if self._eof:
                await self._finish()
                continue
            try:
                chunk = await self._proc.stdout.read(STREAM_READ)
            except (OSError, asyncssh.Error) as exc:
                self._ended, self.lost = True, True
                raise RemoteError(
                    ErrorKind.DROPPED, self.node_id, f"stream {self.command.line!r} lost: {exc}"
                ) from exc
            if not chunk:
                self._eof = True
                if self._buf and not self._skipping:
                    self._lines.append(self._text(self._buf))
                self._buf.clear()
                continue
            self._split(chunk)
        return True

    async def __anext__(self) -> str:
        if not await self._fill():
            raise StopAsyncIteration
        return self._lines.popleft()

    async def batches(self) -> AsyncIterator[list[str]]:
        """The lines per read, as they come (what a log follow wants)."""
        while await self._fill():
            batch = list(self._lines)
            self._lines.clear()
            yield batch

    async def _finish(self) -> None:
        self._ended = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._proc.wait_closed(), CLOSE_GRACE)
        self.exit_status = self._proc.exit_status
        if self.exit_status is None and self._proc.exit_signal is None:
            self.lost = True
            raise RemoteError(
                ErrorKind.DROPPED,
                self.node_id,
                f"stream {self.command.line!r} ended without exit status",
            )

    async def aclose(self) -> None:
        self._ended = True
        if self._proc.exit_status is None:
            await Pool._kill(self._proc)
        self.exit_status = self._proc.exit_status


class PtySession:
    """An interactive process on a PTY. Secrets sent with `send_secret` are masked in
    everything this object returns and are never logged, even when a secret arrives split
    across two reads: a read that ends with the beginning of a secret is held back (at
    most PTY_HOLD seconds) until the rest shows whether it is one. Output is sanitized,
    and masked both as received and as sanitized: clean() removes colour sequences, so
    an echo with one inside the secret becomes the secret only then."""

    def __init__(
        self, node_id: str, command: Command, proc: asyncssh.SSHClientProcess[bytes]
    ) -> None:
        self.node_id = node_id
        self.command = command
        self._proc = proc
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""  # received, not yet consumed by expect()
        self._raw = ""  # decoded and masked, not yet sanitized (see _unfinished)
        self._held = ""  # sanitized and masked, not yet handed out (see _secret_start)
        self._eof = False
        self._transcript: list[str] = []
        self.secrets: list[str] = []
        self.exit_status: int | None = None
        self.lost = False

    def _forms(self) -> list[str]:
        """Each secret as sent and as clean() shows it (when that differs)."""
        forms: list[str] = []
        for secret in self.secrets:
            forms.append(secret)
            shown = clean(secret)
            if shown and shown != secret:
                forms.append(shown)
        return forms

    def _mask(self, text: str) -> str:
        for secret in self._forms():
            text = text.replace(secret, "***")
        return text

    @property
    def transcript(self) -> str:
        return self._mask("".join(self._transcript))

    def _unfinished(self, raw: str) -> int:
        """How many trailing characters of received text clean() cannot sanitize yet: CRs
        whose LF has not come, an escape that may become a colour sequence, the start of
        a secret as sent (kept whole for the mask, whatever clean() makes of it)."""
        # At most the CRs of a PTY's `\r\r\n`: a run of them is shown as it comes.
        hold = min(2, len(raw) - len(raw.rstrip("\r")))
        esc = raw.rfind("\x1b")
        if esc >= 0 and _SGR_UNFINISHED.fullmatch(raw, esc):
            hold = max(hold, len(raw) - esc)
        return max(hold, self._secret_start(raw, self.secrets))

    @staticmethod
    def _secret_start(text: str, secrets: list[str]) -> int:
        """How many trailing characters of `text` may be the start of one of `secrets`
        and must wait for the next read."""
        hold = 0
        for secret in secrets:
            for n in range(min(len(secret) - 1, len(text)), hold, -1):
                if secret.startswith(text[-n:]):
                    hold = n
                    break
        return hold

    def _release(self, everything: bool) -> str:
        # Masked as received, then sanitized, then masked again as shown: the colour
        # sequences clean() removes can no longer hide a secret from the mask.
        raw = self._mask(self._raw)
        keep = 0 if everything else self._unfinished(raw)
        ready, self._raw = raw[: len(raw) - keep], raw[len(raw) - keep :]
        text = self._mask(self._held + clean(ready)) if ready else self._held
        keep = 0 if everything else self._secret_start(text, self._forms())
        out, self._held = text[: len(text) - keep], text[len(text) - keep :]
        if out:
            self._transcript.append(out)
        return out

    async def read(self, timeout: float | None = None) -> str:
        """The next chunk of output (masked, sanitized); "" only at the end of the output.
        Raises TimeoutError when nothing came within `timeout`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._eof:
                return self._release(everything=True)
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            if self._raw or self._held:
                wait = PTY_HOLD if wait is None else min(wait, PTY_HOLD)
            try:
                text = await asyncio.wait_for(self._read_text(), wait)
            except TimeoutError:
                if self._raw or self._held:
                    return self._release(everything=True)
                raise
            except (OSError, asyncssh.Error) as exc:
                self.lost = True
                raise RemoteError(ErrorKind.DROPPED, self.node_id, f"session lost: {exc}") from exc
            if not text:
                self._eof = True
                continue
            self._raw += text
            out = self._release(everything=False)
            if out:
                return out

    async def _read_text(self) -> str:
        while True:
            raw = await self._proc.stdout.read(4096)
            text = self._decoder.decode(raw, final=not raw)
            # A chunk ending inside a multi-byte character decodes to "": read on.
            if text or not raw:
                return text

    async def expect(self, pattern: str | re.Pattern[str], timeout: float) -> str:
        """Read until `pattern` appears; return everything read up to and including it."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        while True:
            found = regex.search(self._buffer)
            if found:
                text, self._buffer = self._buffer[: found.end()], self._buffer[found.end() :]
                return self._mask(text)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RemoteError(
                    ErrorKind.TIMEOUT,
                    self.node_id,
                    f"no {regex.pattern!r} from {self.command.line!r} after {timeout:g}s",
                )
            try:
                chunk = await self.read(remaining)
            except TimeoutError:
                continue
            if not chunk:
                raise RemoteError(
                    ErrorKind.ERROR,
                    self.node_id,
                    f"{self.command.line!r} ended before {regex.pattern!r}: "
                    f"{self._mask(self._buffer)[-200:]!r}",
                )
            self._buffer += chunk

    def send_secret(self, secret: str) -> None:
        if secret:
            self.secrets.append(secret)
        self._proc.stdin.write(secret.encode("utf-8") + b"\n")

    async def wait(self, timeout: float) -> int | None:
        """Drain the output and wait for the exit status."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RemoteError(
                    ErrorKind.TIMEOUT,
                    self.node_id,
                    f"{self.command.line!r} still running after {timeout:g}s",
                )
            try:
                chunk = await self.read(remaining)
            except TimeoutError:
                continue
            if not chunk:
                break
            self._buffer += chunk
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._proc.wait_closed(), CLOSE_GRACE)
        self.exit_status = self._proc.exit_status
        if self.exit_status is None and self._proc.exit_signal is None:
            self.lost = True
        return self.exit_status

    def summary(self) -> str:
        if self.lost:
            return "lost"
        return (
            "ended early"
            if self.exit_status is None
            else ("ok" if self.exit_status == 0 else f"exit {self.exit_status}")
        )

    async def aclose(self) -> None:
        if self._proc.exit_status is None:
            await Pool._kill(self._proc)
        self.exit_status = self._proc.exit_status
