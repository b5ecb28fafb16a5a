"""The Status pane's node table: one row per node of the site, every state in words.

The text of each cell is built by plain functions (`node_cells`) from the inventory node
and the last `NodeSnapshot`, so the same words can be checked without a screen. Symbols
always come with a word (`✔ up`, `✖ down (refused since 12:01:03)`, `☎ ACTIVE`): colour
is never the only carrier of a state. The colour of a row's state cells comes from the
theme (`row_tone` picks one of `TONES`; a theme file may set `state-ok`, `state-warn`,
`state-down`, `state-unknown` in its [variables], else its success / warning / error
colours), so it follows 16-colour terminals and `NO_COLOR` like every other colour.

Like k9s: `/` filters the rows (any cell, any case), columns sort (the sort key, or a click
on a header; again reverses), and the cursor stays on its node through both.
"""

from __future__ import annotations

import contextlib
from enum import StrEnum
from typing import TYPE_CHECKING

from rich.style import Style
from rich.text import Text
from textual import on
from textual.widgets import DataTable

from resil_tui.core.cluster_kinds import XivoState
from resil_tui.core.freshness import age, clock
from resil_tui.core.ha_mode import HaMode
from resil_tui.core.reach_state import ReachState
from resil_tui.core.records import record
from resil_tui.core.roles import CLASSIC_WORDS, RoleWords
from resil_tui.inventory_model import Node, NodeKind, Site
from resil_tui.lazy import lazy_module

if TYPE_CHECKING:
    from resil_tui.core import cluster, compose, edge_side, sync_log, telephony
    from resil_tui.core.compose import ComposePs
    from resil_tui.core.node_status import NodeSnapshot
    from resil_tui.core.services import ServicesStatus
else:
    # Only a polled node's cells need them: the first screen has none (core/cluster.py).
    cluster = lazy_module("resil_tui.core.cluster")
    compose = lazy_module("resil_tui.core.compose")
    edge_side = lazy_module("resil_tui.core.edge_side")
    sync_log = lazy_module("resil_tui.core.sync_log")
    telephony = lazy_module("resil_tui.core.telephony")

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


@record
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
    # The site's role words: master/slave, or Main/Standby on a next-LTS site (core/roles).
    words: RoleWords = CLASSIC_WORDS


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
        c.service
        for c in ps.containers
        if c.state is not compose.ContainerState.UP and c.service != skip
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
        }.get(cluster.telephony_role(x), "? telephony unknown")
    )
    if x.services is not None and x.services.failed:
        parts.append("▲ failed: " + ", ".join(x.services.failed))
    counts = x.phone_counts()
    if counts.state is telephony.CountState.COUNTED:
        parts.append(f"phones {counts.reachable}/{counts.total} · calls {counts.calls_text()}")
    elif counts.state is telephony.CountState.UNREADABLE:
        parts.append("phones ? unknown")
    if x.ha is not None and x.ha.mode is HaMode.MASTER:
        if x.sync_key_present is False or (
            x.sync is not None and x.sync.outcome is sync_log.SyncOutcome.KEY_MISSING
        ):
            parts.append("▲ sync key missing")
        elif x.sync is not None and x.sync.outcome is sync_log.SyncOutcome.ERROR:
            parts.append("✖ sync failing")
        elif x.sync is not None and x.sync.outcome is sync_log.SyncOutcome.SUCCESS:
            parts.append("sync ✔")
    return " · ".join(parts)


def cc_summary(snap: NodeSnapshot, now: float) -> str:
    cc = snap.cc
    if cc is None:
        return ""
    if cc.xuc is not None:
        # Health, not the container: ready since, starting for N s, not ready, down.
        text = f"xuc {cc.xuc.describe(now)}"
        others = _containers_not_up(cc.containers, skip="xuc") if cc.containers else ""
        return f"{text} · {others}" if others else text
    if cc.containers is None:
        return "xuc ? containers unreadable"
    xuc = cc.containers.service("xuc")
    if xuc is None:
        text = "xuc ✖ not listed"
    elif xuc.state is compose.ContainerState.UP:
        health = f" ({xuc.health})" if xuc.health else ""
        text = ("xuc ▲ up" if xuc.health == "unhealthy" else "xuc ✔ up") + health
    else:
        text = f"xuc ✖ {xuc.state.value}"
    others = _containers_not_up(cc.containers, skip="xuc")
    return f"{text} · {others}" if others else text


def edge_summary(snap: NodeSnapshot, words: RoleWords = CLASSIC_WORDS) -> str:
    edge = snap.edge
    if edge is None:
        return ""
    side = edge.targets.overall if edge.targets else edge_side.EdgeSide.UNKNOWN
    mark = {
        edge_side.EdgeSide.MASTER: "",
        edge_side.EdgeSide.SLAVE: "",
        edge_side.EdgeSide.MIXED: "▲ ",
        edge_side.EdgeSide.UNKNOWN: "? ",
    }
    text = f"Edge → {mark[side]}{words.of(side.value)}"
    others = _containers_not_up(edge.containers)
    return f"{text} · {others}" if others else text


def summary_text(snap: NodeSnapshot | None, now: float, words: RoleWords = CLASSIC_WORDS) -> str:
    if snap is None or snap.last_success_at is None:
        return ""
    if snap.xivo is not None:
        text = xivo_summary(snap)
    elif snap.cc is not None:
        text = cc_summary(snap, now)
    elif snap.edge is not None:
        text = edge_summary(snap, words)
    elif snap.mds is not None:
        text = _services_text(snap.mds.services)
    else:
        text = ""
    # Data kept from an earlier poll while the node is down: say it is not current.
    if text and not snap.reachability.ok:
        text = f"was: {text}"
    return text


def ha_text(snap: NodeSnapshot | None, words: RoleWords = CLASSIC_WORDS) -> str:
    if snap is None or snap.xivo is None or snap.xivo.ha is None:
        return ""
    ha = snap.xivo.ha
    if not ha.present:
        return "disabled (no ha.conf)"
    text = words.mode(ha.mode.value)
    if ha.peer is not None:
        text += f" → {ha.peer}"
    if ha.problems:
        text += " ▲"
    return text


def role_text(node: Node, words: RoleWords = CLASSIC_WORDS) -> str:
    kind = KIND_LABEL.get(node.kind, node.kind.value)
    return f"{kind} {words.of(node.side)}" if node.side is not None else kind


def latency_text(snap: NodeSnapshot | None) -> str:
    if snap is None or snap.latency_seconds is None or not snap.reachability.ok:
        return ""
    return f"{snap.latency_seconds * 1000:.0f} ms"


class Tone(StrEnum):
    OK = "ok"
    WARN = "warn"
    DOWN = "down"
    UNKNOWN = "unknown"


# Theme variable of each tone, and the theme colour used when the theme does not set it.
TONES: dict[Tone, tuple[str, str]] = {
    Tone.OK: ("state-ok", "success"),
    Tone.WARN: ("state-warn", "warning"),
    Tone.DOWN: ("state-down", "error"),
    Tone.UNKNOWN: ("state-unknown", "foreground-muted"),
}
# Worst first: sorting by state puts the rows that need the admin on top.
TONE_ORDER = {Tone.DOWN: 0, Tone.WARN: 1, Tone.UNKNOWN: 2, Tone.OK: 3}


def row_tone(cells: dict[str, str]) -> Tone:
    """The tone of a row, read from its words (the words are what the admin reads too)."""
    reach, summary = cells.get("reach", ""), cells.get("summary", "")
    if reach.startswith("✖"):
        return Tone.DOWN
    if not reach.startswith("✔"):
        return Tone.UNKNOWN
    if "✖" in summary or "▲" in summary or "▲" in reach or "?" in summary:
        return Tone.WARN
    return Tone.OK


def node_cells(node: Node, snap: NodeSnapshot | None, ctx: RowContext) -> dict[str, str]:
    """Every cell of a node's row, by column key."""
    return {
        "node": node.label,
        "role": role_text(node, ctx.words),
        "reach": reach_text(snap, ctx),
        "ha": ha_text(snap, ctx.words),
        "summary": summary_text(snap, ctx.now, ctx.words),
        "latency": latency_text(snap),
    }


def matches(cells: dict[str, str], needle: str) -> bool:
    needle = needle.casefold()
    return any(needle in value.casefold() for value in cells.values())


def _sort_key(column: str, cells: dict[str, str]) -> tuple[object, ...]:
    if column == "reach":
        return (TONE_ORDER[row_tone(cells)], cells.get("reach", ""))
    if column == "latency":
        text = cells.get("latency", "").removesuffix(" ms")
        return (0, float(text)) if text.replace(".", "", 1).isdigit() else (1, 0.0)
    return (cells.get(column, "").casefold(),)


class NodeTable(DataTable[Text]):
    """One row per node, keyed by node id; cells are updated in place as nodes report."""

    DEFAULT_CSS = """
    NodeTable { height: auto; max-height: 20; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self._site_nodes: tuple[str, ...] = ()
        self._cells: dict[str, dict[str, str]] = {}  # what is shown, to redraw only changes
        self._shown_rows: tuple[str, ...] = ()  # node ids in row order (filter, sort)
        self.filter_text = ""
        self.sort_column: str | None = None  # None: the inventory's order
        self.sort_reverse = False
        for key, label in COLUMNS:
            # Text, not a str: a str label is read as Rich markup (and its emoji table,
            # 2.5 ms, loads before the first screen).
            self.add_column(Text(label), key=key)

    # --- colours ----------------------------------------------------------------------------

    def tone_style(self, tone: Tone) -> Style:
        variable, fallback = TONES[tone]
        colours = self.app.theme_variables
        colour = colours.get(variable) or colours.get(fallback)
        style = Style(bold=tone is Tone.DOWN)
        if colour:
            # A theme value Rich cannot read: no colour, the words still say it.
            with contextlib.suppress(Exception):
                style += Style.parse(colour.split()[0])
        return style

    def _cell(self, key: str, value: str, tone: Tone) -> Text:
        if key in ("reach", "summary", "node"):
            return Text(value, style=self.tone_style(tone))
        return Text(value)

    # --- rows -------------------------------------------------------------------------------

    def show_site(self, site: Site) -> None:
        """Rebuild the rows for `site` (cells are filled by `update_node`)."""
        self._cells.clear()
        self._site_nodes = tuple(n.id for n in site.nodes())
        self._rebuild()

    def _order(self) -> tuple[str, ...]:
        ids = [
            n
            for n in self._site_nodes
            if not self.filter_text or matches(self._cells.get(n, {"node": n}), self.filter_text)
        ]
        if self.sort_column is not None:
            column = self.sort_column
            ids.sort(key=lambda n: _sort_key(column, self._cells.get(n, {})))
            if self.sort_reverse:
                ids.reverse()
        return tuple(ids)

    def _rebuild(self) -> None:
        keep = self.selected_node_id
        order = self._order()
        self.clear()
        self._shown_rows = order
        for node_id in order:
            cells = self._cells.get(node_id, {})
            tone = row_tone(cells)
            self.add_row(
                *(self._cell(key, cells.get(key, ""), tone) for key, _ in COLUMNS), key=node_id
            )
        self._label_columns()
        if keep in order:
            self.move_cursor(row=order.index(keep))

    def _label_columns(self) -> None:
        for key, label in COLUMNS:
            column = self.columns.get(key)  # type: ignore[call-overload]
            if column is None:
                continue
            mark = ""
            if key == self.sort_column:
                mark = " ▼" if self.sort_reverse else " ▲"
            column.label = Text(label + mark)
        self.refresh()

    def update_node(self, node: Node, snap: NodeSnapshot | None, ctx: RowContext) -> None:
        if node.id not in self._site_nodes:
            return
        new = node_cells(node, snap, ctx)
        shown = self._cells.setdefault(node.id, {})
        if new == shown:
            return
        tone_changed = row_tone(new) != row_tone(shown)
        shown.update(new)
        if self._order() != self._shown_rows:
            self._rebuild()  # filtered in or out, or moved by the sort
            return
        if node.id not in self._shown_rows:
            return
        tone = row_tone(shown)
        for key, _label in COLUMNS:
            if tone_changed or key in new:
                self.update_cell(node.id, key, self._cell(key, shown[key], tone), update_width=True)

    def cells(self, node_id: str) -> dict[str, str]:
        """The texts shown in a node's row, by column key."""
        return dict(self._cells.get(node_id, {}))

    @property
    def shown_nodes(self) -> tuple[str, ...]:
        """Node ids of the rows on screen, in their order (after the filter and the sort)."""
        return self._shown_rows

    # --- filter and sort --------------------------------------------------------------------

    def set_filter(self, text: str) -> None:
        if text != self.filter_text:
            self.filter_text = text
            self._rebuild()

    def sort_by(self, column: str | None, reverse: bool | None = None) -> None:
        """Sort by a column (None: inventory order); the same column again reverses."""
        if reverse is None:
            reverse = column == self.sort_column and column is not None and not self.sort_reverse
        self.sort_column, self.sort_reverse = column, reverse
        self._rebuild()

    def next_sort(self) -> None:
        """The sort key: inventory order → each column in turn → inventory order."""
        keys = [key for key, _ in COLUMNS]
        if self.sort_column is None:
            self.sort_by(keys[0], False)
        elif keys.index(self.sort_column) + 1 < len(keys):
            self.sort_by(keys[keys.index(self.sort_column) + 1], False)
        else:
            self.sort_by(None, False)

    @property
    def sort_label(self) -> str:
        if self.sort_column is None:
            return "inventory order"
        label = dict(COLUMNS)[self.sort_column]
        return f"by {label.lower()}" + (" (reversed)" if self.sort_reverse else "")

    @on(DataTable.HeaderSelected)
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        self.sort_by(str(event.column_key.value))

    # --- cursor -----------------------------------------------------------------------------

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
        if node_id in self._shown_rows:
            self.move_cursor(row=self.get_row_index(node_id))
