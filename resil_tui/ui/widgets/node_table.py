"""The Status pane's node table: one row per node of the site, every state in words.

The text of each cell is built by plain functions (`node_cells`) from the inventory node
and the last `NodeSnapshot`, so the same words can be checked without a screen. Symbols
always come with a word (`✔ up`, `✖ down (refused since 12:01:03)`, `☎ ACTIVE`): colour
is never the only carrier of a state.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widgets import DataTable

from resil_tui.core.cluster import XivoState, telephony_role
from resil_tui.core.compose import ComposePs, ContainerState
from resil_tui.core.edge_side import EdgeSide
from resil_tui.core.freshness import age, clock
from resil_tui.core.ha import HaMode
from resil_tui.core.node_status import NodeSnapshot, ReachState
from resil_tui.core.services import ServicesStatus
from resil_tui.core.sync_log import SyncOutcome
from resil_tui.inventory_model import Node, NodeKind, Site

# Most telling first: at 80 columns the row must still say up/down and active/standby;
# the role repeats what the node's name says and goes last.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("node", "Node"),
    ("reach", "Reachability"),
    ("summary", "State"),
    ("ha", "HA mode → peer"),
    ("latency", "Latency"),
    ("role", "Role"),
)

KIND_LABEL = {NodeKind.XIVO: "XiVO", NodeKind.CC: "CC", NodeKind.EDGE: "Edge", NodeKind.MDS: "MDS"}

# A node still being polled this long after the poll started gets a "waiting" marker.
WAITING_MARK_AFTER = 3.0


@dataclass(frozen=True)
class RowContext:
    """What a row needs besides the node and its snapshot."""

    now: float
    stale_after: float
    polling_since: float | None = None  # the node's poll of this cycle has not reported yet
    can_poll: bool = True  # False: no connection pool, nothing will ever be polled
    trust_key: str = "t"  # key that trusts an unknown host key (from the keymap)
    # Since when the node is in its reachability state, from the incident journal (it
    # outlives a restart of the console); None: the collector's own "since".
    reach_since: float | None = None


def reach_text(snap: NodeSnapshot | None, ctx: RowContext) -> str:
    waiting = ""
    waited = ctx.now - ctx.polling_since if ctx.polling_since is not None else 0.0
    if waited >= WAITING_MARK_AFTER:
        waiting = f" · ⟳ waiting {age(waited)}"
    reach = snap.reachability if snap is not None else None
    if reach is None or reach.state is ReachState.NOT_POLLED:
        if not ctx.can_poll:
            return "· not polled (no connection)"
        return "… polling" + (f" {age(waited)}" if waiting else "")
    start = ctx.reach_since if ctx.reach_since is not None else reach.since
    since = f" since {clock(start)}, {age(ctx.now - start)}" if start is not None else ""
    state = reach.state
    if state is ReachState.OK:
        text = "✔ up"
        assert snap is not None
        if snap.last_success_at is not None and ctx.now - snap.last_success_at > ctx.stale_after:
            text += f" · ▲ stale {age(ctx.now - snap.last_success_at)}"
    elif state is ReachState.HOST_KEY_UNKNOWN:
        whose = f"jump host {reach.hop} " if reach.hop else ""
        text = f"? {whose}host key unknown: {ctx.trust_key} to trust"
    elif state is ReachState.HOST_KEY_CHANGED:
        whose = f" of jump host {reach.hop}" if reach.hop else ""
        where = reach.fix_at
        text = f"✖ refused: HOST KEY CHANGED{whose}" + (f", fix {where}" if where else "")
    elif state is ReachState.HOST_KEY_REVOKED:
        whose = f" of jump host {reach.hop}" if reach.hop else ""
        text = f"✖ refused: host key REVOKED{whose}" + (
            f" ({reach.fix_at})" if reach.fix_at else ""
        )
    elif state is ReachState.AUTH:
        text = f"✖ auth refused{since}"
    else:
        text = f"✖ down ({state.value}{since})"
    return text + waiting


def _services_text(services: ServicesStatus | None) -> str:
    if services is None:
        return "services ? unreadable"
    if services.empty:
        return "services ? none listed"
    if services.failed:
        return "services ▲ failed: " + ", ".join(services.failed)
    if services.all_running:
        return "services ✔ all running"
    return "services ▲ stopped: " + ", ".join(services.not_running)


def _containers_not_up(ps: ComposePs | None, skip: str | None = None) -> str:
    if ps is None:
        return "containers ? unreadable"
    down = [
        c.service for c in ps.containers if c.state is not ContainerState.UP and c.service != skip
    ]
    return f"▲ not up: {', '.join(down)}" if down else ""


def xivo_summary(snap: NodeSnapshot) -> str:
    x = snap.xivo
    if x is None:
        return ""
    parts: list[str] = []
    parts.append(
        {
            XivoState.ACTIVE: "☎ ACTIVE",
            XivoState.STANDBY: "◇ standby",
            XivoState.STOPPED: "▲ stopped (no disabled flag)",
        }.get(telephony_role(x), "? telephony unknown")
    )
    if x.services is not None and x.services.failed:
        parts.append("▲ failed: " + ", ".join(x.services.failed))
    if x.ha is not None and x.ha.mode is HaMode.MASTER:
        if x.sync_key_present is False or (
            x.sync is not None and x.sync.outcome is SyncOutcome.KEY_MISSING
        ):
            parts.append("▲ sync key missing")
        elif x.sync is not None and x.sync.outcome is SyncOutcome.ERROR:
            parts.append("✖ sync failing")
        elif x.sync is not None and x.sync.outcome is SyncOutcome.SUCCESS:
            parts.append("sync ✔")
    return " · ".join(parts)


def cc_summary(snap: NodeSnapshot) -> str:
    cc = snap.cc
    if cc is None:
        return ""
    if cc.containers is None:
        return "xuc ? containers unreadable"
    xuc = cc.containers.service("xuc")
    if xuc is None:
        text = "xuc ✖ not listed"
    elif xuc.state is ContainerState.UP:
        health = f" ({xuc.health})" if xuc.health else ""
        text = ("xuc ▲ up" if xuc.health == "unhealthy" else "xuc ✔ up") + health
    else:
        text = f"xuc ✖ {xuc.state.value}"
    others = _containers_not_up(cc.containers, skip="xuc")
    return f"{text} · {others}" if others else text


def edge_summary(snap: NodeSnapshot) -> str:
    edge = snap.edge
    if edge is None:
        return ""
    side = edge.targets.overall if edge.targets else EdgeSide.UNKNOWN
    mark = {EdgeSide.MASTER: "", EdgeSide.SLAVE: "", EdgeSide.MIXED: "▲ ", EdgeSide.UNKNOWN: "? "}
    text = f"Edge → {mark[side]}{side.value}"
    others = _containers_not_up(edge.containers)
    return f"{text} · {others}" if others else text


def summary_text(snap: NodeSnapshot | None) -> str:
    if snap is None or snap.last_success_at is None:
        return ""
    if snap.xivo is not None:
        text = xivo_summary(snap)
    elif snap.cc is not None:
        text = cc_summary(snap)
    elif snap.edge is not None:
        text = edge_summary(snap)
    elif snap.mds is not None:
        text = _services_text(snap.mds.services)
    else:
        text = ""
    # Data kept from an earlier poll while the node is down: say it is not current.
    if text and not snap.reachability.ok:
        text = f"was: {text}"
    return text


def ha_text(snap: NodeSnapshot | None) -> str:
    if snap is None or snap.xivo is None or snap.xivo.ha is None:
        return ""
    ha = snap.xivo.ha
    if not ha.present:
        return "disabled (no ha.conf)"
    text = ha.mode.value
    if ha.peer is not None:
        text += f" → {ha.peer}"
    if ha.problems:
        text += " ▲"
    return text


def role_text(node: Node) -> str:
    kind = KIND_LABEL.get(node.kind, node.kind.value)
    return f"{kind} {node.side.value}" if node.side is not None else kind


def latency_text(snap: NodeSnapshot | None) -> str:
    if snap is None or snap.latency_seconds is None or not snap.reachability.ok:
        return ""
    return f"{snap.latency_seconds * 1000:.0f} ms"


def node_cells(node: Node, snap: NodeSnapshot | None, ctx: RowContext) -> dict[str, str]:
    """Every cell of a node's row, by column key."""
    return {
        "node": node.label,
        "role": role_text(node),
        "reach": reach_text(snap, ctx),
        "ha": ha_text(snap),
        "summary": summary_text(snap),
        "latency": latency_text(snap),
    }


class NodeTable(DataTable[Text]):
    """One row per node, keyed by node id; cells are updated in place as nodes report."""

    DEFAULT_CSS = """
    NodeTable { height: auto; max-height: 20; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self._site_nodes: tuple[str, ...] = ()
        self._cells: dict[str, dict[str, str]] = {}  # what is shown, to redraw only changes
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    def show_site(self, site: Site) -> None:
        """Rebuild the rows for `site` (cells are filled by `update_node`)."""
        self.clear()
        self._cells.clear()
        self._site_nodes = tuple(n.id for n in site.nodes())
        for node in site.nodes():
            self.add_row(*(Text("") for _ in COLUMNS), key=node.id)

    def update_node(self, node: Node, snap: NodeSnapshot | None, ctx: RowContext) -> None:
        if node.id not in self._site_nodes:
            return
        shown = self._cells.setdefault(node.id, {})
        for key, value in node_cells(node, snap, ctx).items():
            if shown.get(key) != value:
                self.update_cell(node.id, key, Text(value), update_width=True)
                shown[key] = value

    def cells(self, node_id: str) -> dict[str, str]:
        """The texts shown in a node's row, by column key."""
        return dict(self._cells.get(node_id, {}))

    @property
    def selected_node_id(self) -> str | None:
        if not self.row_count:
            return None
        try:
            row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        except Exception:
            return None
        return row_key.value

    def select_node(self, node_id: str) -> None:
        if node_id in self._site_nodes:
            self.move_cursor(row=self.get_row_index(node_id))
