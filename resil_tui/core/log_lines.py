"""One line of a followed log: cleaning, compose prefix, timestamps, level, markers, save.

Forms met when following logs on a node (see XIVO.md):

* ``xivocc-dcomp logs -t xuc`` / ``edge-dcomp logs -t``: docker compose puts a service
  prefix ``xuc-1  | `` (v1: ``xuc_1  | ``, padded to the longest name) and, with ``-t``, the
  docker timestamp in RFC 3339 with nanoseconds and a zone (``2026-11-25T10:00:01.123456789Z``)
  before the application's own text. Under a PTY the prefix is wrapped in colour escapes.
* xuc (Play/Akka over logback): ``2026-11-25 10:00:01,123 INFO  [logger] - msg``, Play's
  ``[info] logger - msg``, Akka's ``[INFO] [11/25/2026 10:00:01.123] [thread] msg``.
* ``tail -F /var/log/xivo-sync.log``: ``2026-11-25 10:00:01,123 [1234] (INFO): msg``.
* nginx (edge): ``2026/11/25 10:00:01 [error] 12#12: msg``.

Application timestamps carry no zone: they are node-local and returned naive. The docker
``-t`` timestamp is UTC and returned aware. Naive and aware datetimes do not compare:
callers check ``tzinfo`` before comparing (see ``comparable``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum

from resil_tui.core.records import record
from resil_tui.core.sanitize import clean, is_clean

_PREFIX = re.compile(r"^(?P<service>[A-Za-z0-9][A-Za-z0-9_.-]*)[ \t]+\|(?: |$)")
_DOCKER_TS = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})T(?P<time>\d{2}:\d{2}:\d{2})(?:\.(?P<frac>\d{1,9}))?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})(?: |$)"
)
_APP_TS = re.compile(
    r"^\[?(?P<date>\d{4}[-/]\d{2}[-/]\d{2})[ T](?P<time>\d{2}:\d{2}:\d{2})"
    r"(?:[.,](?P<frac>\d{1,9}))?(?P<tz>Z|[+-]\d{2}:?\d{2})?(?!\d)"
)
_AKKA_TS = re.compile(
    r"^\[[A-Za-z]+\] \[(?P<mon>\d{2})/(?P<day>\d{2})/(?P<year>\d{4}) "
    r"(?P<time>\d{2}:\d{2}:\d{2})(?:\.(?P<frac>\d{1,9}))?\]"
)

GAP_OPEN = "── "
GAP_CLOSE = " ──"


def clean_line(line: str) -> str:
    """One log line as the view shows it: the one sanitizer (core/sanitize.py), so colour
    sequences are removed, every other escape, control, C1 or bidi character is made
    visible, never emitted (tabs kept). A PTY's trailing CRs are line-end residue."""
    return clean(line.rstrip("\r"), one_line=True)


def clean_lines(lines: list[str]) -> list[str]:
    """`clean_line` of every line; a batch with nothing to clean (nearly every batch a
    node sends) is checked at C speed as one text and returned as it is."""
    joined = "\n".join(lines)
    if is_clean(joined) and joined.count("\n") == len(lines) - 1:
        return lines
    return [clean_line(line) for line in lines]


@record
class LineParts:
    """A followed log line taken apart: compose prefix, time and the application's own text."""

    service: str | None  # compose service prefix (``xuc-1``), None without a prefix
    time: datetime | None  # docker ``-t`` time (aware UTC) or the application's (naive)
    docker_time: bool  # time came from docker ``-t`` (trustworthy ordering, unique-ish)
    message: str  # text after the prefix and the docker timestamp


def _make_time(date: str, clock: str, frac: str | None, tz: str | None) -> datetime | None:
    try:
        year, month, day = (int(p) for p in re.split(r"[-/]", date))
        hour, minute, second = (int(p) for p in clock.split(":"))
        micro = int((frac or "0")[:6].ljust(6, "0"))  # datetime has no nanoseconds: truncate
        tzinfo: timezone | None = None
        if tz == "Z":
            tzinfo = UTC
        elif tz:
            sign = -1 if tz[0] == "-" else 1
            digits = tz[1:].replace(":", "")
            offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            tzinfo = timezone(sign * offset)
        stamp = datetime(year, month, day, hour, minute, second, micro, tzinfo=tzinfo)
        if tzinfo is not None:
            stamp.astimezone(UTC)  # year 1 at +01:00 has no UTC form: not a real log time
        return stamp
    except (ValueError, OverflowError):
        return None


def strip_compose_prefix(line: str) -> tuple[str | None, str]:
    """(service, rest) when the line has a compose ``name  | `` prefix, else (None, line)."""
    match = _PREFIX.match(line)
    if match is None:
        return None, line
    return match.group("service"), line[match.end() :]


def split_line(line: str) -> LineParts:
    """Prefix, time and message of a (possibly uncleaned) log line; never raises."""
    if "\x1b" in line or "\r" in line:
        line = clean_line(line)
    service, rest = strip_compose_prefix(line)
    docker = _DOCKER_TS.match(rest)
    if docker is not None:
        stamp = _make_time(docker["date"], docker["time"], docker["frac"], docker["tz"])
        if stamp is not None:
            return LineParts(service, stamp, True, rest[docker.end() :])
    return LineParts(service, app_time(rest), False, rest)


def app_time(message: str) -> datetime | None:
    """Timestamp at the start of an application's own line (logback, xivo-sync, nginx, Akka)."""
    match = _APP_TS.match(message)
    if match is not None:
        return _make_time(match["date"], match["time"], match["frac"], match["tz"])
    akka = _AKKA_TS.match(message)
    if akka is not None:
        date = f"{akka['year']}-{akka['mon']}-{akka['day']}"
        return _make_time(date, akka["time"], akka["frac"], None)
    return None


def parse_line_time(line: str) -> datetime | None:
    """The line's time: docker ``-t`` (aware, UTC) first, else the application's (naive)."""
    return split_line(line).time


def comparable(a: datetime, b: datetime) -> bool:
    """Both naive (node-local) or both aware: only then may they be compared."""
    return (a.tzinfo is None) == (b.tzinfo is None)


def since_argument(last: datetime) -> str:
    """Value for ``logs --since``: RFC 3339 in UTC for an aware time.

    A naive time (read from an application line, node-local) is given without a zone:
    docker's CLI, running on the node, reads a zone-less timestamp as the node's local
    time, which is what the line meant. Microsecond precision is at or before the line's
    nanosecond time, so the resumed stream re-sends that line rather than skipping a
    neighbour: ``ResumeDeduper`` drops the overlap.
    """
    if last.tzinfo is None:
        return last.strftime("%Y-%m-%dT%H:%M:%S.%f")
    return last.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LineLevel(StrEnum):
    ERROR = "error"
    WARN = "warn"
    READY = "ready"
    INFO = "info"  # plain: INFO/DEBUG lines and lines without a level
    MARKER = "marker"  # a line the product inserted (gap marker)


# The first level token of the line decides, so "INFO Retrying after ERROR" stays INFO.
_LEVEL = re.compile(
    r"(?<![\w-])(?P<up>ERROR|FATAL|SEVERE|CRITICAL|WARNING|WARN|INFO|DEBUG|TRACE|NOTICE)(?![\w-])"
    r"|[\[(<](?P<br>(?i:error|err|fatal|severe|critical|crit|alert|emerg|warning|warn"
    r"|info|debug|trace|notice))[\])>]"
    r"|\blevel=[\"']?(?P<kv>(?i:error|err|fatal|critical|crit|warning|warn|info|debug|trace))\b"
)
_ERROR_WORDS = frozenset({"error", "err", "fatal", "severe", "critical", "crit", "alert", "emerg"})
_WARN_WORDS = frozenset({"warn", "warning"})
# A Java/Scala stack trace head: "java.net.BindException: ..." or "Caused by: ...".
_EXCEPTION = re.compile(
    r"^(?:Caused by: |Exception in thread \"[^\"]*\" )?(?:[A-Za-z_$][\w$]*\.)+"
    r"[A-Z][\w$]*(?:Exception|Error)(?::|$)"
)


def is_gap_marker(line: str) -> bool:
    return line.startswith(GAP_OPEN) and line.endswith(GAP_CLOSE) and len(line) > 6


def classify(line: str, readiness: re.Pattern[str] | None = None) -> LineLevel:
    """Highlight class of a line. Readiness wins so the UI shows the line the wizard took."""
    if is_gap_marker(line):
        return LineLevel.MARKER
    message = split_line(line).message
    if readiness is not None and readiness.search(message):
        return LineLevel.READY
    match = _LEVEL.search(message)
    if match is not None:
        word = (match["up"] or match["br"] or match["kv"] or "").lower()
        if word in _ERROR_WORDS:
            return LineLevel.ERROR
        if word in _WARN_WORDS:
            return LineLevel.WARN
        return LineLevel.INFO
    if _EXCEPTION.match(message.lstrip()):
        return LineLevel.ERROR
    return LineLevel.INFO


def gap_marker(reason: str, at: datetime, resumed_at: datetime | None = None) -> str:
    """``── connection lost at 10:01:02, resumed at 10:01:09 ──`` (times shown as given)."""
    reason = clean_line(reason).strip() or "stream interrupted"
    text = f"{reason} at {at:%H:%M:%S}"
    if resumed_at is not None:
        text += f", resumed at {resumed_at:%H:%M:%S}"
    return f"{GAP_OPEN}{text}{GAP_CLOSE}"


def render_for_save(lines: Iterable[str]) -> str:
    """File content for saving shown lines: one per line, LF endings, final newline."""
    out = [clean_line(line) for line in lines]
    return "\n".join(out) + "\n" if out else ""
