"""Typed remote failures: one exception, a small closed set of kinds the UI can act on."""

from __future__ import annotations

import asyncio
import errno
import socket
from enum import StrEnum

from resil_tui.core.sanitize import clean
from resil_tui.remote.ssh import asyncssh


class ErrorKind(StrEnum):
    REFUSED = "refused"  # TCP refused / host unreachable: nothing listens there
    TIMEOUT = "timeout"  # connect or command took longer than allowed
    AUTH = "auth"  # the server rejected every key we offered
    HOST_KEY_UNKNOWN = "host_key_unknown"  # no entry in known_hosts: ask the admin
    HOST_KEY_CHANGED = "host_key_changed"  # an entry exists and does not match: refuse
    HOST_KEY_REVOKED = "host_key_revoked"  # a @revoked entry holds the key: refuse, never offer
    DROPPED = "dropped"  # the connection went away under us
    READ_ONLY = "read_only"  # refused locally, nothing was sent
    DNS = "dns"  # the host name does not resolve
    CONFLICT = "conflict"  # a remote file changed since it was previewed
    AUDIT = "audit"  # the audit log cannot be written: refused locally, nothing was sent
    LOCKED = "locked"  # another change holds the node's lock: nothing was sent
    # The node's lock is stale (its console died?): nothing was sent; the admin may break it
    # explicitly (--break-stale-lock; the console offers it behind a typed confirmation).
    STALE_LOCK = "stale_lock"
    ERROR = "error"  # anything else, with the original message


# Kinds worth an automatic reconnect attempt. Host key and auth failures never are:
# retrying them cannot succeed and can trip fail2ban-style lockouts.
TRANSIENT_KINDS = frozenset({ErrorKind.REFUSED, ErrorKind.DROPPED, ErrorKind.ERROR})


class RemoteError(Exception):
    """A failure talking to one node. `kind` says what the UI can do about it."""

    def __init__(
        self,
        kind: ErrorKind | str,
        node_id: str,
        message: str,
        *,
        known_hosts: str | None = None,
        line: int | None = None,
    ) -> None:
        self.kind = ErrorKind(kind)
        self.node_id = node_id
        # Messages quote what servers said (a DISCONNECT reason arrives before any
        # authentication, an SFTP status text, command output): never raw to a terminal.
        self.message = clean(message)
        # For host key failures: the file (and line, when changed) the admin must look at.
        self.known_hosts = known_hosts
        self.line = line
        # The jump hop (its spec, e.g. "admin@bastion:22") whose connection failed, when
        # the failure is a jump host's and not the node's: its key is the one to look at.
        self.hop: str | None = None
        super().__init__(f"{node_id}: {self.message}")

    @property
    def via_jump(self) -> bool:
        return self.hop is not None

    @property
    def transient(self) -> bool:
        return self.kind in TRANSIENT_KINDS

    def __repr__(self) -> str:
        return f"RemoteError({self.kind.value!r}, {self.node_id!r}, {self.message!r})"


def classify(exc: BaseException, node_id: str, where: str) -> RemoteError:
    """Map an asyncssh/OS exception to a RemoteError (host keys are classified by the pool,
    which knows the known_hosts file). `where` names the target, e.g. "root@host:22"."""
    if isinstance(exc, RemoteError):
        return exc
    if isinstance(exc, asyncssh.PermissionDenied):
        return RemoteError(ErrorKind.AUTH, node_id, f"authentication refused by {where}: {exc}")
    if isinstance(exc, asyncssh.HostKeyNotVerifiable):
        return RemoteError(ErrorKind.HOST_KEY_UNKNOWN, node_id, f"host key of {where}: {exc}")
    if isinstance(exc, socket.gaierror):
        return RemoteError(ErrorKind.DNS, node_id, f"cannot resolve {where}: {exc.strerror or exc}")
    if isinstance(exc, ConnectionRefusedError):
        return RemoteError(ErrorKind.REFUSED, node_id, f"connection refused by {where}")
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return RemoteError(ErrorKind.TIMEOUT, node_id, f"timed out talking to {where}")
    if isinstance(exc, asyncssh.ConnectionLost | ConnectionResetError | BrokenPipeError):
        return RemoteError(ErrorKind.DROPPED, node_id, f"connection to {where} lost: {exc}")
    if isinstance(exc, asyncssh.DisconnectError):
        return RemoteError(ErrorKind.DROPPED, node_id, f"{where} disconnected: {exc}")
    if isinstance(exc, OSError) and exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return RemoteError(ErrorKind.REFUSED, node_id, f"{where} unreachable: {exc.strerror}")
    if isinstance(exc, OSError) and exc.errno == errno.ETIMEDOUT:
        return RemoteError(ErrorKind.TIMEOUT, node_id, f"timed out connecting to {where}")
    text = str(exc) or type(exc).__name__
    return RemoteError(ErrorKind.ERROR, node_id, f"{where}: {text}")
