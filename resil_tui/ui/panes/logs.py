"""Logs pane: live, read-only log streams of the site's nodes, one tab each.

The first time the pane is shown it opens xuc's log on the active side's CC (the shell's
site state says which side, and how old that is; master when unknown). `o` opens any other stream
(xuc, the whole CC stack, `edge-dcomp logs`, the xivo-sync log, the inventory's extra
streams). Each tab runs its stream in a worker (group `logs-<tab>`, `exit_on_error=False`)
through `ops.logs.LogFollower`; closing the tab cancels the worker, which stops the
follower: the remote `logs -f` is hung up, not left running.

Nothing here changes a node.
"""

from __future__ import annotations

import itertools
import re
import time
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import BindingType
from textual.widgets import Static, TabbedContent, TabPane

from resil_tui import paths
from resil_tui.core.log_merge import MergeQueue
from resil_tui.inventory_model import Node, Site
from resil_tui.ops.logs import (
    LogFollower,
    LogGap,
    LogLines,
    LogState,
    LogStream,
    StreamKind,
    default_target,
)
from resil_tui.ops.site_state import SiteState
from resil_tui.ui.panes.base import Pane
from resil_tui.ui.panes.catalog import LOGS
from resil_tui.ui.widgets.log_picker import LogPickerScreen
from resil_tui.ui.widgets.log_view import DEFAULT_BUFFER_LINES, LogView

_ids = itertools.count(1)


def saved_logs_dir() -> Path:
    return paths.state_dir() / "logs"


class LogTab(TabPane):
    """A tab holding one stream's view and the worker that follows it."""

    def __init__(
        self,
        node: Node,
        stream: LogStream,
        *,
        tail: int = 100,
        buffer_lines: int = DEFAULT_BUFFER_LINES,
    ) -> None:
        self.number = next(_ids)
        super().__init__(f"{node.label} · {stream.name}", id=f"logtab-{self.number}")
        self.node = node
        self.stream = stream
        self.tail = tail
        self.follower: LogFollower | None = None
        self.log_view = LogView(
            f"{node.id} · {stream.name}",
            readiness=node.readiness_pattern,
            buffer_lines=buffer_lines,
            # A whole stack in one stream: each line says which service wrote it.
            keep_service=stream.kind is StreamKind.COMPOSE and stream.service is None,
        )

    @property
    def group(self) -> str:
        return f"logs-{self.number}"

    def compose(self) -> ComposeResult:
        yield self.log_view

    def on_mount(self) -> None:
        self.start()

    def start(self) -> None:
        from resil_tui.ui.app import ResilApp

        app = self.app
        assert isinstance(app, ResilApp)
        follower = LogFollower(app.session.pool, self.node, self.stream, tail=self.tail)
        self.follower = follower
        self.run_worker(
            self._follow(follower),
            group=self.group,
            exclusive=True,
            exit_on_error=False,
            name=f"follow {self.node.id} {self.stream.name}",
        )

    async def _follow(self, follower: LogFollower) -> None:
        # The worker only feeds the buffer (plain data); the view's timer draws it.
        view = self.log_view
        async with follower:
            async for event in follower:
                if isinstance(event, LogLines):
                    view.ingest(event.lines)
                    self._feed_merged(event.lines)
                elif isinstance(event, LogGap):
                    view.ingest_marker(event.marker)
                elif isinstance(event, LogState):
                    view.state_text = f"{event.state.value}: {event.message}"[:160]

    def _feed_merged(self, lines: list[str]) -> None:
        for pane in self.ancestors:
            if isinstance(pane, LogsPane):
                merged = pane.merged_tab
                if merged is not None:
                    merged.queue.add(self.node.label, lines)
                return

    async def stop(self) -> None:
        self.workers.cancel_group(self, self.group)
        if self.follower is not None:
            await self.follower.stop()

    async def on_unmount(self) -> None:
        await self.stop()


class MergedTab(TabPane):
    """Every open stream in one view, in time order, a colour per node (`m`)."""

    def __init__(self, *, buffer_lines: int, colours: list[str]) -> None:
        super().__init__("⧉ merged", id="logtab-merged")
        self.queue = MergeQueue()
        self._colours = colours
        self._assigned: dict[str, str] = {}
        self.log_view = LogView("merged · every open stream", buffer_lines=buffer_lines)
        self.log_view.line_colour = self.colour_of

    def colour_of(self, tag: str) -> str | None:
        if not self._colours:
            return None
        if tag not in self._assigned:
            self._assigned[tag] = self._colours[len(self._assigned) % len(self._colours)]
        return self._assigned[tag]

    def compose(self) -> ComposeResult:
        yield self.log_view

    def on_mount(self) -> None:
        self.set_interval(0.1, self._release)

    def _release(self) -> None:
        lines = self.queue.release()
        if lines:
            self.log_view.ingest(lines)


class LogsPane(Pane):
    PANE_ID = LOGS.pane_id
    TITLE = LOGS.title
    # The keys live in the catalog: help, keymap and palette read them before this
    # module is loaded.
    BINDINGS: ClassVar[list[BindingType]] = LOGS.bindings

    DEFAULT_CSS = """
    LogsPane { overflow: hidden hidden; }
    LogsPane > #logs-tabs { height: 1fr; }
    LogsPane > #logs-empty { height: auto; }
    LogsPane TabPane { padding: 0; height: 1fr; }
    """

    def __init__(self, site: Site) -> None:
        super().__init__(site)
        self._opened_default = False

    def compose(self) -> ComposeResult:
        yield Static("", id="logs-site", markup=False)
        yield Static("No stream open. Press o to open one.", id="logs-empty", markup=False)
        yield TabbedContent(id="logs-tabs")

    def pane_mounted(self) -> None:
        self._render_state(self.state)
        self.set_interval(1.0, self._render_site_line)

    def show_state(self, state: SiteState) -> None:
        if state.name == self.site.name and self.is_mounted:
            self._render_state(state)

    def _render_state(self, state: SiteState) -> None:
        self._render_site_line()

    def _render_site_line(self) -> None:
        side = self._active_side()
        where = f"telephony on the {side}" if side else "active side unknown"
        self.query_one("#logs-site", Static).update(
            f"Site {self.site.name}: {where} · {self.state.as_of(time.time())}"
        )

    def on_show(self) -> None:
        if not self._opened_default:
            self._opened_default = True
            self.call_after_refresh(self.open_default)

    # --- tabs -------------------------------------------------------------------------------

    @property
    def tabs(self) -> TabbedContent:
        return self.query_one("#logs-tabs", TabbedContent)

    def log_tabs(self) -> list[LogTab]:
        return list(self.query(LogTab))

    @property
    def merged_tab(self) -> MergedTab | None:
        return next(iter(self.query(MergedTab)), None)

    @property
    def active_tab(self) -> LogTab | None:
        active = self.tabs.active
        for tab in self.log_tabs():
            if tab.id == active:
                return tab
        return None

    @property
    def active_view(self) -> LogView | None:
        tab = self.active_tab
        if tab is not None:
            return tab.log_view
        merged = self.merged_tab
        if merged is not None and self.tabs.active == merged.id:
            return merged.log_view
        return None

    def _active_side(self) -> str | None:
        verdicts = self.state.verdicts
        return verdicts.active_side if verdicts is not None else None

    async def open_default(self) -> LogTab | None:
        if not self.children:
            return None  # removed as it composed, the console quitting: nothing to open
        if not self.shell.poller.enabled:
            declared = [
                f"  • {node.label}: {spec.name} ({' '.join(spec.argv)})"
                for node in self.site.nodes()
                for spec in node.logs
            ]
            self.query_one("#logs-empty", Static).update(
                "\n".join(
                    [
                        "No stream open: this console was started without polling.",
                        "Extra log streams declared in the inventory:",
                        *(declared or ["  (none for this site)"]),
                    ]
                )
            )
            return None
        target = default_target(self.site, self._active_side())
        if target is None:
            return None
        return await self.open_stream(*target)

    async def open_stream(self, node: Node, stream: LogStream, *, tail: int = 100) -> LogTab:
        # The app's setting (preferences, RESIL_TUI_LOG_BUFFER); applies to new streams.
        tab = LogTab(node, stream, tail=tail, buffer_lines=self.shell.log_buffer_lines)
        await self.tabs.add_pane(tab)
        self.tabs.active = tab.id or ""
        self.query_one("#logs-empty", Static).display = False
        self.call_after_refresh(self._focus_tab, tab)
        return tab

    def _focus_tab(self, tab: LogTab) -> None:
        # Only while this pane and this tab are shown: a stream opened in the background
        # (the default one, on a slow link) that focused its view once the admin had
        # moved to another pane would switch the console back to Logs.
        if self.shell.active_pane is self and self.active_tab is tab:
            tab.log_view.surface.focus()

    async def close_stream(self, tab: LogTab | None = None) -> None:
        merged = self.merged_tab
        if tab is None and merged is not None and self.tabs.active == merged.id:
            await self.tabs.remove_pane(merged.id or "")
            return
        tab = tab or self.active_tab
        if tab is None:
            return
        await tab.stop()
        await self.tabs.remove_pane(tab.id or "")
        if not self.log_tabs():
            self.query_one("#logs-empty", Static).display = True

    # --- shell hooks ------------------------------------------------------------------------

    def show_site(self, site: Site) -> None:
        # Open tabs keep following their node; the picker offers the new site's streams.
        super().show_site(site)

    def refresh_pane(self) -> None:
        tab = self.active_tab
        if tab is None:
            self.run_worker(self.open_default(), group="logs-open", exit_on_error=False)
            return
        follower = tab.follower
        if follower is None or not follower.running:
            tab.log_view.ingest_marker(f"── restarted at {datetime.now():%H:%M:%S} ──")
            tab.start()
        else:
            self.notify("The stream is running; r restarts it only once it ended.")

    # --- actions ----------------------------------------------------------------------------

    def action_open_stream(self) -> None:
        def chosen(choice: tuple[Node, LogStream] | None) -> None:
            if choice is not None:
                self.run_worker(self.open_stream(*choice), group="logs-open", exit_on_error=False)

        self.app.push_screen(LogPickerScreen(self.site), chosen)

    async def action_close_stream(self) -> None:
        await self.close_stream()

    def action_toggle_follow(self) -> None:
        if (view := self._view("following")) is not None:
            view.toggle_follow()

    def _view(self, what: str) -> LogView | None:
        view = self.active_view
        if view is None:
            key = self.shell.keys_for("logs.open").split()
            self.notify(
                f"Logs: {what} needs an open stream; {key[0] if key else 'o'} opens one.",
                severity="warning",
                markup=False,
            )
        return view

    def action_filter(self) -> None:
        if (view := self._view("the filter")) is not None:
            view.open_filter()

    def action_search(self) -> None:
        if (view := self._view("search")) is not None:
            view.open_search()

    def action_next_match(self) -> None:
        self._jump(forward=True)

    def action_previous_match(self) -> None:
        self._jump(forward=False)

    def _jump(self, forward: bool) -> None:
        view = self._view("n / N")
        if view is None:
            return
        if view.search is None:
            self.notify("Logs: no search yet; / searches.", severity="warning")
        elif not view.next_match(forward=forward):
            self.notify(f"Logs: no line matches {view.search_text!r}.", severity="warning")

    def action_toggle_levels(self) -> None:
        if (view := self._view("the level toggle")) is not None:
            view.toggle_levels()

    def action_toggle_collapse(self) -> None:
        if (view := self._view("collapsing repeats")) is not None:
            view.toggle_collapse()

    def action_readiness(self) -> None:
        view = self._view("the readiness line")
        if view is not None and not view.jump_to_readiness():
            self.notify(
                "Logs: no readiness line in this stream's buffer (xuc prints it once ready).",
                severity="warning",
            )

    async def action_merged(self) -> None:
        merged = self.merged_tab
        if merged is None:
            if len(self.log_tabs()) < 2:
                self.notify(
                    "Logs: the merged view needs two open streams (o opens one).",
                    severity="warning",
                )
                return
            theme = self.app.current_theme
            colours = [
                c
                for c in (theme.primary, theme.accent, theme.success, theme.secondary)
                if c is not None
            ]
            merged = MergedTab(buffer_lines=self.shell.log_buffer_lines, colours=colours)
            await self.tabs.add_pane(merged)
            # What the streams already hold, merged once; new lines follow as they come.
            for tab in self.log_tabs():
                merged.queue.add(tab.node.label, tab.log_view.buffer.lines())
            merged.log_view.ingest(merged.queue.release(everything=True))
        self.tabs.active = merged.id or ""

    def action_toggle_regex(self) -> None:
        if (view := self._view("the regex toggle")) is not None:
            view.toggle_regex()

    def action_toggle_case(self) -> None:
        if (view := self._view("the case toggle")) is not None:
            view.toggle_case()

    def action_toggle_wrap(self) -> None:
        if (view := self._view("wrapping")) is not None:
            view.toggle_wrap()

    def action_save(self) -> None:
        tab = self.active_tab
        if tab is None:
            return
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{tab.node.id}-{tab.stream.name}")
        path = saved_logs_dir() / f"{safe}-{datetime.now():%Y%m%d-%H%M%S}.log"
        try:
            count = tab.log_view.save(path)
        except OSError as exc:
            self.notify(f"could not save the log: {exc}", severity="error", markup=False)
            return
        self.notify(f"saved {count:,} lines to {path}", markup=False)

    def action_copy(self) -> None:
        view = self.active_view
        text = view.selected_text() if view is not None else None
        if not text:
            self.notify("Select lines with the mouse first, then press c.", severity="warning")
            return
        self.app.copy_to_clipboard(text)
        self.notify(f"copied {text.count(chr(10)) + 1} line(s)")
