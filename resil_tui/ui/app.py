"""The Textual application shell: header, six panes, footer, palette, help, keymap, themes.

The shell is given a `Session` (inventory, pool, collector, read-only mode, the demo lab)
and keeps one `SiteState` per site, fed by every poll the collector makes: the panes
render from it, never poll on their own, and say how old what they show is. The poll
cycle of the site on screen is ui/poller.py's; after an action, `repoll()` polls the
nodes it touched at once. Long work belongs in workers with a named `group` and
`exit_on_error=False`.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.command import Provider
from textual.dom import DOMNode
from textual.message import Message
from textual.reactive import reactive
from textual.widget import AwaitMount
from textual.widgets import TabbedContent, TabPane

from resil_tui import gc_policy, paths
from resil_tui.core.records import record
from resil_tui.inventory_model import Site
from resil_tui.lazy import lazy_module
from resil_tui.ops.session import LabControl, Session, SessionOnDemand
from resil_tui.ops.site_state import SiteState
from resil_tui.preferences import DEFAULT_LOG_BUFFER, update_preferences
from resil_tui.ui.errors import DebugLogErrors, log
from resil_tui.ui.keymap import (
    BindingInfo,
    KeymapCheck,
    check_keymap,
    collect_bindings,
    effective_keys,
    find_clashes,
)
from resil_tui.ui.keys import ShellScreen, explain_refused, refused_binding
from resil_tui.ui.panes.base import Pane
from resil_tui.ui.panes.catalog import (
    CONFIRM_BINDINGS,
    HELP_BINDINGS,
    PANES,
    TYPED_CONFIRM_BINDINGS,
    PaneSpec,
    pane_spec,
)
from resil_tui.ui.panes.status import StatusPane
from resil_tui.ui.poller import PollFinished, SitePoller
from resil_tui.ui.themes import register_themes, start_in_theme
from resil_tui.ui.widgets.footer import KeyFooter
from resil_tui.ui.widgets.header import ShellHeader
from resil_tui.ui.widgets.read_only import refusal

if TYPE_CHECKING:
    from resil_tui.core import journal_event
    from resil_tui.core.journal_event import JournalEvent
    from resil_tui.ops import status_events
    from resil_tui.ops.status_events import CollectorEvent
else:
    # What the collector and the journal tell the app: heard once the session is open,
    # after the first screen.
    journal_event = lazy_module("resil_tui.core.journal_event")
    status_events = lazy_module("resil_tui.ops.status_events")

# App actions that change a node. check_action() greys them out in read-only mode (the
# footer shows them dimmed) and the actions refuse again with a notification when reached
# another way (palette). Panes declare their own in Pane.MUTATING_ACTIONS.
MUTATING_ACTIONS: frozenset[str] = frozenset({"apply"})


@record
class ConnectionSummary:
    """What the header says about connections; the status poller replaces it."""

    total: int
    connected: int = 0
    failed: int = 0

    def __str__(self) -> str:
        text = f"{self.total} nodes · {self.connected} connected"
        if self.failed:
            text += f" · ✗ {self.failed} unreachable"
        return text


def _shell_commands() -> type[Provider]:
    """The command palette's provider (ui/commands.py): not needed for the first screen."""
    from resil_tui.ui.commands import ShellCommands

    return ShellCommands


class SiteUpdated(Message):
    """Something about a site changed (a node answered, a poll ended, a poll started)."""

    def __init__(self, site: str) -> None:
        super().__init__()
        self.site = site


class ResilApp(DebugLogErrors, App[int]):
    TITLE = "resil-tui"
    # Absolute: a relative CSS_PATH is resolved next to the module of a subclass.
    CSS_PATH = Path(__file__).with_name("app.tcss")
    # The palette's provider loads when the palette first opens (Textual calls it then).
    COMMANDS: ClassVar[set[type[Provider] | Callable[[], type[Provider]]]] = {_shell_commands}
    COMMAND_PALETTE_DISPLAY = "^p"
    _shell: ShellScreen  # the main screen (get_default_screen)

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark,f1", "help", "Help", id="app.help"),
        Binding("1", "show_pane('status')", "Status pane", show=False, id="pane.status"),
        Binding("2", "show_pane('ha')", "HA pane", show=False, id="pane.ha"),
        Binding("3", "show_pane('edge')", "Edge pane", show=False, id="pane.edge"),
        Binding("4", "show_pane('wizard')", "Wizard pane", show=False, id="pane.wizard"),
        Binding("5", "show_pane('logs')", "Logs pane", show=False, id="pane.logs"),
        Binding("6", "show_pane('timeline')", "Timeline pane", show=False, id="pane.timeline"),
        Binding("s", "next_site", "Site", id="app.site"),
        Binding("r", "refresh", "Refresh", id="app.refresh"),
        Binding("a", "apply", "Apply", id="pane.apply"),
        Binding("ctrl+t", "next_theme", "Theme", show=False, id="app.theme"),
        # The footer shows the palette key on its right edge by itself.
        Binding(
            "ctrl+p", "command_palette", "Palette", show=False, priority=True, id="app.palette"
        ),
        Binding("q", "quit", "Quit", id="app.quit"),
    ]

    site_name: reactive[str] = reactive("", init=False)
    connection: reactive[ConnectionSummary] = reactive(ConnectionSummary(0), init=False)

    def __init__(
        self,
        session: Session | SessionOnDemand,
        *,
        theme: str | None = None,
        demo: bool = False,
        poll: bool = True,
        status_refresh_interval: float = 10.0,
        site: str | None = None,
        log_buffer_lines: int = DEFAULT_LOG_BUFFER,
        preference_keys: Mapping[str, str] | None = None,
        preferences_path: Path | None = None,
        startup_warnings: Sequence[str] = (),
    ) -> None:
        inventory = session.inventory
        if not inventory.sites:
            raise ValueError("the inventory has no site")
        super().__init__()
        # The console's session opens right after the first paint (_start_up), or as soon
        # as something asks for it (`session`); one given open (tests) is attached at once.
        self._open: Callable[[], Session] = (
            session.open if isinstance(session, SessionOnDemand) else lambda: session
        )
        self._session: Session | None = None
        self._lab = session.lab
        self.inventory = inventory
        # Never weaker than the inventory: read_only = true in hosts.toml always wins.
        self.read_only = session.read_only or inventory.read_only
        self.demo = demo or inventory.demo
        # Seconds between the end of one status poll and the start of the next.
        self.status_refresh_interval = status_refresh_interval
        # Lines kept per log stream opened from now on (preferences / RESIL_TUI_LOG_BUFFER).
        self.log_buffer_lines = log_buffer_lines
        # [keys] from the preferences file; the inventory's [keys] is applied on top.
        self.preference_keys: dict[str, str] = dict(preference_keys or {})
        # Where UI changes (theme, settings, keys) are saved; None: not saved (tests).
        self.preferences_path = preferences_path
        self.keymap: dict[str, str] = {}
        self._startup_warnings: list[str] = list(startup_warnings)
        self._reported_clashes: set[frozenset[str]] = set()
        # One picture per site, fed by every poll of the collector (whoever asked).
        self.states: dict[str, SiteState] = {
            name: SiteState(s, status_refresh_interval) for name, s in inventory.sites.items()
        }
        # poll=False: the site is shown, never polled (layout snapshots).
        self.poller = SitePoller(self, enabled=poll)
        if isinstance(session, Session):
            self._attach_session(session)

        registered = register_themes(self)
        self.resil_theme_names = registered.names
        self._theme_descriptions = registered.descriptions
        self._startup_warnings.extend(f"theme: {p}" for p in registered.problems)
        if theme is None or theme not in self.available_themes:
            if theme is not None:
                self._startup_warnings.append(
                    f"unknown theme {theme!r}; using {registered.default} "
                    f"(available: {', '.join(registered.names)})"
                )
            theme = registered.default
        # Not `self.theme = theme`: that costs a full CSS reparse before the first screen.
        start_in_theme(self, theme)

        if site is not None and site not in inventory.sites:
            self._startup_warnings.append(
                f"no site {site!r} in the inventory; opening {next(iter(inventory.sites))} "
                f"(sites: {', '.join(inventory.sites)})"
            )
            site = None
        self.set_reactive(ResilApp.site_name, site or next(iter(inventory.sites)))
        self.set_reactive(ResilApp.connection, ConnectionSummary(len(self.current_site.nodes())))

    @property
    def session(self) -> Session:
        """The session (inventory, pool, collector, journal): the console's is opened here
        the first time it is asked for, its pool and collector imported then."""
        session = self._session
        if session is None:
            session = self._open()
            self._attach_session(session)
        return session

    @property
    def opened_session(self) -> Session | None:
        """The session if it is open: closing the console must not open one."""
        return self._session

    def _attach_session(self, session: Session) -> None:
        self._session = session
        self._unsubscribe = session.collector.subscribe(self._collector_event)
        # What the polls see goes to the incident journal (the Timeline pane reads it).
        session.record_status()
        self._unjournal = session.journal.subscribe(self._journal_entries)

    @property
    def lab(self) -> LabControl | None:
        return self._lab

    # --- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        header = ShellHeader(id="header")
        header.read_only = self.read_only
        header.demo = self.demo
        header.site_label = self._site_label()
        header.connection_label = str(self.connection)
        yield header
        site = self.current_site
        with TabbedContent(initial=PANES[0].pane_id, id="panes"):
            for number, spec in enumerate(PANES, start=1):
                with TabPane(f"{number} {spec.title}", id=spec.pane_id):
                    # The first screen holds the first pane only; the others (and their
                    # modules) come once it is painted, or at once when asked for: see
                    # ensure_pane().
                    if number == 1:
                        yield spec.load()(site)
        yield KeyFooter(id="footer")

    def get_default_screen(self) -> ShellScreen:
        # Kept: on_mount gives it its first focus whatever screen is on top by then.
        self._shell = ShellScreen(id="_default")
        return self._shell

    def on_mount(self) -> None:
        self.title = f"resil-tui · {self.site_name}"
        self.apply_keymap(self.merged_keys())
        for warning in self._startup_warnings:
            self.notify(warning, severity="warning", timeout=15, markup=False)
        # The pane shown takes the first focus itself, not after the tab bar (ShellScreen).
        self._shell.focus_first(self.active_pane)
        # Paint first: the first poll, the other panes and the resume offer come after
        # the first screen is on the terminal.
        self.call_after_refresh(self._after_first_paint)

    def _after_first_paint(self) -> None:
        # A worker, not awaited here: keys pressed at once are not queued behind the
        # mounting of five panes. The function, not a coroutine (as in ui/poller.py:
        # nothing left un-awaited if the console closes first); its errors go to the
        # debug log and a line on screen (DebugLogErrors), never end the console.
        self.run_worker(
            self._start_in_background,  # type: ignore[arg-type]
            name="start-up",
            group="start-up",
            exit_on_error=False,
        )

    async def _start_in_background(self) -> None:
        try:
            await self._start_up()
        finally:
            # entry.py starts the console with the cyclic collector off; on from here on,
            # whatever start-up did.
            gc.enable()

    async def _start_up(self) -> None:
        # What was queued behind the first paint first (keys pressed at once): opening
        # the session holds the loop while the pool and the collector are imported.
        await asyncio.sleep(0)
        if self._shutting_down():
            return
        # The first screen showed the inventory, nothing polled: the session (the pool,
        # the collector and their modules) opens now, before anything polls.
        session = self.session
        # What the journal already knows (a watcher, an earlier console), before the first
        # poll is drawn: a node down for 27 minutes says so at once, not "since now".
        session.journal.refresh()
        self.poller.start()
        for spec in PANES[1:]:
            # Keys pressed and messages posted meanwhile first: importing and mounting a
            # pane holds the loop for tens of milliseconds.
            await asyncio.sleep(0)
            if self._shutting_down():
                return
            await self.ensure_pane(spec.pane_id)
        if self._shutting_down():
            return
        # Everything start-up built lives as long as the console.
        gc_policy.collect_as_long_running()
        # An unfinished wizard run (console or link died): offer to resume it.
        from resil_tui.ui.panes.wizard import offer_resume

        offer_resume(self)

    async def ensure_pane(self, pane_id: str) -> Pane:
        """The pane `pane_id`, mounted now if it was not yet (panes are mounted lazily)."""
        pane, mounting = self._pane_or_mount(pane_id)
        if mounting is not None:
            await mounting
        return pane

    def _pane_or_mount(self, pane_id: str) -> tuple[Pane, AwaitMount | None]:
        found = next(iter(self.query(f"#pane-{pane_id}").results(Pane)), None)
        if found is not None:
            return found, None
        spec = pane_spec(pane_id)
        if spec is None:
            raise KeyError(f"no pane {pane_id!r}")
        pane_cls = spec.load()
        # A pane renders its state in on_mount (panes never poll): it starts up to date.
        pane = pane_cls(self.current_site)
        tab = self.query_one(f"#panes TabPane#{pane_id}", TabPane)
        if not tab.is_mounted or self._shutting_down():
            return pane, None  # shutting down: nothing to mount into
        return pane, tab.mount(pane)

    def on_unmount(self) -> None:
        if self._session is not None:
            self._unsubscribe()
            self._unjournal()
        self.poller.stop()

    # --- the site state -------------------------------------------------------------------

    def site_state(self, name: str | None = None) -> SiteState:
        """The picture of a site (default: the one on screen) every pane renders from."""
        return self.states[name or self.site_name]

    def _collector_event(self, event: CollectorEvent) -> None:
        site = event.site if isinstance(event, status_events.NodePolled) else event.report.site
        state = self.states.get(site)
        if state is not None and state.apply(event):
            self.site_state_changed(site)
        if (
            isinstance(event, status_events.SiteJudged | status_events.NodePolled)
            and site == self.site_name
        ):
            self._feed_connection_summary()

    def site_state_changed(self, site: str) -> None:
        self.post_message(SiteUpdated(site))

    def _journal_entries(self, events: list[JournalEvent]) -> None:
        """A terminal bell when the verdict of the site on screen changes (whoever saw it);
        the panes drawn again when the journal learnt something of it (the 'since' times)."""
        mine = [e for e in events if e.site == self.site_name]
        verdict = journal_event.EventKind.VERDICT
        if any(e.kind is verdict and e.before is not None for e in mine):
            self.bell()
        if mine and not self._shutting_down():
            self.site_state_changed(self.site_name)

    def show_node(self, node_id: str) -> None:
        """The Status pane, on this node's row and detail (the Timeline's jump)."""
        self.action_show_pane(StatusPane.PANE_ID)
        status = self.query_one(StatusPane)
        self.call_after_refresh(status.table.select_node, node_id)

    @on(SiteUpdated)
    def _site_updated(self, message: SiteUpdated) -> None:
        # A poll may end while the console shuts down (screens and widgets going): nothing
        # to draw, and a pane half-removed would not find its own table.
        if message.site != self.site_name or self._shutting_down():
            return
        state = self.site_state()
        for pane in self.query(Pane):
            # Not one the start-up worker is still mounting (it renders the state once
            # mounted) nor one being removed (display is False then: see Pane.on_mount).
            if pane.is_mounted and pane.display:
                pane.show_state(state)
        self.refresh_bindings()

    @on(PollFinished)
    def _poll_finished(self, message: PollFinished) -> None:
        if self._shutting_down():
            return
        self.poller.finished(message)

    def _shutting_down(self) -> bool:
        return not self.is_running or bool(self._exit_renderables) or not self.screen_stack

    def request_poll(self) -> None:
        """Poll the site on screen now (the refresh key; queued when a poll runs)."""
        if not self.poller.enabled:
            self.notify("Status: polling is off in this console; nothing to refresh.")
            return
        self.poller.start()

    def repoll(self, node_ids: Sequence[str], site: str | None = None) -> None:
        """An action touched these nodes: poll them again at once, every pane follows."""
        self.poller.repoll(node_ids, site)

    def _feed_connection_summary(self) -> None:
        state = self.site_state()
        snaps = [state.node(n.id) for n in state.site.nodes()]
        connected = sum(1 for s in snaps if s is not None and s.reachability.ok)
        failed = sum(1 for s in snaps if s is not None and not s.reachability.ok and s.polled_at)
        self.set_connection_summary(connected, failed)

    # --- state ----------------------------------------------------------------------------

    @property
    def current_site(self) -> Site:
        return self.inventory.site(self.site_name)

    @property
    def active_pane_id(self) -> str:
        try:
            return self.query_one("#panes", TabbedContent).active
        except Exception:
            # Before compose (palette built early, tests): the first pane.
            return PANES[0].pane_id

    @property
    def active_pane(self) -> Pane | None:
        pane_id = self.active_pane_id
        found = self.query(f"#pane-{pane_id}").results(Pane)
        return next(iter(found), None)

    def pane_specs(self) -> tuple[PaneSpec, ...]:
        return PANES

    def theme_description(self, name: str) -> str:
        return self._theme_descriptions.get(name, "")

    def set_connection_summary(self, connected: int, failed: int = 0) -> None:
        """Entry point for the status poller: connections to the current site's nodes."""
        self.connection = ConnectionSummary(len(self.current_site.nodes()), connected, failed)

    def _site_label(self) -> str:
        names = list(self.inventory.sites)
        label = f"⌂ site {self.site_name}"
        if len(names) > 1:
            label += f" ({names.index(self.site_name) + 1}/{len(names)})"
        return label

    def watch_site_name(self, old_name: str, site_name: str) -> None:
        self.title = f"resil-tui · {site_name}"
        self.query_one(ShellHeader).site_label = self._site_label()
        site = self.inventory.site(site_name)
        self.states[old_name].reset(self.inventory.site(old_name))
        for pane in self.query(Pane):
            pane.show_site(site)
        # Counts are per site; the status poller fills them in again for the new site.
        self.connection = ConnectionSummary(len(site.nodes()))
        self.poller.switch_site()
        self.refresh_bindings()

    def watch_connection(self, summary: ConnectionSummary) -> None:
        self.query_one(ShellHeader).connection_label = str(summary)

    @on(TabbedContent.TabActivated)
    def _pane_changed(self, event: TabbedContent.TabActivated) -> None:
        # The pane's own keys (and their footer hints) need the focus inside it; this runs
        # once the switch is done, so a hidden widget can no longer pull the tab back.
        pane = next(iter(event.pane.query(Pane)), None)
        focused = self.focused
        if pane is not None and (focused is None or pane not in focused.ancestors_with_self):
            pane.focus()
        # Whether "apply" is available depends on the pane shown.
        self.refresh_bindings()

    # --- keymap ---------------------------------------------------------------------------

    @classmethod
    def binding_infos(cls) -> list[BindingInfo]:
        """Every remappable binding of the UI, app first, then screens and panes."""
        sources: list[tuple[str, list[BindingType]]] = [
            ("global", cls.BINDINGS),
            # The dialogs' keys from the catalog too: their modules load when first opened.
            ("help screen", HELP_BINDINGS),
            ("confirmation", CONFIRM_BINDINGS),
            ("typed confirmation", TYPED_CONFIRM_BINDINGS),
        ]
        # From the catalog: a pane not mounted yet (its module not even imported) has its
        # keys listed, checked and remappable all the same.
        sources.extend((f"{p.title} pane", p.bindings) for p in PANES)
        return collect_bindings(sources)

    def apply_keymap(self, keys: Mapping[str, object]) -> KeymapCheck:
        """Apply a `[keys]` table; unknown ids and bad values are reported, not fatal."""
        infos = self.binding_infos()
        known = [info.id for info in infos]
        check = check_keymap(keys, known)
        self.keymap = dict(check.valid)
        self.set_keymap(self.keymap)
        problems = check.problems(known)
        problems.extend(
            f"[keys]: {clash}; only one of them will work"
            for clash in find_clashes(infos, self.keymap)
        )
        for problem in problems:
            self.notify(problem, severity="warning", timeout=20, markup=False)
        return check

    def merged_keys(self) -> dict[str, str]:
        """Preferences' [keys], then the inventory's on top (a team's file wins)."""
        return {**self.preference_keys, **self.inventory.keys}

    def remember(self, **changes: object) -> bool:
        """Save changed settings to the preferences file; say so if it cannot be written."""
        if self.preferences_path is None:
            return False
        try:
            update_preferences(self.preferences_path, **changes)  # type: ignore[arg-type]
        except OSError as exc:
            log.warning("cannot save preferences to %s", self.preferences_path, exc_info=exc)
            self.notify(
                f"could not save preferences to {self.preferences_path}: {exc.strerror or exc}"
                "; the change lasts until you quit",
                severity="warning",
                markup=False,
            )
            return False
        return True

    def keys_for(self, binding_id: str) -> str:
        """The keys that trigger `binding_id` now, as shown to the user ("? f1")."""
        for info in self.binding_infos():
            if info.id == binding_id:
                return " ".join(
                    self.get_key_display(Binding(key, info.action))
                    for key in effective_keys(info, self.keymap)
                )
        return ""

    def handle_bindings_clash(self, clashed_bindings: set[Binding], node: DOMNode) -> None:
        # Textual also reports a compound binding ("question_mark,f1") remapped to one key
        # as clashing with itself: only a binding the keymap did not put there is a clash.
        normalized = self._normalize_keymap(self.keymap)
        real = sorted(
            f"{self.get_key_display(b)} ({b.id or b.action})"
            for b in clashed_bindings
            if not (b.id and b.key in normalized.get(b.id, "").split(","))
        )
        if not real or frozenset(real) in self._reported_clashes:
            return  # Textual calls this on every key press while the clash lasts.
        self._reported_clashes.add(frozenset(real))
        self.notify(
            f"[keys]: the keymap takes key(s) already bound to {', '.join(real)}; the keymap wins.",
            severity="warning",
            timeout=15,
            markup=False,
        )

    # --- actions --------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "next_site":
            return len(self.inventory.sites) > 1
        if action in MUTATING_ACTIONS:
            pane = self.active_pane
            if pane is None or not pane.can_apply():
                return False
            if self.read_only:
                return None
        return True

    def refuse_if_read_only(self, what: str) -> bool:
        """True (and a notification saying why) when read-only mode forbids `what`."""
        if not self.read_only:
            return False
        self.notify(refusal(what), title="Refused", severity="error", markup=False)
        return True

    def why_not(self, action: str, parameters: tuple[object, ...]) -> str | None:
        """Why an app action cannot run now (see ui/keys.py)."""
        if action == "next_site":
            return f"Site: the inventory has one site ({self.site_name}); nothing to switch to."
        if action in MUTATING_ACTIONS:
            pane = self.active_pane
            if self.read_only:
                return refusal(f"applying the {pane.TITLE if pane else ''} pane's change")
            if pane is None or not pane.can_apply():
                title = pane.TITLE if pane is not None else "this"
                return f"Apply: nothing to apply on the {title} pane now."
        return None

    async def _check_bindings(self, key: str, priority: bool = False) -> bool:
        # Textual drops a key whose action is greyed or hidden without a word: say why.
        if await super()._check_bindings(key, priority):
            return True
        if priority:
            return False
        refused = refused_binding(self.screen._modal_binding_chain, key)
        if refused is None:
            return False
        namespace, binding, _state = refused
        self.notify(explain_refused(namespace, binding), severity="warning", markup=False)
        return True

    def action_apply(self) -> None:
        pane = self.active_pane
        if pane is None:
            return
        if self.refuse_if_read_only(f"applying the {pane.TITLE} pane's change"):
            return
        if not pane.can_apply():
            self.notify(f"{pane.TITLE}: nothing to apply.", severity="warning")
            return
        pane.apply()

    def action_help(self) -> None:
        from resil_tui.ui.screens.help import HelpRow, HelpScreen  # not before the first paint

        if isinstance(self.screen, HelpScreen):
            return
        rows = [
            HelpRow(
                keys=self.keys_for(info.id),
                binding_id=info.id,
                description=info.description,
                context=info.context,
            )
            for info in self.binding_infos()
        ]
        self.push_screen(
            HelpScreen(
                rows,
                read_only=self.read_only,
                audit_log=paths.audit_log_path(),
                debug_log=paths.debug_log_path(),
                inventory_path=self.inventory.path,
            )
        )

    def action_show_pane(self, pane_id: str) -> None:
        if pane_spec(pane_id) is None:
            self.notify(f"no pane {pane_id!r}", severity="error", markup=False)
            return
        self._pane_or_mount(pane_id)  # not mounted yet: it is, before the tab shows
        # Hiding a focused widget makes Textual focus a sibling in the hidden tab, which
        # switches the tab straight back: drop focus first; each pane takes it when shown.
        self.set_focus(None)
        self.query_one("#panes", TabbedContent).active = pane_id

    def action_switch_site(self, name: str) -> None:
        if name not in self.inventory.sites:
            self.notify(f"no site {name!r} in the inventory", severity="error", markup=False)
            return
        self.site_name = name

    def action_next_site(self) -> None:
        names = list(self.inventory.sites)
        self.site_name = names[(names.index(self.site_name) + 1) % len(names)]
        self.notify(f"Site: {self.site_name}", markup=False)

    def action_set_theme(self, name: str) -> None:
        if name not in self.available_themes:
            self.notify(f"unknown theme {name!r}", severity="error", markup=False)
            return
        self.theme = name
        self.remember(theme=name)

    def action_next_theme(self) -> None:
        names = list(self.resil_theme_names)
        if not names:
            return
        current = names.index(self.theme) if self.theme in names else -1
        self.theme = names[(current + 1) % len(names)]
        self.notify(f"Theme: {self.theme}", markup=False)
        self.remember(theme=self.theme)

    def action_refresh(self) -> None:
        pane = self.active_pane
        if pane is not None:
            pane.refresh_pane()
        else:
            self.request_poll()

    async def action_quit(self) -> None:
        """Quit; while a wizard step runs, ask first: the step is then interrupted (and
        recorded so), and the run is offered for resume next time."""
        from resil_tui.ui.panes.wizard import WizardPane
        from resil_tui.ui.screens.confirm import ConfirmScreen

        pane = next(iter(self.query(WizardPane)), None)
        running = pane.step_running() if pane is not None else None
        if pane is None or running is None:
            self.exit(0)
            return
        wizard = pane

        async def interrupt_and_quit() -> None:
            await wizard.interrupt()
            self.exit(0)

        def answered(yes: bool | None) -> None:
            if yes:
                self.run_worker(
                    interrupt_and_quit(), group="app-quit", exit_on_error=False, name="quit"
                )

        self.push_screen(
            ConfirmScreen(
                "Quit while a wizard step runs?",
                f"stop the step '{running}' now, then quit",
                f"wizard run {wizard.run.run_id if wizard.run else '?'}",
                [
                    "the step is recorded 'interrupted': it may or may not have happened on "
                    "the node; the run is offered for resume when the console starts again"
                ],
                confirm_label="Yes, quit",
            ),
            callback=answered,
        )
