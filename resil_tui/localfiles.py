"""Writing resil-tui's own files on the admin's machine (preferences, generated
inventories, wizard runs, remembered results) so that an interrupted write keeps the old
file. Remote files go through remote/sftp.py instead."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_atomic(
    path: Path, data: str | bytes, *, mode: int = 0o644, dir_mode: int = 0o777
) -> None:
    """Temp file in the same directory, fsync, chmod, rename."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=dir_mode)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
