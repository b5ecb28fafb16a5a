"""Phones and calls of a XiVO node, where the phones of a pair are, and since when.

`count_phones` turns what `asterisk -rx` printed on one node (core/asterisk.py results)
into `PhoneCounts`: contacts reachable / contacts, the phones there, the calls in progress.
An Asterisk that is not running (normal on a standby: "Unable to connect to remote
asterisk") is "n/a", never an error and never zero phones *counted*; an answer that could
not be read is "unknown" with its reason. Nothing here reads "0" from missing data.

`PhonePlacement` is where the phones of a pair are ("phones: 412 on slave · 3 on master");
`track` keeps, from one judged poll to the next, since when they are split across both
nodes and how many the serving side had before the last move (`PhoneHistory`): the two
phone findings (core/cluster.py) and the wizard's "phones registered on the target" wait
read it. Pure: every time comes from the caller.

Counting rules (one place):
* reachable: PJSIP contacts `Avail` (chan_sip: peers `OK` or `LAGGED`);
* contacts: every contact line (chan_sip: peers with an address, i.e. registered);
* phones: distinct AORs with a contact that is `Avail` or `NonQual` (registered, not
  qualified: a site with qualify off has no `Avail` at all); chan_sip: peers reachable, or
  registered and unmonitored. This is the count "where the phones are" uses.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from resil_tui.core.records import record
from resil_tui.core.sanitize import clean
from resil_tui.lazy import lazy_module

if TYPE_CHECKING:
    from resil_tui.core import asterisk
    from resil_tui.core.asterisk import AsteriskResult, Channels, Contacts, SipPeers
else:
    # Only the counts' functions need the parsers' module, and only once a node answered
    # (its results are made there): the first screen's rows load this one without it.
    asterisk = lazy_module("resil_tui.core.asterisk")


class CountState(StrEnum):
    COUNTED = "counted"
    NOT_RUNNING = "not_running"  # Asterisk stopped: n/a (normal on a standby)
    UNREADABLE = "unreadable"  # an answer that could not be read (see `reason`)
    NOT_READ = "not_read"  # no answer for this part in the last poll


@record
class PhoneCounts:
    """A XiVO node's phones and calls as last read, or why they cannot be counted."""

    state: CountState  # of the registrations read
    reachable: int | None = None
    total: int | None = None
    phones: int | None = None  # distinct phones with a usable registration (see above)
    calls: int | None = None
    calls_state: CountState = CountState.NOT_READ
    standby: bool = False  # the node is a standby on purpose (its disabled flag)
    reason: str = ""  # why unreadable (registrations, then calls)

    @property
    def na(self) -> str:
        return "n/a (standby)" if self.standby else "n/a (Asterisk not running)"

    def phones_text(self) -> str:
        """`12 reachable / 14 contacts`, `n/a (standby)`, `unknown (why)`, `not read`."""
        if self.state is CountState.COUNTED:
            return f"{self.reachable} reachable / {self.total} contacts"
        return self._missing(self.state)

    def calls_text(self) -> str:
        if self.calls_state is CountState.COUNTED:
            return str(self.calls)
        return self._missing(self.calls_state)

    def _missing(self, state: CountState) -> str:
        if state is CountState.NOT_RUNNING:
            return self.na
        if state is CountState.UNREADABLE:
            return "unknown" + (f" ({self.reason})" if self.reason else "")
        return "not read"

    def to_dict(self) -> dict[str, Any]:
        """`status --json`'s `telephony` of a XiVO node: numbers, or null when not
        applicable (Asterisk stopped) or not known; `state` / `calls_state` say which."""
        return {
            "contacts_reachable": self.reachable,
            "contacts_total": self.total,
            "active_calls": self.calls,
            "phones": self.phones,
            "state": self.state.value,
            "calls_state": self.calls_state.value,
            "standby": self.standby,
            "note": "" if self.state is CountState.COUNTED else self.phones_text(),
        }


def _state(result: AsteriskResult[Any] | None) -> tuple[CountState, str]:
    if result is None:
        return CountState.NOT_READ, ""
    if result.outcome is asterisk.Outcome.PARSED:
        return CountState.COUNTED, ""
    if result.outcome is asterisk.Outcome.ASTERISK_NOT_RUNNING:
        return CountState.NOT_RUNNING, ""
    return CountState.UNREADABLE, result.reason


def _from_contacts(contacts: Contacts) -> tuple[int, int, int]:
    usable_states = (asterisk.ContactStatus.AVAIL, asterisk.ContactStatus.NONQUAL)
    usable = {c.aor for c in contacts.entries if c.status in usable_states}
    return contacts.reachable, contacts.total, len(usable)


def _from_peers(peers: SipPeers) -> tuple[int, int, int]:
    usable = sum(
        1
        for p in peers.entries
        if p.reachable or (p.registered and p.status is asterisk.PeerStatus.UNMONITORED)
    )
    return peers.reachable, peers.registered, usable


def count_phones(
    contacts: AsteriskResult[Contacts] | None,
    peers: AsteriskResult[SipPeers] | None,
    channels: AsteriskResult[Channels] | None,
    *,
    standby: bool = False,
) -> PhoneCounts:
    """The counts of one node from its last answers (`peers` on a chan_sip site)."""
    registrations: AsteriskResult[Any] | None = peers if peers is not None else contacts
    state, reason = _state(registrations)
    reachable = total = phones = None
    if state is CountState.COUNTED:
        if peers is not None and peers.value is not None:
            reachable, total, phones = _from_peers(peers.value)
        elif contacts is not None and contacts.value is not None:
            reachable, total, phones = _from_contacts(contacts.value)
    calls_state, calls_reason = _state(channels)
    calls = channels.value.active_calls if channels is not None and channels.value else None
    if calls_state is CountState.COUNTED and calls is None:
        # `N active channel(s)` without its calls line: the channels are not calls.
        calls_state, calls_reason = CountState.UNREADABLE, "no 'active call(s)' line"
    return PhoneCounts(
        state=state,
        reachable=reachable,
        total=total,
        phones=phones,
        calls=calls,
        calls_state=calls_state,
        standby=standby,
        # The reasons quote what the node printed: sanitized once, here.
        reason=clean("; ".join(r for r in (reason, calls_reason) if r), one_line=True),
    )


# --- where the phones of a pair are ---------------------------------------------------------

MASTER, SLAVE = "master", "slave"
SPLIT, NONE = "split", "none"


@record
class PhonePlacement:
    """Phones counted on each XiVO of the pair (0 where Asterisk is not running; None where
    it is not known now: unreachable, stale, unreadable)."""

    master: int | None
    slave: int | None

    def on(self, side: str) -> int | None:
        return self.master if side == MASTER else self.slave if side == SLAVE else None

    @property
    def value(self) -> str | None:
        """`master`, `slave` (every phone counted is there), `split` (some on each),
        `none` (both counted, no phone), None (cannot tell)."""
        if self.master is None and self.slave is None:
            return None
        on_master, on_slave = (self.master or 0) > 0, (self.slave or 0) > 0
        if on_master and on_slave:
            return SPLIT
        if on_master:
            return MASTER
        if on_slave:
            return SLAVE
        return NONE if self.master is not None and self.slave is not None else None

    def text(self, master_word: str = MASTER, slave_word: str = SLAVE) -> str:
        """`phones: 412 on slave · 3 on master` (most first; a side not known says so)."""
        sides = [(self.master, master_word), (self.slave, slave_word)]
        known = sorted(((n, w) for n, w in sides if n is not None), key=lambda x: -x[0])
        parts = [f"{n} on {w}" for n, w in known]
        parts += [f"{w} unknown" for n, w in sides if n is None]
        return "phones: " + " · ".join(parts)


@record
class PhoneMark:
    """A count of phones on one side at a time (the wizard's record keeps these)."""

    side: str
    count: int
    at: float
    node: str = ""
    basis: str = "counted"  # or "expected" (the inventory's phones.expected)

    def describe(self, when: str) -> str:
        what = "phones expected (inventory)" if self.basis == "expected" else "phones"
        where = self.node or f"the {self.side}"
        return f"{self.count} {what} on {where} ({when})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "side": self.side,
            "count": self.count,
            "at": self.at,
            "node": self.node,
            "basis": self.basis,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PhoneMark:
        return cls(
            str(data.get("side", "")),
            int(data.get("count", 0)),
            float(data.get("at", 0.0)),
            str(data.get("node", "")),
            str(data.get("basis", "counted")),
        )


@record
class PhoneHistory:
    """What successive judged polls saw of the pair's phones."""

    side: str | None = None  # where every phone counted last was (master / slave)
    count: int = 0  # how many there, at `at`
    at: float | None = None
    since: float | None = None  # when they were first seen all on that side
    before: PhoneMark | None = None  # the previous side's last count before they moved
    split_since: float | None = None  # phones on both sides since then (None: not split)

    def split_for(self, now: float) -> float | None:
        return now - self.split_since if self.split_since is not None else None


def track(previous: PhoneHistory | None, placement: PhonePlacement, now: float) -> PhoneHistory:
    """The history after one more judged poll. Unknown never overwrites what was known."""
    prev = previous or PhoneHistory()
    value = placement.value
    if value is None:
        return prev
    if value == SPLIT:
        return PhoneHistory(
            prev.side, prev.count, prev.at, prev.since, prev.before, prev.split_since or now
        )
    if value == NONE:
        return PhoneHistory(prev.side, prev.count, prev.at, prev.since, prev.before, None)
    count = placement.on(value) or 0
    if prev.side == value:
        return PhoneHistory(value, count, now, prev.since or now, prev.before, None)
    before = (
        PhoneMark(prev.side, prev.count, prev.at)
        if prev.side is not None and prev.at is not None
        else prev.before
    )
    return PhoneHistory(value, count, now, now, before, None)


def count_before_move(
    history: PhoneHistory | None,
    placement: PhonePlacement,
    source: str,
    target: str,
    now: float,
    expected: int | None = None,
) -> PhoneMark | None:
    """How many phones the source side had before the move to `target`: the last count
    with every phone there (the move not done yet, or the count before it), else what is
    counted there now, else the inventory's `expected`; None when nothing tells."""
    h = history
    if h is not None and h.side == source and h.at is not None and h.count > 0:
        return PhoneMark(source, h.count, h.at)
    before = h.before if h is not None else None
    moved = h is not None and h.side == target
    if moved and before is not None and before.side == source and before.count > 0:
        return before
    here = placement.on(source)
    if here:
        return PhoneMark(source, here, now)
    if expected:
        return PhoneMark(source, expected, now, basis="expected")
    return None


def history_from_journal(fact: str, since: float) -> PhoneHistory | None:
    """What a journal's latest phones fact tells a process that has not polled yet: since
    when the phones are split (the journal keeps when that was first seen). The counts
    are not in it: the count before a move comes from this process's polls."""
    return PhoneHistory(split_since=since) if fact == SPLIT else None
