"""One lock per node for every change: two admins never change the same node at once.

The lock is a directory created with SFTP `mkdir` (atomic on the node: exactly one of two
concurrent creators succeeds) at the node's `paths.lock_dir` (default
`/var/lock/resil-tui`), holding `holder.json`: who (local user), from where (the machine
resil-tui runs on: the jump host), what (the action), since when (UTC), a token. A second
admin is told "edge apply by admin@jump1 since 03:12:10 UTC"; nothing of theirs is sent.

- Held locks are refreshed (`refreshed` rewritten) while the change runs, so a long one
  (a replication can take an hour) never looks stale. A lock not refreshed for the
  node's `changes.lock_stale_after` (default 15 min) is stale: it is broken only with an
  explicit `force=True`, and the break is audited.
- Release removes the lock only when `holder.json` still carries our token (a lock that
  was broken and re-taken by someone else is left alone), and always runs (finally).
- A lock of ours whose release failed after its change ran to its end (the link died
  just then) is removed by the same pool's next `acquire` on that node, without waiting
  for it to go stale: its token proves it ours, and nothing of ours runs under it any
  more. A change cut short may still run on the node: its lock waits to go stale. Another
  console sees either as held, and waits or breaks it as for any other.
- Taking, breaking and releasing are audited like any change (`kind: lock`), the
  `started` record first.

Why here and not in ops/: it needs SFTP, which only remote/ may touch; it knows nothing
about XiVO (ops decide which actions take it and what they are called).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import posixpath
import secrets
import socket
import time
import weakref
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from resil_tui.audit import local_user
from resil_tui.core.records import record
from resil_tui.core.sanitize import clean
from resil_tui.inventory_model import Node
from resil_tui.remote.commands import CommandError, remote_path
from resil_tui.remote.errors import ErrorKind, RemoteError
from resil_tui.remote.pool import Pool
from resil_tui.remote.ssh import asyncssh

log = logging.getLogger(__name__)

HOLDER_FILE = "holder.json"
MAX_HOLDER_BYTES = 4096
# How often a held lock is refreshed: well inside any stale time (60 s minimum).
REFRESH_CAP = 60.0
# Per pool (one console), (node id, lock directory) -> the token of its lock there that
# could not be released.
_LEFT_BEHIND: weakref.WeakKeyDictionary[Pool, dict[tuple[str, str], str]] = (
    weakref.WeakKeyDictionary()
)


def _left_behind(pool: Pool) -> dict[tuple[str, str], str]:
    return _LEFT_BEHIND.setdefault(pool, {})


@record
class LockHolder:
    user: str
    host: str  # where resil-tui runs (the jump host)
    action: str
    since: str  # ISO 8601 UTC
    refreshed: str  # ISO 8601 UTC, rewritten while held
    token: str
    pid: int = 0

    @property
    def since_time(self) -> datetime | None:
        return _parse_time(self.since)

    @property
    def refreshed_time(self) -> datetime | None:
        return _parse_time(self.refreshed) or self.since_time

    def describe(self) -> str:
        """ "edge apply by admin@jump1 since 03:12:10 UTC" (remote text: cleaned)."""
        when = self.since_time
        since = f"{when:%H:%M:%S} UTC" if when is not None else "an unknown time"
        day = f" on {when:%Y-%m-%d}" if when and when.date() != datetime.now(UTC).date() else ""
        return clean(f"{self.action} by {self.user}@{self.host} since {since}{day}", one_line=True)

    def to_json(self) -> bytes:
        return (json.dumps(asdict(self), ensure_ascii=False) + "\n").encode("utf-8")


def _parse_time(text: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _holder_from(data: bytes | None) -> LockHolder | None:
    if not data or len(data) > MAX_HOLDER_BYTES:
        return None
    try:
        raw = json.loads(data.decode("utf-8", "replace"))
    except ValueError:
        return None
    if not isinstance(raw, dict):
        return None
    fields = ("user", "host", "action", "since", "refreshed", "token")
    if not all(isinstance(raw.get(k), str) for k in fields):
        return None
    pid = raw.get("pid")
    return LockHolder(
        **{k: raw[k] for k in fields}, pid=pid if isinstance(pid, int) and pid >= 0 else 0
    )


def local_host() -> str:
    try:
        return socket.gethostname() or "unknown-host"
    except OSError:
        return "unknown-host"


@dataclass
class NodeLock:
    """A lock this process holds on one node."""

    node: Node
    directory: str
    holder: LockHolder
    broke: LockHolder | None = None  # the stale lock broken to take this one
    reclaimed: LockHolder | None = None  # our own lock left behind, removed to take this one
    lost: bool = False  # someone broke it (it went stale): not ours any more

    @property
    def token(self) -> str:
        return self.holder.token

    @property
    def holder_path(self) -> str:
        return posixpath.join(self.directory, HOLDER_FILE)


def lock_directory(node: Node) -> str:
    try:
        return remote_path(node.paths.lock_dir)
    except CommandError as exc:
        raise RemoteError(ErrorKind.ERROR, node.id, f"lock directory: {exc}") from None


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(when: datetime) -> str:
    return when.isoformat(timespec="seconds")


async def _read_holder(sftp: asyncssh.SFTPClient, path: str) -> LockHolder | None:
    try:
        async with sftp.open(path, "rb", encoding=None) as f:
            data = await f.read(MAX_HOLDER_BYTES + 1)
    except asyncssh.SFTPError:
        return None
    return _holder_from(data if isinstance(data, bytes) else data.encode("utf-8"))


async def _write_holder(sftp: asyncssh.SFTPClient, lock: NodeLock, *, create: bool) -> None:
    """holder.json written whole: created exclusively at first, then replaced through a
    temp file so that a reader never sees half of it."""
    data = lock.holder.to_json()
    if create:
        async with sftp.open(
            lock.holder_path, "xb", asyncssh.SFTPAttrs(permissions=0o644), encoding=None
        ) as f:
            await f.write(data)
        return
    tmp = posixpath.join(lock.directory, f".{HOLDER_FILE}.{secrets.token_hex(4)}")
    try:
        async with sftp.open(tmp, "xb", asyncssh.SFTPAttrs(permissions=0o644), encoding=None) as f:
            await f.write(data)
        await sftp.posix_rename(tmp, lock.holder_path)
    except BaseException:
        with contextlib.suppress(Exception):
            await sftp.remove(tmp)
        raise


async def _mkdir_parents(sftp: asyncssh.SFTPClient, directory: str) -> None:
    """Create the missing parents of the lock directory (a node without /var/lock)."""
    parts = posixpath.dirname(directory).split("/")[1:]
    current = ""
    for part in parts:
        current += "/" + part
        if not await sftp.exists(current):
            with contextlib.suppress(asyncssh.SFTPFailure, asyncssh.SFTPFileAlreadyExists):
                await sftp.mkdir(current, asyncssh.SFTPAttrs(permissions=0o755))


async def _try_mkdir(sftp: asyncssh.SFTPClient, directory: str) -> bool:
    """True when we created the lock directory; False when it already exists."""
    for attempt in range(2):
        try:
            await sftp.mkdir(directory, asyncssh.SFTPAttrs(permissions=0o755))
            return True
        except asyncssh.SFTPNoSuchFile:
            if attempt:
                raise
            await _mkdir_parents(sftp, directory)
        except (asyncssh.SFTPFailure, asyncssh.SFTPFileAlreadyExists):
            # SFTP v3 servers (OpenSSH) answer a plain "failure" for an existing path.
            if await sftp.exists(directory):
                return False
            raise
    return False  # pragma: no cover - the loop returns or raises


async def _remove(sftp: asyncssh.SFTPClient, directory: str) -> None:
    with contextlib.suppress(asyncssh.SFTPNoSuchFile):
        await sftp.remove(posixpath.join(directory, HOLDER_FILE))
    with contextlib.suppress(asyncssh.SFTPNoSuchFile):
        await sftp.rmdir(directory)


def _age(holder: LockHolder | None, attrs: asyncssh.SFTPAttrs | None) -> float | None:
    refreshed = holder.refreshed_time if holder is not None else None
    if refreshed is not None:
        return (_now() - refreshed).total_seconds()
    if attrs is not None and attrs.mtime is not None:
        return time.time() - attrs.mtime
    return None


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


async def acquire(
    pool: Pool,
    node: Node,
    action: str,
    *,
    force: bool = False,
    stale_after: float | None = None,
    step: str = "",
) -> NodeLock:
    """Take the node's change lock for `action` ("edge apply", "HA set-mode master"...).

    Raises RemoteError: READ_ONLY (read-only mode), AUDIT (the audit log cannot be
    written), LOCKED (someone holds it; or it is stale and `force` was not given), or the
    connection's own failure. Nothing of the change is sent in any of these cases."""
    pool.require_writable(node, f"lock {node.id} for {action}")
    directory = lock_directory(node)
    stale = stale_after if stale_after is not None else node.changes.lock_stale_after
    command = f"sftp mkdir {directory} (lock for {action})"
    op = pool.audit_started(node, "lock", command, step or action)
    now = _now()
    holder = LockHolder(
        user=local_user(),
        host=local_host(),
        action=action,
        since=_iso(now),
        refreshed=_iso(now),
        token=secrets.token_hex(16),
        pid=os.getpid(),
    )
    lock = NodeLock(node, directory, holder)
    started = time.monotonic()

    def result(text: str, status: int | None) -> None:
        pool.audit_result(
            node, "lock", command, op, status, time.monotonic() - started, step or action, text
        )

    try:
        async with asyncio.timeout(node.ssh.command_timeout):
            async with pool.sftp_writable(node, f"lock {node.id} for {action}") as sftp:
                for _ in range(2):
                    if await _try_mkdir(sftp, directory):
                        await _write_holder(sftp, lock, create=True)
                        text = "acquired"
                        if lock.broke is not None:
                            text += f" after breaking a stale lock ({lock.broke.describe()})"
                        if lock.reclaimed is not None:
                            text += (
                                " after removing our own lock that a lost connection left "
                                f"({lock.reclaimed.describe()})"
                            )
                        result(text, 0)
                        return lock
                    other = await _read_holder(sftp, posixpath.join(directory, HOLDER_FILE))
                    left = _left_behind(pool)
                    if other is not None and left.get((node.id, directory)) == other.token:
                        # Forgotten before the first await: of two changes of ours racing
                        # here, one only removes it (the other then finds the new lock).
                        del left[(node.id, directory)]
                        await _remove(sftp, directory)
                        lock.reclaimed = other
                        continue
                    try:
                        attrs: asyncssh.SFTPAttrs | None = await sftp.stat(directory)
                    except asyncssh.SFTPError:
                        attrs = None
                    age = _age(other, attrs)
                    who = (
                        other.describe()
                        if other is not None
                        else "an unknown change (no readable holder file)"
                    )
                    if age is not None and age < stale:
                        raise RemoteError(
                            ErrorKind.LOCKED,
                            node.id,
                            f"{node.id} is locked: {who} (lock {directory}). Nothing was sent; "
                            f"retry when it is done (it goes stale {_minutes(stale - age)} "
                            "after its last refresh if its console died)",
                        )
                    if not force:
                        since = f"{_minutes(age)} ago" if age is not None else "at an unknown time"
                        raise RemoteError(
                            ErrorKind.STALE_LOCK,
                            node.id,
                            f"{node.id} has a stale lock: {who}, last refreshed {since} "
                            f"(stale after {_minutes(stale)}; lock {directory}). Nothing was "
                            "sent. Make sure that change is over, then break it "
                            "(--break-stale-lock on the command line; the console offers it)",
                        )
                    # Break it: remove what we read (a concurrent breaker loses the mkdir).
                    await _remove(sftp, directory)
                    lock.broke = other
                raise RemoteError(
                    ErrorKind.LOCKED, node.id, f"{node.id}: another console took the lock first"
                )
    except RemoteError as refused:
        result(f"refused: {refused.kind.value}: {refused.message}", None)
        raise
    except TimeoutError:
        slow = RemoteError(
            ErrorKind.TIMEOUT,
            node.id,
            f"taking the lock {directory} took more than {node.ssh.command_timeout:g}s: "
            "nothing was sent",
        )
        result(f"failed: {slow.message}", None)
        raise slow from None
    except (OSError, asyncssh.Error) as exc:
        reason = exc.reason if isinstance(exc, asyncssh.SFTPError) else str(exc)
        failure = RemoteError(
            ErrorKind.ERROR,
            node.id,
            f"cannot take the lock {directory} on {node.id} ({reason}): nothing was sent; "
            "check that the directory's parent exists and is writable, or set "
            "[paths] lock_dir",
        )
        if isinstance(exc, asyncssh.SFTPConnectionLost | asyncssh.SFTPNoConnection):
            failure = pool.classify(node.id, node.ssh, exc)
        result(f"failed: {failure.message}", None)
        raise failure from exc


async def refresh(pool: Pool, lock: NodeLock) -> bool:
    """Rewrite `refreshed` when the lock is still ours; False (and `lost`) when not."""
    node = lock.node
    async with pool.sftp_writable(node, f"refresh the lock of {node.id}") as sftp:
        current = await _read_holder(sftp, lock.holder_path)
        if current is None or current.token != lock.token:
            lock.lost = True
            return False
        lock.holder = LockHolder(**{**asdict(lock.holder), "refreshed": _iso(_now())})
        await _write_holder(sftp, lock, create=False)
    return True


async def release(
    pool: Pool, lock: NodeLock, *, step: str = "", change_over: bool = True
) -> str | None:
    """Remove the lock if it is still ours (token checked). Returns a warning when it could
    not be released or was not ours any more; never raises (a change that finished must
    not be reported as failed because its lock could not be removed).

    `change_over`: the change ran to its end. Only then may a lock that could not be
    removed be taken back by this pool's next change of the node; a change cut short (its
    link lost mid-command) may still be running there, and its lock stays until stale."""
    node = lock.node
    command = f"sftp rmdir {lock.directory} (lock for {lock.holder.action})"
    warning: str | None = None
    try:
        async with asyncio.timeout(node.ssh.command_timeout):
            async with pool.sftp_writable(node, f"release the lock of {node.id}") as sftp:
                current = await _read_holder(sftp, lock.holder_path)
                if current is None or current.token != lock.token:
                    who = current.describe() if current is not None else "nobody readable"
                    warning = (
                        f"the lock {lock.directory} was no longer ours at release "
                        f"(now held by {who}): left in place"
                    )
                else:
                    await sftp.remove(lock.holder_path)
                    await sftp.rmdir(lock.directory)
    except (RemoteError, TimeoutError, OSError, asyncssh.Error) as exc:
        # An SFTP status text is the server's: shown, logged and audited on one line.
        why = clean(
            exc.message if isinstance(exc, RemoteError) else str(exc) or "timeout", one_line=True
        )
        sooner = " (sooner if this process changes the node again)" if change_over else ""
        warning = (
            f"the lock {lock.directory} could not be released ({why}); it goes stale after "
            f"{_minutes(node.changes.lock_stale_after)}{sooner}"
        )
        if change_over:
            _left_behind(pool)[(node.id, lock.directory)] = lock.token
    if warning is not None:
        log.warning("%s: %s", node.id, warning)
    audit_warning = pool.audit_result(
        node,
        "lock",
        command,
        None,
        0 if warning is None else None,
        0.0,
        step or lock.holder.action,
        "released" if warning is None else f"not released: {warning}",
    )
    return warning or audit_warning


@contextlib.asynccontextmanager
async def node_lock(
    pool: Pool,
    node: Node,
    action: str,
    *,
    force: bool = False,
    stale_after: float | None = None,
    step: str = "",
) -> AsyncIterator[NodeLock]:
    """`async with node_lock(pool, node, "edge apply") as lock:` the change runs under the
    node's lock, refreshed while it runs, released at the end whatever happens."""
    lock = await acquire(pool, node, action, force=force, stale_after=stale_after, step=step)
    stale = stale_after if stale_after is not None else node.changes.lock_stale_after
    interval = max(1.0, min(REFRESH_CAP, stale / 3))

    async def keep_fresh() -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                if not await refresh(pool, lock):
                    log.warning("%s: the lock %s was taken over", node.id, lock.directory)
                    return
            except (RemoteError, OSError, asyncssh.Error) as exc:
                why = clean(str(exc), one_line=True)  # the server's text, as release() says it
                log.warning("%s: lock refresh failed: %s", node.id, why)

    task = asyncio.create_task(keep_fresh(), name=f"lock refresh {node.id}")
    unsure = pool.unsure_changes.get(node.id, 0)
    change_over = False
    try:
        yield lock
        # Ended, and every command it sent is known to have ended on the node.
        change_over = pool.unsure_changes.get(node.id, 0) == unsure
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        # Shielded: a cancelled change (the admin pressed escape) still releases its lock.
        await asyncio.shield(release(pool, lock, step=step, change_over=change_over))
