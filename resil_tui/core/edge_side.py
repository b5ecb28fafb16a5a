"""Which side an Edge `.env` points to: the one rule, for the Status poll and the switch.

Four variables relay the Edge to a XiVO/CC pair (seed): XIVO_HOST, XIVOCC_HOST,
TURN_ALLOWED_PEERS, XIVO_MDS_HOST_DEFAULT. Each is classified by the whole addresses it
holds (never substrings: `10.0.0.1` is not in `10.0.0.10`). A value that names no address
but references others (`XIVO_MDS_HOST_DEFAULT=${XIVO_HOST}`) takes the side of what it
expands to, as docker compose expands it: from the file's own values (`${A}`,
`${A:-default}`), never from the environment of this process.

The Edge as a whole points to a side when every variable that names one side names the
same; a variable holding both addresses (TURN peers allowing both XiVOs) is right on either
side and decides nothing; a missing variable, or one naming no known address, is reported
per variable and decides nothing either.

Pure: text in, dataclass out.
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from ipaddress import AddressValueError, IPv4Address, IPv4Network
from typing import TYPE_CHECKING, Any

from resil_tui.core.records import field, record
from resil_tui.lazy import lazy_module

if TYPE_CHECKING:
    from resil_tui.core import edge_scan
else:
    # The .env scanner (and python-dotenv) loads with the first Edge answer: the first
    # screen needs this module's names, not its reading of a file.
    edge_scan = lazy_module("resil_tui.core.edge_scan")

CC_VARIABLES: tuple[str, ...] = ("XIVOCC_HOST",)
# Display order: the order the seed lists them in.
EDGE_VARIABLES: tuple[str, ...] = (
    "XIVO_HOST",
    "XIVOCC_HOST",
    "TURN_ALLOWED_PEERS",
    "XIVO_MDS_HOST_DEFAULT",
)


class VarSide(StrEnum):
    """What one variable names."""

    MASTER = "master"
    SLAVE = "slave"
    MIXED = "mixed"  # both addresses (TURN peers allowing both)
    NEITHER = "neither"  # assigned, but names no address of the pair
    MISSING = "missing"  # not assigned in the file


class EdgeSide(StrEnum):
    """Where the Edge as a whole points (published as `edge.targets.overall`)."""

    MASTER = "master"
    SLAVE = "slave"
    MIXED = "mixed"  # some variables name the master, others the slave
    UNKNOWN = "unknown"  # no variable names a side (missing, host names, no known address)


# The per-variable word, folded into the overall vocabulary (JSON `side` of a variable).
_AS_EDGE_SIDE = {
    VarSide.MASTER: EdgeSide.MASTER,
    VarSide.SLAVE: EdgeSide.SLAVE,
    VarSide.MIXED: EdgeSide.MIXED,
    VarSide.NEITHER: EdgeSide.UNKNOWN,
    VarSide.MISSING: EdgeSide.UNKNOWN,
}


@record
class PairAddresses:
    """The site's addresses the variables are compared with (None: not in the inventory)."""

    xivo_master: IPv4Address | None
    xivo_slave: IPv4Address | None
    cc_master: IPv4Address | None = None
    cc_slave: IPv4Address | None = None

    def pair(self, variable: str) -> tuple[IPv4Address | None, IPv4Address | None]:
        if variable in CC_VARIABLES:
            return self.cc_master, self.cc_slave
        return self.xivo_master, self.xivo_slave


@record
class EdgeVariableTarget:
    """One of the four relay variables of an Edge `.env`, and the side its addresses name."""

    name: str
    value: str | None  # as written in the file; None: not assigned
    detail: VarSide
    addresses: list[str] = field(default_factory=list)  # whole IPv4 addresses in the value
    follows: tuple[str, ...] = ()  # variables whose expansion decided the side

    @property
    def side(self) -> EdgeSide:
        return _AS_EDGE_SIDE[self.detail]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "side": self.side.value,
            "detail": self.detail.value,
            "addresses": list(self.addresses),
            "follows": list(self.follows),
        }


@record
class EdgeTargets:
    """Which side an Edge `.env` points to, variable by variable and as a whole."""

    variables: list[EdgeVariableTarget]
    overall: EdgeSide

    def variable(self, name: str) -> EdgeVariableTarget | None:
        return next((v for v in self.variables if v.name == name), None)

    @property
    def undecided(self) -> list[str]:
        """Variables that name no side (missing, or no known address)."""
        return [v.name for v in self.variables if v.detail in (VarSide.MISSING, VarSide.NEITHER)]

    def sides(self) -> dict[str, VarSide]:
        return {v.name: v.detail for v in self.variables}

    def to_dict(self) -> dict[str, Any]:
        return {
            "overall": self.overall.value,
            "variables": [v.to_dict() for v in self.variables],
        }


# A dotted quad not glued to other digits/dots; an optional "/NN" says it is a network.
_IPV4_TOKEN = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?![\d]|\.\d)(/\d{1,2})?")
# coturn's range form `a-b` (`--allowed-peer-ip=10.0.0.1-10.0.0.40`).
_IPV4_RANGE = re.compile(
    r"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})-(\d{1,3}(?:\.\d{1,3}){3})(?![\d]|\.\d)"
)


@record
class PeerSpan:
    """A range `a-b` or a network `x/NN` in a value: it allows the addresses it covers,
    but names none of them (its ends are never rewritten)."""

    text: str
    span: tuple[int, int]
    first: IPv4Address
    last: IPv4Address

    def covers(self, address: IPv4Address) -> bool:
        return self.first <= address <= self.last


def peer_spans(value: str) -> list[PeerSpan]:
    """The ranges and networks (wider than /32) of a value, in order."""
    found: list[PeerSpan] = []
    for match in _IPV4_RANGE.finditer(value):
        try:
            first, last = IPv4Address(match.group(1)), IPv4Address(match.group(2))
        except AddressValueError:
            continue
        found.append(PeerSpan(match.group(0), match.span(), min(first, last), max(first, last)))
    for match in _IPV4_TOKEN.finditer(value):
        prefix = match.group(2)
        if prefix is None or prefix == "/32" or _inside(match.span(), found):
            continue
        try:
            net = IPv4Network(match.group(1) + prefix, strict=False)
        except ValueError:
            continue
        found.append(
            PeerSpan(match.group(0), match.span(), net.network_address, net.broadcast_address)
        )
    return sorted(found, key=lambda p: p.span)


def _inside(span: tuple[int, int], spans: list[PeerSpan]) -> bool:
    return any(p.span[0] <= span[0] and span[1] <= p.span[1] for p in spans)


def named_spans(value: str, address: IPv4Address) -> list[tuple[int, int]]:
    """Where `address` is named by itself in a value (not as a range's end, not as a
    network): the only places a switch may rewrite."""
    spans = peer_spans(value)
    return [s for s in edge_scan.find_address(value, address) if not _inside(s, spans)]


def covering(value: str, address: IPv4Address | None) -> PeerSpan | None:
    """The first range or network of the value that covers `address` (None: none does)."""
    if address is None:
        return None
    return next((p for p in peer_spans(value) if p.covers(address)), None)


def addresses_in(value: str) -> list[IPv4Address]:
    """Whole IPv4 addresses of single nodes in a value: `10.0.0.1:3478`, `x/32`,
    `--allowed-peer-ip=x`. A range `a-b` or a CIDR network wider than /32 names no node:
    it says nothing about which side the Edge points to (see `covering`)."""
    spans = peer_spans(value)
    found: list[IPv4Address] = []
    for match in _IPV4_TOKEN.finditer(value):
        prefix = match.group(2)
        if (prefix is not None and prefix != "/32") or _inside(match.span(), spans):
            continue
        try:
            address = IPv4Address(match.group(1))
        except AddressValueError:
            continue
        if address not in found:
            found.append(address)
    return found


def classify(value: str, master: IPv4Address | None, slave: IPv4Address | None) -> VarSide:
    found = addresses_in(value)
    on_master = master is not None and master in found
    on_slave = slave is not None and slave in found
    if on_master and on_slave:
        return VarSide.MIXED
    if on_master:
        return VarSide.MASTER
    if on_slave:
        return VarSide.SLAVE
    return VarSide.NEITHER


def side_of_value(
    name: str, value: str, env: dict[str, str | None], pair: PairAddresses
) -> tuple[VarSide, tuple[str, ...], str]:
    """(side, variables followed, the value as expanded) of one assigned value."""
    master, slave = pair.pair(name)
    detail = classify(value, master, slave)
    refs = edge_scan.referenced_variables(value)
    if detail is VarSide.NEITHER and refs:
        expanded = edge_scan.interpolate(value, {k: v for k, v in env.items() if k != name})
        resolved = classify(expanded, master, slave)
        if resolved is not VarSide.NEITHER:
            return resolved, refs, expanded
    return detail, (), value


def _variable(name: str, env: dict[str, str | None], pair: PairAddresses) -> EdgeVariableTarget:
    if name not in env:
        return EdgeVariableTarget(name, None, VarSide.MISSING)
    value = env[name]
    if value is None:  # `NAME` alone on a line: assigned, no value
        return EdgeVariableTarget(name, None, VarSide.NEITHER)
    detail, follows, shown = side_of_value(name, value, env, pair)
    return EdgeVariableTarget(name, value, detail, [str(a) for a in addresses_in(shown)], follows)


def overall_of(variables: list[EdgeVariableTarget]) -> EdgeSide:
    deciding = {v.detail for v in variables if v.detail in (VarSide.MASTER, VarSide.SLAVE)}
    if not deciding:
        return EdgeSide.UNKNOWN
    if len(deciding) == 2:
        return EdgeSide.MIXED
    return _AS_EDGE_SIDE[deciding.pop()]


def edge_targets(text: str, pair: PairAddresses) -> EdgeTargets:
    """Side of each of the four variables as dotenv reads the file, and overall. Never raises."""
    env = edge_scan.scan_env(text).values()
    variables = [_variable(name, env, pair) for name in EDGE_VARIABLES]
    return EdgeTargets(variables, overall_of(variables))


def containers_behind(env_text: str, inspect_text: str, pair: PairAddresses) -> list[str] | None:
    """What `edge-dcomp up -d` has left to apply: each running Edge container (from
    `docker inspect`, its Config.Env) whose value of one of the four variables names
    another side than the `.env` does now. [] when every value found agrees; None when no
    container's environment holds any of the four (nothing to compare: cannot tell)."""
    try:
        data = json.loads(inspect_text) if inspect_text.strip() else []
    except ValueError:
        return None
    objects = data if isinstance(data, list) else [data]
    wanted = {v.name: v.detail for v in edge_targets(env_text, pair).variables}
    behind: list[str] = []
    compared = 0
    for obj in objects:
        config = obj.get("Config") if isinstance(obj, dict) else None
        env = config.get("Env") if isinstance(config, dict) else None
        if not isinstance(env, list):
            continue
        name = str(obj.get("Name", "?")).removeprefix("/")
        for item in env:
            if not isinstance(item, str) or "=" not in item:
                continue
            key, _, value = item.partition("=")
            if key not in wanted:
                continue
            compared += 1
            master, slave = pair.pair(key)
            running = classify(value, master, slave)
            if running is not wanted[key]:
                behind.append(
                    f"{name}: {key} names the {running.value}, the .env the {wanted[key].value}"
                )
    return behind if compared else None
