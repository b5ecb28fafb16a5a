"""The last DB replication result per XiVO master, as this console last saw it.

`xivo-master-slave-db-replication` runs hourly from cron with its output thrown away,
so nothing on the node tells how the last run went: the status can only show the
result of a run started from resil-tui. It is kept in the state directory so that
it survives a restart of the console and shows in `resil-tui status` too.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from resil_tui import paths
from resil_tui.core.replication import ReplicationOutcome, ReplicationResult
from resil_tui.localfiles import write_atomic

FILE_NAME = "replication.json"


def _path(state_dir: Path | None) -> Path:
    return (state_dir or paths.state_dir()) / FILE_NAME


# The file as last read, by path, with the stat it had: a status poll asks for every XiVO
# node on every refresh, and the file changes only when a replication is run.
_read_cache: dict[Path, tuple[tuple[int, int, int], dict[str, Any]]] = {}


def _load_all(path: Path) -> dict[str, Any]:
    try:
        st = path.stat()
    except OSError:
        return {}
    stamp = (st.st_ino, st.st_mtime_ns, st.st_size)  # written atomically: a new inode
    cached = _read_cache.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    found = data if isinstance(data, dict) else {}
    _read_cache[path] = (stamp, found)
    return found


def remember(node_id: str, result: ReplicationResult, *, state_dir: Path | None = None) -> None:
    path = _path(state_dir)
    data = dict(_load_all(path))
    data[node_id] = {**result.to_dict(), "at": time.time()}
    try:
        write_atomic(path, json.dumps(data, indent=1), mode=0o600)
    except OSError:
        # Losing this memory only hides a past result; it must never fail the action.
        return


def last(node_id: str, *, state_dir: Path | None = None) -> ReplicationResult | None:
    entry = _load_all(_path(state_dir)).get(node_id)
    if not isinstance(entry, dict):
        return None
    try:
        outcome = ReplicationOutcome(str(entry.get("outcome")))
    except ValueError:
        return None
    reason = entry.get("reason")
    code = entry.get("exit_code")
    at = entry.get("at")
    return ReplicationResult(
        outcome=outcome,
        reason=reason if isinstance(reason, str) else None,
        exit_code=code if isinstance(code, int) else None,
        at=float(at) if isinstance(at, int | float) and not isinstance(at, bool) else None,
    )
