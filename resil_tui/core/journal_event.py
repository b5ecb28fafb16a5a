"""One entry of the incident journal: something changed on a site, or someone acted on it.

Every entry has a time, a site, a node (None for the site itself), a kind, the value it
went from (None: first seen) and the value it went to, and one line of evidence. Actions
also say who and carry the audit log's `op` id, which links them to their audit records.

Pure data: the journal file (resil_tui/journal.py) stores `to_dict()` as one JSON line
and reads it back with `from_dict()`, which is lenient (an entry it cannot read is
skipped by the caller, never fatal).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from resil_tui.core.records import record
from resil_tui.core.sanitize import clean

SCHEMA_VERSION = 1
EVIDENCE_MAX = 300  # characters of evidence kept per entry


class EventKind(StrEnum):
    """What an entry is about (stable: `history --json` publishes these)."""

    REACHABILITY = "reachability"  # reachable / unreachable (the cause in the evidence)
    HA_ROLE = "ha_role"  # ha.conf node_type: master / slave / disabled / unknown
    TELEPHONY = "telephony"  # active / standby / stopped
    VERDICT = "verdict"  # the site's primary verdict (normal, failed_over, ...)
    EDGE_SIDE = "edge_side"  # master / slave / mixed / unknown
    XUC = "xuc"  # ready / starting / not_ready / down
    REPLICATION = "replication"  # outcome of the last replication the product started
    SYNC = "sync"  # outcome of the last xivo-sync run (its log)
    PHONES = "phones"  # where the site's phones are: master / slave / split / none
    ACTION = "action"  # a change made through resil-tui (from the audit log)
    WIZARD = "wizard"  # a guided failover / failback run started or ended

    @property
    def observed(self) -> bool:
        """A fact a status poll sees (as opposed to something someone did)."""
        return self not in (EventKind.ACTION, EventKind.WIZARD)


def one_line(text: str) -> str:
    """Evidence quotes what nodes printed: sanitized, one line, bounded."""
    line = clean(text, one_line=True).strip()
    return line if len(line) <= EVIDENCE_MAX else line[: EVIDENCE_MAX - 1] + "…"


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


@record
class JournalEvent:
    """One journal entry: a fact of a site that changed, or an action someone took on it."""

    time: float  # epoch seconds: when a poll saw it, or when the action ended
    site: str
    node: str | None  # node id; None: the site as a whole (its verdict)
    kind: EventKind
    before: str | None  # None: first seen (nothing recorded before)
    after: str
    evidence: str = ""
    user: str | None = None  # actions: the local user
    op: str | None = None  # actions: the audit records' op id
    id: str = ""  # filled by `with_id()`: the entry's identity in the journal

    @property
    def key(self) -> tuple[str, str, str]:
        """What the entry is a value of: (site, node or "", kind)."""
        return (self.site, self.node or "", self.kind.value)

    def with_id(self) -> JournalEvent:
        if self.id:
            return self
        if self.op:
            # An action is recorded once per audit result, whoever reads the audit log.
            ident = f"{self.kind.value}-{self.op}-{self.after}"[:64]
        else:
            import hashlib  # with the first event: not on the console's first screen

            digest = hashlib.sha256(
                "\0".join(
                    (
                        self.site,
                        self.node or "",
                        self.kind.value,
                        self.before or "",
                        self.after,
                        f"{self.time:.3f}",
                    )
                ).encode()
            ).hexdigest()
            ident = digest[:16]
        return JournalEvent(
            self.time,
            self.site,
            self.node,
            self.kind,
            self.before,
            self.after,
            self.evidence,
            self.user,
            self.op,
            ident,
        )

    def describe(self) -> str:
        """One line for people: what changed, from what to what, and the evidence."""
        where = self.node or self.site
        if self.kind.observed:
            change = (
                f"{self.before} → {self.after}" if self.before else f"(first seen) {self.after}"
            )
            text = f"{where} {self.kind.value}: {change}"
        else:
            who = f" by {self.user}" if self.user else ""
            text = f"{where} {self.kind.value}{who}: {self.after}"
        return f"{text} · {self.evidence}" if self.evidence else text

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": SCHEMA_VERSION,
            "id": self.id,
            "time": iso(self.time),
            "epoch": round(self.time, 3),
            "site": self.site,
            "node": self.node,
            "kind": self.kind.value,
            "from": self.before,
            "to": self.after,
            "evidence": self.evidence,
            "user": self.user,
            "op": self.op,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JournalEvent:
        """Raises ValueError (or KeyError, TypeError) for an entry that is not one."""
        epoch = data["epoch"]
        if isinstance(epoch, bool) or not isinstance(epoch, int | float):
            raise ValueError("epoch is not a number")
        node, before, user, op = (data.get(k) for k in ("node", "from", "user", "op"))
        for value in (node, before, user, op):
            if value is not None and not isinstance(value, str):
                raise ValueError("a text field is not text")
        return cls(
            time=float(epoch),
            site=str(data["site"]),
            node=node,
            kind=EventKind(data["kind"]),
            before=before,
            after=str(data["to"]),
            evidence=str(data.get("evidence", "")),
            user=user,
            op=op,
            id=str(data.get("id", "")),
        ).with_id()
