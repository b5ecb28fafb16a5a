"""HA configuration of a XiVO node: ha.conf / sysconfd JSON, and the HA cron files.

ha.conf is one line of JSON written by xivo-sysconfd, e.g.
``{"node_type": "master", "remote_address": "10.0.0.2"}``; a missing file means HA disabled.
sysconfd's ``GET /get_ha_config`` answers the same JSON. The cron file sysconfd writes for
the role is ``/etc/cron.d/xivo-ha-master`` (replication + xivo-sync, hourly) or
``/etc/cron.d/xivo-ha-slave`` (xivo-check-master-status, every minute); neither when disabled.
"""

from __future__ import annotations

import json
import re
import shlex
from enum import StrEnum
from ipaddress import AddressValueError, IPv4Address
from typing import Any

# In a module of its own (the first screen names it before anything is polled); it is
# this module's too.
from resil_tui.core.ha_mode import HaMode as HaMode
from resil_tui.core.ha_mode import mode_word
from resil_tui.core.records import field, record

# sysconfd writes this address (or "") on a disabled node: it means "no peer".
_NO_PEER = IPv4Address("0.0.0.0")


@record
class HaConfig:
    """A XiVO node's HA role and peer, as ha.conf (or sysconfd's answer) states them."""

    mode: HaMode
    peer: IPv4Address | None
    raw: str
    problems: list[str] = field(default_factory=list)
    present: bool = True  # False when ha.conf does not exist (HA disabled by default)

    @property
    def enabled(self) -> bool:
        return self.mode in (HaMode.MASTER, HaMode.SLAVE)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode.value,
            "peer": str(self.peer) if self.peer is not None else None,
            "present": self.present,
            "problems": list(self.problems),
            "raw": self.raw,
        }


def parse_ha_conf(text: str | None) -> HaConfig:
    """Parse the content of /etc/xivo/ha.conf; ``None`` means the file does not exist."""
    if text is None:
        return HaConfig(HaMode.DISABLED, None, "", [], present=False)
    return _parse_json_config(text, "ha.conf")


def parse_sysconfd_ha_config(text: str) -> HaConfig:
    """Parse the body of sysconfd's ``GET /get_ha_config`` answer (same JSON as ha.conf)."""
    return _parse_json_config(text, "sysconfd answer")


def _parse_json_config(text: str, source: str) -> HaConfig:
    raw = text
    body = text.lstrip("\ufeff").strip()
    if not body:
        return HaConfig(HaMode.UNKNOWN, None, raw, [f"{source} is empty"])
    try:
        data = json.loads(body)
    except ValueError as exc:
        return HaConfig(HaMode.UNKNOWN, None, raw, [f"{source} is not valid JSON: {exc}"])
    if not isinstance(data, dict):
        return HaConfig(HaMode.UNKNOWN, None, raw, [f"{source} is not a JSON object"])

    problems: list[str] = []
    node_type = data.get("node_type")
    if isinstance(node_type, str):
        word = mode_word(node_type)
        node_type = word if word in ("master", "slave", "disabled") else node_type
    try:
        mode = HaMode(node_type) if isinstance(node_type, str) else HaMode.UNKNOWN
    except ValueError:
        mode = HaMode.UNKNOWN
    if mode is HaMode.UNKNOWN:
        problems.append(f"{source}: unexpected node_type {node_type!r}")

    address = data.get("remote_address", "")
    peer: IPv4Address | None = None
    if address is None or address == "":
        pass
    elif not isinstance(address, str):
        problems.append(f"{source}: remote_address is not a string: {address!r}")
    else:
        try:
            peer = IPv4Address(address.strip())
        except AddressValueError:
            problems.append(f"{source}: remote_address {address!r} is not an IPv4 address")
    if peer == _NO_PEER:
        peer = None
    if mode in (HaMode.MASTER, HaMode.SLAVE) and peer is None and not problems:
        problems.append(f"{source}: node_type {mode.value} without a remote_address")
    return HaConfig(mode, peer, raw, problems)


def render_ha_config(mode: HaMode, peer: IPv4Address | None) -> str:
    """The JSON line sysconfd expects in ``POST /update_ha_config`` (and writes to ha.conf).

    A disabled node gets ``remote_address: ""`` like sysconfd's own default.
    """
    if mode is HaMode.UNKNOWN:
        raise ValueError("cannot write HA mode 'unknown'")
    if mode is HaMode.DISABLED:
        return json.dumps({"node_type": "disabled", "remote_address": ""})
    if peer is None or peer == _NO_PEER or peer.is_unspecified:
        raise ValueError(f"HA mode {mode.value} needs the other node's VoIP IP")
    return json.dumps({"node_type": mode.value, "remote_address": str(peer)})


# --- cron files ----------------------------------------------------------------------------

MASTER_CRON_PROGRAMS = frozenset({"xivo-master-slave-db-replication", "xivo-sync"})
SLAVE_CRON_PROGRAMS = frozenset({"xivo-check-master-status"})


class CronState(StrEnum):
    MASTER = "master"  # only /etc/cron.d/xivo-ha-master
    SLAVE = "slave"  # only /etc/cron.d/xivo-ha-slave
    NONE = "none"  # neither (HA disabled)
    BOTH = "both"  # inconsistent: sysconfd never leaves both


def cron_state(master_present: bool, slave_present: bool) -> CronState:
    if master_present and slave_present:
        return CronState.BOTH
    if master_present:
        return CronState.MASTER
    if slave_present:
        return CronState.SLAVE
    return CronState.NONE


def expected_cron_state(mode: HaMode) -> CronState | None:
    return {
        HaMode.MASTER: CronState.MASTER,
        HaMode.SLAVE: CronState.SLAVE,
        HaMode.DISABLED: CronState.NONE,
    }.get(mode)


@record
class CronEntry:
    """One job line of an HA cron file, active or commented out."""

    schedule: str  # "0 * * * *" or "@hourly"
    user: str
    command: str
    program: str  # basename of the command: "xivo-sync"
    ip: IPv4Address | None  # first IPv4 argument (the peer for the HA scripts)
    commented: bool  # "#0 * * * * root ..." : disabled by hand (XiVO upgrade procedure)
    raw: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "schedule": self.schedule,
            "user": self.user,
            "command": self.command,
            "program": self.program,
            "ip": str(self.ip) if self.ip is not None else None,
            "commented": self.commented,
        }


_ENV_LINE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\s*=")
_SPECIAL_SCHEDULES = frozenset(
    {"@reboot", "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)
# A schedule field: "*", "0", "*/5", "1-5", "1,15", or a 3-letter month/day name.
_CRON_ATOM = r"(?:\*|\d+|[A-Za-z]{3})"
_CRON_FIELD = re.compile(rf"{_CRON_ATOM}(?:[-,]{_CRON_ATOM})*(?:/\d+)?")  # fullmatch


def parse_cron_line(line: str) -> CronEntry | None:
    """Parse one /etc/cron.d line (with its user field); None if it is not a job line."""
    stripped = line.strip()
    commented = False
    if stripped.startswith("#"):
        commented = True
        stripped = stripped.lstrip("#").strip()
    if not stripped or _ENV_LINE.match(stripped):
        return None
    tokens = stripped.split()
    if tokens[0] in _SPECIAL_SCHEDULES:
        n_schedule = 1
    elif len(tokens) >= 5 and all(_CRON_FIELD.fullmatch(t) for t in tokens[:5]):
        n_schedule = 5
    else:
        return None
    if len(tokens) < n_schedule + 2:
        return None
    schedule = " ".join(tokens[:n_schedule])
    user = tokens[n_schedule]
    # Re-cut the original text so the command keeps its own spacing.
    command = stripped.split(None, n_schedule + 1)[n_schedule + 1]
    try:
        argv = shlex.split(command, comments=False)
    except ValueError:
        argv = command.split()
    if not argv:
        return None
    program = argv[0].rsplit("/", 1)[-1]
    ip: IPv4Address | None = None
    for arg in argv[1:]:
        try:
            ip = IPv4Address(arg)
            break
        except AddressValueError:
            continue
    return CronEntry(schedule, user, command, program, ip, commented, line.rstrip("\r\n"))


@record
class CronFile:
    """One HA cron file (/etc/cron.d/xivo-ha-master or xivo-ha-slave) as read on a node."""

    present: bool
    entries: list[CronEntry] = field(default_factory=list)
    unparsed: list[str] = field(default_factory=list)

    @property
    def active_entries(self) -> list[CronEntry]:
        return [e for e in self.entries if not e.commented]

    def to_dict(self) -> dict[str, Any]:
        return {
            "present": self.present,
            "entries": [e.to_dict() for e in self.entries],
            "unparsed": list(self.unparsed),
        }


def parse_cron_file(text: str | None) -> CronFile:
    """Parse a cron.d file; ``None`` means the file does not exist."""
    if text is None:
        return CronFile(present=False)
    entries: list[CronEntry] = []
    unparsed: list[str] = []
    for line in text.splitlines():
        entry = parse_cron_line(line)
        if entry is not None:
            entries.append(entry)
            continue
        stripped = line.strip()
        # Plain comments, blank lines and VAR=value lines are normal cron file content.
        if stripped and not stripped.startswith("#") and not _ENV_LINE.match(stripped):
            unparsed.append(line)
    return CronFile(True, entries, unparsed)


@record
class HaCron:
    """Both HA cron files of one XiVO node."""

    master: CronFile
    slave: CronFile

    @property
    def state(self) -> CronState:
        return cron_state(self.master.present, self.slave.present)

    def problems(self, mode: HaMode, peer: IPv4Address | None) -> list[str]:
        """What does not match the HA role in ha.conf (empty list: consistent)."""
        found: list[str] = []
        expected = expected_cron_state(mode)
        state = self.state
        if expected is None:
            return found
        if state is CronState.BOTH:
            found.append("both xivo-ha-master and xivo-ha-slave cron files are present")
        elif state is not expected:
            want = {
                CronState.MASTER: "xivo-ha-master",
                CronState.SLAVE: "xivo-ha-slave",
                CronState.NONE: "no HA cron file",
            }[expected]
            found.append(
                f"HA mode is {mode.value} so expected {want}, found cron state {state.value}"
            )
        role_file = {HaMode.MASTER: self.master, HaMode.SLAVE: self.slave}.get(mode)
        programs = {HaMode.MASTER: MASTER_CRON_PROGRAMS, HaMode.SLAVE: SLAVE_CRON_PROGRAMS}.get(
            mode, frozenset()
        )
        if role_file is not None and role_file.present:
            active = [e for e in role_file.active_entries if e.program in programs]
            commented = [e for e in role_file.entries if e.commented and e.program in programs]
            if not active and commented:
                found.append(
                    f"the HA cron jobs of the {mode.value} are commented out"
                    " (left over from an upgrade?)"
                )
            elif not active:
                found.append(f"the {mode.value} cron file holds no HA job")
            for entry in active:
                if entry.program == "xivo-sync":
                    continue  # takes no argument: it reads ha.conf itself
                if peer is not None and entry.ip != peer:
                    found.append(
                        f"cron runs {entry.program} for {entry.ip or 'no IP'}, ha.conf names {peer}"
                    )
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "master_file": self.master.to_dict(),
            "slave_file": self.slave.to_dict(),
        }
