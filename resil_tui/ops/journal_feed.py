"""What feeds the incident journal: every judged poll (the status collector's `SiteJudged`)
and every action (the audit log's result records).

The console and `resil-tui watch` attach a `JournalRecorder` to their collector; any
session records its actions (ops/session.py wires the audit log to `record_action`), so a
change made from the command line is in the journal too. Who writes first does not
matter: the journal keeps one entry per change (resil_tui/journal.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from resil_tui.audit import STARTED, AuditRecord
from resil_tui.core.journal_event import EventKind, JournalEvent, one_line
from resil_tui.journal import Journal
from resil_tui.lazy import lazy_module
from resil_tui.ops.status import StatusCollector
from resil_tui.ops.status_events import CollectorEvent, SiteJudged

if TYPE_CHECKING:
    from resil_tui.core import site_picture, telephony
    from resil_tui.core.telephony import PhoneHistory
else:
    site_picture = lazy_module("resil_tui.core.site_picture")  # at the first site judged
    telephony = lazy_module("resil_tui.core.telephony")  # at the first site judged

log = logging.getLogger(__name__)

# Audit kinds that are no action of anyone's: a read-only log stream being opened.
_NOT_ACTIONS = frozenset({"stream"})
_ROUTINE_LOCK_RESULTS = frozenset({"acquired", "released"})


def action_event(rec: AuditRecord) -> JournalEvent | None:
    """The journal entry of an audit result record (None: nothing to journal). The
    `started` record is not one: its result, with the same op, says how it ended."""
    if rec.result == STARTED or rec.kind in _NOT_ACTIONS:
        return None
    if rec.kind == "lock" and rec.result in _ROUTINE_LOCK_RESULTS:
        return None  # taking and releasing a lock is part of the action it guards
    try:
        at = datetime.fromisoformat(rec.time).timestamp()
    except ValueError:
        return None
    node = None if rec.node in ("", "-") else rec.node
    if rec.kind == "wizard_report":
        outcome = rec.result.split(";", 1)[0].split(":", 1)[0].strip() or rec.result
        kind, evidence = EventKind.WIZARD, f"{rec.step}: {rec.result} ({rec.command})"
    else:
        outcome = rec.result
        kind, evidence = EventKind.ACTION, f"{rec.command}" + (f" ({rec.step})" if rec.step else "")
    return JournalEvent(
        time=at,
        site=rec.site,
        node=node,
        kind=kind,
        before=None,
        after=one_line(outcome),
        evidence=one_line(evidence),
        user=rec.user,
        op=rec.op,
    ).with_id()


def record_action(journal: Journal) -> Callable[[AuditRecord], None]:
    """An audit listener that journals each action's result."""

    def listener(rec: AuditRecord) -> None:
        event = action_event(rec)
        if event is not None:
            journal.record([event])

    return listener


class JournalRecorder:
    """Journals what each judged poll of the collector sees (every process that polls on
    a schedule attaches one: the console, the watcher)."""

    def __init__(self, journal: Journal, collector: StatusCollector) -> None:
        self.journal = journal
        self._unsubscribe = collector.subscribe(self._heard)

    def _heard(self, event: CollectorEvent) -> None:
        if not isinstance(event, SiteJudged):
            return
        report = event.report
        picture = site_picture.observe(report.site, report.snapshot.nodes.values(), report.verdicts)
        self.journal.record_site(picture)

    def close(self) -> None:
        self._unsubscribe()


def phone_seed(journal: Journal) -> Callable[[str], PhoneHistory | None]:
    """The collector's start for a site's phone history: since when the journal has seen
    the phones split (a one-shot `status` or `check` then says how long it has lasted)."""

    def seed(site: str) -> PhoneHistory | None:
        journal.refresh()  # (a journal it cannot read is logged and reads as empty)
        entry = journal.latest(site, None, EventKind.PHONES)
        return (
            telephony.history_from_journal(entry.after, entry.time) if entry is not None else None
        )

    return seed
