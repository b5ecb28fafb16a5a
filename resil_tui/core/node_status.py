"""What one poll collected about one node, and about a site (pure data, JSON-ready).

The poller (ops/) fills these from command outputs through the core parsers; cluster.py
turns a SiteSnapshot into verdicts. Timestamps are epoch seconds (float) taken by the
poller; times read from node logs stay node-local datetimes.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from resil_tui.core.ha_mode import HaMode
from resil_tui.core.reach_state import ReachState as ReachState
from resil_tui.core.records import field, record
from resil_tui.core.sip_expiry import SEED_HA_ON, SipExpiryTriple
from resil_tui.lazy import lazy_module

if TYPE_CHECKING:
    # Names of the fields' types, not needed at run time. Among them the parsers'
    # modules (asterisk, xuc_readiness, edge_env) load with the first poll, not with the
    # console's first screen, which shows nodes not polled yet.
    from resil_tui.core import ha_webui, telephony
    from resil_tui.core.asterisk import AsteriskResult, Channels, Contacts, SipPeers
    from resil_tui.core.compose import ComposePs, ContainerState
    from resil_tui.core.edge_side import EdgeTargets
    from resil_tui.core.ha import HaConfig, HaCron
    from resil_tui.core.ha_webui import ProvdDefault, SipExpiry, WebUiCheck
    from resil_tui.core.replication import ReplicationResult
    from resil_tui.core.services import ServicesStatus
    from resil_tui.core.sync_log import SyncResult
    from resil_tui.core.telephony import PhoneCounts
    from resil_tui.core.xuc_readiness import XucReadiness
else:
    # Phones are counted when a site is judged or shown polled: not on the first screen.
    telephony = lazy_module("resil_tui.core.telephony")
    # The web UI's checks: only a polled XiVO node's detail runs them.
    ha_webui = lazy_module("resil_tui.core.ha_webui")


@record
class Reachability:
    """Whether the last poll reached the node over SSH, since when, and if not, why."""

    state: ReachState = ReachState.NOT_POLLED
    message: str = ""
    since: float | None = None  # epoch seconds when the node entered this state
    # Host key failures: the known_hosts file (and line) to look at, and the jump hop
    # whose key it is when it is not the node's own (None: the node's).
    known_hosts: str | None = None
    line: int | None = None
    hop: str | None = None

    @property
    def ok(self) -> bool:
        return self.state is ReachState.OK

    @property
    def fix_at(self) -> str:
        """'FILE line N' to look at for a host key failure, '' when there is none."""
        if self.known_hosts is None:
            return ""
        return f"{self.known_hosts} line {self.line}" if self.line else self.known_hosts

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "state": self.state.value,
            "message": self.message,
            "since": self.since,
        }
        if self.hop is not None:
            data["hop"] = self.hop
        return data


# --- per kind -------------------------------------------------------------------------------


@record
class XivoStatus:
    """What a poll read on a XiVO node (None: not known): HA, services, sync and replication, the
    web UI's HA settings, phones and calls."""

    ha: HaConfig | None = None
    services: ServicesStatus | None = None
    disabled_flag: bool | None = None  # /var/lib/xivo/disabled exists (standby on purpose)
    cron: HaCron | None = None
    sync: SyncResult | None = None
    sync_key_present: bool | None = None  # /root/.ssh/xivo_id_rsa exists
    replication: ReplicationResult | None = None  # last run started by the product
    sip_expiry: SipExpiry | None = None  # the staticsip rows, as psql printed them
    sip_error: str | None = None  # why they could not be read
    provd_default: ProvdDefault | None = None  # provd's "default" config, read from its file
    provd_error: str | None = None  # why it could not be read
    # `asterisk -rx` answers: PJSIP contacts (chan_sip sites: SIP peers), calls.
    contacts: AsteriskResult[Contacts] | None = None
    sip_peers: AsteriskResult[SipPeers] | None = None
    channels: AsteriskResult[Channels] | None = None

    def phone_counts(self) -> PhoneCounts:
        """Contacts reachable / contacts, phones, calls (core/telephony.py)."""
        return self._phone_counts

    @functools.cached_property
    def _phone_counts(self) -> PhoneCounts:
        # Once per status (it is frozen): a site's judgement asks for each XiVO's counts
        # twice (where the phones are, then the findings), the Status pane again.
        return telephony.count_phones(
            self.contacts, self.sip_peers, self.channels, standby=bool(self.disabled_flag)
        )

    def web_ui_check(self, node_label: str, ha_on: SipExpiryTriple = SEED_HA_ON) -> WebUiCheck:
        """SIP expiry and backup registrar against ha.conf: what the web UI's HA save
        writes and sysconfd does not."""
        ha = self.ha
        return ha_webui.check_web_ui_effects(
            node_label,
            ha.mode if ha is not None else HaMode.UNKNOWN,
            ha.peer if ha is not None else None,
            sip=self.sip_expiry,
            sip_error=self.sip_error,
            provd=self.provd_default,
            provd_error=self.provd_error,
            ha_on=ha_on,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "ha": self.ha.to_dict() if self.ha else None,
            "sip_expiry": self.sip_expiry.to_dict() if self.sip_expiry else None,
            "sip_error": self.sip_error,
            "provd_default": self.provd_default.to_dict() if self.provd_default else None,
            "provd_error": self.provd_error,
            "services": self.services.to_dict() if self.services else None,
            "disabled_flag": self.disabled_flag,
            "cron": self.cron.to_dict() if self.cron else None,
            "sync": self.sync.to_dict() if self.sync else None,
            "sync_key_present": self.sync_key_present,
            "replication": self.replication.to_dict() if self.replication else None,
        }


XUC_SERVICE = "xuc"


@record
class CcStatus:
    """What a poll read on a CC node: the xivocc stack's containers and whether xuc is ready."""

    containers: ComposePs | None = None
    # The readiness of the xuc container's current run (core/xuc_readiness.py).
    xuc: XucReadiness | None = None
    # What the next poll needs: the end of the log read (an anchor when the run changes;
    # None when the log was not read, which is not an empty log), and whether the wrapper
    # accepted `logs --since` (docker-compose 1.x refuses it).
    log_tail: tuple[str, ...] | None = None
    logs_since_ok: bool | None = None
    # Whether the verdict came from the log window read (core/xuc_readiness.py:
    # window_decides), not from the run alone or an earlier look: judged from a short read,
    # it is to be judged again from the usual window (ops/cc_status.py).
    window_decided: bool = False

    def xuc_state(self, service: str = XUC_SERVICE) -> ContainerState | None:
        return self.containers.service_state(service) if self.containers else None

    def to_dict(self) -> dict[str, Any]:
        state = self.xuc_state()
        return {
            "containers": self.containers.to_dict() if self.containers else None,
            "xuc_state": state.value if state else None,
            "xuc": self.xuc.to_dict() if self.xuc else None,
        }


@record
class EdgeStatus:
    """What a poll read on an Edge node: its `.env` (the side it points to) and its containers."""

    values: dict[str, str] = field(default_factory=dict)  # the four variables found in .env
    targets: EdgeTargets | None = None
    containers: ComposePs | None = None
    # The whole file as the poll read it: the Edge pane plans the switch from it, and the
    # apply re-reads the file and refuses unless it is still this text.
    env_text: str | None = None

    @property
    def env_sha256(self) -> str | None:
        # The switch's module (difflib and all): loaded when a hash is asked, not at start-up.
        from resil_tui.core.edge_env import sha256_text

        return sha256_text(self.env_text) if self.env_text is not None else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "env_sha256": self.env_sha256,
            "values": dict(self.values),
            "targets": self.targets.to_dict() if self.targets else None,
            "containers": self.containers.to_dict() if self.containers else None,
        }


@record
class MdsStatus:
    """What a poll read on an MDS node: its services."""

    services: ServicesStatus | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"services": self.services.to_dict() if self.services else None}


# --- node and site -------------------------------------------------------------------------


@record
class NodeSnapshot:
    """One node as its last poll saw it: reached or not, the status of its kind, the raw outputs
    and what could not be read."""

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

    def phone_counts(self) -> PhoneCounts | None:
        """A XiVO node's phones and calls as last read (None for other kinds)."""
        if self.kind != "xivo":
            return None
        return (
            self.xivo.phone_counts()
            if self.xivo
            else telephony.PhoneCounts(telephony.CountState.NOT_READ)
        )

    def telephony_dict(self) -> dict[str, Any] | None:
        counts = self.phone_counts()
        if counts is None:
            return None
        known = telephony.CountState.COUNTED in (counts.state, counts.calls_state)
        # The figures' age: that of the last poll that read them.
        return {**counts.to_dict(), "as_of": self.last_success_at if known else None}

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
            "telephony": self.telephony_dict(),
            "errors": list(self.errors),
        }
        if include_raw:
            data["raw"] = dict(self.raw)
        return data


@record
class SiteSnapshot:
    """Every node of a site as last polled: what cluster.py judges."""

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
