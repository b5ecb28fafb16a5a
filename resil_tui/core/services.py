"""Parse ``xivo-service status`` / ``xivo-service status all``.

Format (XIVO.md)::

    Checking database...
    \tOK                                   or  \tNOK (current revision is <rev>)
    Checking services...
    \trunning\t\trabbitmq-server
    \tstopped\t\tasterisk

The exit code differs between versions (1 and 2 swapped), so only the lines are trusted.

Telephony: a node is "active" when its telephony services run. The default set is
{"asterisk"}: ``xivo-manage-slave-services stop`` stops Asterisk on a standby slave while
PostgreSQL, nginx, RabbitMQ... keep running there, and Asterisk is what phones register to
and what carries calls. So "asterisk running" is exactly "this node serves telephony", and
two nodes with Asterisk up is the split brain the HA scripts cannot prevent.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from resil_tui.core.records import field, record

DEFAULT_TELEPHONY_SERVICES: frozenset[str] = frozenset({"asterisk"})


class ServiceState(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"
    FAILED = "failed"
    UNKNOWN = "unknown"  # "unknown" in newer versions, and any state word we do not know


class DatabaseState(StrEnum):
    OK = "ok"
    NOK = "nok"  # schema revision mismatch: "NOK (current revision is <rev>)"
    UNKNOWN = "unknown"  # not shown / not understood


@record
class ServiceEntry:
    """One service line of `xivo-service status`."""

    name: str
    state: ServiceState
    raw_state: str  # the word as printed, kept when it maps to UNKNOWN

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "state": self.state.value, "raw_state": self.raw_state}


@record
class ServicesStatus:
    """A node's `xivo-service status` answer: whether it serves telephony is read from it."""

    services: list[ServiceEntry] = field(default_factory=list)
    database: DatabaseState = DatabaseState.UNKNOWN
    database_revision: str | None = None
    database_raw: str | None = None
    unparsed: list[str] = field(default_factory=list)
    exit_code: int | None = None
    telephony_services: frozenset[str] = DEFAULT_TELEPHONY_SERVICES

    def get(self, name: str) -> ServiceEntry | None:
        for entry in self.services:
            if entry.name == name:
                return entry
        return None

    @property
    def empty(self) -> bool:
        return not self.services and self.database is DatabaseState.UNKNOWN

    @property
    def all_running(self) -> bool:
        """True when at least one service is listed and every one is running."""
        return bool(self.services) and all(s.state is ServiceState.RUNNING for s in self.services)

    @property
    def failed(self) -> list[str]:
        return [s.name for s in self.services if s.state is ServiceState.FAILED]

    @property
    def stopped(self) -> list[str]:
        return [s.name for s in self.services if s.state is ServiceState.STOPPED]

    @property
    def not_running(self) -> list[str]:
        return [s.name for s in self.services if s.state is not ServiceState.RUNNING]

    def _telephony(self) -> list[ServiceEntry]:
        return [s for s in self.services if s.name in self.telephony_services]

    @property
    def telephony_running(self) -> bool | None:
        """Does this node serve telephony? None when no telephony service is listed.

        Any telephony service running counts: a half-started node still answers phones,
        and for split-brain detection a false "stopped" is the dangerous mistake.
        """
        tel = self._telephony()
        if not tel:
            return None
        if any(s.state is ServiceState.RUNNING for s in tel):
            return True
        if all(s.state is ServiceState.UNKNOWN for s in tel):
            return None
        return False

    @property
    def telephony_degraded(self) -> bool:
        """Some telephony services run and others do not (e.g. half-started)."""
        tel = self._telephony()
        running = [s for s in tel if s.state is ServiceState.RUNNING]
        return bool(running) and len(running) < len(tel)

    def to_dict(self) -> dict[str, Any]:
        return {
            "database": self.database.value,
            "database_revision": self.database_revision,
            "services": [s.to_dict() for s in self.services],
            "all_running": self.all_running,
            "failed": self.failed,
            "stopped": self.stopped,
            "telephony_services": sorted(self.telephony_services),
            "telephony_running": self.telephony_running,
            "exit_code": self.exit_code,
            "unparsed": list(self.unparsed),
        }


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_DB_LINE = re.compile(r"^(NOK|OK)\b\s*(.*)$", re.IGNORECASE)
_REVISION = re.compile(r"revision\s+is\s+([^\s)]+)", re.IGNORECASE)
_SERVICE_LINE = re.compile(r"^(\S+)\s+(\S.*)$")
_STATE_WORD = re.compile(r"[a-z][a-z_-]*")  # fullmatch
_KNOWN_STATES = {s.value: s for s in ServiceState}


def parse_xivo_service_status(
    text: str,
    exit_code: int | None = None,
    telephony_services: frozenset[str] = DEFAULT_TELEPHONY_SERVICES,
) -> ServicesStatus:
    services: list[ServiceEntry] = []
    unparsed: list[str] = []
    database = DatabaseState.UNKNOWN
    revision: str | None = None
    database_raw: str | None = None
    section: str | None = None  # "database" | "services" | None

    for raw_line in text.splitlines():
        line = _ANSI.sub("", raw_line).rstrip()
        stripped = line.strip()
        if not stripped:
            continue
        lowered = stripped.lower()
        if lowered.startswith("checking database"):
            section = "database"
            continue
        if lowered.startswith("checking services"):
            section = "services"
            continue
        if section == "database":
            match = _DB_LINE.match(stripped)
            if match and database is DatabaseState.UNKNOWN:
                database = (
                    DatabaseState.NOK if match.group(1).upper() == "NOK" else DatabaseState.OK
                )
                database_raw = stripped
                rev = _REVISION.search(match.group(2))
                revision = rev.group(1) if rev else None
                continue
        indented = line[:1] in (" ", "\t")
        match = _SERVICE_LINE.match(stripped)
        if match:
            word = match.group(1).lower()
            known = _KNOWN_STATES.get(word)
            # Inside "Checking services..." any indented two-field line is a service, even
            # with a state word we do not know; elsewhere only a known state word counts.
            if known is not None or (
                section == "services" and indented and _STATE_WORD.fullmatch(word)
            ):
                name = " ".join(match.group(2).split())
                services.append(ServiceEntry(name, known or ServiceState.UNKNOWN, match.group(1)))
                continue
        unparsed.append(raw_line)

    return ServicesStatus(
        services=services,
        database=database,
        database_revision=revision,
        database_raw=database_raw,
        unparsed=unparsed,
        exit_code=exit_code,
        telephony_services=telephony_services,
    )
