"""The audit log: one JSON line per change made to a node (command or file write).

Lines are appended with a single write(2) on an O_APPEND descriptor, so concurrent
writers (two resil-tui processes, or many tasks) never interleave inside a line. The
file is private (0600): it names hosts, users and commands. Secrets never reach it: the
caller passes them in `secrets` and they are masked in every text field as a last guard.
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from resil_tui import paths

MASK = "***"


def local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


@dataclass(frozen=True)
class AuditRecord:
    time: str  # ISO 8601, UTC
    user: str  # local user running resil-tui
    site: str
    node: str
    kind: str  # "command" | "write" | "trust_host_key"
    command: str  # command line or "sftp replace /path": never stdin
    exit_status: int | None
    duration: float  # seconds
    step: str  # what the admin was doing, e.g. "edge switch to slave"
    result: str  # "ok", "exit 1", "lost", "timeout", "refused: ...", ...
    before_sha256: str | None = None
    after_sha256: str | None = None
    backup: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))


class AuditLog:
    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else paths.audit_log_path()

    def record(
        self,
        *,
        site: str,
        node: str,
        kind: str,
        command: str,
        exit_status: int | None,
        duration: float,
        step: str,
        result: str,
        before_sha256: str | None = None,
        after_sha256: str | None = None,
        backup: str | None = None,
        secrets: Iterable[str] = (),
    ) -> AuditRecord:
        masks = [s for s in secrets if s]

        def clean(text: str) -> str:
            for secret in masks:
                text = text.replace(secret, MASK)
            # One record per line, whatever the caller passed.
            return text.replace("\r", "\\r").replace("\n", "\\n")

        rec = AuditRecord(
            time=datetime.now(UTC).isoformat(timespec="milliseconds"),
            user=clean(local_user()),
            site=clean(site),
            node=clean(node),
            kind=kind,
            command=clean(command),
            exit_status=exit_status,
            duration=round(duration, 3),
            step=clean(step),
            result=clean(result),
            before_sha256=before_sha256,
            after_sha256=after_sha256,
            backup=clean(backup) if backup is not None else None,
        )
        self.append_line(rec.to_json())
        return rec

    def append_line(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        data = (line.rstrip("\n") + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            # The file may predate us with looser bits; it holds host names and commands.
            if os.fstat(fd).st_mode & 0o077:
                os.fchmod(fd, 0o600)
            written = os.write(fd, data)
            if written != len(data):  # pragma: no cover - regular files write fully
                raise OSError(f"short write to audit log {self.path}")
        finally:
            os.close(fd)

    def read(self) -> list[dict[str, Any]]:
        """All records, oldest first; a malformed line is skipped, never fatal."""
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        out: list[dict[str, Any]] = []
        for raw in text.splitlines():
            try:
                value = json.loads(raw)
            except ValueError:
                continue
            if isinstance(value, dict):
                out.append(value)
        return out
