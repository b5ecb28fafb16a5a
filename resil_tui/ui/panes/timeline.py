"""Timeline pane: the incident journal, newest first: what the polls of this console and
of `resil-tui watch` saw change, and what was done (actions, wizard runs).

Filter by site (this one or all), node and kind; `enter` on an entry opens that node's
detail in the Status pane. The entries come from the session's journal, read again on
every change of the site state (the console's own polls append to it; a watcher's
entries are read at the same time). Nothing here changes a node.
"""

from __future__ import annotations

import time
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from resil_tui.core.freshness import as_of, clock
from resil_tui.core.journal_event import EventKind, JournalEvent
from resil_tui.inventory_model import Site
from resil_tui.ops.site_state import SiteState
from resil_tui.ui.panes.base import Pane
from resil_tui.ui.panes.catalog import TIMELINE

MAX_ROWS = 500  # newest entries shown (the journal keeps more: `resil-tui history`)
COLUMNS = (
    ("time", "Time"),
    ("where", "Node"),
    ("kind", "Kind"),
    ("change", "Change"),
    ("evidence", "Evidence"),
)


def change_text(event: JournalEvent) -> str:
    if not event.kind.observed:
        who = f" by {event.user}" if event.user else ""
        return f"{event.after}{who}"
    return f"{event.before} → {event.after}" if event.before else f"(first seen) {event.after}"


class TimelinePane(Pane):
    PANE_ID = TIMELINE.pane_id
    TITLE = TIMELINE.title
    DEFAULT_CSS = """
    TimelinePane #timeline-filters { color: $foreground 70%; height: auto; }
    TimelinePane #timeline-box { height: 1fr; }
    TimelinePane #timeline-table { height: 1fr; }
    """
    # The keys live in the catalog: help, keymap and palette read them before this
    # module is loaded.
    BINDINGS: ClassVar[list[BindingType]] = TIMELINE.bindings

    def __init__(self, site: Site) -> None:
        super().__init__(site)
        self.all_sites = False
        self.node_filter: str | None = None
        self.kind_filter: EventKind | None = None
        self.shown: list[JournalEvent] = []
        self._rendered: tuple[object, ...] | None = None
        self._read_at: float | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="timeline-filters", markup=False)
        with Vertical(id="timeline-box"):
            table: DataTable[Text] = DataTable(
                id="timeline-table", cursor_type="row", zebra_stripes=True
            )
            for key, label in COLUMNS:
                table.add_column(Text(label), key=key)  # as NodeTable: a str is parsed as markup
            yield table

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one("#timeline-table", DataTable)

    def pane_mounted(self) -> None:
        self._render_entries()
        self.set_interval(1.0, self._render_filters)

    def on_show(self) -> None:
        self._render_entries()
        self.call_after_refresh(self._focus_rows)

    def _focus_rows(self) -> None:
        if self.shell.active_pane is self:
            self.table.focus()

    # --- shell hooks ---------------------------------------------------------------------

    def show_state(self, state: SiteState) -> None:
        # Hidden, it is brought up to date when shown (on_show): a poll answers node by
        # node, and the journal need not be filtered for a pane nobody sees.
        if state.name == self.site.name and self.is_mounted and self.shell.active_pane is self:
            self._render_entries()

    def show_site(self, site: Site) -> None:
        super().show_site(site)
        self.node_filter = None
        if self.is_mounted:
            self._render_entries()

    def refresh_pane(self) -> None:
        self._render_entries(force=True)
        super().refresh_pane()

    # --- rendering ---------------------------------------------------------------------

    def entries(self) -> list[JournalEvent]:
        """What the filters let through, newest first."""
        journal = self.shell.session.journal
        found = journal.events(
            site=None if self.all_sites else self.site.name,
            node=self.node_filter,
            kinds=[self.kind_filter] if self.kind_filter is not None else None,
        )
        self._read_at = time.time()
        return list(reversed(found))[:MAX_ROWS]

    def _render_entries(self, force: bool = False) -> None:
        journal = self.shell.session.journal
        journal.refresh()
        self._read_at = time.time()
        key = (journal.version, self.all_sites, self.node_filter, self.kind_filter, self.site.name)
        if not force and key == self._rendered:
            self._render_filters()
            return
        self._rendered = key
        entries = self.entries()
        self.shown = entries
        table = self.table
        selected = self.selected_event()
        table.clear()
        for event in entries:
            where = event.node or f"{event.site} (site)"
            table.add_row(
                Text(time.strftime("%m-%d %H:%M:%S", time.localtime(event.time))),
                Text(where),
                Text(event.kind.value),
                Text(change_text(event)),
                Text(event.evidence),
                key=event.id,
            )
        if selected is not None and selected.id in {e.id for e in entries}:
            table.move_cursor(row=table.get_row_index(selected.id))
        self._render_filters()

    def filters_text(self, now: float) -> str:
        site = "all sites" if self.all_sites else f"site {self.site.name}"
        node = self.node_filter or "every node"
        kind = self.kind_filter.value if self.kind_filter is not None else "every kind"
        shown = f"{len(self.shown)} entries" + (
            f" (newest {MAX_ROWS})" if len(self.shown) >= MAX_ROWS else ""
        )
        age = as_of(self._read_at, now, self.state.stale_after)
        return f"{site} · {node} · {kind} · {shown}, newest first · {age} · enter: node detail"

    def _render_filters(self) -> None:
        if self.is_mounted:
            self.query_one("#timeline-filters", Static).update(self.filters_text(time.time()))

    def selected_event(self) -> JournalEvent | None:
        table = self.table
        if not table.row_count or not self.shown:
            return None
        try:
            row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        except Exception:
            return None
        return next((e for e in self.shown if e.id == row_key.value), None)

    # --- actions -----------------------------------------------------------------------

    def _node_choices(self) -> list[str | None]:
        sites = self.shell.inventory.sites.values() if self.all_sites else [self.site]
        return [None, *(n.id for s in sites for n in s.nodes())]

    def action_next_node(self) -> None:
        choices = self._node_choices()
        current = choices.index(self.node_filter) if self.node_filter in choices else 0
        self.node_filter = choices[(current + 1) % len(choices)]
        self._render_entries()

    def action_next_kind(self) -> None:
        choices: list[EventKind | None] = [None, *EventKind]
        current = choices.index(self.kind_filter)
        self.kind_filter = choices[(current + 1) % len(choices)]
        self._render_entries()

    def action_toggle_all_sites(self) -> None:
        self.all_sites = not self.all_sites
        if not self.all_sites and self.node_filter not in self._node_choices():
            self.node_filter = None
        self._render_entries()

    def action_clear_filters(self) -> None:
        self.all_sites, self.node_filter, self.kind_filter = False, None, None
        self._render_entries()

    def action_jump(self) -> None:
        event = self.selected_event()
        if event is None:
            return
        if event.node is None:
            self.notify(
                f"{clock(event.time)}: a site-wide entry ({event.kind.value}); no node to show."
            )
            return
        shell = self.shell
        if event.site != shell.site_name:
            if event.site not in shell.inventory.sites:
                self.notify(
                    f"site {event.site} is not in this inventory", severity="warning", markup=False
                )
                return
            shell.site_name = event.site
        shell.show_node(event.node)

    @on(DataTable.RowSelected, "#timeline-table")
    def _row_selected(self, _event: DataTable.RowSelected) -> None:
        self.action_jump()
