"""The audit log: one JSON line per change made to a node (command or file write).

A change is recorded twice: a `started` record *before* anything is sent (if that record
cannot be written, nothing is sent: the caller gets `AuditUnavailable`), then its result;
the two share an `op` id. Stream starts are recorded too, read-only ones included.

Lines are appended with a single write(2) on an O_APPEND descriptor, so concurrent
writers (two resil-tui processes, or many tasks) never interleave inside a line. The
file is private (0600): it names hosts, users and commands. Secrets never reach it: the
caller passes them in `secrets` and they are masked in every text field as a last guard.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from resil_tui import paths
from resil_tui.core.records import record
from resil_tui.core.sanitize import clean as _sanitize
from resil_tui.localfiles import open_private_append

log = logging.getLogger(__name__)

MASK = "***"
STARTED = "started"


class AuditUnavailable(OSError):
    """The audit log cannot be written (unwritable, a directory in its place, disk full)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"audit log {path} cannot be written: {reason}")
        self.path = path
        self.reason = reason

    def __str__(self) -> str:
        return str(self.args[0])


def new_op_id() -> str:
    """Links a `started` record to its result."""
    # What secrets.token_hex(6) returns; the secrets module itself would bring hashlib and
    # OpenSSL's bindings into the console's first screen (~1.5 ms), which records nothing.
    return os.urandom(6).hex()


def local_user() -> str:
    import getpass  # with the first audit record, not on the first screen

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


@record
class AuditRecord:
    """One audit log line: a change (or a stream start) on a node, as started or with its result."""

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
    op: str | None = None  # shared by a change's `started` record and its result

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))


class AuditLog:
    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else paths.audit_log_path()
        # Told of every record once it is written (the incident journal's actions).
        self.listeners: list[Callable[[AuditRecord], None]] = []

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
        op: str | None = None,
    ) -> AuditRecord:
        """Append one record. Raises AuditUnavailable when the file cannot be written."""
        masks = [s for s in secrets if s]

        def clean(text: str) -> str:
            for secret in masks:
                text = text.replace(secret, MASK)
            # One record per line, whatever the caller passed; results quote remote text.
            return _sanitize(text.replace("\r", "\\r").replace("\n", "\\n"))

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
            op=op,
        )
        try:
            self.append_line(rec.to_json())
        except AuditUnavailable:
            raise
        except OSError as exc:
            raise AuditUnavailable(self.path, exc.strerror or str(exc)) from exc
        for listener in list(self.listeners):
            try:
                listener(rec)
            except Exception:  # the record is written: a listener's bug must not undo it
                log.exception("audit listener failed")
        return rec

    def append_line(self, line: str) -> None:
        data = (line.rstrip("\n") + "\n").encode("utf-8")
        # 0600 whatever the umask, tightened if older: it holds host names and commands.
        fd = open_private_append(self.path)
        try:
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
