"""Result of ``xivo-master-slave-db-replication <slave_ip>`` (run on the master).

Success prints ``Slave replication completed succesfully`` (sic; the correct spelling is
accepted too) and exits 0; failure prints ``Slave replication failed: <reason>`` and exits 1;
no argument prints a usage line and exits 1. The cron job sends the output to /dev/null,
so a result exists only for runs the product started itself.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from resil_tui.core.records import field, record


class ReplicationOutcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    USAGE = "usage"  # called without / with a bad argument
    UNKNOWN = "unknown"


@record
class ReplicationResult:
    """How a run of the master's database replication to the slave ended."""

    outcome: ReplicationOutcome
    reason: str | None = None
    exit_code: int | None = None
    lines: list[str] = field(default_factory=list)  # non-empty output lines, for the detail view
    at: float | None = None  # epoch seconds the run ended, when known (the product's record)

    @property
    def ok(self) -> bool:
        return self.outcome is ReplicationOutcome.SUCCESS

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome.value, "reason": self.reason, "exit_code": self.exit_code}


_SUCCESS = re.compile(r"slave replication completed succ?ess?fully", re.IGNORECASE)
_FAILED = re.compile(r"slave replication failed\s*:?\s*(.*)$", re.IGNORECASE)
_USAGE = re.compile(r"^\s*usage\b", re.IGNORECASE)


def parse_replication_output(text: str, exit_code: int | None = None) -> ReplicationResult:
    """Decide from the output lines first, then from the exit code.

    ``exit_code`` None means the command's status is unknown (lost connection): the output
    alone then decides, and no output means unknown.
    """
    lines = [line.rstrip("\r") for line in text.splitlines() if line.strip()]
    failure = next((m for m in map(_FAILED.search, lines) if m), None)
    success = any(_SUCCESS.search(line) for line in lines)
    usage = next((line.strip() for line in lines if _USAGE.match(line)), None)

    if failure is not None:
        return ReplicationResult(
            ReplicationOutcome.FAILURE,
            failure.group(1).strip() or "no reason given",
            exit_code,
            lines,
        )
    if success:
        if exit_code not in (0, None):
            return ReplicationResult(
                ReplicationOutcome.FAILURE,
                f"reported success but exited with status {exit_code}",
                exit_code,
                lines,
            )
        return ReplicationResult(ReplicationOutcome.SUCCESS, None, exit_code, lines)
    if usage is not None:
        return ReplicationResult(ReplicationOutcome.USAGE, usage, exit_code, lines)
    if exit_code not in (0, None):
        last = lines[-1].strip() if lines else "no output"
        return ReplicationResult(
            ReplicationOutcome.FAILURE, f"exit status {exit_code}: {last}", exit_code, lines
        )
    why = "no result line in the output" if exit_code == 0 else "no output and no exit status"
    return ReplicationResult(ReplicationOutcome.UNKNOWN, why, exit_code, lines)
