"""Safe remote file edits over SFTP, through the pool's connection.

A replace never leaves a half-written target: the new content goes to a temp file in the
same directory, is fsynced, gets the old mode/owner, then `posix_rename`s over the target
(plain SFTP rename refuses to overwrite on OpenSSH). Before that, the current content is
re-read and compared with what the admin previewed, and a timestamped backup is kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import posixpath
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncssh

from resil_tui.inventory_model import Node
from resil_tui.remote.commands import CommandError, remote_path
from resil_tui.remote.errors import ErrorKind, RemoteError
from resil_tui.remote.pool import Pool

BACKUP_STAMP = "%Y%m%dT%H%M%SZ"
DEFAULT_MODE = 0o644


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class WriteResult:
    path: str
    changed: bool  # False when the file already held exactly this content
    before_sha256: str | None  # None: the file did not exist
    after_sha256: str
    backup: str | None  # path of the backup written, if any
    mode: int
    fsynced: bool  # the server supports fsync@openssh.com and it was done


@dataclass(frozen=True)
class BackupInfo:
    path: str
    taken: datetime  # from the name, UTC
    size: int | None


def _checked(node: Node, path: str) -> str:
    try:
        return remote_path(path)
    except CommandError as exc:
        raise RemoteError(ErrorKind.ERROR, node.id, str(exc)) from None


def _sftp_error(pool: Pool, node: Node, exc: BaseException, what: str) -> RemoteError:
    if isinstance(exc, RemoteError):
        return exc
    if isinstance(exc, asyncssh.SFTPConnectionLost | asyncssh.SFTPNoConnection):
        return RemoteError(ErrorKind.DROPPED, node.id, f"{what}: connection lost ({exc})")
    if isinstance(exc, asyncssh.SFTPError):
        return RemoteError(ErrorKind.ERROR, node.id, f"{what}: {exc.reason or exc}")
    err = pool.classify(node.id, node.ssh, exc)
    return RemoteError(err.kind, node.id, f"{what}: {err.message}")


async def _read(sftp: asyncssh.SFTPClient, path: str) -> bytes | None:
    try:
        async with sftp.open(path, "rb", encoding=None) as f:
            data = await f.read()
    except asyncssh.SFTPNoSuchFile:
        return None
    return data if isinstance(data, bytes) else data.encode("utf-8")


async def read_file(pool: Pool, node: Node, path: str) -> bytes | None:
    """The file's bytes, or None when it does not exist."""
    path = _checked(node, path)
    try:
        async with pool.sftp(node) as sftp:
            return await _read(sftp, path)
    except (OSError, asyncssh.Error) as exc:
        raise _sftp_error(pool, node, exc, f"reading {path}") from exc


async def _write_new(
    sftp: asyncssh.SFTPClient, final: str, data: bytes, attrs: asyncssh.SFTPAttrs | None
) -> bool:
    """Write `data` to a temp file next to `final`, fsync it, copy mode/owner from `attrs`,
    then rename it over `final`. Returns whether fsync was possible."""
    directory, base = posixpath.split(final)
    tmp = posixpath.join(directory, f".{base}.resil-tmp-{secrets.token_hex(4)}")
    mode = (attrs.permissions & 0o7777) if attrs and attrs.permissions is not None else DEFAULT_MODE
    fsynced = True
    try:
        # Created private: the content may be a secret until the final mode is set.
        async with sftp.open(tmp, "xb", asyncssh.SFTPAttrs(permissions=0o600), encoding=None) as f:
            await f.write(data)
            try:
                await f.fsync()
            except asyncssh.SFTPOpUnsupported:
                fsynced = False
        if attrs is not None and attrs.uid is not None and attrs.gid is not None:
            # Owner first: chown may clear set-id bits that chmod then restores.
            with contextlib.suppress(asyncssh.SFTPError):
                await sftp.chown(tmp, attrs.uid, attrs.gid)
        await sftp.chmod(tmp, mode)
        await sftp.posix_rename(tmp, final)
    except BaseException:
        with contextlib.suppress(Exception):
            await sftp.remove(tmp)
        raise
    return fsynced


STALE_TEMP_SECONDS = 600.0


async def _sweep_stale_temps(sftp: asyncssh.SFTPClient, path: str) -> None:
    """Remove temp files an interrupted replace of `path` left behind. Only ours (the exact
    name pattern) and only old ones, so a concurrent replace from another console is safe."""
    directory, base = posixpath.split(path)
    pattern = re.compile(re.escape(f".{base}.resil-tmp-") + r"[0-9a-f]{8}")
    with contextlib.suppress(OSError, asyncssh.Error):
        for entry in await sftp.readdir(directory):
            name = entry.filename if isinstance(entry.filename, str) else entry.filename.decode()
            mtime = entry.attrs.mtime
            if (
                pattern.fullmatch(name)
                and mtime is not None
                and (time.time() - mtime > STALE_TEMP_SECONDS)
            ):
                with contextlib.suppress(OSError, asyncssh.Error):
                    await sftp.remove(posixpath.join(directory, name))


async def _free_backup_name(sftp: asyncssh.SFTPClient, path: str) -> str:
    stamp = datetime.now(UTC).strftime(BACKUP_STAMP)
    candidate = f"{path}.resil-{stamp}.bak"
    n = 1
    while await sftp.exists(candidate):
        candidate = f"{path}.resil-{stamp}-{n}.bak"
        n += 1
    return candidate


async def replace_file(
    pool: Pool,
    node: Node,
    path: str,
    data: bytes,
    *,
    backup: bool = True,
    expected_sha256: str | None = None,
    step: str,
) -> WriteResult:
    """Atomically replace `path` with `data`.

    `expected_sha256` is the hash of the content the admin previewed: if the file no
    longer has it, nothing is written (kind "conflict"). Refused in read-only mode
    before connecting. Every attempt that reaches the node is audited.
    """
    path = _checked(node, path)
    pool.require_writable(node, f"write {path}")
    start = time.monotonic()
    before_hash: str | None = None
    backup_path: str | None = None
    new_hash = sha256_hex(data)

    def audit(result: str, after: str | None, status: int | None) -> None:
        pool.audit.record(
            site=node.site,
            node=node.id,
            kind="write",
            command=f"sftp replace {path}",
            exit_status=status,
            duration=time.monotonic() - start,
            step=step,
            result=result,
            before_sha256=before_hash,
            after_sha256=after,
            backup=backup_path,
        )

    try:
        async with pool.sftp(node) as sftp:
            try:
                attrs: asyncssh.SFTPAttrs | None = await sftp.stat(path)
            except asyncssh.SFTPNoSuchFile:
                attrs = None
            current = await _read(sftp, path) if attrs is not None else None
            before_hash = sha256_hex(current) if current is not None else None
            if expected_sha256 is not None and before_hash != expected_sha256.lower():
                what = "is gone" if current is None else "changed"
                msg = (
                    f"{path} {what} since it was read (expected sha256 {expected_sha256[:12]}…,"
                    f" found {before_hash[:12] + '…' if before_hash else 'nothing'}): "
                    "nothing written; reload and review the change again"
                )
                audit(f"refused: {what} since preview", None, None)
                raise RemoteError(ErrorKind.CONFLICT, node.id, msg)
            mode = (
                (attrs.permissions & 0o7777)
                if attrs and attrs.permissions is not None
                else DEFAULT_MODE
            )
            if current == data:
                return WriteResult(path, False, before_hash, new_hash, None, mode, False)
            await _sweep_stale_temps(sftp, path)
            if backup and current is not None:
                backup_path = await _free_backup_name(sftp, path)
                await _write_new(sftp, backup_path, current, attrs)
            fsynced = await _write_new(sftp, path, data, attrs)
            check = await _read(sftp, path)
            after_hash = sha256_hex(check) if check is not None else None
            if after_hash != new_hash:
                audit("verify failed: content read back differs", after_hash, 1)
                raise RemoteError(
                    ErrorKind.ERROR,
                    node.id,
                    f"{path} was written but reads back differently (sha256 {after_hash}); "
                    f"backup: {backup_path or 'none'}",
                )
            audit("ok", after_hash, 0)
            return WriteResult(path, True, before_hash, new_hash, backup_path, mode, fsynced)
    except RemoteError:
        raise
    except (OSError, asyncssh.Error) as exc:
        err = _sftp_error(pool, node, exc, f"writing {path}")
        audit(f"failed: {err.kind.value}: {err.message}", None, None)
        raise err from exc


_BACKUP_RE = r"\.resil-(\d{8}T\d{6}Z)(?:-(\d+))?\.bak"


async def list_backups(pool: Pool, node: Node, path: str) -> list[BackupInfo]:
    """Backups written next to `path` by replace_file, newest first."""
    path = _checked(node, path)
    directory, base = posixpath.split(path)
    pattern = re.compile(re.escape(base) + _BACKUP_RE)
    try:
        async with pool.sftp(node) as sftp:
            names = await sftp.readdir(directory)
    except (OSError, asyncssh.Error) as exc:
        raise _sftp_error(pool, node, exc, f"listing {directory}") from exc
    found: list[tuple[datetime, int, BackupInfo]] = []
    for entry in names:
        filename = entry.filename if isinstance(entry.filename, str) else entry.filename.decode()
        m = pattern.fullmatch(filename)
        if m:
            taken = datetime.strptime(m.group(1), BACKUP_STAMP).replace(tzinfo=UTC)
            info = BackupInfo(posixpath.join(directory, filename), taken, entry.attrs.size)
            # Same-second backups get -1, -2...: the number orders them, not the name.
            found.append((taken, int(m.group(2) or 0), info))
    return [info for _, _, info in sorted(found, key=lambda t: (t[0], t[1]), reverse=True)]


async def restore_backup(
    pool: Pool,
    node: Node,
    path: str,
    backup_path: str,
    *,
    expected_sha256: str | None,
    step: str,
) -> WriteResult:
    """Put a backup's content back the same safe way (the current file is backed up too)."""
    path = _checked(node, path)
    backup_path = _checked(node, backup_path)
    if posixpath.dirname(backup_path) != posixpath.dirname(path) or not re.fullmatch(
        re.escape(posixpath.basename(path)) + _BACKUP_RE, posixpath.basename(backup_path)
    ):
        raise RemoteError(ErrorKind.ERROR, node.id, f"{backup_path} is not a backup of {path}")
    pool.require_writable(node, f"restore {path}")
    data = await read_file(pool, node, backup_path)
    if data is None:
        raise RemoteError(ErrorKind.ERROR, node.id, f"backup {backup_path} does not exist")
    return await replace_file(
        pool, node, path, data, backup=True, expected_sha256=expected_sha256, step=step
    )
