"""Prometheus text exposition (format 0.0.4) of what the last polls saw.

Names follow the Prometheus conventions: the `resil_` prefix, base units in the name
(`_seconds`), `_total` for counters, state sets as one gauge per state with a label (1 for
the current state, 0 for the others). Labels are the inventory's names only (site, node,
kind, side) and closed sets of words (roles, verdicts, severities): never remote text, so
the number of series is bounded by the inventory.

A value that is not known is not exported (no sample) rather than guessed: an
unreachable node has `resil_node_up 0` and no latency, telephony or xuc sample.
Phones and calls of a XiVO node are exported only where they were counted: a standby
whose Asterisk is stopped, or an answer not read, has no phones or calls sample.

Pure: the caller gives the snapshots, the verdicts and the poll figures.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from resil_tui.core.cluster import Severity, SiteVerdicts, Verdict, XivoState, telephony_role
from resil_tui.core.edge_side import EdgeSide
from resil_tui.core.ha import HaMode
from resil_tui.core.node_status import NodeSnapshot, SiteSnapshot
from resil_tui.core.records import record
from resil_tui.core.replication import ReplicationOutcome
from resil_tui.core.site_picture import xuc_readiness
from resil_tui.core.sync_log import SyncOutcome
from resil_tui.core.telephony import CountState

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PRIMARY_VERDICTS = (
    Verdict.NORMAL,
    Verdict.FAILED_OVER,
    Verdict.SPLIT_BRAIN,
    Verdict.NO_TELEPHONY,
    Verdict.UNKNOWN,
)
HA_ROLES = (HaMode.MASTER, HaMode.SLAVE, HaMode.DISABLED, HaMode.UNKNOWN)
EDGE_SIDES = (EdgeSide.MASTER, EdgeSide.SLAVE, EdgeSide.MIXED, EdgeSide.UNKNOWN)


@record
class SitePoll:
    """One site's last poll, as the exposition needs it."""

    snapshot: SiteSnapshot
    verdicts: SiteVerdicts
    duration: float | None = None  # seconds the poll took
    ended_at: float | None = None  # epoch seconds
    polls: int | None = None  # polls made so far (the watcher; None: a one-shot command)


@dataclass
class _Family:
    name: str
    kind: str  # gauge | counter
    help: str
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)

    def add(self, labels: dict[str, str], value: float) -> None:
        self.samples.append((labels, value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def render(families: Iterable[_Family]) -> str:
    lines: list[str] = []
    for fam in families:
        if not fam.samples:
            continue
        lines.append(f"# HELP {fam.name} {fam.help}")
        lines.append(f"# TYPE {fam.name} {fam.kind}")
        for labels, value in fam.samples:
            text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
            name = f"{fam.name}{{{text}}}" if text else fam.name
            lines.append(f"{name} {_number(value)}")
    return "\n".join(lines) + "\n"


def _node_labels(site: str, snap: NodeSnapshot) -> dict[str, str]:
    labels = {"site": site, "node": snap.node_id, "kind": snap.kind}
    if snap.side:
        labels["side"] = snap.side
    return labels


def _epoch(value: datetime | None) -> float | None:
    """A time read from a node's log; a naive one is read in this machine's time zone."""
    if value is None:
        return None
    return value.timestamp() if value.tzinfo is not None else time.mktime(value.timetuple())


def exposition(sites: Sequence[SitePoll], now: float, version: str) -> str:
    fams = {
        name: _Family(name, kind, text)
        for name, kind, text in (
            ("resil_build_info", "gauge", "resil-tui version (always 1)."),
            ("resil_node_up", "gauge", "1 when the last poll reached the node over SSH."),
            (
                "resil_node_latency_seconds",
                "gauge",
                "Round trip of the last poll's read (its quickest part when read part by part).",
            ),
            (
                "resil_node_last_success_timestamp_seconds",
                "gauge",
                "When the node last answered a poll (epoch seconds).",
            ),
            ("resil_xivo_ha_role", "gauge", "HA role in ha.conf: 1 for the current role."),
            ("resil_xivo_telephony_active", "gauge", "1 when the XiVO runs telephony (Asterisk)."),
            (
                "resil_xivo_phones_reachable",
                "gauge",
                "PJSIP contacts Avail (chan_sip: peers OK or LAGGED) on the XiVO.",
            ),
            (
                "resil_xivo_phone_contacts",
                "gauge",
                "PJSIP contacts (chan_sip: registered peers) on the XiVO.",
            ),
            ("resil_xivo_active_calls", "gauge", "Calls in progress on the XiVO (Asterisk)."),
            ("resil_cc_xuc_ready", "gauge", "1 when the current run of xuc is ready."),
            ("resil_edge_side", "gauge", "Where the Edge points: 1 for the current side."),
            ("resil_xivo_sync_ok", "gauge", "1 when the last xivo-sync run succeeded (HA master)."),
            (
                "resil_xivo_sync_age_seconds",
                "gauge",
                "Age of the last xivo-sync run (its log time read in this host's time zone).",
            ),
            (
                "resil_xivo_replication_ok",
                "gauge",
                "1 when the last replication started from resil-tui succeeded.",
            ),
            (
                "resil_xivo_replication_age_seconds",
                "gauge",
                "Age of the last replication started from resil-tui.",
            ),
            ("resil_site_verdict", "gauge", "The site's verdict: 1 for the current one."),
            ("resil_site_severity", "gauge", "The site's severity: 1 for the current one."),
            ("resil_site_findings", "gauge", "Findings of the site by severity."),
            (
                "resil_site_poll_duration_seconds",
                "gauge",
                "How long the last poll of the site took.",
            ),
            (
                "resil_site_last_poll_timestamp_seconds",
                "gauge",
                "When the last poll of the site ended (epoch seconds).",
            ),
            ("resil_site_polls_total", "counter", "Polls of the site since the watcher started."),
        )
    }
    fams["resil_build_info"].add({"version": version}, 1)
    for poll in sites:
        site = poll.verdicts.site
        for snap in poll.snapshot.nodes.values():
            _node(fams, site, snap, now)
        _site(fams, poll)
    return render(fams.values())


def _node(fams: dict[str, _Family], site: str, snap: NodeSnapshot, now: float) -> None:
    labels = _node_labels(site, snap)
    if snap.polled_at is None:
        return  # not polled yet: nothing is known, not even "down"
    up = snap.reachability.ok
    fams["resil_node_up"].add(labels, 1 if up else 0)
    if snap.last_success_at is not None:
        fams["resil_node_last_success_timestamp_seconds"].add(labels, snap.last_success_at)
    if not up:
        return
    if snap.latency_seconds is not None:
        fams["resil_node_latency_seconds"].add(labels, snap.latency_seconds)
    x = snap.xivo
    if x is not None:
        if x.ha is not None:
            for role in HA_ROLES:
                fams["resil_xivo_ha_role"].add({**labels, "role": role.value}, x.ha.mode is role)
        role_now = telephony_role(x)
        if role_now is not XivoState.UNKNOWN:
            fams["resil_xivo_telephony_active"].add(labels, role_now is XivoState.ACTIVE)
        is_master = x.ha is not None and x.ha.mode is HaMode.MASTER
        if x.sync is not None and is_master:
            fams["resil_xivo_sync_ok"].add(labels, x.sync.outcome is SyncOutcome.SUCCESS)
            ran = _epoch(x.sync.time)
            if ran is not None:
                fams["resil_xivo_sync_age_seconds"].add(labels, max(0.0, now - ran))
        counts = x.phone_counts()
        if counts.state is CountState.COUNTED:
            fams["resil_xivo_phones_reachable"].add(labels, counts.reachable or 0)
            fams["resil_xivo_phone_contacts"].add(labels, counts.total or 0)
        if counts.calls_state is CountState.COUNTED and counts.calls is not None:
            fams["resil_xivo_active_calls"].add(labels, counts.calls)
        rep = x.replication
        if rep is not None:
            fams["resil_xivo_replication_ok"].add(labels, rep.outcome is ReplicationOutcome.SUCCESS)
            if rep.at is not None:
                fams["resil_xivo_replication_age_seconds"].add(labels, max(0.0, now - rep.at))
    xuc = xuc_readiness(snap.cc) if snap.cc is not None else None
    if xuc is not None:
        fams["resil_cc_xuc_ready"].add(labels, xuc[0] == "ready")
    targets = snap.edge.targets if snap.edge is not None else None
    if targets is not None:
        base = {"site": site, "node": snap.node_id, "kind": snap.kind}
        for side in EDGE_SIDES:
            fams["resil_edge_side"].add({**base, "side": side.value}, targets.overall is side)


def _site(fams: dict[str, _Family], poll: SitePoll) -> None:
    v = poll.verdicts
    site = {"site": v.site}
    for verdict in PRIMARY_VERDICTS:
        fams["resil_site_verdict"].add(
            {**site, "verdict": verdict.value}, v.primary.code is verdict
        )
    for severity in Severity:
        fams["resil_site_severity"].add(
            {**site, "severity": severity.value}, v.severity is severity
        )
        count = sum(1 for f in v.findings if f.severity is severity)
        fams["resil_site_findings"].add({**site, "severity": severity.value}, count)
    if poll.duration is not None:
        fams["resil_site_poll_duration_seconds"].add(site, poll.duration)
    if poll.ended_at is not None:
        fams["resil_site_last_poll_timestamp_seconds"].add(site, poll.ended_at)
    if poll.polls is not None:
        fams["resil_site_polls_total"].add(site, poll.polls)
