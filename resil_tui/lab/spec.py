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


@dataclass(frozen=True)
class SiteSpec:
    name: str
    nodes: tuple[NodeSpec, ...]
    description: str = ""

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
) -> SiteSpec:
    """One site on a /24 `prefix` ("10.50.0"), with the demo's host numbering."""
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
            ),
        ]
    if edge:
        # .110 on purpose: a naive `sed s/10.50.0.11/.../` also rewrites it.
        nodes.append(
            NodeSpec(
                f"{name}.edge",
                name,
                EDGE,
                None,
                f"{prefix}.110",
                "edge",
                fqdn=f"edge.{domain}",
                hostname=f"edge-{name}",
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
    return SiteSpec(name, tuple(nodes), description)


@dataclass(frozen=True)
class LabSpec:
    sites: tuple[SiteSpec, ...]
    root_password: str = DEFAULT_ROOT_PASSWORD  # the slave's root password (xivo-sync -i)

    @classmethod
    def demo(cls) -> LabSpec:
        return cls((build_site("demo", "10.50.0", description="resil-tui lab (simulated)"),))

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
                tuple(NodeSpec(**n) for n in s["nodes"]),
                s.get("description", ""),
            )
            for s in data["sites"]
        )
        return cls(sites, data.get("root_password", DEFAULT_ROOT_PASSWORD))


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
    latency: float = 0.0  # added before every command (benchmarks)
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
        )

    def with_(self, **changes: Any) -> LabTiming:
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LabTiming:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
