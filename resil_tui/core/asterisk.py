"""Parse what ``asterisk -rx "..."`` prints on a XiVO node: phones and calls.

Three commands, each parsed from its own stdout / stderr / exit status:

* ``pjsip show contacts`` -> :func:`parse_pjsip_contacts` -> :class:`Contacts`
* ``core show channels count`` -> :func:`parse_channels_count` -> :class:`Channels`
* ``sip show peers`` (chan_sip sites) -> :func:`parse_sip_peers` -> :class:`SipPeers`

Every parser returns an :class:`AsteriskResult` whose ``outcome`` is one of ``parsed``,
``asterisk_not_running`` (normal on a standby: the product shows "n/a (standby)"),
``no_such_command`` (the module is not loaded: chan_sip on Asterisk 20/21, PJSIP on an old
chan_sip site) or ``unparsable`` (with a ``reason``). Parsers never raise, whatever the text.

Formats, and where each was verified (asterisk/asterisk source, branches 13 to 22):

* ``pjsip show contacts`` (verified): ``res/res_pjsip/pjsip_cli.c``
  ``ast_sip_cli_traverse_objects`` prints a blank line, the header
  ``  Contact:  <Aor/ContactUri....> <Hash....> <Status> <RTT(ms)..>``, a rule of 90 ``=``
  (Asterisk 12 had a leading space and 89), a blank line, one line per contact, then
  ``\\nObjects found: N\\n`` (absent before 13). With no contact at all it prints only
  ``No objects found.`` (no header). Each contact comes from ``res/res_pjsip/location.c``
  ``cli_contact_print_body``: ``"%*s:  %s/%-*.*s %-10.10s %-7.7s %11.3f\\n"`` = indent,
  ``Contact``, AOR ``/`` URI padded *and truncated* to 45 - len(AOR) columns (a long URI
  is cut and touches the hash), the first 10 characters of the contact id's MD5 hash, the
  short status, the RTT in ms (``nan`` unless the status is ``Avail`` since 16; unless
  ``Unknown`` in 13). Short statuses (``pjsip_options.c`` ``short_status_map``): ``Avail``,
  ``Unavail``, ``NonQual``, ``Unknown``, ``Removed``; the long labels (``Reachable``,
  ``Unreachable``, ``NonQualified``) are accepted too, in any case.
* ``core show channels count`` (verified): ``main/cli.c`` ``handle_chanlist``:
  ``N active channel(s)``, then ``N active call(s)`` or, with ``maxcalls`` set in
  asterisk.conf, ``N of M max active call(s) (%5.2f% of capacity)`` (so ``( 3.00%``), then
  ``N call(s) processed``; the plural ``s`` is dropped for exactly 1.
* ``sip show peers`` (verified): ``channels/chan_sip.c`` ``_sip_show_peers``: header
  ``Name/username Host Dyn Forcerport Comedia ACL Port Status Description`` (1.8: no
  Comedia nor Description), rows ``"%-25.25s %-39.39s %-3.3s %-10.10s %-10.10s %-3.3s %-8s
  %-11s %-32.32s %s"`` (host ``(Unspecified)`` and port ``0`` when not registered; Dyn
  `` D ``; Forcerport / Comedia ``Yes``, ``No``, ``Auto (Yes)``, ``Auto (No)``; ACL `` A ``),
  statuses from ``peer_status``: ``OK (N ms)``, ``LAGGED (N ms)``, ``UNREACHABLE``,
  ``UNKNOWN``, ``Unmonitored``; the last line ``N sip peers [Monitored: A online, B offline
  Unmonitored: C online, D offline]``.
* Asterisk not running (verified): ``main/asterisk.c`` ``main``: ``Unable to connect to
  remote asterisk (does /var/run/asterisk/asterisk.ctl exist?)`` on stderr, exit 1. The
  socket path depends on asterisk.conf, so only the words before it are matched, on stdout
  or stderr (a caller may merge them). A connected ``asterisk -rx`` exits 0 whatever the
  command printed.
* Unknown command (verified): ``main/cli.c`` ``ast_cli_command_full``: ``No such command
  'sip show peers' (type 'core show help sip show' for other possible commands)``.

Guesses (not seen on a XiVO): that XiVO keeps Asterisk's CLI formats unchanged, and the
``maxcalls`` form (XiVO is not known to set it). Both are parsed anyway.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from resil_tui.core.records import record

T = TypeVar("T")


class Outcome(StrEnum):
    PARSED = "parsed"
    ASTERISK_NOT_RUNNING = "asterisk_not_running"  # stopped on purpose on a standby
    NO_SUCH_COMMAND = "no_such_command"  # the module for this command is not loaded
    UNPARSABLE = "unparsable"


@record
class AsteriskResult(Generic[T]):
    """What one `asterisk -rx` command gave: the parsed value, or why there is none (Asterisk
    stopped, module not loaded, unreadable)."""

    outcome: Outcome
    value: T | None = None  # set exactly when outcome is PARSED
    reason: str = ""  # why unparsable, or the "No such command" line

    @property
    def parsed(self) -> bool:
        return self.outcome is Outcome.PARSED

    @property
    def not_running(self) -> bool:
        return self.outcome is Outcome.ASTERISK_NOT_RUNNING


# --- shared: the answers that are not the command's output ----------------------------------

_NOT_RUNNING = re.compile(r"Unable to connect to remote asterisk\b", re.I)
_NO_SUCH = re.compile(r"^\s*No such command '([^'\n]*)'.*$", re.M)
_NOT_FOUND = re.compile(r"\basterisk: (?:command )?not found\b", re.I)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_MAX_LINES = 100_000  # a bigger answer is not a PBX's CLI; keep the work bounded


def _lines(text: str) -> list[str]:
    lines = text.splitlines()[:_MAX_LINES]
    if "\x1b" not in text:  # no colour to remove (nearly always): no regex per line
        return [line.rstrip() for line in lines]
    return [_ANSI.sub("", line).rstrip() for line in lines]


def cli_failure(
    stdout: str, stderr: str = "", exit_status: int | None = 0, command: str | None = None
) -> AsteriskResult[Any] | None:
    """The outcome when ``asterisk -rx`` did not run the command, else None.

    Shared by the three parsers; useful alone to tell "standby" from "broken" for any command.
    With ``command`` ("sip show peers"), only a "No such command" naming it counts.
    """
    both = f"{stdout}\n{stderr}"
    if _NOT_RUNNING.search(both):
        return AsteriskResult(Outcome.ASTERISK_NOT_RUNNING, reason=_first_match(_NOT_RUNNING, both))
    if exit_status is None:
        return AsteriskResult(Outcome.UNPARSABLE, reason="no exit status: the command did not end")
    if exit_status == 127 or _NOT_FOUND.search(stderr):
        return AsteriskResult(Outcome.UNPARSABLE, reason="the asterisk program is not installed")
    for no_such in _NO_SUCH.finditer(stdout):
        named = " ".join(no_such.group(1).split()).lower()
        if command is None or named == command:
            return AsteriskResult(Outcome.NO_SUCH_COMMAND, reason=no_such.group(0).strip()[:300])
    if exit_status != 0:
        detail = next((line.strip() for line in _lines(stderr) if line.strip()), "")
        why = f"asterisk -rx exited {exit_status}" + (f": {detail[:200]}" if detail else "")
        return AsteriskResult(Outcome.UNPARSABLE, reason=why)
    return None


def _first_match(pattern: re.Pattern[str], text: str) -> str:
    for line in _lines(text):
        if pattern.search(line):
            return line.strip()[:300]
    return ""


# --- pjsip show contacts --------------------------------------------------------------------


class ContactStatus(StrEnum):
    AVAIL = "Avail"  # qualified: answers OPTIONS
    UNAVAIL = "Unavail"  # qualify timed out
    NONQUAL = "NonQual"  # registered, not qualified (qualify_frequency = 0)
    UNKNOWN = "Unknown"  # not qualified yet
    REMOVED = "Removed"  # being removed


_STATUS_WORDS: Mapping[str, ContactStatus] = MappingProxyType(
    {
        "avail": ContactStatus.AVAIL,
        "reachable": ContactStatus.AVAIL,
        "unavail": ContactStatus.UNAVAIL,
        "unreachable": ContactStatus.UNAVAIL,
        "nonqual": ContactStatus.NONQUAL,
        "nonqualified": ContactStatus.NONQUAL,
        "unknown": ContactStatus.UNKNOWN,
        "removed": ContactStatus.REMOVED,
    }
)


@record
class Contact:
    """One line of `pjsip show contacts`: a registration of a phone line (AOR) on this node."""

    aor: str
    uri: str  # as printed: Asterisk truncates long URIs to its column
    hash: str | None  # first characters of the contact id's hash
    status: ContactStatus
    raw_status: str
    rtt_ms: float | None  # None for "nan" or no RTT printed

    @property
    def reachable(self) -> bool:
        return self.status is ContactStatus.AVAIL

    def to_dict(self) -> dict[str, Any]:
        return {
            "aor": self.aor,
            "uri": self.uri,
            "hash": self.hash,
            "status": self.status.value,
            "raw_status": self.raw_status,
            "rtt_ms": self.rtt_ms,
        }


@record
class Contacts:
    """The phones' PJSIP registrations on a XiVO node, from `pjsip show contacts`."""

    total: int  # contact lines read
    reachable: int  # contacts whose status is Avail
    by_status: Mapping[ContactStatus, int]
    entries: tuple[Contact, ...] = ()
    objects_found: int | None = None  # the "Objects found: N" line, None when absent
    unparsed: tuple[str, ...] = ()  # non-empty lines that were not understood

    @property
    def complete(self) -> bool:
        """Every contact line was read: no stray line, and the printed count agrees."""
        return not self.unparsed and self.objects_found in (None, self.total)

    @property
    def aors(self) -> int:
        """Distinct AORs (one per phone line; a phone may leave a stale second contact)."""
        return len({c.aor for c in self.entries})

    @property
    def reachable_aors(self) -> int:
        return len({c.aor for c in self.entries if c.reachable})

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "reachable": self.reachable,
            "by_status": {k.value: v for k, v in self.by_status.items()},
            "aors": self.aors,
            "reachable_aors": self.reachable_aors,
            "objects_found": self.objects_found,
            "complete": self.complete,
            "entries": [c.to_dict() for c in self.entries],
        }


_OBJECTS_FOUND = re.compile(r"^\s*Objects found:\s*([0-9]{1,9})\s*$", re.I)
_NO_OBJECTS = re.compile(r"^\s*No objects found\.?\s*$", re.I)
_RULE = re.compile(r"^\s*={10,}\s*$")
_HEX = re.compile(r"^[0-9a-fA-F]{1,32}$")
_URI_START = re.compile(r"/(?=(?:sips?|tel|urn):)", re.I)


_RTT = re.compile(r"-?[0-9]{1,12}(?:\.[0-9]{1,9})?|-?nan", re.I)


def _rtt(token: str | None) -> float | None:
    if token is None or not _RTT.fullmatch(token):
        return None
    value = float(token)
    return value if math.isfinite(value) else None


def _contact(tokens: list[str]) -> Contact | None:
    """``["1001/sip:...", "620d91556d", "Avail", "12.345"]`` -> Contact, None if not one."""
    if not tokens:
        return None
    status_at = next((i for i in range(1, len(tokens)) if tokens[i].lower() in _STATUS_WORDS), None)
    if status_at is None:
        return None
    target = tokens[0]
    m = _URI_START.search(target)
    aor, _, uri = (target[: m.start()], "/", target[m.end() :]) if m else target.partition("/")
    between = tokens[1:status_at]
    digest = between[-1] if between and _HEX.match(between[-1]) else None
    raw = tokens[status_at]
    rtt = _rtt(tokens[status_at + 1]) if status_at + 1 < len(tokens) else None
    return Contact(aor, uri, digest, _STATUS_WORDS[raw.lower()], raw, rtt)


# Contact lines whose reading is kept (`_contact_line`): a few phones per line of an estate
# of XiVO nodes; past that, the least recently seen are read again when they come back.
CONTACT_LINES_KEPT = 16_384


@functools.lru_cache(maxsize=CONTACT_LINES_KEPT)
def _contact_line(text: str) -> Contact | bool | None:
    """What one stripped line of `pjsip show contacts` is: a Contact, True for the
    table's header, None for anything else (a contact line that does not read is None
    too). A function of the line alone, kept: from one poll of a node to the next most of
    its lines are the same, only a few RTTs moved."""
    tokens = text.split()
    if tokens[0].lower() != "contact:" or len(tokens) < 2:
        return None
    if tokens[1].startswith("<"):
        return True  # the header: <Aor/ContactUri...> <Hash....> ...
    return _contact(tokens[1:])


def parse_pjsip_contacts(
    stdout: str, stderr: str = "", exit_status: int | None = 0
) -> AsteriskResult[Contacts]:
    failed = cli_failure(stdout, stderr, exit_status, "pjsip show contacts")
    if failed is not None:
        return AsteriskResult(failed.outcome, reason=failed.reason)
    entries: list[Contact] = []
    unparsed: list[str] = []
    objects_found: int | None = None
    seen_table = False
    for line in _lines(stdout):
        text = line.strip()
        if not text:
            continue
        # A line whose first word is "Contact:" is none of the lines below: read first.
        contact = _contact_line(text)
        if contact is True:
            seen_table = True
            continue
        if isinstance(contact, Contact):
            entries.append(contact)
            continue
        if _RULE.match(text):
            seen_table = True
            continue
        if _NO_OBJECTS.match(text):
            seen_table = True
            objects_found = 0
            continue
        found = _OBJECTS_FOUND.match(text)
        if found:
            seen_table = True
            objects_found = int(found.group(1))
            continue
        unparsed.append(text[:300])
    if not entries and not seen_table:
        why = "empty output" if not unparsed else "no pjsip contacts table in the output"
        return AsteriskResult(Outcome.UNPARSABLE, reason=why)
    counts = Counter(c.status for c in entries)
    contacts = Contacts(
        total=len(entries),
        reachable=counts.get(ContactStatus.AVAIL, 0),
        by_status=MappingProxyType(dict(counts)),
        entries=tuple(entries),
        objects_found=objects_found,
        unparsed=tuple(unparsed[:50]),
    )
    return AsteriskResult(Outcome.PARSED, contacts)


# --- core show channels count ---------------------------------------------------------------


@record
class Channels:
    """The channels and calls in progress on a XiVO node, from `core show channels count`."""

    active_channels: int | None  # None: the line was not printed
    active_calls: int | None
    max_calls: int | None = None  # asterisk.conf maxcalls, when set
    processed: int | None = None  # calls since Asterisk started
    capacity_percent: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "active_channels": self.active_channels,
            "active_calls": self.active_calls,
            "max_calls": self.max_calls,
            "processed": self.processed,
            "capacity_percent": self.capacity_percent,
        }


_N = r"([0-9]{1,9})"
# Asterisk drops the plural `s` for exactly 1 (its ESS macro); the documentation writes
# the lines as `N active channel(s)`: a wrapper or another version may print that
# literally, so the plural is `s`, `(s)` or nothing.
_S = r"(?:s|\(s\))?"
_ACTIVE_CHANNELS = re.compile(rf"^{_N}\s+active\s+channel{_S}$", re.I)
_ACTIVE_CALLS = re.compile(rf"^{_N}\s+active\s+call{_S}$", re.I)
_MAX_CALLS = re.compile(
    rf"^{_N}\s+of\s+{_N}\s+max\s+active\s+call{_S}"
    r"(?:\s*\(\s*([0-9]{1,9}(?:\.[0-9]{1,9})?)\s*%\s*of\s+capacity\s*\))?$",
    re.I,
)
_PROCESSED = re.compile(rf"^{_N}\s+call{_S}\s+processed$", re.I)


def parse_channels_count(
    stdout: str, stderr: str = "", exit_status: int | None = 0
) -> AsteriskResult[Channels]:
    failed = cli_failure(stdout, stderr, exit_status, "core show channels count")
    if failed is not None:
        return AsteriskResult(failed.outcome, reason=failed.reason)
    channels = calls = max_calls = processed = None
    capacity: float | None = None
    for line in _lines(stdout):
        text = " ".join(line.split())
        if m := _ACTIVE_CHANNELS.match(text):
            channels = int(m.group(1))
        elif m := _ACTIVE_CALLS.match(text):
            calls = int(m.group(1))
        elif m := _MAX_CALLS.match(text):
            calls, max_calls = int(m.group(1)), int(m.group(2))
            capacity = float(m.group(3)) if m.group(3) else None
        elif m := _PROCESSED.match(text):
            processed = int(m.group(1))
    if channels is None and calls is None:
        why = "no 'active channels' or 'active calls' line" if stdout.strip() else "empty output"
        return AsteriskResult(Outcome.UNPARSABLE, reason=why)
    return AsteriskResult(Outcome.PARSED, Channels(channels, calls, max_calls, processed, capacity))


# --- sip show peers (chan_sip) --------------------------------------------------------------


class PeerStatus(StrEnum):
    OK = "ok"
    LAGGED = "lagged"  # answers, slower than qualify's maxms
    UNREACHABLE = "unreachable"
    UNKNOWN = "unknown"  # monitored, never answered yet (or no address)
    UNMONITORED = "unmonitored"  # qualify=no


@record
class SipPeer:
    """One row of `sip show peers` (chan_sip sites): a configured line, registered or not."""

    name: str
    username: str | None
    host: str | None  # None for "(Unspecified)": not registered
    port: int | None
    dynamic: bool
    status: PeerStatus
    raw_status: str
    latency_ms: int | None
    description: str = ""

    @property
    def reachable(self) -> bool:
        return self.status in (PeerStatus.OK, PeerStatus.LAGGED)

    @property
    def registered(self) -> bool:
        return self.host is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "username": self.username,
            "host": self.host,
            "port": self.port,
            "dynamic": self.dynamic,
            "status": self.status.value,
            "raw_status": self.raw_status,
            "latency_ms": self.latency_ms,
            "description": self.description,
        }


@record
class PeerSummary:
    """The closing `N sip peers [...]` line: Asterisk's own counts, to check the rows against."""

    total: int
    monitored_online: int
    monitored_offline: int
    unmonitored_online: int
    unmonitored_offline: int

    def to_dict(self) -> dict[str, int]:
        return {
            "total": self.total,
            "monitored_online": self.monitored_online,
            "monitored_offline": self.monitored_offline,
            "unmonitored_online": self.unmonitored_online,
            "unmonitored_offline": self.unmonitored_offline,
        }


@record
class SipPeers:
    """The phones' chan_sip registrations on a XiVO node, from `sip show peers`."""

    total: int  # peers listed (configured lines, registered or not)
    reachable: int  # OK or LAGGED
    registered: int  # with an address (not "(Unspecified)")
    by_status: Mapping[PeerStatus, int]
    entries: tuple[SipPeer, ...] = ()
    summary: PeerSummary | None = None  # the "N sip peers [...]" line, None when absent
    unparsed: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.unparsed and (self.summary is None or self.summary.total == self.total)

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "reachable": self.reachable,
            "registered": self.registered,
            "by_status": {k.value: v for k, v in self.by_status.items()},
            "complete": self.complete,
            "summary": self.summary.to_dict() if self.summary else None,
            "entries": [p.to_dict() for p in self.entries],
        }


_PEER_SUMMARY = re.compile(
    rf"^{_N}\s+sip\s+peers\s*\[\s*Monitored:\s*{_N}\s+online,\s*{_N}\s+offline\s+"
    rf"Unmonitored:\s*{_N}\s+online,\s*{_N}\s+offline\s*\]",
    re.I,
)
_PEER_STATUS = re.compile(
    r"(?<!\S)(?:(?P<okword>OK|LAGGED)\s*\(\s*(?P<ms>[0-9]{1,9})\s*ms\s*\)|"
    r"(?P<word>UNREACHABLE|UNKNOWN|Unmonitored))(?!\S)",
    re.I,
)
_PORT_BEFORE = re.compile(r"(?<!\S)([0-9]{1,5})\s*$")


def _peer(line: str) -> SipPeer | None:
    tokens = line.split()
    if len(tokens) < 3:
        return None
    status_m = None
    for m in _PEER_STATUS.finditer(line):
        if m.start() > len(tokens[0]):  # never inside the name column
            status_m = m
            break
    if status_m is None:
        return None
    name_user = tokens[0]
    name, sep, user = name_user.partition("/")
    host = tokens[1]
    middle = line[line.find(host, len(name_user)) + len(host) : status_m.start()]
    port_m = _PORT_BEFORE.search(middle)
    port = int(port_m.group(1)) if port_m else None
    dynamic = re.search(r"(?<!\S)D(?!\S)", middle[: port_m.start()] if port_m else middle)
    word = (status_m.group("okword") or status_m.group("word") or "").upper()
    status = {
        "OK": PeerStatus.OK,
        "LAGGED": PeerStatus.LAGGED,
        "UNREACHABLE": PeerStatus.UNREACHABLE,
        "UNKNOWN": PeerStatus.UNKNOWN,
    }.get(word, PeerStatus.UNMONITORED)
    ms = int(status_m.group("ms")) if status_m.group("ms") else None
    return SipPeer(
        name=name,
        username=user if sep and user else None,
        host=None if host.lower() in ("(unspecified)", "-none-") else host,
        port=port,
        dynamic=dynamic is not None,
        status=status,
        raw_status=" ".join(status_m.group(0).split()),
        latency_ms=ms,
        description=line[status_m.end() :].strip()[:200],
    )


def parse_sip_peers(
    stdout: str, stderr: str = "", exit_status: int | None = 0
) -> AsteriskResult[SipPeers]:
    failed = cli_failure(stdout, stderr, exit_status, "sip show peers")
    if failed is not None:
        return AsteriskResult(failed.outcome, reason=failed.reason)
    entries: list[SipPeer] = []
    unparsed: list[str] = []
    summary: PeerSummary | None = None
    header = False
    for line in _lines(stdout):
        if not line.strip():
            continue
        if line.lstrip().lower().startswith("name/username"):
            header = True
            continue
        if m := _PEER_SUMMARY.match(line.strip()):
            summary = PeerSummary(*(int(g) for g in m.groups()))
            continue
        peer = _peer(line)
        if peer is None:
            unparsed.append(line.strip()[:300])
        else:
            entries.append(peer)
    if not header and summary is None:
        why = "empty output" if not stdout.strip() else "no sip peers table in the output"
        return AsteriskResult(Outcome.UNPARSABLE, reason=why)
    counts = Counter(p.status for p in entries)
    peers = SipPeers(
        total=len(entries),
        reachable=sum(1 for p in entries if p.reachable),
        registered=sum(1 for p in entries if p.registered),
        by_status=MappingProxyType(dict(counts)),
        entries=tuple(entries),
        summary=summary,
        unparsed=tuple(unparsed[:50]),
    )
    return AsteriskResult(Outcome.PARSED, peers)
