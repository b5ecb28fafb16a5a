"""Everything the last poll learned about one node, as plain text for the detail view.

`detail_text()` is a pure function of the inventory node and its `NodeSnapshot`: the
reachability and last errors first (what the admin needs when a row says down), then the
parsed facts (services, HA config, cron, sync, containers, Edge variables), then the raw
output of every command the poll ran, so nothing the parsers skipped is hidden.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widgets import Static

from resil_tui.core.freshness import clock, stamp
from resil_tui.core.ha_mode import HaMode
from resil_tui.core.reach_state import ReachState
from resil_tui.core.roles import CLASSIC_WORDS, RoleWords
from resil_tui.core.sanitize import clean
from resil_tui.core.sip_expiry import SEED_HA_ON, SipExpiryTriple
from resil_tui.inventory_model import Node
from resil_tui.ui.widgets.node_table import role_text

if TYPE_CHECKING:
    # What a polled node holds; the first screen shows none (core/cluster.py).
    from resil_tui.core.compose import ComposePs
    from resil_tui.core.ha import CronFile, HaConfig, HaCron
    from resil_tui.core.node_status import CcStatus, EdgeStatus, NodeSnapshot
    from resil_tui.core.services import ServicesStatus


def _flag(value: bool | None, yes: str, no: str) -> str:
    return "? unknown" if value is None else yes if value else no


def _services(services: ServicesStatus | None) -> list[str]:
    lines = ["Services (xivo-service status all):"]
    if services is None:
        return [*lines, "  ? not read"]
    mark = {"running": "✔", "stopped": "■", "failed": "✖", "unknown": "?"}
    for s in services.services:
        raw = f" ({s.raw_state})" if s.raw_state and s.raw_state != s.state.value else ""
        lines.append(f"  {mark.get(s.state.value, '?')} {s.name:<28} {s.state.value}{raw}")
    if not services.services:
        lines.append("  (no service listed)")
    db = services.database_raw or services.database.value
    lines.append(f"  database: {services.database.value} ({db})")
    lines.extend(f"  unparsed: {u}" for u in services.unparsed)
    if services.exit_code not in (None, 0):
        lines.append(f"  exit status {services.exit_code}")
    return lines


def _ha(ha: HaConfig | None, words: RoleWords = CLASSIC_WORDS) -> list[str]:
    if ha is None:
        return ["HA config: ? not read"]
    if not ha.present:
        return ["HA config: /etc/xivo/ha.conf does not exist (HA disabled)"]
    lines = [
        f"HA config: {words.mode(ha.mode.value)}"
        + (f", peer {ha.peer}" if ha.peer else ", no peer")
    ]
    lines.extend(f"  ▲ {p}" for p in ha.problems)
    return lines


def _cron_file(name: str, cron: CronFile) -> list[str]:
    if not cron.present:
        return [f"  {name}: absent"]
    lines = [f"  {name}: present"]
    for e in cron.entries:
        state = "commented out" if e.commented else "active"
        lines.append(f"    {e.schedule} {e.user} {e.command}  ({state})")
    lines.extend(f"    unparsed: {u}" for u in cron.unparsed)
    return lines


def _cron(cron: HaCron | None, ha: HaConfig | None) -> list[str]:
    if cron is None:
        return ["Cron: ? not read"]
    lines = [f"Cron: {cron.state.value}"]
    lines += _cron_file("/etc/cron.d/xivo-ha-master", cron.master)
    lines += _cron_file("/etc/cron.d/xivo-ha-slave", cron.slave)
    if ha is not None:
        lines.extend(f"  ▲ {p}" for p in cron.problems(ha.mode, ha.peer))
    return lines


def _containers(ps: ComposePs | None, title: str) -> list[str]:
    if ps is None:
        return [f"{title}: ? not read"]
    lines = [f"{title}:"]
    for c in ps.containers:
        mark = "✔" if c.state.value == "up" else "✖"
        health = f" [{c.health}]" if c.health else ""
        lines.append(f"  {mark} {c.service:<16} {c.state.value:<10} {c.name} · {c.status}{health}")
    if not ps.containers:
        lines.append("  (no container listed)")
    lines.extend(f"  unparsed: {u}" for u in ps.unparsed)
    return lines


def _edge(edge: EdgeStatus) -> list[str]:
    overall = edge.targets.overall.value if edge.targets else "unknown"
    lines = [f"Edge variables (/etc/docker/edge/.env), overall → {overall}:"]
    if edge.targets is not None:
        for v in edge.targets.variables:
            value = v.value if v.value is not None else "(missing)"
            lines.append(f"  {v.name} = {value}  → {v.side.value}")
    lines.append("")
    return lines + _containers(edge.containers, "Edge containers (edge-dcomp ps)")


def _xuc(cc: CcStatus, now: float) -> list[str]:
    xuc = cc.xuc
    if xuc is None:
        return []
    lines = [f"xuc: {xuc.describe(now)}", f"  why: {xuc.basis}"]
    run = xuc.run
    if run is not None:
        where = {"inspect": "docker inspect", "ps": "xivocc-dcomp ps"}.get(
            run.source.value if run.source else "", "unknown"
        )
        start = stamp(run.started_at, now) if run.started_at is not None else "?"
        who = f"{run.container} " if run.container else ""
        lines.append(f"  run: {who}{run.status}, started {start} (from {where})")
        if run.health:
            lines.append(f"  docker health check: {run.health}")
    if xuc.state.value in ("starting", "not_ready"):
        lines.append(f"  grace period: {xuc.grace:g}s (then not ready is critical)")
    if xuc.line:
        lines.append(f"  readiness line: {xuc.line}")
    if xuc.probe is not None:
        answer = f"HTTP {xuc.probe.code}" if xuc.probe.answered else "no answer"
        detail = f" ({xuc.probe.detail})" if xuc.probe.detail else ""
        lines.append(f"  probe {xuc.probe.url}: {answer}{detail}")
    lines.extend(f"  {e}" for e in xuc.evidence)
    lines.append(
        "  (the readiness line and the probe prove xuc's HTTP server is up, not that xuc "
        "reached the XiVO)"
    )
    return [*lines, ""]


def _phones(snap: NodeSnapshot) -> list[str]:
    x = snap.xivo
    assert x is not None
    counts = x.phone_counts()
    # The figures are as old as the last poll that read them.
    when = f" (as of {clock(snap.last_success_at)})" if snap.last_success_at else ""
    lines = [
        f"Phones: {clean(counts.phones_text(), one_line=True)}{when}",
        f"Calls: {clean(counts.calls_text(), one_line=True)}{when}",
    ]
    contacts = x.contacts.value if x.contacts is not None else None
    if contacts is not None and contacts.by_status:
        shown = ", ".join(f"{n} {status.value}" for status, n in contacts.by_status.items())
        lines.append(f"  contacts by status: {shown}; {contacts.aors} AORs")
    return lines


def _xivo(snap: NodeSnapshot, ha_on: SipExpiryTriple, words: RoleWords) -> list[str]:
    x = snap.xivo
    assert x is not None
    lines = [*_services(x.services), *_phones(snap), "", *_ha(x.ha, words)]
    lines.append("What the web UI's HA save writes (sysconfd does not):")
    lines.extend(f"  {line}" for line in x.web_ui_check(snap.node_id, ha_on).lines())
    lines.append(
        "Disabled flag /var/lib/xivo/disabled: "
        + _flag(x.disabled_flag, "present (standby on purpose)", "absent")
    )
    lines += ["", *_cron(x.cron, x.ha), ""]
    if x.sync is None:
        lines.append("xivo-sync: ? log not read")
    else:
        when = x.sync.time.isoformat(sep=" ") if x.sync.time else "unknown time"
        lines.append(f"xivo-sync: last run {x.sync.outcome.value} at {when}: {x.sync.message}")
        lines.extend(f"  {d}" for d in x.sync.detail)
        if x.sync.last_success is not None:
            lines.append(f"  last success: {x.sync.last_success.isoformat(sep=' ')}")
    # Only the master runs xivo-sync: a slave without the key is normal.
    is_master = x.ha is not None and x.ha.mode is HaMode.MASTER
    missing = "✖ missing" if is_master else "absent (only the master needs it)"
    lines.append(
        "Sync key /root/.ssh/xivo_id_rsa: " + _flag(x.sync_key_present, "present", missing)
    )
    if x.replication is not None:
        r = x.replication
        lines.append(f"DB replication: {r.outcome.value}" + (f": {r.reason}" if r.reason else ""))
        lines.extend(f"  {line}" for line in r.lines)
    return lines


def detail_text(
    node: Node,
    snap: NodeSnapshot | None,
    stale_after: float,
    now: float,
    ha_on: SipExpiryTriple = SEED_HA_ON,
    words: RoleWords = CLASSIC_WORDS,
) -> str:
    port = f":{node.ssh.port}" if node.ssh.port else ""
    user = f"{node.ssh.user}@" if node.ssh.user else ""
    lines = [
        f"■ {node.id} — {role_text(node, words)}" + (f", IP {node.ip}" if node.ip else ""),
        f"  ssh {user}{node.ssh.host}{port}" + (f" via {node.ssh.jump}" if node.ssh.jump else ""),
        "",
    ]
    if snap is None or snap.reachability.state is ReachState.NOT_POLLED:
        return "\n".join([*lines, "Not polled yet."])
    reach = snap.reachability
    since = f" since {clock(reach.since)}" if reach.since is not None else ""
    lines.append(f"Reachability: {reach.state.value}{since}")
    if reach.message:
        lines.append(f"  {reach.message}")
    if reach.state is ReachState.HOST_KEY_CHANGED:
        where = reach.fix_at
        lines.append(
            "  Trusting is not offered for a changed key: check with the node's administrator, "
            f"then remove the old entry{f' ({where})' if where else ''}."
        )
    elif reach.state is ReachState.HOST_KEY_REVOKED:
        lines.append("  A revoked key is never offered for trust: the node must get a new key.")
    latency = f", latency {snap.latency_seconds * 1000:.0f} ms" if snap.latency_seconds else ""
    lines.append(f"Last poll {clock(snap.polled_at)}{latency}")
    if snap.last_success_at is not None:
        stale = now - snap.last_success_at > stale_after
        lines.append(
            f"Last successful poll {clock(snap.last_success_at)}"
            + (" ▲ STALE: the data below may be wrong" if stale else "")
        )
    if snap.errors:
        lines.append("Last errors:")
        lines.extend(f"  ✖ {e}" for e in snap.errors)
    lines.append("")
    if snap.xivo is not None:
        lines += _xivo(snap, ha_on, words)
    elif snap.cc is not None:
        lines += _xuc(snap.cc, now)
        lines += _containers(snap.cc.containers, "Containers (xivocc-dcomp ps)")
    elif snap.edge is not None:
        lines += _edge(snap.edge)
    elif snap.mds is not None:
        lines += _services(snap.mds.services)
    if snap.raw:
        lines += ["", "Raw command outputs of the last successful poll:"]
        for command, output in snap.raw.items():
            lines.append(f"$ {command}")
            lines.extend(f"  {line}" for line in output.splitlines())
    return "\n".join(lines)


class NodeDetail(Static):
    """The detail view of the selected node (markup off: outputs may contain '[')."""

    DEFAULT_CSS = """
    NodeDetail { height: auto; width: 100%; padding: 0 1; text-wrap: wrap; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__("Select a node to see its details.", markup=False, **kwargs)  # type: ignore[arg-type]
        self.node_id: str | None = None

    def show(
        self,
        node: Node,
        snap: NodeSnapshot | None,
        stale_after: float,
        now: float,
        ha_on: SipExpiryTriple = SEED_HA_ON,
        words: RoleWords = CLASSIC_WORDS,
    ) -> None:
        self.node_id = node.id
        self.update(detail_text(node, snap, stale_after, now, ha_on, words))

    @property
    def text(self) -> str:
        return str(self.content)
