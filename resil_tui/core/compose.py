"""Parse ``docker compose ps`` as printed by ``xivocc-dcomp ps`` / ``edge-dcomp ps``.

The wrappers' exact layout is unverified (XIVO.md), so several layouts are accepted:

* docker compose v2 >= 2.21: ``NAME IMAGE COMMAND SERVICE CREATED STATUS PORTS``, columns
  aligned by a tab writer, located from the header's word positions; STATUS reads
  ``Up 3 minutes (healthy)``, ``Exited (1) 2 hours ago``, ``Restarting (1) 5 seconds ago``;
* docker compose v2 < 2.21: ``NAME COMMAND SERVICE STATUS PORTS`` with STATUS ``running``,
  ``exited (0)``, ``running (healthy)``;
* docker-compose v1: ``Name Command State Ports`` (centred headers) over a ``----`` line,
  State ``Up``, ``Up (healthy)``, ``Exit 0``, ``Restarting``;
* ``--format json``: one JSON array or one JSON object per line.

Lines we cannot read (warnings, errors) are kept in ``unparsed``.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from enum import StrEnum
from typing import Any

from resil_tui.core.records import field, record


class ContainerState(StrEnum):
    UP = "up"
    RESTARTING = "restarting"
    EXITED = "exited"
    PAUSED = "paused"
    CREATED = "created"
    UNKNOWN = "unknown"


@record
class Container:
    """One container of a compose stack (xivocc, edge), as `ps` listed it."""

    name: str
    service: str
    state: ContainerState
    status: str  # the status text as printed
    since: str | None = None  # "Up 3 minutes", "Exited (1) 2 hours ago"; None if not shown
    health: str | None = None  # "healthy" | "unhealthy" | "starting"
    exit_code: int | None = None
    image: str | None = None
    ports: str | None = None

    @property
    def running(self) -> bool:
        return self.state is ContainerState.UP

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "service": self.service,
            "state": self.state.value,
            "status": self.status,
            "since": self.since,
            "health": self.health,
            "exit_code": self.exit_code,
            "image": self.image,
            "ports": self.ports,
        }


@record
class ComposePs:
    """A compose stack's `ps` listing, in whichever layout the wrapper printed."""

    containers: list[Container] = field(default_factory=list)
    unparsed: list[str] = field(default_factory=list)
    layout: str = "empty"  # "modern" | "legacy" | "json" | "unknown" | "empty"

    def service(self, name: str) -> Container | None:
        """The container of a compose service ("xuc"), matched by service then by name."""
        for c in self.containers:
            if c.service == name:
                return c
        for c in self.containers:
            if c.name == name or _service_from_name(c.name) == name:
                return c
        return None

    def service_state(self, name: str) -> ContainerState | None:
        """State of a service's container; None when the service is not listed."""
        c = self.service(name)
        return c.state if c is not None else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "layout": self.layout,
            "containers": [c.to_dict() for c in self.containers],
            "unparsed": list(self.unparsed),
        }


_HEALTH = re.compile(r"\((healthy|unhealthy|health:\s*starting|starting)\)", re.IGNORECASE)
_EXIT_CODE = re.compile(r"^(?:exit|exited)\s*\(?\s*(-?\d+)\s*\)?", re.IGNORECASE)
_TIME_WORDS = re.compile(
    r"\b(ago|seconds?|minutes?|hours?|days?|weeks?|months?|years?|now)\b", re.IGNORECASE
)
_LEGACY_STATE = re.compile(r"^(Up|Exit|Exited|Restarting|Paused|Created|Dead|Removing)\b", re.I)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def classify_status(status: str) -> tuple[ContainerState, str | None, int | None, str | None]:
    """State, health, exit code and "since" text from a STATUS / State cell."""
    text = status.strip()
    low = text.lower()
    health_match = _HEALTH.search(text)
    health: str | None = None
    if health_match:
        word = health_match.group(1).lower()
        health = "starting" if "starting" in word else word
    if low.startswith("up"):
        state = ContainerState.PAUSED if "(paused)" in low else ContainerState.UP
    elif low.startswith("running"):
        state = ContainerState.UP
    elif low.startswith(("exit", "dead")):
        state = ContainerState.EXITED
    elif low.startswith("restarting"):
        state = ContainerState.RESTARTING
    elif low.startswith("paused"):
        state = ContainerState.PAUSED
    elif low.startswith("created"):
        state = ContainerState.CREATED
    else:
        state = ContainerState.UNKNOWN
    code_match = _EXIT_CODE.match(text) or re.match(r"^restarting\s*\((-?\d+)\)", low)
    exit_code = int(code_match.group(1)) if code_match else None
    since: str | None = None
    if _TIME_WORDS.search(text):
        since = " ".join(_HEALTH.sub("", text).replace("(Paused)", "").split()) or None
    return state, health, exit_code, since


def _service_from_name(name: str) -> str:
    """``xivocc-xuc-1`` / ``xivocc_xuc_1`` -> ``xuc`` (project, service, index)."""
    for sep in ("-", "_"):
        parts = name.split(sep)
        if len(parts) >= 3 and parts[-1].isdigit():
            return sep.join(parts[1:-1])
    return name


def _make(
    name: str,
    service: str | None,
    status: str,
    image: str | None = None,
    ports: str | None = None,
) -> Container:
    state, health, exit_code, since = classify_status(status)
    return Container(
        name=name,
        service=service or _service_from_name(name),
        state=state,
        status=status.strip(),
        since=since,
        health=health,
        exit_code=exit_code,
        image=image or None,
        ports=ports or None,
    )


def parse_compose_ps(text: str) -> ComposePs:
    lines = [_ANSI.sub("", line).rstrip() for line in text.splitlines()]
    body = "\n".join(lines).strip()
    if not body:
        return ComposePs()
    if body[0] in "[{":
        parsed = _parse_json(body)
        if parsed is not None:
            return parsed
    for index, line in enumerate(lines):
        header = _header_columns(line)
        if header is None:
            continue
        names = [h for h, _ in header]
        before = [line for line in lines[:index] if line.strip()]
        if (
            "STATE" in names
            and "COMMAND" in names
            and "SERVICE" not in names
            and (index + 1 < len(lines) and set(lines[index + 1].strip()) == {"-"})
        ):
            return _parse_legacy(lines[index + 2 :], before)
        return _parse_modern(header, lines[index + 1 :], before)
    return ComposePs(unparsed=[line for line in lines if line.strip()], layout="unknown")


def _header_columns(line: str) -> list[tuple[str, int]] | None:
    """Column names and start offsets if ``line`` is a ps header (NAME ... STATUS/STATE)."""
    cols = [(m.group(0).upper(), m.start()) for m in re.finditer(r"\S+(?: \S+)*", line)]
    names = {c for c, _ in cols}
    if "NAME" in names and ("STATUS" in names or "STATE" in names):
        return cols
    return None


def _parse_modern(header: list[tuple[str, int]], rows: list[str], before: list[str]) -> ComposePs:
    names = [h for h, _ in header]
    starts = [s for _, s in header]
    containers: list[Container] = []
    unparsed = list(before)
    for row in rows:
        if not row.strip():
            continue
        cells = _cut_by_positions(row, starts)
        if cells is None:
            split = re.split(r"\s{2,}|\t+", row.strip())
            # Trailing PORTS may be empty: accept one cell short of the header.
            if len(split) == len(names) or len(split) == len(names) - 1:
                cells = [*split, ""][: len(names)]
            else:
                unparsed.append(row)
                continue
        values = dict(zip(names, cells, strict=True))
        name = values.get("NAME", "")
        status = values.get("STATUS") or values.get("STATE") or ""
        if not name or not status:
            unparsed.append(row)
            continue
        containers.append(
            _make(name, values.get("SERVICE"), status, values.get("IMAGE"), values.get("PORTS"))
        )
    return ComposePs(containers, unparsed, "modern")


def _cut_by_positions(row: str, starts: list[int]) -> list[str] | None:
    """Slice a row at the header's column offsets; None if the row is not aligned on them."""
    for start in starts[1:]:
        # A cell of an aligned row starts right after a blank; empty cells (PORTS) are fine.
        if start < len(row) and row[start - 1] != " ":
            return None
    cells = []
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(row)
        cells.append(row[start:end].strip())
    if not cells[0]:
        return None
    return cells


def _parse_legacy(rows: list[str], before: list[str]) -> ComposePs:
    containers: list[Container] = []
    unparsed = list(before)
    for row in rows:
        if not row.strip():
            continue
        parts = re.split(r"\s{2,}", row.strip())
        first = 2 if len(parts) > 2 else 1  # parts[1] is the command when there is one
        state_index = next(
            (i for i in range(first, len(parts)) if _LEGACY_STATE.match(parts[i])), None
        )
        if state_index is None:
            unparsed.append(row)
            continue
        ports = "  ".join(parts[state_index + 1 :])
        containers.append(_make(parts[0], None, parts[state_index], None, ports))
    return ComposePs(containers, unparsed, "legacy")


def _parse_json(body: str) -> ComposePs | None:
    items: list[Any] = []
    try:
        data = json.loads(body)
        items = data if isinstance(data, list) else [data]
    except ValueError:
        for line in body.splitlines():
            if not line.strip():
                continue
            try:
                items.append(json.loads(line))
            except ValueError:
                return None
    containers: list[Container] = []
    unparsed: list[str] = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("Name"), str):
            unparsed.append(json.dumps(item))
            continue
        status = str(item.get("Status") or item.get("State") or "")
        c = _make(item["Name"], str(item.get("Service") or "") or None, status, item.get("Image"))
        state_word = str(item.get("State") or "").lower()
        # The JSON State field is authoritative ("running", "exited"...) when the Status
        # text did not give it away.
        if c.state is ContainerState.UNKNOWN and state_word:
            c = replace(c, state=classify_status(state_word)[0])
        health = item.get("Health")
        if isinstance(health, str) and health and c.health is None:
            c = replace(c, health=health.lower())
        containers.append(c)
    return ComposePs(containers, unparsed, "json")


def all_up(ps: ComposePs | None) -> bool:
    """Every container of the stack up and not (yet) unhealthy: the one rule for "the
    stack is up" (after `edge-dcomp up -d`, the wizard's wait, the Status pane)."""
    return (
        ps is not None
        and bool(ps.containers)
        and all(
            c.state is ContainerState.UP and c.health not in ("starting", "unhealthy")
            for c in ps.containers
        )
    )
