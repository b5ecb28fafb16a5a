"""Is xuc ready? The readiness of the *current run* of its container, from what a node says.

xuc is ready when the run of its container that is current now has logged its readiness
line (Play's ``Listening for HTTP on /0.0.0.0:9000``, configurable), or a configured HTTP
probe answered, or docker's own health check says healthy. The Play line proves that the
HTTP server is up, not that xuc has reached the XiVO (AMI/CTI): neither does the probe.

Inputs (all text, all optional): ``docker inspect`` of the xuc container (the run's start,
running or not, health), ``xivocc-dcomp ps`` (the fallback for the start: ``Up 3 minutes``),
a bounded tail of ``xivocc-dcomp logs -t xuc``, the probe's HTTP code, and what an earlier
look found (``previous``) or a point in the log known to be after the run began
(``Anchor``). :func:`judge` turns them into one :class:`XucReadiness`.

Which readiness lines belong to the current run. ``docker logs`` of a container keeps the
lines of its earlier runs (a ``restart`` keeps the container and its log), so the previous
run's readiness line is in the history and must not count:

* **docker times** (``-t`` passed through): a line counts when docker's time is at or after
  the run's start (``State.StartedAt``; both come from the docker daemon's clock). With the
  start taken from ``ps`` (``Up 3 minutes`` is only minutes), the earliest possible start is
  used: a run restarted twice within that rounding could count the line of the run before.
* **no docker times, an anchor**: order decides. Every line after the anchor's lines counts.
  The anchor is the read's last lines, as many (3 to 50) as it takes for them to occur only
  once in that read; should they still show up more than once later (the new run logged
  them again, or a log that repeats itself), only what follows the last counts and what
  lies between the first and the last is not placed.
  An anchor is taken where the log is known to be at or after the run began: the log's end
  just before the product itself issued ``xivocc-dcomp restart xuc`` (lines after it were
  logged after the restart began), the end of a snapshot read after ``inspect`` reported the
  start (what is logged after it comes from the current run or a later one), or the end of
  the log at an earlier poll that saw the previous run ready or stopped (its readiness line
  was already before that end).
* **no docker times, no anchor, application times** (xuc's logback prints
  ``2026-11-25 10:00:01,123``): those times are node-local without a zone, so they are not
  compared with the start directly; only their *differences* are used, which do not depend
  on the zone. The newest timed line was logged at most ``now - start`` after the start, so
  a line older than ``newest - (now - start)`` surely belongs to an earlier run and does
  not count; younger lines do (``now`` is our clock: with it behind the node's by d, a
  readiness line logged within d of the start would be missed; Play takes seconds). This
  assumes the newest line is recent (a running xuc logs steadily): after a long silence an
  earlier run's line logged shortly before the restart could count. A clock step (DST)
  inside the window shifts the rule by that step.
* **no usable time and no anchor**: a readiness line cannot be placed. When the window holds
  no readiness line at all the run is surely not ready (no attribution needed); when it holds
  one, the answer is ``unknown``, with one exception: the window is the container's whole log
  (fewer lines than asked for), it holds exactly one readiness line, and the run has been up
  longer than its grace. That is read as ``ready``, the basis saying it was assumed: a
  wrapper that drops ``-t`` and prints no time would otherwise leave a healthy xuc up for
  days ``unknown`` for ever. Only for a container that never ran before (``docker
  inspect`` gives no end of a previous run): a restarted container's log holds its earlier
  runs too, and the one line may be theirs. Without inspect's start (``start_from = "ps"``)
  that cannot be told, and the answer stays ``unknown``.

Reading the whole log every refresh is too much: callers read a bounded tail (a few hundred
lines, ``--since`` the start seen last when the wrapper supports it). When the run's start-up
is older than that window and nothing else proves readiness, the answer is ``unknown``, with
the reason, not ``not ready``: a busy xuc up for days would otherwise read as down.

States: ``ready`` (since the line's time when it has a docker time), ``starting`` (up, not yet
ready, within the grace period; with docker's health when it has one), ``not_ready`` (up longer
than the grace without readiness, or docker's health check says unhealthy), ``down`` (the
container is not running, or not there), ``unknown`` (not enough to tell).

Pure: no I/O; times are epoch seconds (float) unless a docstring says otherwise.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from resil_tui.core.compose import ComposePs, Container, ContainerState
from resil_tui.core.freshness import age, clock, stamp
from resil_tui.core.log_lines import clean_line, split_line, strip_compose_prefix
from resil_tui.core.records import record
from resil_tui.core.sanitize import clean
from resil_tui.inventory_model import DEFAULT_XUC_CONTAINERS, DEFAULT_XUC_GRACE

DEFAULT_GRACE_SECONDS = DEFAULT_XUC_GRACE
# The relative rule's slack for our clock against the node's (see the module doc). None by
# default: with our clock behind the node's by d, only a readiness line logged within d of
# the start would be missed (Play takes seconds to start), while any slack lets an earlier
# run's line logged that long before a quick restart count.
DEFAULT_MARGIN_SECONDS = 0.0
# The word that says a readiness line was counted without a time to place it.
ASSUMED = "assumed"
# An anchor's fingerprint is the last lines of a read, matched in order: at least this
# many, more (up to the most) until they occur only once in that read, so that a log that
# repeats itself does not place it at an earlier repeat.
ANCHOR_LINES = 3
ANCHOR_MAX_LINES = 50
DEFAULT_CONTAINERS = DEFAULT_XUC_CONTAINERS


class XucState(StrEnum):
    READY = "ready"
    STARTING = "starting"
    NOT_READY = "not_ready"
    DOWN = "down"
    UNKNOWN = "unknown"


class StartSource(StrEnum):
    INSPECT = "inspect"  # docker inspect State.StartedAt: exact
    PS = "ps"  # xivocc-dcomp ps "Up 3 minutes": a range


# --- the run ------------------------------------------------------------------------------


@record
class XucRun:
    """The current run of the xuc container, as inspect (or ps) reported it."""

    source: StartSource | None  # None: neither inspect nor ps said when it started
    running: bool | None  # None: unknown
    status: str  # docker's State.Status ("running", "exited", "restarting") or ps's text
    started_at: float | None = None  # earliest possible start (exact with inspect)
    started_latest: float | None = None  # latest possible start (== started_at with inspect)
    finished_at: float | None = None  # the previous run's end (inspect), if any
    health: str | None = None  # starting | healthy | unhealthy (only with a health check)
    container: str | None = None  # the container's name
    container_id: str | None = None
    exit_code: int | None = None

    @property
    def key(self) -> str:
        """Same key, same run: a restart changes the start (the container id stays)."""
        who = self.container_id or self.container or "?"
        start = f"{self.started_at:.3f}" if self.started_at is not None else "?"
        return f"{who}@{start}"

    @property
    def exact(self) -> bool:
        return self.source is StartSource.INSPECT

    def same_run(self, other: XucRun | None) -> bool:
        """The same run of the same container: equal starts from inspect, overlapping start
        ranges when one came from ps (its "Up 3 minutes" moves with every look)."""
        if other is None or self.started_at is None or other.started_at is None:
            return False
        if (self.container_id and other.container_id) and self.container_id != other.container_id:
            return False
        if self.exact and other.exact:
            return abs(self.started_at - other.started_at) < 1e-3
        mine = (self.started_at, self.started_latest or self.started_at)
        theirs = (other.started_at, other.started_latest or other.started_at)
        return mine[0] <= theirs[1] + 1.0 and theirs[0] <= mine[1] + 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source.value if self.source else None,
            "running": self.running,
            "status": self.status,
            "started_at": self.started_at,
            "started_latest": self.started_latest,
            "finished_at": self.finished_at,
            "health": self.health,
            "container": self.container,
            "container_id": self.container_id,
            "exit_code": self.exit_code,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> XucRun:
        source = data.get("source")
        return cls(
            source=StartSource(source) if source in ("inspect", "ps") else None,
            running=data.get("running") if isinstance(data.get("running"), bool) else None,
            status=str(data.get("status", "")),
            started_at=_num(data.get("started_at")),
            started_latest=_num(data.get("started_latest")),
            finished_at=_num(data.get("finished_at")),
            health=_str(data.get("health")),
            container=_str(data.get("container")),
            container_id=_str(data.get("container_id")),
            exit_code=data.get("exit_code") if isinstance(data.get("exit_code"), int) else None,
        )


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return str(value) if isinstance(value, str) and value else None


_GO_TIME = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})T(?P<time>\d{2}:\d{2}:\d{2})(?:\.(?P<frac>\d{1,9}))?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})"
)


def parse_go_time(text: object) -> float | None:
    """Docker's RFC 3339 time (Go's RFC3339Nano) as epoch seconds; None for the zero time
    (``0001-01-01T00:00:00Z``: never) or anything else."""
    if not isinstance(text, str):
        return None
    match = _GO_TIME.fullmatch(text.strip())
    if match is None or match["date"].startswith("0001-"):
        return None
    frac = (match["frac"] or "0")[:6].ljust(6, "0")
    zone = "+00:00" if match["tz"] == "Z" else match["tz"]
    stamp = f"{match['date']}T{match['time']}.{frac}{zone}"
    try:
        return datetime.fromisoformat(stamp).timestamp()
    except ValueError:
        return None


def _inspect_objects(text: str) -> list[dict[str, Any]]:
    body = text.strip()
    if not body:
        return []
    try:
        data = json.loads(body)
    except ValueError:
        # `--format '{{json .}}'` prints one object per line.
        found: list[dict[str, Any]] = []
        for line in body.splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if isinstance(item, dict):
                found.append(item)
        return found
    if isinstance(data, list):
        return [d for d in data if isinstance(d, dict)]
    return [data] if isinstance(data, dict) else []


def parse_inspect(text: str, names: Sequence[str] = DEFAULT_CONTAINERS) -> XucRun | None:
    """The xuc run from ``docker inspect NAME...`` (the JSON array, indented or not), or
    from ``--format '{{json .State}}'`` (a bare State object). None when nothing usable is
    there (an empty array: no such container; an error text)."""
    objects = _inspect_objects(text)
    wanted = [n.removeprefix("/") for n in names]

    def rank(obj: dict[str, Any]) -> int:
        name = str(obj.get("Name", "")).removeprefix("/")
        return wanted.index(name) if name in wanted else len(wanted)

    for obj in sorted(objects, key=rank):
        state = obj.get("State") if isinstance(obj.get("State"), dict) else None
        if state is None and "Status" in obj and "StartedAt" in obj:
            state = obj  # {{json .State}}
        if state is None:
            continue
        health = state.get("Health")
        health_status = (
            str(health.get("Status", "")).lower() or None if isinstance(health, dict) else None
        )
        started = parse_go_time(state.get("StartedAt"))
        status = str(state.get("Status", "")).lower()
        running = state.get("Running")
        if not isinstance(running, bool):
            running = status == "running" if status else None
        if state.get("Restarting") is True:
            running, status = False, "restarting"
        name = obj.get("Name")
        code = state.get("ExitCode")
        return XucRun(
            source=StartSource.INSPECT if started is not None else None,
            running=running,
            status=status or ("running" if running else "unknown"),
            started_at=started,
            started_latest=started,
            finished_at=parse_go_time(state.get("FinishedAt")),
            health=health_status if health_status in ("starting", "healthy", "unhealthy") else None,
            container=str(name).removeprefix("/") if isinstance(name, str) and name else None,
            container_id=_str(obj.get("Id")),
            exit_code=code if isinstance(code, int) and not isinstance(code, bool) else None,
        )
    return None


# go-units HumanDuration, as `docker ps` prints "Up <duration>": (pattern, lower, upper) in s.
_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 604800}
_ABOUT = {
    "less than a second": (0.0, 1.0),
    "about a minute": (60.0, 120.0),
    "about an hour": (3600.0, 5400.0),
}


def uptime_range(text: str) -> tuple[float, float] | None:
    """Seconds a container has been up, as a (lower, upper) range, from a ps status such as
    ``Up 3 minutes (healthy)``; None when it gives no duration (v1's bare ``Up``)."""
    low = " ".join(re.sub(r"\([^)]*\)", " ", text).lower().split())
    if not low.startswith("up "):
        return None
    rest = low[3:].strip()
    if rest in _ABOUT:
        return _ABOUT[rest]
    match = re.fullmatch(r"(\d+) (second|minute|hour|day|week|month|year)s?", rest)
    if match is None:
        return None
    n, unit = int(match[1]), match[2]
    if unit == "second":
        return float(n), float(n + 1)
    if unit == "minute":
        return n * 60.0, (n + 1) * 60.0
    if unit == "hour":  # round(hours): n - 0.5 .. n + 0.5
        return (n - 0.5) * 3600.0, (n + 0.5) * 3600.0
    if unit == "day":  # round(hours) // 24 == n
        return (n * 24 - 0.5) * 3600.0, ((n + 1) * 24 - 0.5) * 3600.0
    if unit == "week":
        return n * 7 * 86400.0 - 1800.0, (n + 1) * 7 * 86400.0
    if unit == "month":
        return n * 30 * 86400.0 - 1800.0, (n + 1) * 30 * 86400.0
    return n * 365 * 86400.0, (n + 1) * 365 * 86400.0


def run_from_ps(container: Container | None, now: float) -> XucRun:
    """The run as ``xivocc-dcomp ps`` shows it: the start only as a range (or not at all)."""
    if container is None:
        return XucRun(source=None, running=False, status="not listed")
    running = (
        None if container.state is ContainerState.UNKNOWN else container.state is ContainerState.UP
    )
    span = uptime_range(container.status) if running else None
    return XucRun(
        source=StartSource.PS if span is not None else None,
        running=running,
        status=container.status,
        started_at=now - span[1] if span else None,
        started_latest=now - span[0] if span else None,
        health=container.health,
        container=container.name,
        exit_code=container.exit_code,
    )


def current_run(
    inspect_text: str | None,
    ps: ComposePs | None,
    now: float,
    *,
    names: Sequence[str] = DEFAULT_CONTAINERS,
    prefer: StartSource = StartSource.INSPECT,
    service: str = "xuc",
) -> XucRun | None:
    """The current run from inspect (preferred, exact) or ps (a range); None when neither
    was readable. `prefer=ps` takes ps's start even when inspect answered (the inventory's
    choice for nodes where inspect is not allowed or not trusted)."""
    inspected = parse_inspect(inspect_text, names) if inspect_text else None
    return run_of(inspected, ps, now, prefer=prefer, service=service)


def run_of(
    inspected: XucRun | None,
    ps: ComposePs | None,
    now: float,
    *,
    prefer: StartSource = StartSource.INSPECT,
    service: str = "xuc",
) -> XucRun | None:
    """`current_run` from inspect's run already parsed (`parse_inspect`, a function of its
    text alone: a poll whose inspect says what the last one said need not parse it again).
    What depends on the clock (ps's "Up 3 minutes" as a start) is worked out here."""
    if ps is not None and not ps.containers and ps.layout == "unknown":
        ps = None  # a table that could not be read lists nothing: not "no xuc container"
    listed = ps.service(service) if ps is not None else None
    from_ps = run_from_ps(listed, now) if ps is not None else None
    if prefer is StartSource.PS and from_ps is not None:
        if inspected is not None and from_ps.health is None:
            from_ps = replace(from_ps, health=inspected.health)
        return from_ps
    if inspected is not None:
        if inspected.health is None and listed is not None and listed.health:
            inspected = replace(inspected, health=listed.health)
        return inspected
    return from_ps


# --- anchors and lines --------------------------------------------------------------------


def _key(line: str) -> str:
    """A line's identity for anchors: the compose prefix's padding may differ between two
    reads, so the service name and the text after the bar are compared."""
    service, rest = strip_compose_prefix(clean_line(line))
    return f"{service or ''}\x00{rest}"


@record
class Anchor:
    """A point in the xuc log: the lines just before it (the end of a read), when it was
    taken, and the run current then. Lines after it were logged after `taken_at`."""

    lines: tuple[str, ...]
    taken_at: float
    run: XucRun | None = None
    why: str = ""  # "before the restart the product issued", ...

    def to_dict(self) -> dict[str, Any]:
        return {
            "lines": list(self.lines),
            "taken_at": self.taken_at,
            "run": self.run.to_dict() if self.run else None,
            "why": self.why,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Anchor:
        run = data.get("run")
        return cls(
            lines=tuple(str(x) for x in data.get("lines", [])),
            taken_at=float(data.get("taken_at", 0.0)),
            run=XucRun.from_dict(run) if isinstance(run, dict) else None,
            why=str(data.get("why", "")),
        )


def anchor_of(
    lines: Sequence[str], taken_at: float, run: XucRun | None = None, why: str = ""
) -> Anchor:
    kept = [clean_line(x) for x in lines if x.strip()]
    return Anchor(fingerprint(kept), taken_at, run, why)


def fingerprint(lines: Sequence[str]) -> tuple[str, ...]:
    """The last lines of one read that make its anchor: ANCHOR_LINES, or more (up to
    ANCHOR_MAX_LINES) until they occur only once in it. Lines of one read are compared as
    they are (compose pads its prefix alike within a read)."""
    kept = list(lines)
    n = min(len(kept), ANCHOR_LINES)
    if n == 0 or kept.count(kept[-1]) == 1:  # the usual case: lines with their own time
        return tuple(kept[len(kept) - n :])
    while n < min(len(kept), ANCHOR_MAX_LINES) and len(_ends(kept, kept[len(kept) - n :])) > 1:
        n += 1
    return tuple(kept[len(kept) - n :])


def _ends(keys: list[str], want: list[str]) -> list[int]:
    """The index of the last line of every occurrence of `want` in `keys`, in order."""
    n = len(want)
    return [end - 1 for end in range(n, len(keys) + 1) if keys[end - n : end] == want]


def anchor_span(lines: Sequence[str], anchor: Anchor) -> tuple[int, int] | None:
    """Where the anchor's fingerprint ends in `lines`: (first, last) occurrence, the same
    index when it occurs once; None when it is not there. An empty fingerprint (the log
    was empty) is at -1."""
    if not anchor.lines:
        return -1, -1
    ends = _ends([_key(x) for x in lines], [_key(x) for x in anchor.lines])
    return (ends[0], ends[-1]) if ends else None


def _anchor_head(lines: Sequence[_Line], anchor: Anchor) -> int:
    """How many of the anchor's last lines the window starts with (0 when none): the
    anchor cut through by the window's start."""
    keys = [_key(x.text) for x in lines[: len(anchor.lines)]]
    want = [_key(x) for x in anchor.lines]
    for k in range(min(len(keys), len(want) - 1), 0, -1):
        if keys[:k] == want[-k:]:
            return k
    return 0


def find_anchor(lines: Sequence[str], anchor: Anchor) -> int | None:
    """Index of the last line of the anchor's fingerprint in `lines` (its last occurrence),
    None when it is not there. An empty fingerprint (the log was empty) is at -1."""
    span = anchor_span(lines, anchor)
    return span[1] if span is not None else None


@record
class _Line:
    """A line of the log window, with its time read (docker's or the application's)."""

    text: str
    message: str
    docker_time: float | None  # epoch
    app_time: datetime | None  # naive (or aware from the application) node-local time


def _lines(lines: Iterable[str]) -> list[_Line]:
    out: list[_Line] = []
    for raw in lines:
        text = clean_line(raw)
        if not text.strip():
            continue
        parts = split_line(text)
        docker = parts.time.timestamp() if parts.time is not None and parts.docker_time else None
        app = None if parts.docker_time else parts.time
        out.append(_Line(text, parts.message, docker, app))
    return out


@record
class Attribution:
    """Which lines of a window belong to the current run, and how that was decided."""

    current: tuple[bool | None, ...]  # per line: True, False, or None (cannot tell)
    rule: str  # "docker times" | "anchor" | "application times" | "none"
    covers_start: bool  # the window reaches back to the run's start (or before it)


def attribute(
    lines: Sequence[_Line],
    run: XucRun | None,
    now: float,
    *,
    anchor: Anchor | None = None,
    anchor_at: tuple[int, int] | None = None,
    window_full: bool = True,
    margin: float = DEFAULT_MARGIN_SECONDS,
) -> Attribution:
    start = run.started_at if run is not None else None
    stamped = [x.docker_time for x in lines if x.docker_time is not None]
    if stamped and start is not None:
        # A line without its own docker time (compose v1's "Attaching to ...") takes the
        # time of the line before it.
        flags: list[bool | None] = []
        last: float | None = None
        for x in lines:
            last = x.docker_time if x.docker_time is not None else last
            flags.append(None if last is None else last >= start)
        covers = not window_full or stamped[0] <= start
        return Attribution(tuple(flags), "docker times", covers)
    if anchor is not None and anchor_at is not None:
        # Found more than once (a log that repeats itself): the real one is one of them, so
        # what lies from the first to the last is not placed, only what follows counts.
        # A cut window that starts with the anchor's last lines may hold the real one cut
        # through and only a repeat whole: nothing up to that repeat is placed either.
        first, last = anchor_at
        if window_full and _anchor_head(lines, anchor):
            first = -1
        current = tuple(
            True if i > last else False if i <= first else None for i in range(len(lines))
        )
        return Attribution(current, "anchor", True)
    timed = [(i, x.app_time) for i, x in enumerate(lines) if x.app_time is not None]
    if start is not None and timed:
        newest = timed[-1][1]
        assert newest is not None
        running_for = max(0.0, now - start)
        marks: list[bool | None] = []
        seen: datetime | None = None
        older_seen = False
        for x in lines:
            if x.app_time is not None:
                seen = x.app_time
            if seen is None or (seen.tzinfo is None) != (newest.tzinfo is None):
                marks.append(None)
                continue
            before = (newest - seen).total_seconds()
            is_current = before <= running_for + margin
            older_seen = older_seen or not is_current
            marks.append(is_current)
        covers = not window_full or older_seen
        return Attribution(tuple(marks), "application times", covers)
    if anchor is not None and anchor_at is None and window_full:
        # The anchor scrolled out of the window: everything in it was logged after it, but
        # for the anchor's own last lines when the window starts with them (it cut the
        # anchor through): those are the earlier run's, or may be.
        head = _anchor_head(lines, anchor)
        return Attribution(
            tuple(None if i < head else True for i in range(len(lines))), "anchor", False
        )
    return Attribution(tuple(None for _ in lines), "none", not window_full)


# --- the verdict ---------------------------------------------------------------------------


@record
class ProbeAnswer:
    """The HTTP probe on the CC node: an HTTP code means the server answered."""

    url: str
    code: int | None  # None: no HTTP answer (refused, timeout)
    detail: str = ""  # curl's error line, when any

    @property
    def answered(self) -> bool:
        return self.code is not None

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "code": self.code, "detail": self.detail}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProbeAnswer:
        code = data.get("code")
        return cls(
            str(data.get("url", "")),
            code if isinstance(code, int) and not isinstance(code, bool) else None,
            str(data.get("detail", "")),
        )


def parse_probe(url: str, stdout: str, stderr: str, exit_status: int | None) -> ProbeAnswer:
    """``curl -sS -o /dev/null -w '%{http_code}'``: the code on stdout (000: no answer)."""
    match = re.search(r"(\d{3})\s*\Z", stdout.strip())
    code = int(match[1]) if match else 0
    detail = clean(stderr.strip().splitlines()[-1], one_line=True) if stderr.strip() else ""
    if code == 0 or (exit_status not in (0, 22) and code == 0):
        return ProbeAnswer(url, None, detail or f"no HTTP answer (curl exit {exit_status})")
    return ProbeAnswer(url, code, detail)


@record
class XucReadiness:
    """Whether the current run of the xuc container is ready to serve, and what decided it."""

    state: XucState
    since: float | None  # ready: the line's time (docker) or when first seen; else the start
    basis: str  # one line: what decided it
    run: XucRun | None = None
    line: str | None = None  # the readiness line that counted
    probe: ProbeAnswer | None = None
    grace: float = DEFAULT_GRACE_SECONDS
    evidence: tuple[str, ...] = ()
    judged_at: float | None = None
    # Unknown because the run's start-up is older than the lines read (a deeper read, or
    # the probe, can settle it).
    start_out_of_view: bool = False

    @property
    def ready(self) -> bool:
        return self.state is XucState.READY

    @property
    def health(self) -> str | None:
        return self.run.health if self.run is not None else None

    def starting_for(self, now: float) -> float | None:
        start = self.run.started_at if self.run is not None else None
        return max(0.0, now - start) if start is not None else None

    def describe(self, now: float) -> str:
        """One line, every state in words: what the Status table and the CLI show."""
        health = f" (health: {self.health})" if self.health else ""
        if self.state is XucState.READY:
            if self.since is not None:
                return f"✔ ready since {stamp(self.since, now)}{health}"
            start = self.run.started_at if self.run is not None else None
            if start is not None:
                # The line has no docker time: the run's start is what is known.
                return f"✔ ready · up since {stamp(start, now)}{health}"
            return f"✔ ready ({self.basis}){health}"
        if self.state is XucState.STARTING:
            running = self.starting_for(now)
            what = f" for {age(running)}" if running is not None else ""
            return f"… starting{what}{health}"
        if self.state is XucState.NOT_READY:
            running = self.starting_for(now)
            what = f": up {age(running)} without readiness" if running is not None else ""
            return f"✖ not ready{what}{health}"
        if self.state is XucState.DOWN:
            status = self.run.status if self.run is not None else "not found"
            return f"✖ down ({status})"
        return f"? readiness unknown: {self.basis}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "since": self.since,
            "basis": self.basis,
            "grace_seconds": self.grace,
            "health": self.health,
            "line": self.line,
            "run": self.run.to_dict() if self.run else None,
            "probe": self.probe.to_dict() if self.probe else None,
            "evidence": list(self.evidence),
            "judged_at": self.judged_at,
            "start_out_of_view": self.start_out_of_view,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> XucReadiness:
        try:
            state = XucState(data.get("state", "unknown"))
        except ValueError:
            state = XucState.UNKNOWN
        run = data.get("run")
        probe = data.get("probe")
        return cls(
            state=state,
            since=_num(data.get("since")),
            basis=str(data.get("basis", "")),
            run=XucRun.from_dict(run) if isinstance(run, dict) else None,
            line=_str(data.get("line")),
            probe=ProbeAnswer.from_dict(probe) if isinstance(probe, dict) else None,
            grace=_num(data.get("grace_seconds")) or DEFAULT_GRACE_SECONDS,
            evidence=tuple(str(x) for x in data.get("evidence", [])),
            judged_at=_num(data.get("judged_at")),
            start_out_of_view=data.get("start_out_of_view") is True,
        )


@record
class LogWindow:
    """A bounded read of the xuc log: its lines (oldest first) and whether it was cut (as
    many lines as asked for: older ones exist), None when the read failed."""

    lines: tuple[str, ...]
    full: bool
    error: str | None = None
    # Read without --since and not cut: the container's whole log (what the rule for a
    # line without any time relies on; a --since slice is a later part of it).
    whole: bool = False


def kept_ready(run: XucRun | None, previous: XucReadiness | None) -> bool:
    """An earlier look saw this very run ready with its readiness line: the run stays
    ready (judge's rule 2, unless its health check fails), whatever the log window holds."""
    return (
        run is not None
        and previous is not None
        and previous.ready
        and previous.line is not None
        and run.same_run(previous.run)
    )


@record
class _Early:
    state: XucState
    since: float | None
    basis: str
    line: str | None = None


def _without_window(
    run: XucRun | None, previous: XucReadiness | None, anchor: Anchor | None
) -> _Early | None:
    """The verdicts judge gives before it looks at the log window; None: the window decides."""
    if run is None:
        return _Early(XucState.UNKNOWN, None, "neither docker inspect nor ps could be read")
    if run.running is False:
        when = run.finished_at if run.status != "not listed" else None
        why = "no xuc container" if run.status == "not listed" else f"container {run.status}"
        return _Early(XucState.DOWN, when, why)
    if run.running is None:
        return _Early(XucState.UNKNOWN, None, f"container state {run.status or 'unknown'}")
    if anchor is not None and run.same_run(anchor.run):
        # The product's restart has not produced a new run yet: the old run is still there.
        return _Early(
            XucState.STARTING,
            run.started_at,
            "the container still runs the start from before the restart",
        )

    # 1. Docker's own health check failing wins: the container says it does not serve.
    if run.health == "unhealthy":
        return _Early(XucState.NOT_READY, run.started_at, "docker health check: unhealthy")

    # 2. What an earlier look of the same run found.
    if previous is not None and kept_ready(run, previous):
        seen = f"readiness line of this run seen at {clock(previous.judged_at)}"
        # An assumed line stays said to be assumed, look after look.
        kept = "seen at" in previous.basis or ASSUMED in previous.basis
        basis = previous.basis if kept else seen
        return _Early(XucState.READY, previous.since, basis, previous.line)
    return None


def window_decides(
    run: XucRun | None, previous: XucReadiness | None, anchor: Anchor | None = None
) -> bool:
    """Whether judge's verdict on `run` depends on the log window (rules 3 on): not when
    it comes from the run itself (none, not running), from a restart by the product that
    has not produced a new run yet, from a failing health check, or from an earlier look
    (`kept_ready`)."""
    return _without_window(run, previous, anchor) is None


def judge(
    run: XucRun | None,
    window: LogWindow | None,
    *,
    pattern: re.Pattern[str],
    now: float,
    grace: float = DEFAULT_GRACE_SECONDS,
    probe: ProbeAnswer | None = None,
    anchor: Anchor | None = None,
    previous: XucReadiness | None = None,
    not_before: float | None = None,
    margin: float = DEFAULT_MARGIN_SECONDS,
) -> XucReadiness:
    """The readiness of the current run (module doc for the rules). `previous`: what an
    earlier look found (same run and ready: still ready, with its since). `anchor`: a point
    known to be at or after the run's start (the product's restart). `not_before`: a line
    must also be logged at or after this time (epoch) when its time can be compared."""

    def verdict(state: XucState, since: float | None, basis: str, **kw: Any) -> XucReadiness:
        return XucReadiness(
            state, since, basis, run=run, probe=probe, grace=grace, judged_at=now, **kw
        )

    early = _without_window(run, previous, anchor)
    if early is not None:
        return verdict(early.state, early.since, early.basis, line=early.line)
    assert run is not None  # (_without_window answers for a missing run)
    evidence: list[str] = []

    # 3. The readiness line of the current run in the window.
    found = _readiness_in(window, run, pattern, now, anchor, not_before, margin)
    if found.line is not None:
        return verdict(XucState.READY, found.since, found.basis, line=found.line)
    evidence.extend(found.notes)

    # 4. Other positive signals.
    if probe is not None and probe.answered:
        return verdict(
            XucState.READY,
            None,
            f"the HTTP probe answered {probe.code} ({probe.url})",
            evidence=tuple(evidence),
        )
    if run.health == "healthy":
        return verdict(
            XucState.READY, None, "docker health check: healthy", evidence=tuple(evidence)
        )

    # 5. Not (yet) ready, or cannot tell.
    running_for = now - run.started_at if run.started_at is not None else None
    if (
        found.unplaced_line is not None
        and anchor is None  # after a restart (ours) only what follows it may count
        and not_before is None
        and window is not None
        and window.whole
        and not window.full
        # The container never ran before, so its log holds one run: only inspect says so
        # (ps shows no earlier run, nor does inspect's start taken as ps's, start_from=ps).
        and run.source is StartSource.INSPECT
        and run.finished_at is None
        and running_for is not None
        and running_for > grace
    ):
        basis = (
            "the only readiness line in the container's whole log (no time to place it), "
            f"up {age(running_for)}, longer than its {grace:g}s grace: {ASSUMED} this run's"
        )
        return verdict(
            XucState.READY, None, basis, line=found.unplaced_line, evidence=tuple(evidence)
        )
    if found.unknown is not None:
        return verdict(
            XucState.UNKNOWN,
            None,
            found.unknown,
            evidence=tuple(evidence),
            start_out_of_view=found.out_of_view,
        )
    if running_for is None:
        return verdict(
            XucState.UNKNOWN,
            None,
            "no readiness line, and the container's start is unknown",
            evidence=tuple(evidence),
        )
    if probe is not None and not probe.answered:
        evidence.append(f"probe {probe.url}: {probe.detail or 'no answer'}")
    if run.health == "starting" or running_for <= grace:
        basis = f"up {age(running_for)}, no readiness line of this run yet"
        return verdict(XucState.STARTING, run.started_at, basis, evidence=tuple(evidence))
    basis = f"up {age(running_for)} (grace {grace:g}s) without a readiness line of this run"
    return verdict(XucState.NOT_READY, run.started_at, basis, evidence=tuple(evidence))


@record
class _Found:
    """What the log window says of the run's readiness line: found, absent, or not to be told."""

    line: str | None = None
    since: float | None = None
    basis: str = ""
    unknown: str | None = None  # why it cannot be told (no line found)
    notes: tuple[str, ...] = ()
    unplaced_line: str | None = None  # the one readiness line, when no other and no time
    out_of_view: bool = False  # unknown because the window does not reach the run's start


def _readiness_in(
    window: LogWindow | None,
    run: XucRun,
    pattern: re.Pattern[str],
    now: float,
    anchor: Anchor | None,
    not_before: float | None,
    margin: float,
) -> _Found:
    if window is None or window.error is not None:
        why = window.error if window is not None else "not read"
        return _Found(unknown=f"the xuc log could not be read: {why}")
    lines = _lines(window.lines)
    at = anchor_span([x.text for x in lines], anchor) if anchor is not None else None
    attribution = attribute(
        lines, run, now, anchor=anchor, anchor_at=at, window_full=window.full, margin=margin
    )
    matches = [i for i, x in enumerate(lines) if pattern.search(x.message)]
    notes: list[str] = []
    older = 0
    unplaced = 0
    for i in reversed(matches):
        is_current = attribution.current[i]
        x = lines[i]
        if is_current is None:
            unplaced += 1
            continue
        if not is_current:
            older += 1
            continue
        if not_before is not None and x.docker_time is not None and x.docker_time < not_before:
            older += 1
            continue
        basis = f"readiness line of this run ({attribution.rule})"
        return _Found(line=x.text, since=x.docker_time, basis=basis)
    if older:
        notes.append(f"{older} readiness line(s) of an earlier run ignored ({attribution.rule})")
    if unplaced:
        alone = unplaced == 1 and not older
        return _Found(
            unknown=(
                f"{unplaced} readiness line(s) in the log, but without a usable time it "
                "cannot be told whether they belong to the current run"
            ),
            notes=tuple(notes),
            unplaced_line=lines[matches[-1]].text if alone else None,
        )
    if not attribution.covers_start:
        shown = f"the last {len(lines)} lines" if lines else "the lines read"
        return _Found(
            unknown=f"the run's start-up is older than {shown}: its readiness line is not in view",
            notes=tuple(notes),
            out_of_view=True,
        )
    return _Found(notes=tuple(notes))


# --- following a log after a snapshot -------------------------------------------------------


@dataclass
class FollowMatcher:
    """Watches a followed xuc log (replaying the tail first) for a readiness line logged
    after a look that found xuc not ready.

    Position decides: a line counts once the replay has passed the anchor (the end of the
    look: what follows was logged after it, by the run current then or a later one). When
    the anchor's lines do not show up, a line with a docker time newer than the anchor's
    newest one is past it too, and after `replay` lines (more than that was logged in
    between) every later line is. A line with a docker time must also be at or after
    `started_at` and `not_before` when they are given. Without an anchor every line counts
    (subject to those times)."""

    pattern: re.Pattern[str]
    anchor: Anchor | None
    started_at: float | None  # the run's earliest start (epoch)
    not_before: float | None = None
    replay: int = 0  # lines the follow re-sends first (its --tail)
    matched: str | None = None
    matched_at: float | None = None  # docker time of the matched line, when it has one
    seen: int = 0
    past_anchor: bool = False
    ignored: int = 0  # readiness lines not counted (before the anchor, or too old)
    _recent: list[str] = field(default_factory=list)
    _anchor_time: float | None = None

    def __post_init__(self) -> None:
        if self.anchor is None or not self.anchor.lines:
            self.past_anchor = True
            return
        stamped = [x.docker_time for x in _lines(self.anchor.lines) if x.docker_time is not None]
        self._anchor_time = max(stamped) if stamped else None

    def feed(self, raw: str) -> bool:
        if self.matched is not None:
            return True
        text = clean_line(raw)
        if not text.strip():
            return False
        self.seen += 1
        parts = split_line(text)
        docker = parts.time.timestamp() if parts.time is not None and parts.docker_time else None
        if not self.past_anchor and self.anchor is not None:
            self._recent.append(text)
            del self._recent[: -len(self.anchor.lines)]
            if find_anchor(self._recent, self.anchor) is not None:
                self.past_anchor = True
                return False  # the anchor's own line: already looked at
            newer = (
                docker is not None and self._anchor_time is not None and docker > self._anchor_time
            )
            self.past_anchor = newer or self.seen > self.replay
        if self.pattern.search(parts.message) is None:
            return False
        ok = self.past_anchor
        if ok and docker is not None:
            ok = (self.started_at is None or docker >= self.started_at) and (
                self.not_before is None or docker >= self.not_before
            )
        if not ok:
            self.ignored += 1
            return False
        self.matched, self.matched_at = text, docker
        return True
