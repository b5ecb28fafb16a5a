"""The CC and Edge docker compose stacks: containers, their logs over time, and dcomp.

Logs are generated lazily: each read "catches the log up" to now from the container's
timeline (start-up lines, the xuc readiness line, then ongoing traffic), appends the new
lines to a file under the node root and moves a cursor in state.json. No writer daemon is
needed, so any process (in-process server, sshd-tier dispatcher) sees the same logs.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import math
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resil_tui.lab.base import CommandFailed, Ctx
from resil_tui.lab.facts import EDGE_ENV, parse_env
from resil_tui.lab.spec import CC, COMPOSE_V1, EDGE, LabTiming, NodeSpec, XucSpec

if TYPE_CHECKING:
    from resil_tui.lab.world import LabWorld

READY_LINE = "Listening for HTTP on /0.0.0.0:9000"
MAX_CATCH_UP = 200  # lines of ongoing traffic kept when a log was not read for long


@dataclass(frozen=True)
class ContainerDef:
    service: str
    image: str
    command: str
    ports: str
    style: str  # log line style: play | nginx | pg | kamailio | coturn


CC_PROJECT = "xivocc"
EDGE_PROJECT = "edge"
CC_CONTAINERS = (
    ContainerDef(
        "pgxivocc",
        "xivoxc/pgxivocc:2023.10.latest",
        "docker-entrypoint.sh postgres",
        "0.0.0.0:5443->5432/tcp",
        "pg",
    ),
    ContainerDef(
        "xuc",
        "xivoxc/xuc:2023.10.latest",
        "bin/xuc_docker",
        "0.0.0.0:8090->9000/tcp",
        "play",
    ),
    ContainerDef(
        "xucmgt",
        "xivoxc/xucmgt:2023.10.latest",
        "bin/xucmgt_docker",
        "0.0.0.0:8070->9000/tcp",
        "play",
    ),
    ContainerDef(
        "config_mgt",
        "xivoxc/config-mgt:2023.10.latest",
        "bin/config-mgt-docker",
        "0.0.0.0:9100->9000/tcp",
        "play",
    ),
    ContainerDef(
        "nginx",
        "xivoxc/xivoxc_nginx:2023.10.latest",
        "/docker-entrypoint.sh nginx",
        "0.0.0.0:80->80/tcp, 0.0.0.0:443->443/tcp",
        "nginx",
    ),
)
EDGE_CONTAINERS = (
    ContainerDef(
        "nginx",
        "xivoxc/edge-nginx:2023.10.latest",
        "/docker-entrypoint.sh nginx",
        "0.0.0.0:443->443/tcp",
        "nginx",
    ),
    ContainerDef(
        "kamailio",
        "xivoxc/edge-kamailio:2023.10.latest",
        "kamailio -DD -E",
        "0.0.0.0:5060->5060/udp, 0.0.0.0:5061->5061/tcp",
        "kamailio",
    ),
    ContainerDef(
        "coturn",
        "coturn/coturn:4.6",
        "turnserver -c /etc/coturn/turnserver.conf",
        "0.0.0.0:3478->3478/udp",
        "coturn",
    ),
)
# Which .env variables each Edge service uses: `up -d` recreates a service when one changed.
EDGE_WATCHED = {
    "nginx": ("XIVO_HOST", "XIVOCC_HOST", "EDGE_FQDN"),
    "kamailio": ("XIVO_HOST", "XIVO_MDS_HOST_DEFAULT"),
    "coturn": ("TURN_ALLOWED_PEERS", "TURN_FQDN"),
}


def project_of(node: NodeSpec) -> tuple[str, tuple[ContainerDef, ...]]:
    if node.kind == CC:
        return CC_PROJECT, CC_CONTAINERS
    if node.kind == EDGE:
        return EDGE_PROJECT, EDGE_CONTAINERS
    raise KeyError(node.kind)


def container_name(project: str, service: str, compose: str) -> str:
    """docker compose v2 names `xivocc-xuc-1`; docker-compose v1 named `xivocc_xuc_1`."""
    return f"{project}_{service}_1" if compose == COMPOSE_V1 else f"{project}-{service}-1"


def container_id(c: dict[str, Any]) -> str:
    """The 64-hex docker id: new for a new container, kept across restarts."""
    return str(c.get("id") or hashlib.sha256(f"{c['name']}:{c['created_at']}".encode()).hexdigest())


def new_container(
    project: str,
    d: ContainerDef,
    now: float,
    env: dict[str, str] | None = None,
    compose: str = "v2",
) -> dict[str, Any]:
    name = container_name(project, d.service, compose)
    return {
        "service": d.service,
        "name": name,
        "id": hashlib.sha256(f"{project}:{name}:{now}".encode()).hexdigest(),
        "image": d.image,
        "command": d.command,
        "ports": d.ports,
        "style": d.style,
        "created_at": now,
        "started_at": now,
        "timeline_at": now,  # origin of the start-up timeline (shifted when xuc resumes)
        "state": "running",
        "startup_idx": 0,
        "ready_at": None,
        "stalled": False,
        "retry_k": 0,
        "seq": 0,
        "cursor": now - 0.001,
        "restarts": 0,
        "env": dict(env or {}),
    }


def initial_containers(
    node: NodeSpec, now: float, env: dict[str, str] | None = None, age: float = 2 * 86400
) -> dict[str, Any]:
    project, defs = project_of(node)
    born = now - age
    out = {}
    for d in defs:
        watched = {k: v for k, v in (env or {}).items() if k in EDGE_WATCHED.get(d.service, ())}
        out[d.service] = new_container(
            project, d, born, watched if node.kind == EDGE else None, node.compose
        )
    return out


# -- the log timelines ---------------------------------------------------------------------
Line = tuple[float, str, str, str]  # (fraction of start span, level, logger, message)

XUC_STARTUP: tuple[Line, ...] = (
    (0.0, "INFO", "xuc", "Starting xuc 2023.10.05 (Play 2.8, Akka 2.6)"),
    (0.05, "INFO", "akka.event.slf4j.Slf4jLogger", "Slf4jLogger started"),
    (
        0.15,
        "INFO",
        "play.api.db.DefaultDBApi",
        "Database [default] initialized at jdbc:postgresql://pgxivocc:5432/xuc",
    ),
    (0.25, "INFO", "xivo.xuc.XucConfig", "XiVO host is {xivo_ip}"),
    (0.35, "INFO", "xivo.ami.AmiSupervisor", "Connecting to AMI at {xivo_ip}:5038"),
    (0.5, "INFO", "xivo.ami.AmiSupervisor", "AMI connection established with {xivo_ip}:5038"),
    (
        0.65,
        "INFO",
        "services.config.ConfigRepository",
        "Loaded 42 agents, 12 queues, 318 users from {xivo_ip}",
    ),
    (0.8, "INFO", "xivo.websocket.WsBus", "Event bus started"),
    (0.92, "INFO", "play.api.Play", "Application started (Prod) (no global state)"),
)
XUC_GATE = 5  # with the never-ready fault, start-up stops before this line (AMI never answers)
XUC_RETRY = (
    "WARN",
    "xivo.ami.AmiSupervisor",
    "AMI connection to {xivo_ip}:5038 failed: Connection refused, retrying in 5 seconds",
)
XUC_READY = ("INFO", "play.core.server.AkkaHttpServer", READY_LINE)
XUC_TRAFFIC = (
    ("INFO", "services.agent.AgentManager", "Agent {n} state changed to Ready"),
    ("INFO", "controllers.WebSocketApp", "User user{n} connected from 10.60.1.{ipn}"),
    ("INFO", "xivo.ami.AmiBus", "AMI event QueueMemberStatus for agent {n}"),
    ("INFO", "services.XucStatsEventBus", "Queue statistics published for 12 queues"),
    ("INFO", "controllers.WebSocketApp", "User user{n} disconnected"),
)
XUC_STOP = (
    ("INFO", "play.core.server.AkkaHttpServer", "Stopping server..."),
    (
        "INFO",
        "akka.actor.CoordinatedShutdown",
        "Running CoordinatedShutdown with reason [ApplicationStoppedReason]",
    ),
)

GENERIC_STARTUP: dict[str, tuple[Line, ...]] = {
    "play": (
        (0.0, "INFO", "play.api.Play", "Application started (Prod)"),
        (0.5, "INFO", "play.core.server.AkkaHttpServer", READY_LINE),
    ),
    "nginx": (
        (0.0, "notice", "1#1", 'using the "epoll" event method'),
        (0.2, "notice", "1#1", "nginx/1.24.0"),
        (0.4, "notice", "1#1", "start worker processes"),
    ),
    "pg": (
        (0.0, "LOG", "1", "starting PostgreSQL 11.22 on x86_64-pc-linux-gnu"),
        (0.5, "LOG", "1", "database system is ready to accept connections"),
    ),
    "kamailio": (
        (0.0, "INFO", "<core>", "main(): kamailio 5.6.4 starting"),
        (0.3, "INFO", "dispatcher", "XiVO destination set to sip:{xivo_host}:5060"),
        (0.6, "INFO", "dispatcher", "default MDS set to sip:{mds_default}:5060"),
    ),
    "coturn": (
        (0.0, "INFO", "turnserver", "Coturn Version Coturn-4.6.2 'Gorst'"),
        (0.3, "INFO", "turnserver", "realm {turn_fqdn}, allowed peers {turn_peers}"),
    ),
}
GENERIC_TRAFFIC: dict[str, tuple[tuple[str, str, str], ...]] = {
    "play": (("INFO", "controllers.Status", "GET /status 200"),),
    "nginx": (
        ("access", "", 'GET /xuc/api/2.0/config HTTP/1.1" 200 {m}'),
        ("access", "", 'GET /ucassistant/ HTTP/1.1" 200 {m}'),
    ),
    "pg": (("LOG", "{n}", "checkpoint complete: wrote {m} buffers"),),
    "kamailio": (
        ("INFO", "<script>", "REGISTER from sip:10{m}@{edge_fqdn} relayed to {xivo_host}"),
    ),
    "coturn": (("INFO", "session", "{n}: new TURN allocation, peers {turn_peers}"),),
}


# The date logback's default pattern puts first (see _fmt's "play" style).
_PLAY_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")


def _fmt(style: str, t: float, level: str, logger: str, msg: str) -> str:
    lt = time.localtime(t)
    ms = int(t * 1000) % 1000
    if style == "play":
        return f"{time.strftime('%Y-%m-%d %H:%M:%S', lt)},{ms:03d} {level:<5} [{logger}] - {msg}"
    if style == "nginx":
        if level == "access":
            stamp = time.strftime("%d/%b/%Y:%H:%M:%S %z", lt)
            return f'10.60.1.{int(t) % 200 + 1} - - [{stamp}] "{msg} "-" "Mozilla/5.0"'
        return f"{time.strftime('%Y/%m/%d %H:%M:%S', lt)} [{level}] {logger}: {msg}"
    if style == "pg":
        stamp = dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        return f"{stamp} UTC [{logger}] {level}:  {msg}"
    if style == "kamailio":
        return f" 0(1) {level}: {logger} [main.c:2822]: {msg}"
    return f"{int(t) % 100000}: : {level}: {msg}"


def _context(world: LabWorld, node: NodeSpec, c: dict[str, Any]) -> dict[str, str]:
    site = world.spec.site(node.site)
    xivo = site.node("xivo", node.side) if node.side else site.node("xivo", "master")
    env = c.get("env", {})
    return {
        "xivo_ip": xivo.ip if xivo else "127.0.0.1",
        "xivo_host": env.get("XIVO_HOST", "?"),
        "mds_default": env.get("XIVO_MDS_HOST_DEFAULT", "?"),
        "turn_fqdn": env.get("TURN_FQDN", "?"),
        "turn_peers": env.get("TURN_ALLOWED_PEERS", "?"),
        "edge_fqdn": node.fqdn or "edge",
    }


def behaviour(world: LabWorld, node: NodeSpec) -> XucSpec:
    """The node's XucSpec with the fault prompt's run-time switches (node flags) applied."""
    spec = node.xuc_spec
    flags = world.node_flags(node.id)
    if flags.get("xuc_logs_plain"):
        spec = replace(spec, logs_timestamps=False, logs_since=False)
    if flags.get("xuc_healthcheck") is not None:
        spec = replace(spec, healthcheck=bool(flags["xuc_healthcheck"]))
    if flags.get("xuc_ready_delay") is not None:
        spec = replace(spec, ready_delay=float(flags["xuc_ready_delay"]))
    return spec


def _span(c: dict[str, Any], timing: LabTiming, xuc_span: float | None = None) -> float:
    if c["service"] == "xuc":
        return max(0.01, timing.xuc_ready if xuc_span is None else xuc_span)
    return max(0.05, timing.xuc_ready / 4)


def _interval(c: dict[str, Any], timing: LabTiming) -> float:
    return timing.xuc_traffic if c["service"] == "xuc" else timing.xuc_traffic * 5


def catch_up(
    world: LabWorld,
    node: NodeSpec,
    c: dict[str, Any],
    now: float,
    timing: LabTiming,
    never_ready: bool,
    xuc_span: float | None = None,
) -> list[tuple[float, str]]:
    """Advance container `c` (mutated) to `now`; return the new (time, text) log lines.

    `xuc_span`: seconds from the xuc start to its readiness line (XucSpec.ready_delay).
    """
    if c.get("state") != "running":
        return []
    is_xuc = c["service"] == "xuc"
    startup = XUC_STARTUP if is_xuc else GENERIC_STARTUP[c["style"]]
    span = _span(c, timing, xuc_span)
    ctx = _context(world, node, c)
    out: list[tuple[float, str]] = []
    floor = c["cursor"]

    def emit(t: float, level: str, logger: str, msg: str, n: int = 0) -> None:
        text = msg.format(n=n, m=(n * 37) % 900 + 100, ipn=n % 200 + 1, **ctx)
        out.append((max(t, floor), _fmt(c["style"], t, level, logger.format(n=n), text)))

    if is_xuc and c["stalled"] and not never_ready:
        # The fault was cleared: resume the start-up from the gate as if starting now.
        c["timeline_at"] = now - startup[XUC_GATE][0] * span
        c["stalled"] = False
    base = c["timeline_at"]
    while c["startup_idx"] < len(startup):
        if is_xuc and never_ready and c["startup_idx"] >= XUC_GATE:
            break
        frac, level, logger, msg = startup[c["startup_idx"]]
        if base + frac * span > now:
            break
        emit(base + frac * span, level, logger, msg)
        c["startup_idx"] += 1
    done = c["startup_idx"] >= len(startup)
    interval = _interval(c, timing)

    if is_xuc and c["ready_at"] is None:
        if done and not never_ready:
            t = base + span
            if t <= now:
                emit(t, *XUC_READY)
                c["ready_at"] = t
        elif never_ready and c["startup_idx"] >= XUC_GATE:
            c["stalled"] = True
            t0 = base + startup[XUC_GATE - 1][0] * span
            last = int((now - t0) / interval)
            for k in range(max(c["retry_k"] + 1, last - MAX_CATCH_UP + 1), last + 1):
                emit(t0 + k * interval, *XUC_RETRY)
            c["retry_k"] = max(c["retry_k"], last)

    traffic_from = c["ready_at"] if is_xuc else (base + span if done else None)
    if traffic_from is not None:
        traffic = XUC_TRAFFIC if is_xuc else GENERIC_TRAFFIC[c["style"]]
        last = int((now - traffic_from) / interval)
        for k in range(max(c["seq"] + 1, last - MAX_CATCH_UP + 1), last + 1):
            level, logger, msg = traffic[k % len(traffic)]
            emit(traffic_from + k * interval, level, logger, msg, n=k)
        c["seq"] = max(c["seq"], last)
    c["cursor"] = now
    return out


def log_path(world: LabWorld, node: NodeSpec, c: dict[str, Any]) -> Path:
    return world.resolve(node.id, f"/var/lib/docker/containers/{c['name']}/{c['name']}.log")


def _append(path: Path, lines: list[tuple[float, str]]) -> None:
    if not lines:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.writelines(f"{t:.6f}\t{text}\n" for t, text in lines)


def sync_node(
    world: LabWorld, node: NodeSpec, now: float | None = None, *, look: bool = False
) -> dict[str, Any]:
    """Catch up every container of the node; return the node state afterwards.

    `look`: for a command that only reads (`ps`, `logs`, `inspect`). When its catch-up
    logs nothing and changes nothing but the cursors, the state file is left as it was
    (the cursors stay where the last change put them): a poll's three reads of a node
    then cost one write, not three. What the node prints is the same: the cursor only
    keeps a line from being stamped before the last catch-up, and a line due before
    `now` is logged by the catch-up at `now` itself, so no later line is due before a
    look that logged nothing. What moves the timeline (a restart, a fault's switch)
    catches up without `look` first, which writes the cursor as before.
    """
    now = time.time() if now is None else now
    timing = world.timing
    never_ready = bool(world.node_flags(node.id).get("xuc_never_ready"))
    spec = behaviour(world, node) if node.kind == CC else None
    span = spec.ready_delay if spec is not None else None
    with world.edit_state(node.id) as st:
        cs = list(st.get("containers", {}).values())
        before = [dict(c) for c in cs]
        logged = False
        for c in cs:
            c["healthcheck"] = spec is not None and spec.healthcheck and c["service"] == "xuc"
            lines = catch_up(world, node, c, now, timing, never_ready, span)
            if lines:
                _append(log_path(world, node, c), lines)
                logged = True
        pairs = list(zip(cs, before, strict=True))
        if look and not logged and all(c == {**b, "cursor": c["cursor"]} for c, b in pairs):
            for c, b in pairs:
                c["cursor"] = b["cursor"]
        return st


def _log_lines(text: str) -> list[tuple[float, str]]:
    out = []
    for raw in text.splitlines():
        t, sep, text = raw.partition("\t")
        try:
            out.append((float(t), text) if sep else (0.0, raw))
        except ValueError:
            out.append((0.0, raw))
    return out


@dataclass
class _ReadLog:
    """What read_log parsed of one log file: its whole lines up to `offset`, with the
    file's first bytes and those just before `offset` (the same file, appended to, still
    holds both there)."""

    file: tuple[int, int]  # st_dev, st_ino
    offset: int
    head: bytes
    mark: bytes
    lines: list[tuple[float, str]]

    def same_file(self, fd: int, st: os.stat_result) -> bool:
        return (
            self.file == (st.st_dev, st.st_ino)
            and st.st_size >= self.offset
            and os.pread(fd, len(self.head), 0) == self.head
            and os.pread(fd, len(self.mark), self.offset - len(self.mark)) == self.mark
        )


# Bytes of a file's start: its first line's time, to the microsecond: a log created anew
# (a container recreated, even with a reused inode) does not start with the same.
_MARK = 64
_READ_LOGS: dict[Path, _ReadLog] = {}
_read_logs_lines = 0  # the lines _READ_LOGS holds in all
# Log files (the one read longest ago goes first), and their lines in all (some 40 MB: a
# lab left running for days does not keep every line it ever read; see _keep_log).
_READ_LOGS_KEPT = 4096
_READ_LOGS_LINES = 200_000


def _forget_log(path: Path) -> _ReadLog | None:
    global _read_logs_lines
    known = _READ_LOGS.pop(path, None)
    if known is not None:
        _read_logs_lines -= len(known.lines)
    return known


def _keep_log(path: Path, known: _ReadLog) -> None:
    """Keep what was parsed of the log just read, if the lines kept in all allow it: past
    the bound, this one is not kept (the others stay: the lab reads its logs in the same
    order every refresh, and dropping the oldest for the newest would drop each log just
    before it is read again)."""
    global _read_logs_lines
    if _read_logs_lines + len(known.lines) > _READ_LOGS_LINES:
        return  # parsed whole at each read, as every log was before
    _READ_LOGS[path] = known
    _read_logs_lines += len(known.lines)
    while len(_READ_LOGS) > _READ_LOGS_KEPT:
        _forget_log(next(iter(_READ_LOGS)))


def read_log(path: Path) -> Sequence[tuple[float, str]]:
    """The log's lines (time, text), oldest first; not to be changed (shared).

    A container log only grows (`_append`) until it is removed with its container, and
    every poll reads it: only what was appended since the last read is parsed (the lab
    left running for a day holds tens of thousands of xuc lines). A file that is not the
    one read last (other device or inode, another first line or other bytes before the
    offset: replaced, truncated) is read whole again; a file rewritten in place with
    both kept would not be noticed, and the lab never rewrites one (a recreated
    container's log starts with a new time). What follows the last newline (a line
    another process is still writing) is parsed at every read, as a whole read would,
    and kept for none."""
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            known = _forget_log(path)
            if known is None or not known.same_file(f.fileno(), st):
                known = _ReadLog((st.st_dev, st.st_ino), 0, b"", b"", [])
            f.seek(known.offset)
            data = f.read()
    except FileNotFoundError:
        _forget_log(path)
        return []
    # A newline byte is never inside a UTF-8 sequence, nor inside a \r\n: cut after one,
    # the pieces decode and split as the whole would.
    cut = data.rfind(b"\n") + 1
    if cut:
        # A new list, not an extended one: an earlier caller may still hold the old.
        known.lines = [*known.lines, *_log_lines(data[:cut].decode("utf-8", errors="replace"))]
        known.offset += cut
        known.mark = (known.mark + data[max(0, cut - _MARK) : cut])[-_MARK:]
        if len(known.head) < _MARK:
            known.head = (known.head + data[: min(cut, _MARK)])[:_MARK]
    _keep_log(path, known)
    rest = data[cut:]
    if rest:
        return [*known.lines, *_log_lines(rest.decode("utf-8", errors="replace"))]
    return known.lines


# -- docker-ish formatting -----------------------------------------------------------------
def human_duration(seconds: float) -> str:
    """go-units HumanDuration, as `docker ps` prints it."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    m = s // 60
    if m == 1:
        return "About a minute"
    if m < 60:
        return f"{m} minutes"
    h = round(s / 3600)
    if h == 1:
        return "About an hour"
    if h < 48:
        return f"{h} hours"
    if h < 24 * 7 * 2:
        return f"{h // 24} days"
    return f"{h // (24 * 7)} weeks"


HEALTH_RETRIES = 3  # docker's default: unhealthy after 3 failed checks past the start period


@dataclass(frozen=True)
class Health:
    status: str  # starting | healthy | unhealthy
    failing_streak: int
    checks: tuple[tuple[float, bool], ...]  # the last 5 probes: (start time, passed)


def health(c: dict[str, Any], now: float, timing: LabTiming) -> Health | None:
    """Docker's health state of a container with a health check (None without one).

    The probe (an HTTP GET on the Play port) passes from the first check after xuc logged
    its readiness line; failures count only after the start period.
    """
    if not c.get("healthcheck"):
        return None
    interval = max(timing.xuc_health_interval, 0.01)
    start = float(c["started_at"])
    end = now if c["state"] == "running" else min(now, float(c.get("stopped_at", now)))
    done = max(0, math.floor((end - start) / interval))
    ready = c.get("ready_at")
    first_ok = max(1, math.ceil((float(ready) - start) / interval)) if ready is not None else None
    checks = tuple(
        (start + k * interval, first_ok is not None and k >= first_ok)
        for k in range(max(1, done - 4), done + 1)
    )
    if first_ok is not None and done >= first_ok:
        return Health("healthy", 0, checks)
    streak = max(0, done - math.floor(timing.xuc_health_start / interval))
    return Health("unhealthy" if streak >= HEALTH_RETRIES else "starting", streak, checks)


def _status(c: dict[str, Any], now: float, timing: LabTiming) -> str:
    if c["state"] == "restarting":
        return "Restarting"
    if c["state"] != "running":
        return f"Exited (0) {human_duration(now - c.get('stopped_at', now))} ago"
    up = f"Up {human_duration(now - c['started_at'])}"
    h = health(c, now, timing)
    if h is not None:
        up += " (health: starting)" if h.status == "starting" else f" ({h.status})"
    return up


def _state_v1(c: dict[str, Any], now: float, timing: LabTiming) -> str:
    """docker-compose v1's Container.human_readable_state."""
    if c["state"] == "restarting":
        return "Restarting"
    if c["state"] != "running":
        return "Exit 0"
    h = health(c, now, timing)
    if h is None:
        return "Up"
    return "Up (health: starting)" if h.status == "starting" else f"Up ({h.status})"


def ps_table_v1(containers: list[dict[str, Any]], now: float, timing: LabTiming) -> str:
    """docker-compose v1 `ps`: a texttable with deco HEADER (centred headers, a dash rule)."""
    header = ["Name", "Command", "State", "Ports"]
    rows = []
    for c in sorted(containers, key=lambda c: c["name"]):
        cmd = c["command"] if len(c["command"]) <= 30 else c["command"][:26] + " ..."
        ports = c["ports"] if c["state"] == "running" else ""
        rows.append([c["name"], cmd, _state_v1(c, now, timing), ports])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str], centred: bool) -> str:
        out = []
        for w, cell in zip(widths, cells, strict=True):
            fill = w - len(cell)
            out.append(
                " " * (fill // 2) + cell + " " * (fill - fill // 2)
                if centred
                else cell + " " * fill
            )
        return "   ".join(out) + " "

    rule = "---".join("-" * w for w in widths)
    return "\n".join([line(header, True), rule, *(line(r, False) for r in rows)]) + "\n"


def ps_table(containers: list[dict[str, Any]], now: float, timing: LabTiming | None = None) -> str:
    header = ["NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS"]
    rows = [header]
    for c in sorted(containers, key=lambda c: c["name"]):
        cmd = c["command"] if len(c["command"]) <= 20 else c["command"][:19] + "…"
        rows.append(
            [
                c["name"],
                c["image"],
                f'"{cmd}"',
                c["service"],
                f"{human_duration(now - c['created_at'])} ago",
                _status(c, now, timing or LabTiming()),
                c["ports"] if c["state"] == "running" else "",
            ]
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["   ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip() for r in rows]
    return "\n".join(lines) + "\n"


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def parse_since(value: str, now: float) -> float:
    """docker's --since: unix time, RFC 3339 / ISO date, or a relative duration (10m, 1h30m)."""
    v = value.strip()
    try:
        return float(v)
    except ValueError:
        pass
    if _DURATION.fullmatch(v) or re.fullmatch(r"(\d+(?:\.\d+)?(ms|h|m|s))+", v):
        unit = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
        return now - sum(float(n) * unit[u] for n, u in _DURATION.findall(v))
    try:
        d = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        raise CommandFailed(
            f'invalid value "{value}" for flag --since: expected a timestamp or a duration', 1
        ) from None
    return d.timestamp()  # naive dates are local time, as docker reads them


@functools.lru_cache(maxsize=32768)
def _log_line(prefix: str, timestamps: bool, bare: bool, t: float, text: str) -> str:
    """One line as `logs` prints it. Cached: a poll's `--tail` shows mostly the lines the
    last poll showed (a window that moves a few lines at a time), node after node."""
    if bare:
        text = _PLAY_TIME.sub("", text, count=1)
    return prefix + (rfc3339(t) + " " if timestamps else "") + text + "\n"


def rfc3339(t: float) -> str:
    """docker's RFC3339NanoFixed in UTC, as `logs -t` prefixes lines: always 9 digits."""
    ns = round(t * 1_000_000_000)
    return _utc_second(ns // 1_000_000_000) + f"{ns % 1_000_000_000:09d}Z"


@functools.lru_cache(maxsize=4096)
def _utc_second(seconds: int) -> str:
    # A `logs -t` prints hundreds of lines per call, a few per second of log: the date
    # and time of each second is formatted once.
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.")


# -- the dcomp commands ----------------------------------------------------------------------
@dataclass
class LogsArgs:
    follow: bool = False
    tail: int | None = None
    since: float | None = None
    timestamps: bool = False
    prefix: bool = True
    services: tuple[str, ...] = ()


def _parse_logs(args: list[str], now: float) -> LogsArgs:
    la = LogsArgs()
    services: list[str] = []
    it = iter(args)
    for a in it:
        key, eq, inline = a.partition("=")
        if a in ("-f", "--follow"):
            la.follow = True
        elif a in ("-t", "--timestamps"):
            la.timestamps = True
        elif a == "--no-log-prefix":
            la.prefix = False
        elif a in ("--no-color",):
            continue
        elif key in ("--tail", "-n"):
            v = inline if eq else next(it, "")
            la.tail = None if v == "all" else _int(v, "--tail")
        elif key == "--since":
            la.since = parse_since(inline if eq else next(it, ""), now)
        elif a[:1] == "-" and a[1:2] != "-" and len(a) > 1 and set(a[1:]) <= {"f", "t"}:
            la.follow = la.follow or "f" in a
            la.timestamps = la.timestamps or "t" in a
        elif a.startswith("-"):
            raise CommandFailed(f"unknown flag: {a}", 1)
        else:
            services.append(a)
    la.services = tuple(services)
    return la


def _int(v: str, flag: str) -> int:
    try:
        return int(v)
    except ValueError:
        raise CommandFailed(f'invalid argument "{v}" for "{flag}" flag', 1) from None


async def dcomp(ctx: Ctx, prog: str, args: list[str]) -> int:
    _, defs = project_of(ctx.node)
    if not args:
        ctx.out(f"Usage: {prog} COMMAND\n\nCommands: ps, logs, restart, up\n")
        return 1
    sub, rest = args[0], args[1:]
    known = [d.service for d in defs]
    v1 = ctx.node.compose == COMPOSE_V1
    if sub == "ps":
        st = sync_node(ctx.world, ctx.node, look=True)
        wanted = [a for a in rest if not a.startswith("-")]
        for w in wanted:
            if w not in known:
                raise CommandFailed(f"no such service: {w}", 1)
        everything = v1 or "-a" in rest or "--all" in rest  # v1 always listed stopped ones
        cs = [
            c
            for c in st.get("containers", {}).values()
            if (not wanted or c["service"] in wanted) and (c["state"] != "exited" or everything)
        ]
        if "-q" in rest or "--quiet" in rest:
            ctx.out("".join(container_id(c) + "\n" for c in sorted(cs, key=lambda c: c["name"])))
        elif v1:
            ctx.out(ps_table_v1(cs, time.time(), ctx.timing))
        else:
            ctx.out(ps_table(cs, time.time(), ctx.timing))
        return 0
    if sub == "logs":
        return await _logs(ctx, rest, known)
    if sub == "restart":
        targets = [a for a in rest if not a.startswith("-")] or known
        for t in targets:
            if t not in known:
                raise CommandFailed(f"no such service: {t}", 1)
        await _restart(ctx, targets)
        return 0
    if sub == "up":
        if ctx.node.kind == EDGE:
            return await _edge_up(ctx)
        st = sync_node(ctx.world, ctx.node)
        for c in st.get("containers", {}).values():
            ctx.err(f"{c['name']} is up-to-date\n" if v1 else f" Container {c['name']}  Running\n")
        return 0
    raise CommandFailed(f'unknown docker command: "compose {sub}"', 1)


async def _restart(ctx: Ctx, services: list[str]) -> None:
    world, node = ctx.world, ctx.node
    sync_node(world, node)
    now = time.time()
    with world.edit_state(node.id) as st:
        for s in services:
            c = st["containers"][s]
            if c["service"] == "xuc" and c["state"] == "running":
                _append(
                    log_path(world, node, c),
                    [(now, _fmt(c["style"], now, lv, lg, m)) for lv, lg, m in XUC_STOP],
                )
            c["state"] = "restarting"
            c["stopped_at"] = now
        names = [st["containers"][s]["name"] for s in services]
    v1 = node.compose == COMPOSE_V1
    width = max(len(f"Restarting {n}") for n in names)
    for n in names:
        # v1's ParallelStreamWriter without ANSI: the line, then again with "done".
        ctx.err(f"{'Restarting ' + n:<{width}} ... \r\n" if v1 else f" Container {n}  Restarting\n")
    await ctx.flush()
    await ctx.sleep(ctx.timing.container_restart)
    now = time.time()
    with world.edit_state(node.id) as st:
        for s in services:
            c = st["containers"][s]
            c.update(
                state="running",
                started_at=now,
                timeline_at=now,
                startup_idx=0,
                ready_at=None,
                stalled=False,
                retry_k=0,
                seq=0,
                cursor=now - 0.001,
                restarts=c.get("restarts", 0) + 1,
            )
    for n in names:
        ctx.err(
            f"{'Restarting ' + n:<{width}} ... done\r\n" if v1 else f" Container {n}  Started\n"
        )


async def _edge_up(ctx: Ctx) -> int:
    world, node = ctx.world, ctx.node
    env_file = ctx.path(EDGE_ENV)
    if not env_file.is_file():
        raise CommandFailed(
            f"env file {EDGE_ENV} not found: stat {EDGE_ENV}: no such file or directory", 1
        )
    env = parse_env(env_file.read_text(encoding="utf-8", errors="replace"))
    sync_node(world, node)
    st = world.read_state(node.id)
    plan: list[tuple[ContainerDef, str, dict[str, str]]] = []
    for d in EDGE_CONTAINERS:
        watched = {k: env.get(k, "") for k in EDGE_WATCHED[d.service]}
        c = st.get("containers", {}).get(d.service)
        if c is None:
            plan.append((d, "create", watched))
        elif c.get("env") != watched:
            plan.append((d, "recreate", watched))
        elif c["state"] != "running":
            plan.append((d, "start", watched))
        else:
            plan.append((d, "running", watched))
    v1 = node.compose == COMPOSE_V1
    verbs = {"recreate": "Recreating", "create": "Creating", "start": "Starting"}
    width = max(
        (
            len(f"{verbs[a]} {container_name(EDGE_PROJECT, d.service, node.compose)}")
            for d, a, _ in plan
            if a in verbs
        ),
        default=0,
    )
    for d, action, _ in plan:
        name = container_name(EDGE_PROJECT, d.service, node.compose)
        if v1:
            if action == "running":
                ctx.err(f"{name} is up-to-date\n")
            else:
                ctx.err(f"{verbs[action] + ' ' + name:<{width}} ... \r\n")
        elif action == "recreate":
            ctx.err(f" Container {name}  Recreate\n")
        elif action == "create":
            ctx.err(f" Container {name}  Creating\n")
    if any(a != "running" for _, a, _ in plan):
        await ctx.flush()
        await ctx.sleep(ctx.timing.edge_up)
    now = time.time()
    with world.edit_state(node.id) as st2:
        containers = st2.setdefault("containers", {})
        for d, action, watched in plan:
            if action in ("create", "recreate"):
                old = containers.get(d.service)
                c = new_container(EDGE_PROJECT, d, now, watched, node.compose)
                if old is not None:
                    c["restarts"] = old.get("restarts", 0)
                    log_path(world, node, old).unlink(missing_ok=True)  # a new container
                containers[d.service] = c
            elif action == "start":
                containers[d.service].update(state="running", started_at=now)
    for d, action, _ in plan:
        name = container_name(EDGE_PROJECT, d.service, node.compose)
        if v1:
            if action != "running":
                ctx.err(f"{verbs[action] + ' ' + name:<{width}} ... done\r\n")
        elif action == "recreate":
            ctx.err(
                f" Container {name}  Recreated\n Container {name}  Starting\n"
                f" Container {name}  Started\n"
            )
        elif action == "create":
            ctx.err(
                f" Container {name}  Created\n Container {name}  Starting\n"
                f" Container {name}  Started\n"
            )
        elif action == "start":
            ctx.err(f" Container {name}  Starting\n Container {name}  Started\n")
        else:
            ctx.err(f" Container {name}  Running\n")
    return 0


V1_LOGS_HELP = """View output from containers.

Usage: logs [options] [--] [SERVICE...]

Options:
    --no-color              Produce monochrome output.
    -f, --follow            Follow log output.
    -t, --timestamps        Show timestamps.
    --tail="all"            Number of lines to show from the end of the logs
                            for each container.
    --no-log-prefix         Don't print prefix in logs.
"""


def wrapper_args(args: list[str], spec: XucSpec) -> list[str]:
    """What `xivocc-dcomp logs` hands to docker: without -t / --since when it drops them."""
    out: list[str] = []
    it = iter(args)
    for a in it:
        if not spec.logs_timestamps and a in ("-t", "--timestamps"):
            continue
        if not spec.logs_timestamps and a[:1] == "-" and a[1:2] != "-" and "t" in a[1:]:
            a = a.replace("t", "")
            if a == "-":
                continue
        if not spec.logs_since and a == "--since":
            next(it, None)
            continue
        if not spec.logs_since and a.startswith("--since="):
            continue
        out.append(a)
    return out


async def _logs(ctx: Ctx, args: list[str], known: list[str]) -> int:
    world, node = ctx.world, ctx.node
    args = wrapper_args(args, behaviour(world, node) if node.kind == CC else XucSpec())
    v1 = node.compose == COMPOSE_V1
    if v1 and any(a == "--since" or a.startswith("--since=") for a in args):
        # docker-compose 1.x has no --since: docopt rejects it with the command's help.
        ctx.err(V1_LOGS_HELP)
        return 1
    la = _parse_logs(args, time.time())
    for s in la.services:
        if s not in known:
            raise CommandFailed(f"no such service: {s}", 1)
    services = list(la.services) or known
    st0 = world.read_state(node.id).get("containers", {})
    short = {s: container_name("", s, node.compose).lstrip("-_") for s in known}
    # v1's LogPresenter pads to the longest service name + 3; v2's logConsumer prints
    # `%-{w}s | ` with w = the longest logged name + 1.
    width = max(len(s) for s in known) + 3 if v1 else max(len(short[s]) for s in services) + 1

    bare = node.kind == CC and not behaviour(world, node).app_times

    def render(service: str, t: float, text: str) -> str:
        prefix = (short[service].ljust(width) + " | ") if la.prefix else ""
        return _log_line(prefix, la.timestamps, bare and service == "xuc", t, text)

    if v1:
        names = [st0[s]["name"] for s in services if s in st0]
        ctx.out(f"Attaching to {', '.join(names)}\n")
    st = sync_node(world, node, look=True)
    offsets: dict[str, tuple[str, int]] = {}
    merged: list[tuple[float, int, str]] = []
    for i, s in enumerate(services):
        c = st["containers"].get(s)
        if c is None:
            continue
        lines = read_log(log_path(world, node, c))
        offsets[s] = (c["name"] + str(c["created_at"]), len(lines))
        if la.since is not None:
            # Inclusive, with room for the float rounding of an RFC 3339 round trip.
            lines = [ln for ln in lines if ln[0] >= la.since - 1e-6]
        if la.tail is not None:
            lines = lines[-la.tail :] if la.tail > 0 else []
        merged += [(t, i, render(s, t, text)) for t, text in lines]
    merged.sort(key=lambda x: (x[0], x[1]))
    ctx.out("".join(m[2] for m in merged))
    await ctx.flush()
    while la.follow:
        await ctx.sleep(ctx.timing.follow_poll)
        st = sync_node(world, node, look=True)
        fresh: list[tuple[float, int, str]] = []
        for i, s in enumerate(services):
            c = st["containers"].get(s)
            if c is None:
                continue
            ident = c["name"] + str(c["created_at"])
            lines = read_log(log_path(world, node, c))
            prev_ident, seen = offsets.get(s, (ident, 0))
            if prev_ident != ident:
                seen = 0  # recreated container: a new log
            offsets[s] = (ident, len(lines))
            fresh += [(t, i, render(s, t, text)) for t, text in lines[seen:]]
        fresh.sort(key=lambda x: (x[0], x[1]))
        if fresh:
            ctx.out("".join(f[2] for f in fresh))
        await ctx.flush()  # raises once the peer is gone: that ends the follow
    return 0


def boot(world: LabWorld, node: NodeSpec, now: float) -> None:
    """Power-on: containers come back (restart policy `always`), with a new start-up."""
    with world.edit_state(node.id) as st:
        for c in st.get("containers", {}).values():
            c.update(
                state="running",
                started_at=now,
                timeline_at=now,
                startup_idx=0,
                ready_at=None,
                stalled=False,
                retry_k=0,
                seq=0,
                cursor=now - 0.001,
            )


def halt(world: LabWorld, node: NodeSpec, now: float) -> None:
    with world.edit_state(node.id) as st:
        for c in st.get("containers", {}).values():
            c.update(state="exited", stopped_at=now)


def xuc_listening(world: LabWorld, node: NodeSpec) -> bool:
    """xuc's HTTP port is bound: the current run of its container logged the readiness line."""
    c = sync_node(world, node).get("containers", {}).get("xuc")
    return c is not None and c["state"] == "running" and c.get("ready_at") is not None


def container(world: LabWorld, node_id: str, service: str) -> dict[str, Any] | None:
    node = world.node(node_id)
    st = sync_node(world, node)
    c = st.get("containers", {}).get(service)
    return dict(c) if c else None
