"""What one poll collected about one node, and about a site (pure data, JSON-ready).

The poller (ops/) fills these from command outputs through the core parsers; cluster.py
turns a SiteSnapshot into verdicts. Timestamps are epoch seconds (float) taken by the
poller; times read from node logs stay node-local datetimes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from ipaddress import AddressValueError, IPv4Address
from typing import Any

from resil_tui.core.compose import ComposePs, ContainerState
from resil_tui.core.ha import HaConfig, HaCron
from resil_tui.core.replication import ReplicationResult
from resil_tui.core.services import ServicesStatus
from resil_tui.core.sync_log import SyncResult


class ReachState(StrEnum):
    OK = "ok"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    AUTH = "auth"
    HOST_KEY_UNKNOWN = "host_key_unknown"
    HOST_KEY_CHANGED = "host_key_changed"
    DROPPED = "dropped"  # connection lost mid-poll / exit status None
    ERROR = "error"
    NOT_POLLED = "not_polled"  # no poll finished yet


@dataclass(frozen=True)
class Reachability:
    state: ReachState = ReachState.NOT_POLLED
    message: str = ""
    since: float | None = None  # epoch seconds when the node entered this state

    @property
    def ok(self) -> bool:
        return self.state is ReachState.OK

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state.value, "message": self.message, "since": self.since}


# --- per kind -------------------------------------------------------------------------------


@dataclass(frozen=True)
class XivoStatus:
    ha: HaConfig | None = None
    services: ServicesStatus | None = None
    disabled_flag: bool | None = None  # /var/lib/xivo/disabled exists (standby on purpose)
    cron: HaCron | None = None
    sync: SyncResult | None = None
    sync_key_present: bool | None = None  # /root/.ssh/xivo_id_rsa exists
    replication: ReplicationResult | None = None  # last run started by the product

    def to_dict(self) -> dict[str, Any]:
        return {
            "ha": self.ha.to_dict() if self.ha else None,
            "services": self.services.to_dict() if self.services else None,
            "disabled_flag": self.disabled_flag,
            "cron": self.cron.to_dict() if self.cron else None,
            "sync": self.sync.to_dict() if self.sync else None,
            "sync_key_present": self.sync_key_present,
            "replication": self.replication.to_dict() if self.replication else None,
        }


XUC_SERVICE = "xuc"


@dataclass(frozen=True)
class CcStatus:
    containers: ComposePs | None = None

    def xuc_state(self, service: str = XUC_SERVICE) -> ContainerState | None:
        return self.containers.service_state(service) if self.containers else None

    def to_dict(self) -> dict[str, Any]:
        state = self.xuc_state()
        return {
            "containers": self.containers.to_dict() if self.containers else None,
            "xuc_state": state.value if state else None,
        }


class EdgeSide(StrEnum):
    MASTER = "master"
    SLAVE = "slave"
    MIXED = "mixed"  # both sides' addresses (in one variable, or across variables)
    UNKNOWN = "unknown"  # missing, a host name, or no known address


EDGE_XIVO_VARIABLES = ("XIVO_HOST", "XIVO_MDS_HOST_DEFAULT", "TURN_ALLOWED_PEERS")
EDGE_CC_VARIABLES = ("XIVOCC_HOST",)
EDGE_VARIABLES = EDGE_XIVO_VARIABLES + EDGE_CC_VARIABLES


@dataclass(frozen=True)
class EdgeVariableTarget:
    name: str
    value: str | None  # None: the variable is not in the .env
    side: EdgeSide
    addresses: list[str] = field(default_factory=list)  # whole IPv4 addresses found

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "side": self.side.value,
            "addresses": list(self.addresses),
        }


@dataclass(frozen=True)
class EdgeTargets:
    variables: list[EdgeVariableTarget]
    overall: EdgeSide

    def variable(self, name: str) -> EdgeVariableTarget | None:
        return next((v for v in self.variables if v.name == name), None)

    @property
    def unknown_variables(self) -> list[str]:
        return [v.name for v in self.variables if v.side is EdgeSide.UNKNOWN]

    def to_dict(self) -> dict[str, Any]:
        return {
            "overall": self.overall.value,
            "variables": [v.to_dict() for v in self.variables],
        }


# A dotted quad not glued to other digits/dots; an optional "/NN" says it is a network.
_IPV4_TOKEN = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?![\d]|\.\d)(/\d{1,2})?")


def extract_addresses(value: str) -> list[IPv4Address]:
    """Whole IPv4 addresses in a value: ``10.0.0.1:3478``, ``a-b`` range ends, ``x/32``.

    A CIDR network wider than /32 is not an address of one node, so it is left out:
    ``10.0.0.0/24`` says nothing about which side the Edge points to.
    """
    found: list[IPv4Address] = []
    for match in _IPV4_TOKEN.finditer(value):
        prefix = match.group(2)
        if prefix is not None and prefix != "/32":
            continue
        try:
            address = IPv4Address(match.group(1))
        except AddressValueError:
            continue
        if address not in found:
            found.append(address)
    return found


def _side_of(
    value: str | None, master: IPv4Address | None, slave: IPv4Address | None
) -> tuple[EdgeSide, list[str]]:
    if value is None:
        return EdgeSide.UNKNOWN, []
    addresses = extract_addresses(value)
    has_master = master is not None and master in addresses
    has_slave = slave is not None and slave in addresses
    side = (
        EdgeSide.MIXED
        if has_master and has_slave
        else EdgeSide.MASTER
        if has_master
        else EdgeSide.SLAVE
        if has_slave
        else EdgeSide.UNKNOWN
    )
    return side, [str(a) for a in addresses]


def edge_targets(
    values: dict[str, str],
    master_xivo_ip: IPv4Address | None,
    slave_xivo_ip: IPv4Address | None,
    master_cc_ip: IPv4Address | None,
    slave_cc_ip: IPv4Address | None,
) -> EdgeTargets:
    """Which side each of the four Edge variables points to, and overall.

    XIVO_HOST, XIVO_MDS_HOST_DEFAULT and TURN_ALLOWED_PEERS are compared with the XiVO
    VoIP IPs, XIVOCC_HOST with the CC IPs (unknown when no CC IP is known). Overall is
    master or slave when every variable that names a side names that side, mixed when
    they disagree, unknown when none names a side.
    """
    variables: list[EdgeVariableTarget] = []
    for name in EDGE_VARIABLES:
        value = values.get(name)
        if name in EDGE_CC_VARIABLES:
            side, addresses = _side_of(value, master_cc_ip, slave_cc_ip)
        else:
            side, addresses = _side_of(value, master_xivo_ip, slave_xivo_ip)
        variables.append(EdgeVariableTarget(name, value, side, addresses))
    sides = {v.side for v in variables if v.side is not EdgeSide.UNKNOWN}
    if not sides:
        overall = EdgeSide.UNKNOWN
    elif len(sides) == 1:
        overall = sides.pop()
    else:
        overall = EdgeSide.MIXED
    return EdgeTargets(variables, overall)


@dataclass(frozen=True)
class EdgeStatus:
    values: dict[str, str] = field(default_factory=dict)  # the four variables found in .env
    targets: EdgeTargets | None = None
    containers: ComposePs | None = None
    # The whole .env as read by the poll (None: not read), and its sha256 hex digest: what
    # a switch can later be planned from without reading the file again. Not in to_dict:
    # the status JSON (schema 1) publishes the four variables only.
    env_text: str | None = None
    env_sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "values": dict(self.values),
            "targets": self.targets.to_dict() if self.targets else None,
            "containers": self.containers.to_dict() if self.containers else None,
        }


@dataclass(frozen=True)
class MdsStatus:
    services: ServicesStatus | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"services": self.services.to_dict() if self.services else None}


# --- node and site -------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeSnapshot:
    node_id: str
    kind: str  # "xivo" | "cc" | "edge" | "mds" (inventory NodeKind values)
    side: str | None = None  # "master" | "slave" for XiVO and CC
    reachability: Reachability = field(default_factory=Reachability)
    latency_seconds: float | None = None
    polled_at: float | None = None  # end of the last poll attempt (epoch seconds)
    last_success_at: float | None = None  # end of the last poll that reached the node
    xivo: XivoStatus | None = None
    cc: CcStatus | None = None
    edge: EdgeStatus | None = None
    mds: MdsStatus | None = None
    raw: dict[str, str] = field(default_factory=dict)  # command -> output, detail view
    errors: list[str] = field(default_factory=list)

    def to_dict(self, include_raw: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "node_id": self.node_id,
            "kind": self.kind,
            "side": self.side,
            "reachability": self.reachability.to_dict(),
            "latency_seconds": self.latency_seconds,
            "polled_at": self.polled_at,
            "last_success_at": self.last_success_at,
            "xivo": self.xivo.to_dict() if self.xivo else None,
            "cc": self.cc.to_dict() if self.cc else None,
            "edge": self.edge.to_dict() if self.edge else None,
            "mds": self.mds.to_dict() if self.mds else None,
            "errors": list(self.errors),
        }
        if include_raw:
            data["raw"] = dict(self.raw)
        return data


@dataclass(frozen=True)
class SiteSnapshot:
    site: str
    nodes: dict[str, NodeSnapshot] = field(default_factory=dict)  # by node_id
    polled_at: float | None = None

    def node(self, node_id: str | None) -> NodeSnapshot | None:
        return self.nodes.get(node_id) if node_id is not None else None

    def to_dict(self, include_raw: bool = False) -> dict[str, Any]:
        return {
            "site": self.site,
            "polled_at": self.polled_at,
            "nodes": {k: v.to_dict(include_raw) for k, v in self.nodes.items()},
        }
