"""Result of the last xivo-sync run, read from /var/log/xivo-sync.log.

Records are ``<asctime> [<pid>] (<LEVEL>): <message>`` (asctime ``2026-11-25 10:00:01,123``,
in the node's local time, no zone). One run is one process, so consecutive records with
the same pid form a run. A run ends with one of (from xivo-sync's source):

* ``Synchronization successful`` (INFO);
* ``SSH key /root/.ssh/xivo_id_rsa not found: not synchronizing`` (INFO, exit 0): the
  silent no-op the product must flag, since nothing was copied to the slave;
* ``Synchronization failure: rsync exit status N with output:`` + rsync's lines (ERROR),
  ``HA not configured or not a master node`` (ERROR), ``Unexpected error:`` + traceback.

Lines without the record prefix continue the previous record (rsync output, tracebacks).
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Any

from resil_tui.core.records import field, record


class SyncOutcome(StrEnum):
    SUCCESS = "success"
    KEY_MISSING = "key_missing"
    ERROR = "error"
    UNKNOWN = "unknown"  # empty log, or the last run logged no result (running or killed)


@record
class SyncRecord:
    """One record of /var/log/xivo-sync.log, with the lines that continue it."""

    time: datetime | None
    time_text: str
    pid: int
    level: str
    message: str
    detail: list[str] = field(default_factory=list)  # continuation lines


@record
class SyncResult:
    """How the last xivo-sync run (the master's files copied to the slave) ended."""

    outcome: SyncOutcome
    message: str  # the line that decided, or why we could not decide
    time: datetime | None = None  # node-local time of that line
    pid: int | None = None
    detail: list[str] = field(default_factory=list)
    last_success: datetime | None = None  # most recent success anywhere in the text read
    unparsed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.outcome is SyncOutcome.SUCCESS

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome.value,
            "message": self.message,
            "time": self.time.isoformat() if self.time else None,
            "pid": self.pid,
            "detail": list(self.detail),
            "last_success": self.last_success.isoformat() if self.last_success else None,
        }


_RECORD = re.compile(
    r"^(?P<time>\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:[,.]\d+)?)\s+"
    r"\[(?P<pid>\d+)\]\s+\((?P<level>[A-Za-z]+)\):\s?(?P<msg>.*)$"
)
_ERROR_LEVELS = frozenset({"ERROR", "CRITICAL", "FATAL"})
SUCCESS_MESSAGE = "Synchronization successful"
_KEY_MISSING = re.compile(r"^SSH key .* not found: not synchronizing", re.IGNORECASE)
_FAILURE = re.compile(r"^(Synchronization failure|Unexpected error)", re.IGNORECASE)


def _parse_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace(",", ".").replace(" ", "T", 1))
    except ValueError:
        return None


def parse_sync_records(text: str) -> tuple[list[SyncRecord], list[str]]:
    """All records of the log, and the lines before the first record we could not attach."""
    records: list[SyncRecord] = []
    unparsed: list[str] = []
    for raw in text.splitlines():
        line = raw.rstrip("\r")
        match = _RECORD.match(line)
        if match:
            pid = int(match.group("pid")) if len(match.group("pid")) <= 18 else -1
            records.append(
                SyncRecord(
                    _parse_time(match.group("time")),
                    match.group("time"),
                    pid,
                    match.group("level").upper(),
                    match.group("msg").strip(),
                )
            )
        elif records:
            if line.strip():
                records[-1].detail.append(line)
        elif line.strip():
            unparsed.append(line)
    return records, unparsed


def _classify(record: SyncRecord) -> SyncOutcome | None:
    if record.message.startswith(SUCCESS_MESSAGE):
        return SyncOutcome.SUCCESS
    if _KEY_MISSING.match(record.message):
        return SyncOutcome.KEY_MISSING
    if record.level in _ERROR_LEVELS or _FAILURE.match(record.message):
        return SyncOutcome.ERROR
    return None


def last_sync_result(text: str) -> SyncResult:
    """Outcome of the last run in the log text (a ``tail`` of the file is enough)."""
    records, unparsed = parse_sync_records(text)
    last_success = None
    for entry in records:
        if _classify(entry) is SyncOutcome.SUCCESS and entry.time is not None:
            last_success = entry.time
    if not records:
        return SyncResult(SyncOutcome.UNKNOWN, "no xivo-sync record in the log", unparsed=unparsed)

    last_pid = records[-1].pid
    run: list[SyncRecord] = []
    for entry in reversed(records):
        if entry.pid != last_pid:
            break
        run.append(entry)
    run.reverse()

    decided: tuple[SyncOutcome, SyncRecord] | None = None
    for entry in run:
        outcome = _classify(entry)
        # An error anywhere in the run wins over a later success line.
        if outcome is not None and (decided is None or decided[0] is not SyncOutcome.ERROR):
            decided = (outcome, entry)
    if decided is None:
        tail = run[-1]
        return SyncResult(
            SyncOutcome.UNKNOWN,
            f"last run logged no result (still running or killed): {tail.message}",
            tail.time,
            tail.pid,
            list(tail.detail),
            last_success,
            unparsed,
        )
    outcome, record = decided
    return SyncResult(
        outcome,
        record.message,
        record.time,
        record.pid,
        list(record.detail),
        last_success,
        unparsed,
    )
