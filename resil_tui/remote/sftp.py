"""Safe remote file edits over SFTP, through the pool's connection.

A replace never leaves a half-written target: the new content goes to a temp file in the
same directory, is fsynced, gets the old mode/owner, then `posix_rename`s over the target
(plain SFTP rename refuses to overwrite on OpenSSH). Before that, the current content is
re-read and compared with what the admin previewed, and a backup is kept.

- The `started` audit record is written before the first byte is written (no record,
  nothing written: RemoteError AUDIT), the result after, both with the same op id.
- A symlinked file is replaced at its target (resolved with SFTP realpath), the link kept,
  the temp file next to the target; a link that cannot be resolved to a regular file is
  refused with the reason. Never is a link silently turned into a regular file.
- A mode or owner that cannot be restored is reported (`WriteResult.warnings`, audited).
- Backups are named uniquely (UTC time to the microsecond and a random suffix: sortable,
  no same-second collision between two consoles) and pruned to the newest `keep` (never
  the newest one, never one this replace made).
"""

from __future__ import annotations

import contextlib
import hashlib
import posixpath
import re
import secrets
import time
from datetime import UTC, datetime

from resil_tui.core.records import record
from resil_tui.core.sanitize import clean
from resil_tui.inventory_model import Node
from resil_tui.remote.commands import CommandError, remote_path
from resil_tui.remote.errors import ErrorKind, RemoteError
from resil_tui.remote.pool import Pool, sftp_read
from resil_tui.remote.ssh import asyncssh

BACKUP_STAMP = "%Y%m%dT%H%M%S"
DEFAULT_MODE = 0o644


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@record
class WriteResult:
    path: str
    changed: bool  # False when the file already held exactly this content
    before_sha256: str | None  # None: the file did not exist
    after_sha256: str
    backup: str | None  # path of the backup written, if any
    mode: int
    fsynced: bool  # the server supports fsync@openssh.com and it was done
    target: str = ""  # the file really written: the link's target when `path` is a symlink
    warnings: tuple[str, ...] = ()  # owner not restored, backups not pruned, audit...
    pruned: tuple[str, ...] = ()  # old backups removed by this replace


@record
class BackupInfo:
    path: str
    taken: datetime  # from the name, UTC
    size: int | None
    sort_key: tuple[datetime, int, str] = (datetime.min.replace(tzinfo=UTC), 0, "")


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


async def read_file(pool: Pool, node: Node, path: str) -> bytes | None:
    """The file's bytes, or None when it does not exist (read-only: allowed always)."""
    path = _checked(node, path)
    try:
        async with pool.sftp(node) as sftp:
            return await sftp.read_bytes(path)
    except (OSError, asyncssh.Error) as exc:
        raise _sftp_error(pool, node, exc, f"reading {path}") from exc


# --- names ------------------------------------------------------------------------------

# New names: .env.resil-20261125T120000.123456Z-1a2b3c4d.bak (microseconds + random).
# Older ones: .env.resil-20261125T120000Z.bak and -1, -2... for the same second.
_BACKUP_RE = r"\.resil-(\d{8}T\d{6})(?:\.(\d{6})Z-([0-9a-f]{8})|Z(?:-(\d{1,6}))?)\.bak"


def backup_name(path: str, now: datetime | None = None) -> str:
    """A new backup name next to `path`: sortable, unique across consoles."""
    when = (now or datetime.now(UTC)).astimezone(UTC)
    stamp = f"{when.strftime(BACKUP_STAMP)}.{when.microsecond:06d}Z"
    return f"{path}.resil-{stamp}-{secrets.token_hex(4)}.bak"


def parse_backup_name(path: str, filename: str) -> tuple[datetime, int, str] | None:
    """(time, same-second number, random suffix) of a backup of `path`, None if the name
    is not one. The tuple orders backups oldest to newest."""
    m = re.fullmatch(re.escape(posixpath.basename(path)) + _BACKUP_RE, filename)
    if m is None:
        return None
    try:
        taken = datetime.strptime(m.group(1), BACKUP_STAMP).replace(tzinfo=UTC)
    except ValueError:
        return None
    taken = taken.replace(microsecond=int(m.group(2) or 0))
    return taken, int(m.group(4) or 0), m.group(3) or ""


def is_backup_of(path: str, backup_path: str) -> bool:
    return posixpath.dirname(backup_path) == posixpath.dirname(path) and (
        parse_backup_name(path, posixpath.basename(backup_path)) is not None
    )


# --- writing -------------------------------------------------------------------------------


async def _write_new(
    sftp: asyncssh.SFTPClient,
    final: str,
    data: bytes,
    attrs: asyncssh.SFTPAttrs | None,
    warnings: list[str],
) -> bool:
    """Write `data` to a temp file next to `final`, fsync it, copy mode/owner from `attrs`,
    then rename it over `final`. Returns whether fsync was possible; a mode or owner that
    could not be restored is added to `warnings`."""
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
            try:
                await sftp.chown(tmp, attrs.uid, attrs.gid)
            except asyncssh.SFTPError as exc:
                warnings.append(
                    f"owner of {final} not restored to uid {attrs.uid} gid {attrs.gid} "
                    f"({exc.reason or exc}): it is now owned by the SSH login user"
                )
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
    candidate = backup_name(path)
    while await sftp.exists(candidate):  # 32 random bits in the same microsecond: never
        candidate = backup_name(path)
    return candidate


async def _resolve(
    sftp: asyncssh.SFTPClient, node: Node, path: str
) -> tuple[str, asyncssh.SFTPAttrs | None]:
    """The file a replace of `path` must write (the link's target when `path` is a
    symbolic link) and its attributes (None: it does not exist yet). Refuses what cannot
    be written in place: a link to nothing, to a directory, out of the safe path set."""
    try:
        link = await sftp.lstat(path)
    except asyncssh.SFTPNoSuchFile:
        return path, None
    if link.type != asyncssh.FILEXFER_TYPE_SYMLINK:
        if link.type not in (asyncssh.FILEXFER_TYPE_REGULAR, asyncssh.FILEXFER_TYPE_UNKNOWN):
            raise RemoteError(
                ErrorKind.ERROR, node.id, f"{path} is not a regular file: nothing written"
            )
        return path, await sftp.stat(path)
    why = ""
    target = ""
    try:
        found = await sftp.realpath(path)
        target = found if isinstance(found, str) else found.decode("utf-8", "surrogateescape")
        attrs = await sftp.stat(target)
        kind = await sftp.lstat(target)
    except asyncssh.SFTPError as exc:
        why = f"its target cannot be resolved ({exc.reason or exc})"
    else:
        if kind.type == asyncssh.FILEXFER_TYPE_SYMLINK or target == path:
            why = f"it does not resolve to a file (realpath says {target!r})"
        elif kind.type not in (asyncssh.FILEXFER_TYPE_REGULAR, asyncssh.FILEXFER_TYPE_UNKNOWN):
            why = f"its target {target} is not a regular file"
        else:
            try:
                target = remote_path(target)
            except CommandError as exc:
                why = f"its target is refused: {exc}"
    if why:
        raise RemoteError(
            ErrorKind.ERROR,
            node.id,
            f"{path} is a symbolic link and {why}: nothing written (replacing the link by "
            "a file would leave its target with the old content); fix the link or point "
            "the inventory's path at the real file",
        )
    return target, attrs


async def _prune(
    sftp: asyncssh.SFTPClient, path: str, keep: int, made: str | None, warnings: list[str]
) -> list[str]:
    """Remove the oldest backups of `path` beyond the newest `keep`; never the newest, never
    `made`. Returns what was removed; a failure is a warning, not an error."""
    directory = posixpath.dirname(path)
    try:
        entries = await sftp.readdir(directory)
    except (OSError, asyncssh.Error) as exc:
        warnings.append(f"old backups not pruned: cannot list {directory} ({exc})")
        return []
    found: list[tuple[tuple[datetime, int, str], str]] = []
    for entry in entries:
        name = entry.filename if isinstance(entry.filename, str) else entry.filename.decode()
        key = parse_backup_name(path, name)
        if key is not None:
            found.append((key, posixpath.join(directory, name)))
    found.sort(reverse=True)
    removed: list[str] = []
    for _, candidate in found[max(1, keep) :]:
        if candidate == made:
            continue
        try:
            await sftp.remove(candidate)
        except (OSError, asyncssh.Error) as exc:
            warnings.append(f"old backup {candidate} not removed ({exc})")
            continue
        removed.append(candidate)
    return removed


async def replace_file(
    pool: Pool,
    node: Node,
    path: str,
    data: bytes,
    *,
    backup: bool = True,
    expected_sha256: str | None = None,
    step: str,
    keep_backups: int | None = None,
) -> WriteResult:
    """Atomically replace `path` with `data`.

    `expected_sha256` is the hash of the content the admin previewed: if the file no
    longer has it, nothing is written (kind "conflict"). Refused in read-only mode
    before connecting. The `started` audit record is written before the first write
    (nothing written without it) and every outcome after it is recorded; a refusal at the
    compare step is recorded too. `keep_backups` (default: the node's policy) is how many
    backups of `path` are kept."""
    path = _checked(node, path)
    keep = keep_backups if keep_backups is not None else node.changes.keep_backups
    start = time.monotonic()
    before_hash: str | None = None
    backup_path: str | None = None
    new_hash = sha256_hex(data)
    command = f"sftp replace {path}"
    op: str | None = None
    warnings: list[str] = []
    recorded = False

    def audit(result: str, after: str | None, status: int | None) -> None:
        nonlocal recorded
        recorded = True
        if warnings:
            result += "; " + "; ".join(warnings)
        warning = pool.audit_result(
            node,
            "write",
            command,
            op,
            status,
            time.monotonic() - start,
            step,
            result,
            before_sha256=before_hash,
            after_sha256=after,
            backup=backup_path,
        )
        if warning is not None:
            warnings.append(warning)

    try:
        async with pool.sftp_writable(node, f"write {path}") as sftp:
            target, attrs = await _resolve(sftp, node, path)
            current = await sftp_read(sftp, target) if attrs is not None else None
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
                return WriteResult(
                    path, False, before_hash, new_hash, None, mode, False, target=target
                )
            via = f" (symbolic link to {target})" if target != path else ""
            op = pool.audit_started(node, "write", command + via, step)
            await _sweep_stale_temps(sftp, target)
            if backup and current is not None:
                backup_path = await _free_backup_name(sftp, path)
                await _write_new(sftp, backup_path, current, attrs, warnings)
            fsynced = await _write_new(sftp, target, data, attrs, warnings)
            check = await sftp_read(sftp, path)
            after_hash = sha256_hex(check) if check is not None else None
            if target != path:
                still = await sftp.lstat(path)
                if still.type != asyncssh.FILEXFER_TYPE_SYMLINK:
                    warnings.append(f"{path} is no longer a symbolic link")
            if after_hash != new_hash:
                audit("verify failed: content read back differs", after_hash, 1)
                raise RemoteError(
                    ErrorKind.ERROR,
                    node.id,
                    f"{path} was written but reads back differently (sha256 {after_hash}); "
                    f"backup: {backup_path or 'none'}",
                )
            pruned = await _prune(sftp, path, keep, backup_path, warnings) if backup_path else []
            audit("ok" + (f"; pruned {len(pruned)} old backup(s)" if pruned else ""), after_hash, 0)
            return WriteResult(
                path,
                True,
                before_hash,
                new_hash,
                backup_path,
                mode,
                fsynced,
                target=target,
                # Warnings quote server text (SFTP status messages): display text.
                warnings=tuple(clean(w) for w in warnings),
                pruned=tuple(pruned),
            )
    except RemoteError as refused:
        if op is not None and not recorded:
            audit(f"failed: {refused.kind.value}: {refused.message}", None, None)
        raise
    except (OSError, asyncssh.Error) as exc:
        failure = _sftp_error(pool, node, exc, f"writing {path}")
        if op is not None and not recorded:
            audit(f"failed: {failure.kind.value}: {failure.message}", None, None)
        raise failure from exc


async def list_backups(pool: Pool, node: Node, path: str) -> list[BackupInfo]:
    """Backups written next to `path` by replace_file, newest first."""
    path = _checked(node, path)
    directory = posixpath.dirname(path)
    try:
        async with pool.sftp(node) as sftp:
            names = await sftp.readdir(directory)
    except (OSError, asyncssh.Error) as exc:
        raise _sftp_error(pool, node, exc, f"listing {directory}") from exc
    found: list[BackupInfo] = []
    for entry in names:
        filename = entry.filename if isinstance(entry.filename, str) else entry.filename.decode()
        key = parse_backup_name(path, filename)
        if key is not None:
            found.append(
                BackupInfo(posixpath.join(directory, filename), key[0], entry.attrs.size, key)
            )
    return sorted(found, key=lambda info: info.sort_key, reverse=True)


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
    if not is_backup_of(path, backup_path):
        raise RemoteError(ErrorKind.ERROR, node.id, f"{backup_path} is not a backup of {path}")
    pool.require_writable(node, f"restore {path}")
    data = await read_file(pool, node, backup_path)
    if data is None:
        raise RemoteError(ErrorKind.ERROR, node.id, f"backup {backup_path} does not exist")
    return await replace_file(
        pool, node, path, data, backup=True, expected_sha256=expected_sha256, step=step
    )
