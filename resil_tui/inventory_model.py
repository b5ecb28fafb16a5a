"""The typed inventory: which sites and nodes exist and how to reach them.

Kept apart from the loader (inventory.py) so that every layer can import the model
without pulling in TOML parsing or validation.
"""

from __future__ import annotations

from enum import StrEnum
from ipaddress import IPv4Address
from pathlib import Path

from resil_tui.core.records import field, record


class NodeKind(StrEnum):
    XIVO = "xivo"
    CC = "cc"
    EDGE = "edge"
    MDS = "mds"


class Side(StrEnum):
    MASTER = "master"
    SLAVE = "slave"


class Resilience(StrEnum):
    """A site's failover mode: `classic` is XiVO up to 2025.10 (the seed); `automatic`
    and `manual` are the next LTS's modes (Main/Standby, XIVO.md)."""

    CLASSIC = "classic"
    AUTOMATIC = "automatic"
    MANUAL = "manual"


class ManualServices(StrEnum):
    """How a manual-mode site's "Start services" / "Stop services" steps are done: run
    `xivo-manage-slave-services start|stop` on the node, or shown as a web-UI instruction
    the admin confirms (what the web UI's buttons run is unverified)."""

    RUN = "run"
    WEB_UI = "web-ui"


class SipStack(StrEnum):
    """Which Asterisk channel driver registers the site's phones: PJSIP (Asterisk 20,
    XiVO >= 2023.05) is read with `pjsip show contacts`; an older chan_sip site with
    `sip show peers` (chan_sip is gone from Asterisk 21)."""

    PJSIP = "pjsip"
    CHAN_SIP = "chan_sip"


@record
class PhonePolicy:
    """`[site.NAME.phones]`: what the phone findings and the wizard's phone steps allow."""

    split_grace: float = 300.0  # s phones may sit on both XiVO (a move in progress)
    low_percent: float = 50.0  # serving node below this % of the count before the move
    move_grace: float = 300.0  # s after a move before "far fewer" is a finding
    wait_percent: float = 90.0  # the wizard waits for this % of the count before the move
    wait_timeout: float = 600.0  # s the wizard's phones wait lasts
    calls_below: int = 1  # the calls guard holds below this many calls in progress
    calls_wait_timeout: float = 600.0  # s the guard waits for calls to drop, when asked
    expected: int | None = None  # phones the site has: the baseline when none was counted


# The SIP expiry HA imposes, in seconds (the seed: 1 / 5 / 2 minutes).
DEFAULT_HA_SIP_EXPIRY = (60, 300, 120)


DEFAULT_READINESS_PATTERN = r"Listening for HTTP on"
# The xuc container's names under docker compose v2 (project-service-1) and v1.
DEFAULT_XUC_CONTAINERS: tuple[str, ...] = ("xivocc-xuc-1", "xivocc_xuc_1")
DEFAULT_XUC_GRACE = 180.0  # seconds a restarted xuc may take before "not ready" is critical
DEFAULT_XUC_PROBE_URL = "http://127.0.0.1:8090/"  # the xuc REST API's port on the CC node


class UnknownName(LookupError):
    """A site or node name the inventory does not have; the message lists the valid ones.

    The one error every CLI command and pane shows for a mistyped name."""

    def __init__(self, what: str, name: str, choices: list[str]) -> None:
        self.what = what
        self.name = name
        self.choices = list(choices)
        close = [c for c in self.choices if name and (name in c or c.endswith(name))]
        hint = f"; did you mean {', '.join(close[:3])}?" if close and len(close) <= 3 else ""
        super().__init__(
            f"no {what} {name!r} in the inventory{hint} (known: {', '.join(self.choices)})"
        )

    def __str__(self) -> str:
        return str(self.args[0])


@record
class SshSettings:
    """How to reach a node. None means: let ~/.ssh/config (or OpenSSH defaults) decide."""

    host: str
    port: int | None = None
    user: str | None = None
    identity_files: tuple[str, ...] = ()
    known_hosts: str | None = None
    jump: str | None = None
    connect_timeout: float = 10.0
    command_timeout: float = 60.0
    keepalive_interval: float = 15.0
    use_ssh_config: bool = True
    # The console and the watcher read through one `sh` kept open per node (README, Safety
    # model); False: every read is a session of its own, as for the one-shot commands.
    keep_shell: bool = True


@record
class RemotePaths:
    """Where XiVO keeps things on a node (XIVO.md); every path can be overridden."""

    ha_conf: str = "/etc/xivo/ha.conf"
    disabled_flag: str = "/var/lib/xivo/disabled"
    sync_log: str = "/var/log/xivo-sync.log"
    sync_key: str = "/root/.ssh/xivo_id_rsa"
    cron_master: str = "/etc/cron.d/xivo-ha-master"
    cron_slave: str = "/etc/cron.d/xivo-ha-slave"
    edge_env: str = "/etc/docker/edge/.env"
    # The per-node change lock (remote/lock.py): a directory created with SFTP mkdir.
    lock_dir: str = "/var/lock/resil-tui"
    # provd's "default" config (jsondb; XiVO-era path, unverified on XiVO.solutions).
    provd_default: str = "/var/lib/xivo-provd/jsondb/configs/default"


DEFAULT_LOCK_STALE_AFTER = 900.0  # seconds: a lock not refreshed for 15 min is stale
DEFAULT_KEEP_BACKUPS = 20


@record
class ChangePolicy:
    """How changes to a node are guarded ([changes] in the inventory)."""

    lock_stale_after: float = DEFAULT_LOCK_STALE_AFTER
    keep_backups: int = DEFAULT_KEEP_BACKUPS


@record
class JournalPolicy:
    """[journal]: how much of the incident journal is kept (resil_tui/journal.py)."""

    max_age_days: float = 90.0
    max_size_mb: float = 16.0


@record
class WatchSettings:
    """[watch]: what `resil-tui watch` runs when the journal records a change."""

    on_change: tuple[str, ...] = ()  # argv (no shell); empty: nothing is run
    on_change_timeout: float = 10.0  # seconds before the command is killed
    on_change_kinds: tuple[str, ...] = ("verdict",)  # journal event kinds that trigger it


@record
class XucSettings:
    """How a CC node's xuc readiness is read ([site.S.cc.SIDE.xuc] in the inventory)."""

    containers: tuple[str, ...] = DEFAULT_XUC_CONTAINERS  # `docker inspect` names
    start_from: str = "inspect"  # where the run's start comes from: "inspect" | "ps"
    probe_url: str | None = None  # an HTTP probe run with curl on the node; None: none
    probe_timeout: float = 5.0
    grace: float = DEFAULT_XUC_GRACE


@record
class LogStreamSpec:
    """An extra read-only log stream declared in the inventory for a node."""

    name: str
    argv: tuple[str, ...]


@record
class Node:
    """A node of a site: what it is, how to reach it, where its files and logs are."""

    # "paris.xivo.master", "paris.cc.slave", "paris.edge" (or "paris.edge.sip" when the site
    # has several Edge nodes), "paris.mds.mds1"
    id: str
    site: str
    kind: NodeKind
    side: Side | None  # master/slave for XiVO and CC, None for Edge and MDS
    ssh: SshSettings
    ip: IPv4Address | None = None  # VoIP IP (XiVO), service IP (CC, MDS)
    fqdn: str | None = None
    paths: RemotePaths = field(default_factory=RemotePaths)
    readiness_pattern: str = DEFAULT_READINESS_PATTERN
    logs: tuple[LogStreamSpec, ...] = ()
    name: str = ""  # short name inside the site: "xivo.master", "mds.mds1"
    changes: ChangePolicy = field(default_factory=ChangePolicy)
    xuc: XucSettings = field(default_factory=XucSettings)  # CC nodes

    @property
    def label(self) -> str:
        return self.name or self.id


@record
class Site:
    """A site: its XiVO pair, its CC pair, Edge nodes and media servers if any, its
    failover mode and phone policy."""

    name: str
    xivo_master: Node
    xivo_slave: Node
    cc_master: Node | None = None
    cc_slave: Node | None = None
    # The Edge nodes: one for a 1-server Edge ([site.S.edge]), several for a 3-server install
    # ([[site.S.edge]] with a name each); they are switched together.
    edges: tuple[Node, ...] = ()
    mds: tuple[Node, ...] = ()
    description: str = ""
    resilience: Resilience = Resilience.CLASSIC
    manual_services: ManualServices = ManualServices.RUN
    # minexpiry, maxexpiry, defaultexpiry in seconds while HA is on
    ha_sip_expiry: tuple[int, int, int] = DEFAULT_HA_SIP_EXPIRY
    sip: SipStack = SipStack.PJSIP
    phones: PhonePolicy = field(default_factory=PhonePolicy)

    def nodes(self) -> tuple[Node, ...]:
        found: list[Node | None] = [
            self.xivo_master,
            self.xivo_slave,
            self.cc_master,
            self.cc_slave,
        ]
        return tuple(n for n in found if n is not None) + self.edges + self.mds

    def xivo(self, side: Side) -> Node:
        return self.xivo_master if side is Side.MASTER else self.xivo_slave

    def cc(self, side: Side) -> Node | None:
        return self.cc_master if side is Side.MASTER else self.cc_slave


@record
class Inventory:
    """What the inventory file declares: the sites and what they share."""

    path: Path | None
    sites: dict[str, Site]
    read_only: bool = False
    demo: bool = False
    keys: dict[str, str] = field(default_factory=dict)  # binding id -> key, from [keys]
    journal: JournalPolicy = field(default_factory=JournalPolicy)
    watch: WatchSettings = field(default_factory=WatchSettings)

    def nodes(self) -> tuple[Node, ...]:
        return tuple(n for s in self.sites.values() for n in s.nodes())

    def node(self, node_id: str) -> Node:
        """Find a node by id ("paris.cc.slave") or, when unambiguous, by its ssh host."""
        for n in self.nodes():
            if n.id == node_id:
                return n
        matches = [n for n in self.nodes() if n.ssh.host == node_id or n.name == node_id]
        if len(matches) == 1:
            return matches[0]
        raise UnknownName("node", node_id, [n.id for n in self.nodes()])

    def site(self, name: str | None) -> Site:
        if name is None:
            return next(iter(self.sites.values()))
        try:
            return self.sites[name]
        except KeyError:
            raise UnknownName("site", name, list(self.sites)) from None
