"""The session: what the console and every command work with, built in one place.

A `Session` holds the inventory, the connection pool (read-only mode and the audit log
live there), the status collector (the only source of node facts: every pane renders what
it last saw), the incident journal (every action of the session is journaled; what polls
see is journaled once `record_status()` is called, by the console and the watcher) and,
in the demo, the lab's fault controls. The UI is typed against it.

The console paints its first screen from the inventory alone: it is given a
`SessionOnDemand`, opened right after that first paint (or at once if something needs it
sooner), and the pool and the collector are imported only then.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from resil_tui import paths as xdg
from resil_tui.inventory_model import Inventory, JournalPolicy

if TYPE_CHECKING:
    # Imported when a session is made (make_session, make_pool): not by the console's
    # first screen, which imports this module for its types.
    from resil_tui.audit import AuditLog
    from resil_tui.journal import Journal, JournalBounds
    from resil_tui.ops.journal_feed import JournalRecorder
    from resil_tui.ops.status import StatusCollector
    from resil_tui.remote.pool import NodeLink, Pool


class LabFault(Protocol):
    """One fault the demo's palette offers (the lab's own dataclass fits)."""

    @property
    def title(self) -> str: ...

    @property
    def words(self) -> tuple[str, ...]: ...

    @property
    def help(self) -> str: ...


class LabControl(Protocol):
    """What the console may do with the embedded lab (--demo): list and apply faults."""

    def fault_menu(self, site: str, node_ids: Sequence[str]) -> Sequence[LabFault]: ...

    async def apply_fault(self, words: Sequence[str]) -> str: ...


def journal_for(inventory: Inventory) -> Journal:
    """The journal at its XDG path, bounded as the inventory's [journal] says."""
    from resil_tui.journal import Journal

    return Journal(bounds=journal_bounds(inventory.journal))


def journal_bounds(policy: JournalPolicy) -> JournalBounds:
    from resil_tui.journal import DAY, JournalBounds

    return JournalBounds(policy.max_age_days * DAY, int(policy.max_size_mb * 1024 * 1024))


def _default_journal() -> Journal:
    from resil_tui.journal import Journal

    return Journal()


@dataclass
class Session:
    """One run of the console or of a command: the inventory and what is built from it."""

    inventory: Inventory
    pool: Pool
    collector: StatusCollector
    lab: LabControl | None = None
    # make_session gives the inventory's bounds.
    journal: Journal = field(default_factory=_default_journal)
    recorder: JournalRecorder | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        from resil_tui.ops.journal_feed import record_action

        self.pool.audit.listeners.append(record_action(self.journal))

    def record_status(self) -> JournalRecorder:
        """Journal what every judged poll sees (the console and the watcher; once)."""
        from resil_tui.ops.journal_feed import JournalRecorder

        if self.recorder is None:
            self.recorder = JournalRecorder(self.journal, self.collector)
        return self.recorder

    @property
    def read_only(self) -> bool:
        # The pool refuses mutating commands: the UI only mirrors what it will do.
        return self.pool.read_only

    @property
    def audit(self) -> AuditLog:
        return self.pool.audit


def make_pool(
    inventory: Inventory,
    *,
    audit_path: Path | None = None,
    on_state_change: Callable[[NodeLink], None] | None = None,
    keep_shells: bool = False,
) -> Pool:
    """The pool of a session; `keep_shells` for those that poll again and again (the
    console, the watcher): their reads go through one shell kept open per node."""
    from resil_tui.remote.pool import Pool

    return Pool(
        read_only=inventory.read_only,
        audit=audit_path or xdg.audit_log_path(),
        on_state_change=on_state_change,
        keep_shells=keep_shells,
    )


def make_session(
    inventory: Inventory,
    *,
    lab: LabControl | None = None,
    audit_path: Path | None = None,
    keep_shells: bool = False,
) -> Session:
    from resil_tui.ops.journal_feed import phone_seed
    from resil_tui.ops.status import StatusCollector

    pool = make_pool(inventory, audit_path=audit_path, keep_shells=keep_shells)
    journal = journal_for(inventory)
    collector = StatusCollector(inventory, pool, phone_seed=phone_seed(journal))
    return Session(inventory, pool, collector, lab, journal)


@contextlib.asynccontextmanager
async def open_session(
    inventory: Inventory,
    *,
    lab: LabControl | None = None,
    audit_path: Path | None = None,
    keep_shells: bool = False,
) -> AsyncIterator[Session]:
    session = make_session(inventory, lab=lab, audit_path=audit_path, keep_shells=keep_shells)
    try:
        yield session
    finally:
        await close_session(session)


async def close_session(session: Session) -> None:
    session.collector.cancel()
    await session.pool.close()


@dataclass
class SessionOnDemand:
    """A session made when first asked for (`open()`): the console's, whose first screen
    shows the inventory and nothing polled yet, and is painted before the pool and the
    collector (and their modules) exist. What it answers before that is the inventory's:
    the pool it will make is read-only exactly when the inventory is (make_pool)."""

    inventory: Inventory
    lab: LabControl | None = None
    audit_path: Path | None = None
    keep_shells: bool = False
    opened: Session | None = field(default=None, init=False)

    @property
    def read_only(self) -> bool:
        return self.inventory.read_only

    def open(self) -> Session:
        """The session, made now if it was not yet (the same one every time)."""
        if self.opened is None:
            self.opened = make_session(
                self.inventory,
                lab=self.lab,
                audit_path=self.audit_path,
                keep_shells=self.keep_shells,
            )
        return self.opened


@contextlib.asynccontextmanager
async def session_on_demand(
    inventory: Inventory,
    *,
    lab: LabControl | None = None,
    audit_path: Path | None = None,
    keep_shells: bool = False,
) -> AsyncIterator[SessionOnDemand]:
    """As open_session(), for a session opened when first needed (closed if it was)."""
    pending = SessionOnDemand(inventory, lab, audit_path, keep_shells)
    try:
        yield pending
    finally:
        if pending.opened is not None:
            await close_session(pending.opened)
