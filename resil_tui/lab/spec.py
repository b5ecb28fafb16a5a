"""What the lab simulates (sites, nodes, addresses) and how fast simulated time runs.

Kept as plain data, serialised into lab.json, so that every process opening the same lab
directory (the in-process asyncssh server, the sshd-tier dispatcher) sees the same world.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

XIVO = "xivo"
CC = "cc"
EDGE = "edge"
MDS = "mds"
MASTER = "master"
SLAVE = "slave"

DEFAULT_ROOT_PASSWORD = "lab-root-password"
PJSIP = "pjsip"
CHAN_SIP = "chan_sip"
COMPOSE_V2 = "v2"  # docker compose plugin: containers xivocc-xuc-1, log prefix "xuc-1  | "
COMPOSE_V1 = "v1"  # docker-compose (Python): containers xivocc_xuc_1, log prefix "xuc_1 ... | "


@dataclass(frozen=True)
class XucSpec:
    """How a CC node's xuc and its `xivocc-dcomp` wrapper behave (XIVO.md leaves it open).

    Each option but `app_times` (chosen when the lab starts) can be switched at run time from
    the fault prompt (node flags in lab.json then override it): `xuc-logs-plain`,
    `xuc-healthcheck`, `xuc-ready-delay`.
    """

    logs_timestamps: bool = True  # `logs -t` passed through to docker (else silently ignored)
    # `logs --since` passed through (else ignored: all history). docker-compose 1.x has no
    # --since: with compose v1, passing it through gets docopt's usage text and exit 1.
    logs_since: bool = True
    healthcheck: bool = False  # a compose health check on xuc (none is documented)
    # xuc's own (logback) time at the start of each line; False: a logback pattern without
    # a date (`%-5level [%logger] - %msg`), so with logs_timestamps off no time at all.
    app_times: bool = True
    ready_delay: float | None = None  # start -> readiness line, s; None: LabTiming.xuc_ready
    http_port: int = 8090  # the xuc REST API (/xuc/api/2.0/...), refused until ready


@dataclass(frozen=True)
class NodeSpec:
    id: str  # "demo.xivo.master"
    site: str
    kind: str  # xivo | cc | edge | mds
    side: str | None  # master | slave for xivo and cc
    ip: str  # VoIP / service IP: data only, never connected to
    name: str  # short name inside the site: "xivo.master", "mds.mds1"
    fqdn: str | None = None
    hostname: str = ""
    compose: str = COMPOSE_V2  # CC and Edge: docker compose v2 (plugin) or v1 (docker-compose)
    xuc: XucSpec | None = None  # CC: None means XucSpec()

    @property
    def xuc_spec(self) -> XucSpec:
        return self.xuc or XucSpec()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NodeSpec:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        xuc = values.get("xuc")
        if isinstance(xuc, dict):
            xuc_known = {f.name for f in fields(XucSpec)}
            values["xuc"] = XucSpec(**{k: v for k, v in xuc.items() if k in xuc_known})
        return cls(**values)


@dataclass(frozen=True)
class SiteSpec:
    name: str
    nodes: tuple[NodeSpec, ...]
    description: str = ""
    phones: int = 40  # SIP phones registered to the site's active XiVO
    sip: str = PJSIP  # pjsip (Asterisk 20, XiVO >= 2023.05) or chan_sip (older sites)
    max_calls: int | None = None  # asterisk.conf maxcalls: "N of M max active calls" when set

    def node(self, kind: str, side: str | None = None) -> NodeSpec | None:
        for n in self.nodes:
            if n.kind == kind and (side is None or n.side == side):
                return n
        return None

    def mds(self) -> list[NodeSpec]:
        return [n for n in self.nodes if n.kind == MDS]


def build_site(
    name: str,
    prefix: str,
    *,
    cc: bool = True,
    edge: bool = True,
    mds: int = 2,
    domain: str | None = None,
    description: str = "",
    phones: int = 40,
    sip: str = PJSIP,
    max_calls: int | None = None,
    compose: str = COMPOSE_V2,
    xuc: XucSpec | None = None,
    edges: tuple[str, ...] = (),
) -> SiteSpec:
    """One site on a /24 `prefix` ("10.50.0"), with the demo's host numbering.

    `edges` names the Edge nodes of a 3-server Edge ("web", "sip", "turn": nodes
    `NAME.edge.web`...); empty (the default): one Edge node, `NAME.edge`.

    `compose` and `xuc` apply to both CC nodes (and `compose` to the Edge); give a node its
    own with `dataclasses.replace` on the result when a test needs the two sides to differ.
    """
    if sip not in (PJSIP, CHAN_SIP):
        raise ValueError(f"sip must be {PJSIP!r} or {CHAN_SIP!r}, not {sip!r}")
    if compose not in (COMPOSE_V1, COMPOSE_V2):
        raise ValueError(f"compose must be {COMPOSE_V1!r} or {COMPOSE_V2!r}, not {compose!r}")
    domain = domain or f"{name}.example"
    nodes = [
        NodeSpec(
            f"{name}.xivo.master",
            name,
            XIVO,
            MASTER,
            f"{prefix}.11",
            "xivo.master",
            hostname=f"xivo-{name}-1",
        ),
        NodeSpec(
            f"{name}.xivo.slave",
            name,
            XIVO,
            SLAVE,
            f"{prefix}.12",
            "xivo.slave",
            hostname=f"xivo-{name}-2",
        ),
    ]
    if cc:
        nodes += [
            NodeSpec(
                f"{name}.cc.master",
                name,
                CC,
                MASTER,
                f"{prefix}.21",
                "cc.master",
                fqdn=f"cc1.{domain}",
                hostname=f"cc-{name}-1",
                compose=compose,
                xuc=xuc,
            ),
            NodeSpec(
                f"{name}.cc.slave",
                name,
                CC,
                SLAVE,
                f"{prefix}.22",
                "cc.slave",
                fqdn=f"cc2.{domain}",
                hostname=f"cc-{name}-2",
                compose=compose,
                xuc=xuc,
            ),
        ]
    if edge:
        # .110 on purpose: a naive `sed s/10.50.0.11/.../` also rewrites it.
        for i, short in enumerate(edges or ("",)):
            suffix = f".{short}" if short else ""
            nodes.append(
                NodeSpec(
                    f"{name}.edge{suffix}",
                    name,
                    EDGE,
                    None,
                    f"{prefix}.{110 + i}",
                    f"edge{suffix}",
                    fqdn=f"edge.{domain}",
                    hostname=f"edge-{name}{f'-{short}' if short else ''}",
                    compose=compose,
                )
            )
    for i in range(1, mds + 1):
        nodes.append(
            NodeSpec(
                f"{name}.mds.mds{i}",
                name,
                MDS,
                None,
                f"{prefix}.{30 + i}",
                f"mds.mds{i}",
                hostname=f"mds{i}-{name}",
            )
        )
    return SiteSpec(name, tuple(nodes), description, phones, sip, max_calls)


@dataclass(frozen=True)
class LabSpec:
    sites: tuple[SiteSpec, ...]
    root_password: str = DEFAULT_ROOT_PASSWORD  # the slave's root password (xivo-sync -i)
    seed: int = 1  # phones' expiries, phases and RTTs, and the calls, derive from it

    @classmethod
    def demo(cls, **site_options: Any) -> LabSpec:
        """The demo site; `site_options` go to build_site (phones=, sip=, compose=, xuc=...)."""
        return cls(
            (
                build_site(
                    "demo", "10.50.0", description="resil-tui lab (simulated)", **site_options
                ),
            )
        )

    @classmethod
    def many(cls, sites: int, *, cc: bool = True, edge: bool = True, mds: int = 2) -> LabSpec:
        """`sites` sites named s001, s002...: 7 nodes each with the defaults."""
        built = []
        for i in range(sites):
            prefix = f"10.{100 + i // 250}.{i % 250}"
            built.append(
                build_site(
                    f"s{i + 1:03d}",
                    prefix,
                    cc=cc,
                    edge=edge,
                    mds=mds,
                    description=f"lab site {i + 1}",
                )
            )
        return cls(tuple(built))

    def nodes(self) -> list[NodeSpec]:
        return [n for s in self.sites for n in s.nodes]

    def node(self, node_id: str) -> NodeSpec:
        for n in self.nodes():
            if n.id == node_id:
                return n
        raise KeyError(f"no node {node_id!r} in the lab")

    def site(self, name: str) -> SiteSpec:
        for s in self.sites:
            if s.name == name:
                return s
        raise KeyError(f"no site {name!r} in the lab")

    def node_by_ip(self, ip: str) -> NodeSpec | None:
        for n in self.nodes():
            if n.ip == ip:
                return n
        return None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LabSpec:
        sites = tuple(
            SiteSpec(
                s["name"],
                tuple(NodeSpec.from_json(n) for n in s["nodes"]),
                s.get("description", ""),
                int(s.get("phones", 40)),
                s.get("sip", PJSIP),
                s.get("max_calls"),
            )
            for s in data["sites"]
        )
        return cls(
            sites, data.get("root_password", DEFAULT_ROOT_PASSWORD), int(data.get("seed", 1))
        )


@dataclass(frozen=True)
class LabTiming:
    """Time scales of the simulated world, in seconds."""

    xuc_ready: float = 6.0  # xuc container start -> readiness log line
    xuc_traffic: float = 2.0  # between two ongoing xuc / edge log lines
    check_interval: float = 10.0  # the slave's xivo-check-master-status cron (1 min in reality)
    ping_interval: float = 1.0  # between the 3 pings of check-master-status (10 s in reality)
    service_start: float = 2.0  # `xivo-service start`, whole run
    service_stop: float = 0.5
    postgres_restart: float = 0.3  # sysconfd's PostgreSQL restart in update_ha_config
    replication: float = 1.0
    sync: float = 0.5
    container_restart: float = 1.0  # `xivocc-dcomp restart xuc`
    edge_up: float = 0.5  # `edge-dcomp up -d` when it recreates containers
    follow_poll: float = 0.2  # how often `logs -f` / `tail -F` look for new lines
    latency: float = 0.0  # no line answered sooner after it arrived (benchmarks; _Latency)
    # A phone's registration expiry is drawn (seeded) in [min, max]; it re-registers every
    # 3/4 of it, so it follows a new active XiVO within its expiry (XiVO HA: 2 min).
    phone_expiry_min: float = 20.0
    phone_expiry_max: float = 60.0
    call_rate: float = 0.1  # new calls per second per site (0: only the calls a fault holds)
    call_duration: float = 60.0  # mean call length, s (exponential)
    xuc_health_interval: float = 3.0  # compose health check period (when one is configured)
    xuc_health_start: float = 30.0  # start period: failed checks do not count before it
    extra: dict[str, float] = field(default_factory=dict)  # room for later knobs

    @classmethod
    def demo(cls) -> LabTiming:
        return cls()

    @classmethod
    def fast(cls) -> LabTiming:
        """Sub-second everything, for tests."""
        return cls(
            xuc_ready=0.6,
            xuc_traffic=0.2,
            check_interval=0.3,
            ping_interval=0.05,
            service_start=0.2,
            service_stop=0.05,
            postgres_restart=0.02,
            replication=0.05,
            sync=0.05,
            container_restart=0.1,
            edge_up=0.05,
            follow_poll=0.05,
            phone_expiry_min=0.4,
            phone_expiry_max=1.0,
            call_rate=0.0,
            call_duration=2.0,
            xuc_health_interval=0.1,
            xuc_health_start=1.0,
        )

    def with_(self, **changes: Any) -> LabTiming:
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LabTiming:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
