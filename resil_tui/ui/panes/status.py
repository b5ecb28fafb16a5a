"""Status pane: the health of every node of the current site, and the site's verdicts.

It renders the shell's site state (ui/app.py, fed by every poll the collector makes) and
polls nothing itself: each node's row changes the moment that node answers, so a slow or
dead node never holds back the others; the status line says when the last refresh ended
and when the next starts.

Nothing here changes a node. The one thing that writes anything is "trust host key",
which appends to the admin's own known_hosts file after a y/n confirmation that shows
the fingerprint (ops/trust.py: the same flow as `resil-tui trust` and `init`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Input, Static, Tabs

from resil_tui.core.cluster_kinds import Remedy
from resil_tui.core.freshness import age, clock
from resil_tui.core.reach_state import ReachState
from resil_tui.core.roles import role_words
from resil_tui.core.sip_expiry import site_sip_expiry
from resil_tui.inventory_model import Node, Site
from resil_tui.lazy import lazy_module
from resil_tui.ops.site_state import SiteState
from resil_tui.ui.panes.base import Pane
from resil_tui.ui.panes.catalog import STATUS
from resil_tui.ui.widgets.node_detail import NodeDetail
from resil_tui.ui.widgets.node_table import NodeTable, RowContext
from resil_tui.ui.widgets.verdict_banner import VerdictBanner

if TYPE_CHECKING:
    from resil_tui.core import journal_event, site_picture
    from resil_tui.core.node_status import NodeSnapshot
    from resil_tui.ops import trust
    from resil_tui.ops.status_events import SiteReport
    from resil_tui.ops.trust import TrustCheck, TrustOffer
    from resil_tui.ui.screens import confirm
else:
    # Only trusting a host key needs them (and the dialog it opens): not the first screen.
    trust = lazy_module("resil_tui.ops.trust")
    # What the journal calls reachable, and where it says so: read once a node has answered.
    site_picture = lazy_module("resil_tui.core.site_picture")
    journal_event = lazy_module("resil_tui.core.journal_event")
    confirm = lazy_module("resil_tui.ui.screens.confirm")

TRUST_GROUP = "status-trust"
# A changed or revoked key is never offered: the row says which known_hosts line to fix.
_REFUSED_KEYS = (ReachState.HOST_KEY_CHANGED, ReachState.HOST_KEY_REVOKED)


class StatusPane(Pane):
    PANE_ID = STATUS.pane_id
    TITLE = STATUS.title
    # Trusting a host key is deliberately not in MUTATING_ACTIONS: it writes the admin's
    # own known_hosts file, never a node, so read-only mode (which protects the nodes)
    # allows it; the key is only written after the admin accepted its fingerprint, and the
    # pool records it in the audit log.
    DEFAULT_CSS = """
    StatusPane #status-line { color: $foreground 70%; height: auto; }
    StatusPane #status-table-box { height: auto; }
    StatusPane #status-filter { display: none; height: 3; }
    StatusPane #status-filter.-shown { display: block; }
    StatusPane #status-detail-scroll {
        height: 1fr;
        min-height: 8;
        border-top: solid $foreground 30%;
    }
    """
    # The keys live in the catalog: help, keymap and palette read them before this
    # module is loaded.
    BINDINGS: ClassVar[list[BindingType]] = STATUS.bindings

    class TrustChecked(Message):
        bubble = False

        def __init__(self, node_id: str, found: TrustCheck | None, error: str | None) -> None:
            super().__init__()
            self.node_id = node_id
            self.found = found
            self.error = error

    # --- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static("", id="status-line", markup=False)
        yield VerdictBanner(id="status-banner")
        # Each focusable widget sits alone in its container: when a tab switch hides the
        # focused one, Textual hands the focus to a focusable *sibling*, which would be in
        # this hidden pane and would switch the tab straight back.
        # The filter's input joins the table's box the first time it is asked for
        # (action_filter): hidden, it still cost the first screen its styles and layout.
        with Vertical(id="status-table-box"):
            yield NodeTable(id="status-table")
        # The detail scrolls on its own so the verdict and the rows stay in view.
        with VerticalScroll(id="status-detail-scroll"):
            yield NodeDetail(id="status-detail")

    def pane_mounted(self) -> None:
        self.table.show_site(self.site)
        self._render_state(self.state)
        if not self.shell.poller.enabled:
            self.banner.show_waiting("· Not polled: this console was started without polling.")
        # The clock only redraws ages and "waiting" marks; it never starts a poll.
        self.set_interval(1.0, self._tick)
        self.call_after_refresh(self._initial_focus)

    def on_show(self) -> None:
        # Back on this tab with nothing focused: focus the rows again.
        self.call_after_refresh(self._initial_focus)

    def _initial_focus(self) -> None:
        # Keys of this pane (trust) need the focus inside it; the tab strip is the default.
        # Only while this pane is shown: focusing a hidden pane's widget would switch tabs.
        if self.shell.active_pane is not self:
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
    def snapshots(self) -> dict[str, NodeSnapshot]:
        return self.state.nodes

    @property
    def report(self) -> SiteReport | None:
        return self.state.report

    # --- rendering from the site state ----------------------------------------------------

    def show_state(self, state: SiteState) -> None:
        if state.name != self.site.name or not self.is_mounted:
            return
        self._render_state(state)

    def _render_state(self, state: SiteState) -> None:
        self._render_rows()
        self._render_banner(state)
        self._render_detail()
        self._render_status_line()
        self.refresh_bindings()

    # --- rendering ------------------------------------------------------------------------

    def _trust_key(self) -> str:
        """The key that trusts a host key now (the keymap may have changed it)."""
        keys = self.shell.keys_for("status.trust")
        return keys.split()[0] if keys else "t"

    def _reach_since(self, node_id: str) -> float | None:
        """When the journal saw the node enter its current reachability state."""
        snap = self.snapshots.get(node_id)
        if snap is None or snap.reachability.state is ReachState.NOT_POLLED:
            return None
        entry = self.shell.session.journal.latest(
            self.site.name, node_id, journal_event.EventKind.REACHABILITY
        )
        now_value = site_picture.REACHABLE if snap.reachability.ok else site_picture.UNREACHABLE
        return entry.time if entry is not None and entry.after == now_value else None

    def _row_context(self, node_id: str, now: float, trust_key: str) -> RowContext:
        state = self.state
        return RowContext(
            now=now,
            stale_after=state.stale_after,
            polling_since=state.poll_started_at if node_id in state.pending else None,
            can_poll=self.shell.poller.enabled,
            trust_key=trust_key,
            reach_since=self._reach_since(node_id),
            words=role_words(self.site.resilience),
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

    def _render_banner(self, state: SiteState) -> None:
        """The last judgement; while a poll runs, verdicts from what has answered so far."""
        if not self.shell.poller.enabled:
            return
        answered = {n.id: s for n in self.site.nodes() if (s := state.nodes.get(n.id))}
        waiting = [n.id for n in self.site.nodes() if n.id in state.pending]
        if state.polling and state.report is None:
            xivo = (self.site.xivo_master.id, self.site.xivo_slave.id)
            polled = {i for i, s in answered.items() if s.polled_at is not None}
            if not all(i in polled for i in xivo):
                missing = ", ".join(i for i in xivo if i not in polled)
                self.banner.show_waiting(
                    f"… polling: {len(polled)} of {len(self.site.nodes())} nodes answered; "
                    f"no verdict until both XiVO answered (waiting for {missing})"
                )
                return
        if state.polling and answered:
            report = self.shell.session.collector.judge(self.site, answered, preview=True)
            self.banner.show_verdicts(report.verdicts, waiting, self._remedy_keys)
        elif state.report is not None:
            self.banner.show_verdicts(state.report.verdicts, waiting, self._remedy_keys)

    def _remedy_keys(self, remedy: Remedy) -> str:
        """The keys that start the wizard for a finding, as bound now (the keymap may move them)."""
        shell = self.shell
        show = shell.keys_for("pane.wizard").split()
        start = shell.keys_for(f"wizard.{remedy.value}").split()
        if not show or not start:
            return f"the {remedy.value} wizard (Wizard pane)"
        return f"press {show[0]} then {start[0]}: the {remedy.value} wizard"

    def _render_detail(self) -> None:
        node = self.selected_node()
        if node is not None:
            self.detail.show(
                node,
                self.snapshots.get(node.id),
                self.state.stale_after,
                time.time(),
                site_sip_expiry(self.site),
                role_words(self.site.resilience),
            )

    def status_line_text(self, now: float) -> str:
        if not self.shell.poller.enabled:
            return "Polling is off in this console: nothing is polled."
        state = self.state
        interval = state.refresh_interval
        parts: list[str] = []
        if state.polling:
            total = len(self.site.nodes())
            parts.append(f"⟳ polling: {total - len(state.pending)} of {total} nodes answered")
            if state.refresh_queued:
                parts.append("refresh queued")
        if state.last_refresh_at is None:
            parts.append("no complete refresh yet")
        else:
            since = now - state.last_refresh_at
            text = f"last refresh {clock(state.last_refresh_at)} ({age(since)} ago)"
            if since > state.stale_after:
                text = "▲ STALE: " + text
            parts.append(text)
        if state.last_error:
            parts.append(f"✖ last poll failed: {state.last_error}")
        table = self.table
        if table.filter_text:
            parts.append(
                f"filter {table.filter_text!r}: {len(table.shown_nodes)} of "
                f"{len(self.site.nodes())} nodes"
            )
        if table.sort_column is not None:
            parts.append(f"sorted {table.sort_label}")
        auto = f"auto-refresh every {interval:g}s"
        if state.next_at is not None and not state.polling:
            auto += f", next in {age(state.next_at - now)}"
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

    # --- shell hooks ----------------------------------------------------------------------

    def show_site(self, site: Site) -> None:
        super().show_site(site)
        if not self.is_mounted:
            return
        self.table.show_site(site)
        self.banner.show_waiting("… polling: no node has answered yet")
        self.call_after_refresh(self.show_state, self.state)

    # --- keys of the table: move, filter, sort, copy -------------------------------------

    def _filter_box(self) -> Input | None:
        """The filter's input, once the filter has been asked for."""
        return next(iter(self.query("#status-filter").results(Input)), None)

    def action_cursor(self, direction: str) -> None:
        table = self.table
        if direction == "down":
            table.action_cursor_down()
        else:
            table.action_cursor_up()

    async def action_filter(self) -> None:
        box = self._filter_box()
        if box is None:
            box = Input(
                placeholder="filter nodes: any text of a row (enter keeps it, esc clears)",
                id="status-filter",
            )
            await self.query_one("#status-table-box").mount(box, before=self.table)
        box.add_class("-shown")
        box.focus()

    def action_leave_field(self) -> None:
        self.action_clear_filter()

    def action_clear_filter(self) -> None:
        box = self._filter_box()
        if box is None or (not box.has_class("-shown") and not self.table.filter_text):
            super().action_leave_field()
            return
        box.value = ""
        self.table.set_filter("")
        box.remove_class("-shown")
        self.table.focus()
        self._render_status_line()

    @on(Input.Changed, "#status-filter")
    def _filter_typed(self, event: Input.Changed) -> None:
        event.stop()
        self.table.set_filter(event.value.strip())
        self._render_detail()
        self._render_status_line()

    @on(Input.Submitted, "#status-filter")
    def _filter_kept(self, event: Input.Submitted) -> None:
        event.stop()
        if not event.value.strip():
            event.input.remove_class("-shown")
        self.table.focus()

    def action_sort(self) -> None:
        self.table.next_sort()
        self._render_status_line()
        self.notify(f"Status: rows sorted {self.table.sort_label}.", markup=False)

    def action_copy_detail(self) -> None:
        node = self.selected_node()
        if node is None:
            self.notify("Status: no node selected; nothing to copy.", severity="warning")
            return
        text = self.detail.text
        self.app.copy_to_clipboard(text)
        self.notify(
            f"copied the detail of {node.id} ({text.count(chr(10)) + 1} lines) to the terminal's "
            "clipboard (OSC 52)",
            markup=False,
        )

    # --- host keys ----------------------------------------------------------------------

    def _key_problem_nodes(self) -> list[str]:
        return [
            node_id
            for node_id, snap in self.snapshots.items()
            if snap.reachability.state is ReachState.HOST_KEY_UNKNOWN
        ]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "trust":
            nodes = self._key_problem_nodes()
            if not nodes:
                return False
            node = self.selected_node()
            return True if node is not None and node.id in nodes else None
        return super().check_action(action, parameters)

    def why_not(self, action: str, parameters: tuple[object, ...]) -> str | None:
        if action == "trust":
            nodes = self._key_problem_nodes()
            if not nodes:
                return "Trust host key: no node has an unknown host key."
            return f"Trust host key: select a node whose key is unknown ({', '.join(nodes)})."
        return super().why_not(action, parameters)

    def action_trust(self) -> None:
        node = self.selected_node()
        if node is None:
            return
        snap = self.snapshots.get(node.id)
        state = snap.reachability.state if snap is not None else ReachState.NOT_POLLED
        if snap is not None and state in _REFUSED_KEYS:
            where = snap.reachability.fix_at or "known_hosts"
            what = "CHANGED" if state is ReachState.HOST_KEY_CHANGED else "is REVOKED"
            self.notify(
                f"{node.id}: the host key {what}. Trusting is not offered: verify the key with "
                f"the node's administrator, then fix {where}.",
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
        self.run_worker(
            self._check_trust(node),
            name=f"check host keys {node.id}",
            group=TRUST_GROUP,
            exit_on_error=False,
        )

    async def _check_trust(self, node: Node) -> None:
        try:
            found = await trust.check(self.shell.session.pool, node)
        except Exception as exc:  # the message is shown; the details go to the debug log
            self.post_message(self.TrustChecked(node.id, None, f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(self.TrustChecked(node.id, found, None))

    @on(TrustChecked)
    def _trust_checked(self, message: TrustChecked) -> None:
        found = message.found
        if found is None:
            self.notify(
                f"{message.node_id}: could not check its host keys: {message.error}",
                severity="error",
                markup=False,
            )
            return
        if found.state is trust.TrustState.TRUSTED:
            self.notify(f"{found.node.id}: host keys trusted; polling it again.", markup=False)
            self.shell.repoll([found.node.id])
            return
        if found.state is not trust.TrustState.UNKNOWN or found.offer is None:
            # Changed, revoked or unreachable: never offered, the message says what to do.
            self.notify(f"{found.node.id}: {found.message}", severity="error", markup=False)
            return
        offer = found.offer

        def answered(accepted: bool | None) -> None:
            self._trust_answered(offer, bool(accepted))

        self.app.push_screen(confirm.trust_screen(offer), answered)

    def _trust_answered(self, offer: TrustOffer, accepted: bool) -> None:
        if not accepted:
            self.notify(f"{offer.label}: host key not trusted; nothing was written.", markup=False)
            return
        try:
            line = trust.accept(self.shell.session.pool, offer, step="status pane: trust host key")
        except OSError as exc:
            self.notify(
                f"{offer.label}: could not write known_hosts: {exc}", severity="error", markup=False
            )
            return
        self.notify(
            f"{offer.label}: trusted {offer.info.fingerprint}; added to {offer.known_hosts}: "
            f"{line.split()[0]} {offer.info.key_type}",
            markup=False,
        )
        # The node behind a jump host may have an unknown key too: the poll will say.
        self.shell.repoll([offer.node.id])
