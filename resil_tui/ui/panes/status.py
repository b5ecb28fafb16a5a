"""Status pane: the health of every node of the current site, and the site's verdicts.

Polling runs in a Textual worker (group `status-poll`, `exit_on_error=False`) through
`StatusCollector.poll_site`; each node's result is posted as a message the moment it
arrives, so a slow or dead node never holds back the other rows. The next automatic poll
is scheduled with `set_timer` only when the previous one finished: polls never stack. A
refresh asked for while a poll runs is queued and starts as soon as it ends.

Nothing here changes a node. The one thing that writes anything is "trust host key",
which appends to the admin's own known_hosts file after a y/n confirmation that shows
the fingerprint.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.timer import Timer
from textual.widgets import DataTable, Static, Tabs

from resil_tui.core.node_status import NodeSnapshot, ReachState
from resil_tui.inventory_model import Inventory, Node, Site
from resil_tui.ops.status import SiteReport, StatusCollector
from resil_tui.remote import hostkeys
from resil_tui.remote.errors import RemoteError
from resil_tui.remote.pool import Pool
from resil_tui.ui.panes.base import Pane
from resil_tui.ui.screens.confirm import ConfirmScreen
from resil_tui.ui.widgets.node_detail import NodeDetail
from resil_tui.ui.widgets.node_table import NodeTable, RowContext, age, clock, host_key_fix
from resil_tui.ui.widgets.verdict_banner import VerdictBanner

DEFAULT_REFRESH_SECONDS = 10.0
POLL_GROUP = "status-poll"
TRUST_GROUP = "status-trust"


STALE_AFTER_REFRESHES = 3
STALE_FLOOR_SECONDS = 30.0


class StatusPane(Pane):
    PANE_ID = "status"
    TITLE = "Status"
    # Trusting a host key is deliberately not in MUTATING_ACTIONS: it writes the admin's
    # own known_hosts file, never a node, so read-only mode (which protects the nodes)
    # allows it; the key is only written after the admin accepted its fingerprint, and the
    # pool records it in the audit log.
    DEFAULT_CSS = """
    StatusPane #status-line { color: $foreground 70%; height: auto; }
    StatusPane #status-table-box { height: auto; }
    StatusPane #status-detail-scroll {
        height: 1fr;
        min-height: 8;
        border-top: solid $foreground 30%;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("t", "trust", "Trust host key", id="status.trust"),
    ]

    class NodeReported(Message):
        """One node of the running poll answered (or failed)."""

        bubble = False  # for this pane only

        def __init__(self, site: str, generation: int, snapshot: NodeSnapshot) -> None:
            super().__init__()
            self.site = site
            self.generation = generation
            self.snapshot = snapshot

    class PollFinished(Message):
        bubble = False

        def __init__(
            self, site: str, generation: int, report: SiteReport | None, error: str | None
        ) -> None:
            super().__init__()
            self.site = site
            self.generation = generation
            self.report = report
            self.error = error

    class HostKeyFetched(Message):
        bubble = False

        def __init__(
            self, node_id: str, info: hostkeys.HostKeyInfo | None, error: str | None
        ) -> None:
            super().__init__()
            self.node_id = node_id
            self.info = info
            self.error = error

    def __init__(self, site: Site, *, refresh_interval: float | None = None) -> None:
        super().__init__(site)
        self._interval_arg = refresh_interval
        self.collector: StatusCollector | None = None
        self.snapshots: dict[str, NodeSnapshot] = {}  # current site, latest per node
        self.report: SiteReport | None = None  # last complete poll of the current site
        self.generation = 0  # bumped on site switch: late results of another site are dropped
        self.polling = False
        self.poll_started_at: float | None = None
        self.pending: set[str] = set()  # nodes of the running poll that did not answer yet
        self.refresh_queued = False
        self.last_refresh_at: float | None = None  # end of the last complete poll
        self.last_error: str | None = None
        self.polls_finished = 0
        self._timer: Timer | None = None
        self._next_at: float | None = None

    # --- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static("", id="status-line", markup=False)
        yield VerdictBanner(id="status-banner")
        # Each focusable widget sits alone in its container: when a tab switch hides the
        # focused one, Textual hands the focus to a focusable *sibling*, which would be in
        # this hidden pane and would switch the tab straight back.
        with Vertical(id="status-table-box"):
            yield NodeTable(id="status-table")
        # The detail scrolls on its own so the verdict and the rows stay in view.
        with VerticalScroll(id="status-detail-scroll"):
            yield NodeDetail(id="status-detail")

    def on_mount(self) -> None:
        pool = getattr(self.app, "pool", None)
        inventory = getattr(self.app, "inventory", None)
        if isinstance(pool, Pool) and isinstance(inventory, Inventory):
            self.collector = StatusCollector(inventory, pool)
        self.table.show_site(self.site)
        self._render_rows()
        if self.collector is None:
            self.banner.show_waiting(
                "· Not polled: the console was started without a connection pool."
            )
        # The clock only redraws ages and "waiting" marks; it never starts a poll.
        self.set_interval(1.0, self._tick)
        self.call_after_refresh(self._initial_focus)
        self._start_poll()

    def on_show(self) -> None:
        # Back on this tab with nothing focused: focus the rows again.
        self.call_after_refresh(self._initial_focus)

    def _initial_focus(self) -> None:
        # Keys of this pane (trust) need the focus inside it; the tab strip is the default.
        # Only while this pane is shown: focusing a hidden pane's widget would switch tabs.
        if getattr(self.app, "active_pane", None) is not self:
            return
        if self.app.focused is None or isinstance(self.app.focused, Tabs):
            self.table.focus()

    @property
    def table(self) -> NodeTable:
        return self.query_one("#status-table", NodeTable)

    @property
    def banner(self) -> VerdictBanner:
        return self.query_one("#status-banner", VerdictBanner)

    @property
    def detail(self) -> NodeDetail:
        return self.query_one("#status-detail", NodeDetail)

    @property
    def refresh_interval(self) -> float:
        if self._interval_arg is not None:
            return self._interval_arg
        value = getattr(self.app, "status_refresh_interval", DEFAULT_REFRESH_SECONDS)
        return float(value) if isinstance(value, int | float) else DEFAULT_REFRESH_SECONDS

    @property
    def stale_after(self) -> float:
        return self.collector.stale_after_seconds if self.collector else 120.0

    # --- polling --------------------------------------------------------------------------

    def _start_poll(self) -> None:
        if self.collector is None:
            return
        if self.polling:
            self.refresh_queued = True
            return
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._next_at = None
        # "Stale" is counted in refreshes: data older than a few missed polls is flagged
        # (with a floor: a very short interval must not make fresh data look stale).
        self.collector.stale_after_seconds = max(
            STALE_FLOOR_SECONDS, STALE_AFTER_REFRESHES * self.refresh_interval
        )
        self.polling = True
        self.poll_started_at = time.time()
        self.pending = {n.id for n in self.site.nodes()}
        self.run_worker(
            self._poll(self.site, self.generation),
            name=f"status poll {self.site.name}",
            group=POLL_GROUP,
            exit_on_error=False,
        )
        self._render_status_line()

    async def _poll(self, site: Site, generation: int) -> None:
        collector = self.collector
        assert collector is not None

        def on_node(snap: NodeSnapshot) -> None:
            self.post_message(self.NodeReported(site.name, generation, snap))

        try:
            # A hung node must not hold back the others' next refresh: after `patience` the
            # report is made with its last data, and it is not asked again until it answers.
            patience = max(2.0, self.refresh_interval)
            report = await collector.poll_site(site, on_node=on_node, patience=patience)
        except Exception as exc:  # a bug must not stop the polling cycle
            self.post_message(
                self.PollFinished(site.name, generation, None, f"{type(exc).__name__}: {exc}")
            )
            return
        self.post_message(self.PollFinished(site.name, generation, report, None))

    def _auto_poll(self) -> None:
        self._timer = None
        self._start_poll()

    @on(NodeReported)
    def _node_reported(self, message: NodeReported) -> None:
        if message.generation != self.generation or message.site != self.site.name:
            return
        snap = message.snapshot
        self.snapshots[snap.node_id] = snap
        self.pending.discard(snap.node_id)
        self._render_row(snap.node_id)
        self._render_progress_banner()
        self._feed_connection_summary()
        if self.detail.node_id == snap.node_id:
            self._render_detail()
        self.refresh_bindings()
        self._render_status_line()

    @on(PollFinished)
    def _poll_finished(self, message: PollFinished) -> None:
        if message.generation != self.generation or message.site != self.site.name:
            return
        self.polling = False
        # Nodes still answering an earlier poll keep their "waiting" mark until they report.
        self.pending = set(message.report.waiting) if message.report is not None else set()
        self.polls_finished += 1
        if message.report is not None:
            self.report = message.report
            self.snapshots.update(message.report.snapshot.nodes)
            self.last_refresh_at = time.time()
            self.last_error = None
            self.banner.show_verdicts(message.report.verdicts)
        else:
            self.last_error = message.error
            self.notify(f"Status poll failed: {message.error}", severity="error", markup=False)
        self._render_rows()
        self._feed_connection_summary()
        self._render_detail()
        self.refresh_bindings()
        if self.refresh_queued:
            self.refresh_queued = False
            self._start_poll()
            return
        interval = self.refresh_interval
        self._next_at = time.time() + interval
        self._timer = self.set_timer(interval, self._auto_poll, name="status auto-refresh")
        self._render_status_line()

    # --- rendering ------------------------------------------------------------------------

    def _trust_key(self) -> str:
        """The key that trusts a host key now (the keymap may have changed it)."""
        app: Any = self.app
        keys = app.keys_for("status.trust") if hasattr(app, "keys_for") else ""
        return str(keys).split()[0] if keys else "t"

    def _row_context(self, node_id: str, now: float, trust_key: str) -> RowContext:
        return RowContext(
            now=now,
            stale_after=self.stale_after,
            polling_since=self.poll_started_at if node_id in self.pending else None,
            can_poll=self.collector is not None,
            trust_key=trust_key,
        )

    def _render_row(self, node_id: str, now: float | None = None, trust_key: str = "") -> None:
        now = time.time() if now is None else now
        node = next((n for n in self.site.nodes() if n.id == node_id), None)
        if node is not None:
            context = self._row_context(node_id, now, trust_key or self._trust_key())
            self.table.update_node(node, self.snapshots.get(node_id), context)

    def _render_rows(self) -> None:
        now = time.time()
        trust_key = self._trust_key()
        for node in self.site.nodes():
            self._render_row(node.id, now, trust_key)

    def _render_progress_banner(self) -> None:
        """Verdicts from what has answered so far, while the poll waits for the rest."""
        if self.collector is None:
            return
        answered = {n.id: s for n in self.site.nodes() if (s := self.snapshots.get(n.id))}
        xivo = (self.site.xivo_master.id, self.site.xivo_slave.id)
        waiting = [n.id for n in self.site.nodes() if n.id in self.pending]
        if not all(i in answered for i in xivo):
            missing = ", ".join(i for i in xivo if i not in answered)
            self.banner.show_waiting(
                f"… polling: {len(answered)} of {len(self.site.nodes())} nodes answered; "
                f"no verdict until both XiVO answered (waiting for {missing})"
            )
            return
        report = self.collector.judge(self.site, answered)
        self.banner.show_verdicts(report.verdicts, waiting_for=waiting)

    def _feed_connection_summary(self) -> None:
        setter = getattr(self.app, "set_connection_summary", None)
        if setter is None:
            return
        snaps = [self.snapshots.get(n.id) for n in self.site.nodes()]
        connected = sum(1 for s in snaps if s is not None and s.reachability.ok)
        failed = sum(
            1
            for s in snaps
            if s is not None and s.reachability.state not in (ReachState.OK, ReachState.NOT_POLLED)
        )
        setter(connected, failed)

    def _render_detail(self) -> None:
        node = self.selected_node()
        if node is not None:
            self.detail.show(node, self.snapshots.get(node.id), self.stale_after, time.time())

    def status_line_text(self, now: float) -> str:
        if self.collector is None:
            return "No connection pool: nothing is polled."
        interval = self.refresh_interval
        parts: list[str] = []
        if self.polling:
            total = len(self.site.nodes())
            parts.append(f"⟳ polling: {total - len(self.pending)} of {total} nodes answered")
            if self.refresh_queued:
                parts.append("refresh queued")
        if self.last_refresh_at is None:
            parts.append("no complete refresh yet")
        else:
            since = now - self.last_refresh_at
            text = f"last refresh {clock(self.last_refresh_at)} ({age(since)} ago)"
            if since > max(3 * interval, 30.0):
                text = "▲ STALE: " + text
            parts.append(text)
        if self.last_error:
            parts.append(f"✖ last poll failed: {self.last_error}")
        auto = f"auto-refresh every {interval:g}s"
        if self._next_at is not None and not self.polling:
            auto += f", next in {age(self._next_at - now)}"
        parts.append(auto)
        return " · ".join(parts)

    def _render_status_line(self) -> None:
        self.query_one("#status-line", Static).update(self.status_line_text(time.time()))

    def _tick(self) -> None:
        self._render_status_line()
        self._render_rows()

    # --- selection and detail -------------------------------------------------------------

    def selected_node(self) -> Node | None:
        node_id = self.table.selected_node_id
        return next((n for n in self.site.nodes() if n.id == node_id), None)

    @on(DataTable.RowHighlighted, "#status-table")
    def _row_highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._render_detail()
        self.refresh_bindings()

    def on_unmount(self) -> None:
        if self.collector is not None:
            self.collector.cancel()

    # --- shell hooks ----------------------------------------------------------------------

    def show_site(self, site: Site) -> None:
        super().show_site(site)
        self.generation += 1
        self.app.workers.cancel_group(self, POLL_GROUP)
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.polling = False
        self.refresh_queued = False
        self.pending.clear()
        self.snapshots.clear()
        self.report = None
        self.last_refresh_at = None
        self.last_error = None
        self._next_at = None
        if not self.is_mounted:
            return
        self.table.show_site(site)
        self.banner.show_waiting("… polling: no node has answered yet")
        self._render_rows()
        self._render_detail()
        self._start_poll()

    def refresh_pane(self) -> None:
        if self.collector is None:
            self.notify("Status: no connection pool, nothing to refresh.", severity="warning")
            return
        if self.polling:
            self.refresh_queued = True
            self._render_status_line()
            return
        self._start_poll()

    # --- host keys ------------------------------------------------------------------------

    def _unknown_key_nodes(self) -> list[str]:
        return [
            node_id
            for node_id, snap in self.snapshots.items()
            if snap.reachability.state is ReachState.HOST_KEY_UNKNOWN
        ]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "trust":
            unknown = self._unknown_key_nodes()
            if not unknown:
                return False
            node = self.selected_node()
            return True if node is not None and node.id in unknown else None
        return super().check_action(action, parameters)

    def action_trust(self) -> None:
        node = self.selected_node()
        if node is None or self.collector is None:
            return
        snap = self.snapshots.get(node.id)
        state = snap.reachability.state if snap is not None else ReachState.NOT_POLLED
        if state is ReachState.HOST_KEY_CHANGED:
            assert snap is not None
            where = host_key_fix(snap.reachability.message) or "known_hosts"
            self.notify(
                f"{node.id}: the host key CHANGED. Trusting is not offered: verify the new key "
                f"with the node's administrator, then remove the old entry ({where}).",
                severity="error",
                markup=False,
            )
            return
        if state is not ReachState.HOST_KEY_UNKNOWN:
            self.notify(
                f"{node.id}: its host key is not unknown ({state.value}); nothing to trust.",
                markup=False,
            )
            return
        assert snap is not None
        # The failure may be the jump host's (its key is unknown): then that key is fetched.
        jump = bool(node.ssh.jump) and f"(jump host {node.ssh.jump})" in snap.reachability.message
        self.run_worker(
            self._fetch_key(node, jump),
            name=f"fetch host key {node.id}",
            group=TRUST_GROUP,
            exit_on_error=False,
        )

    async def _fetch_key(self, node: Node, jump: bool) -> None:
        assert self.collector is not None
        try:
            info = await self.collector.pool.fetch_host_key(node, jump=jump)
        except (RemoteError, ValueError, OSError) as exc:
            message = exc.message if isinstance(exc, RemoteError) else str(exc)
            self.post_message(self.HostKeyFetched(node.id, None, message))
            return
        self.post_message(self.HostKeyFetched(node.id, info, None))

    @on(HostKeyFetched)
    def _host_key_fetched(self, message: HostKeyFetched) -> None:
        node = next((n for n in self.site.nodes() if n.id == message.node_id), None)
        if node is None:
            return
        if message.info is None:
            self.notify(
                f"{node.id}: could not read its host key: {message.error}",
                severity="error",
                markup=False,
            )
            return
        info = message.info
        path = hostkeys.known_hosts_path(node.ssh)
        screen = ConfirmScreen(
            f"Trust this host key for {info.host_pattern}?",
            f"append to {path}: {info.host_pattern} {info.key_type} {info.fingerprint}",
            f"{node.id} ({info.host_pattern})",
            [
                f"Accept only if {info.fingerprint} is the key the node really has (on the "
                f"node: ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub). Nothing on the node "
                "changes; only your known_hosts file does.",
            ],
            confirm_label="Yes, trust this key",
        )

        def answered(accepted: bool | None) -> None:
            self._trust_answered(node, info, bool(accepted))

        self.app.push_screen(screen, answered)

    def _trust_answered(self, node: Node, info: hostkeys.HostKeyInfo, accepted: bool) -> None:
        if not accepted:
            self.notify(f"{node.id}: host key not trusted; nothing was written.", markup=False)
            return
        assert self.collector is not None
        try:
            line = self.collector.pool.trust_host_key(
                node, info, step="status pane: trust host key"
            )
        except OSError as exc:
            self.notify(
                f"{node.id}: could not write known_hosts: {exc}", severity="error", markup=False
            )
            return
        self.notify(
            f"{node.id}: trusted {info.fingerprint}; added to "
            f"{hostkeys.known_hosts_path(node.ssh)}: {line.split()[0]} {info.key_type}",
            markup=False,
        )
        self.refresh_pane()
