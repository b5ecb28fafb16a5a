"""Writing resil-tui's own files on the admin's machine (preferences, generated
inventories, wizard runs, remembered results, the audit and debug logs) so that an
interrupted write keeps the old file. Remote files go through remote/sftp.py instead.

The state directory (`paths.state_dir()`: audit log, debug log, wizard runs, the
replication record) names hosts, users and commands: it is 0700 and every file in it
0600, whatever the umask, and a looser mode found there is tightened.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import stat
from pathlib import Path

from resil_tui import paths

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def in_state_dir(path: Path) -> bool:
    state = paths.state_dir()
    try:
        return path == state or path.is_relative_to(state)
    except ValueError:  # pragma: no cover - is_relative_to does not raise on 3.11
        return False


def ensure_private_dir(directory: Path) -> Path:
    """Create `directory` (0700 for the state directory and what is inside it). A state
    directory found with group or other bits is tightened. A directory elsewhere (an
    explicit audit path, say) is created 0700 when missing and otherwise left alone."""
    if not in_state_dir(directory):
        directory.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
        return directory
    state = paths.state_dir()
    state.parent.mkdir(parents=True, exist_ok=True)
    current = state
    _private_mkdir(current)
    for part in directory.relative_to(state).parts:
        current = current / part
        _private_mkdir(current)
    return directory


def _private_mkdir(directory: Path) -> None:
    with contextlib.suppress(FileExistsError):
        directory.mkdir(mode=PRIVATE_DIR)
    st = directory.lstat()
    if not stat.S_ISDIR(st.st_mode):
        raise NotADirectoryError(f"{directory} is not a directory")
    if st.st_mode & 0o077 and st.st_uid == os.getuid():
        # mkdir's mode goes through the umask, and an older version may have left 0755.
        os.chmod(directory, PRIVATE_DIR)


def write_atomic(
    path: Path, data: str | bytes, *, mode: int = 0o644, dir_mode: int = 0o777
) -> None:
    """Temp file in the same directory, fsync, chmod, rename. Inside the state directory
    the file is 0600 and its directories 0700 whatever `mode` says."""
    if in_state_dir(path):
        ensure_private_dir(path.parent)
        mode = PRIVATE_FILE
    else:
        path.parent.mkdir(parents=True, exist_ok=True, mode=dir_mode)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    # Imported here: every command opens the debug log through this module, and tempfile
    # (shutil, random) is a tenth of check-config's start-up.
    import tempfile

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


def open_private_append(path: Path) -> int:
    """An O_APPEND descriptor on `path`, created 0600 and tightened to 0600 if looser."""
    ensure_private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE)
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, PRIVATE_FILE)
    except BaseException:
        os.close(fd)
        raise
    return fd


class PrivateFileHandler(logging.FileHandler):
    """logging.FileHandler whose file is 0600 from the first byte (FileHandler's open()
    follows the umask: 0644 under the usual 022)."""

    def _open(self) -> io.TextIOWrapper:
        fd = open_private_append(Path(self.baseFilename))
        return open(fd, "a", encoding=self.encoding, errors=self.errors, closefd=True)


def debug_log_handler(path: Path | None = None) -> logging.Handler:
    """The debug log's handler (0600 file in the 0700 state directory), or a handler that
    drops records when the file cannot be opened: a broken log must not stop the tool."""
    target = path or paths.debug_log_path()
    try:
        return PrivateFileHandler(target, encoding="utf-8")
    except OSError:
        return logging.NullHandler()
