"""Safe remote file replacement over SFTP (chrooted test server)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from remote_server import TestServer

from resil_tui.audit import AuditLog
from resil_tui.remote.errors import ErrorKind, RemoteError
from resil_tui.remote.pool import Pool
from resil_tui.remote.sftp import (
    list_backups,
    read_file,
    replace_file,
    restore_backup,
    sha256_hex,
)

ENV = "/etc/docker/edge/.env"
OLD = b"# edge\nXIVO_HOST=10.0.0.1\nTURN_ALLOWED_PEERS=10.0.0.1\n"
NEW = b"# edge\nXIVO_HOST=10.0.0.2\nTURN_ALLOWED_PEERS=10.0.0.2\n# NEW\n"


@pytest.fixture
def env_file(server: TestServer) -> Path:
    local = server.root / ENV.lstrip("/")
    local.parent.mkdir(parents=True)
    local.write_bytes(OLD)
    os.chmod(local, 0o640)
    return local


async def test_read_file(pool: Pool, node, env_file: Path) -> None:
    assert await read_file(pool, node, ENV) == OLD
    assert await read_file(pool, node, "/etc/missing") is None
    with pytest.raises(RemoteError):
        await read_file(pool, node, "../etc/passwd")


async def test_replace_keeps_mode_writes_backup_and_audits(
    pool: Pool, node, env_file: Path
) -> None:
    result = await replace_file(
        pool, node, ENV, NEW, expected_sha256=sha256_hex(OLD), step="edge switch to slave"
    )
    assert result.changed and result.fsynced
    assert env_file.read_bytes() == NEW
    assert env_file.stat().st_mode & 0o7777 == 0o640
    assert result.backup is not None and result.backup.startswith(ENV + ".resil-")
    backup_local = env_file.parent / Path(result.backup).name
    assert backup_local.read_bytes() == OLD
    assert backup_local.stat().st_mode & 0o7777 == 0o640
    leftovers = [p.name for p in env_file.parent.iterdir() if ".resil-tmp-" in p.name]
    assert leftovers == []
    rec = AuditLog(pool.audit.path).read()[-1]
    assert rec["kind"] == "write" and rec["step"] == "edge switch to slave"
    assert rec["before_sha256"] == sha256_hex(OLD) and rec["after_sha256"] == sha256_hex(NEW)
    assert rec["backup"] == result.backup
    assert "XIVO_HOST" not in pool.audit.path.read_text()  # hashes, never content

    backups = await list_backups(pool, node, ENV)
    assert [b.path for b in backups] == [result.backup]


async def test_refused_when_changed_since_preview(pool: Pool, node, env_file: Path) -> None:
    previewed = sha256_hex(OLD)
    env_file.write_bytes(OLD + b"EXTRA=1\n")  # someone edited it meanwhile
    with pytest.raises(RemoteError) as info:
        await replace_file(pool, node, ENV, NEW, expected_sha256=previewed, step="s")
    assert info.value.kind is ErrorKind.CONFLICT
    assert env_file.read_bytes() == OLD + b"EXTRA=1\n"
    assert [p.name for p in env_file.parent.iterdir()] == [".env"]  # no backup, no temp


async def test_unchanged_content_writes_nothing(pool: Pool, node, env_file: Path) -> None:
    result = await replace_file(pool, node, ENV, OLD, step="s")
    assert not result.changed and result.backup is None
    assert [p.name for p in env_file.parent.iterdir()] == [".env"]


async def test_read_only_refuses_write_before_connecting(
    node, server: TestServer, env_file: Path, tmp_path: Path
) -> None:
    p = Pool(read_only=True, audit=tmp_path / "audit.jsonl")
    try:
        with pytest.raises(RemoteError) as info:
            await replace_file(p, node, ENV, NEW, step="s")
    finally:
        await p.close()
    assert info.value.kind is ErrorKind.READ_ONLY
    assert server.rec.connections == 0
    assert env_file.read_bytes() == OLD


@pytest.mark.parametrize("fault", ["write", "fsync", "rename_before", "rename_after"])
async def test_drop_mid_replace_leaves_old_or_new(
    pool: Pool, node, server: TestServer, env_file: Path, fault: str
) -> None:
    server.sftp_fault = fault
    with pytest.raises(RemoteError) as info:
        await replace_file(pool, node, ENV, NEW, expected_sha256=sha256_hex(OLD), step="s")
    assert info.value.kind is ErrorKind.DROPPED
    assert server.sftp_fault is None  # the fault did fire
    content = env_file.read_bytes()
    assert content == (NEW if fault == "rename_after" else OLD)
    assert env_file.stat().st_mode & 0o7777 == 0o640
    rec = AuditLog(pool.audit.path).read()[-1]
    assert rec["result"].startswith("failed: dropped")
    # The next write reconnects and succeeds from whatever is there now.
    again = await replace_file(
        pool, node, ENV, NEW, expected_sha256=sha256_hex(content), step="retry"
    )
    assert env_file.read_bytes() == NEW and again.after_sha256 == sha256_hex(NEW)


async def test_restore_backup(pool: Pool, node, env_file: Path) -> None:
    first = await replace_file(pool, node, ENV, NEW, step="switch")
    assert first.backup is not None
    restored = await restore_backup(
        pool, node, ENV, first.backup, expected_sha256=sha256_hex(NEW), step="undo"
    )
    assert env_file.read_bytes() == OLD
    assert restored.backup is not None and restored.backup != first.backup
    assert len(await list_backups(pool, node, ENV)) == 2
    with pytest.raises(RemoteError):
        await restore_backup(pool, node, ENV, "/etc/shadow", expected_sha256=None, step="x")


async def test_same_second_backups_are_listed_newest_first(
    pool: Pool, node, env_file: Path
) -> None:
    stamp = "20261125T120000Z"
    for name in (
        f".env.resil-{stamp}.bak",
        f".env.resil-{stamp}-1.bak",
        f".env.resil-{stamp}-2.bak",
        ".env.resil-20261125T115959Z.bak",
    ):
        (env_file.parent / name).write_bytes(OLD)
    names = [Path(b.path).name for b in await list_backups(pool, node, ENV)]
    assert names == [
        f".env.resil-{stamp}-2.bak",
        f".env.resil-{stamp}-1.bak",
        f".env.resil-{stamp}.bak",
        ".env.resil-20261125T115959Z.bak",
    ]


async def test_stale_temp_files_of_an_interrupted_replace_are_swept(
    pool: Pool, node, env_file: Path
) -> None:
    # Temp names are "." + the file's name: "..env.resil-tmp-XXXXXXXX" for ".env".
    stale = env_file.parent / "..env.resil-tmp-0123abcd"
    fresh = env_file.parent / "..env.resil-tmp-89abcdef"
    other = env_file.parent / "..env.resil-tmp-notours"
    for p in (stale, fresh, other):
        p.write_bytes(b"half")
    old = 1_700_000_000
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    await replace_file(pool, node, ENV, NEW, expected_sha256=sha256_hex(OLD), step="s")
    assert not stale.exists()  # left by a replace interrupted long ago
    assert fresh.exists()  # may belong to a replace running right now elsewhere
    assert other.exists()  # not a name we make
