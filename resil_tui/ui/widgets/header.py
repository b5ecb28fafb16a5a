"""The one-line header: app name, current site, READ-ONLY / DEMO badges, connections."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widgets import Static


def _read_only_badge() -> Static:
    return Static("■ READ-ONLY", id="header-readonly", classes="badge")


def _demo_badge() -> Static:
    return Static("◆ DEMO", id="header-demo", classes="badge")


_BADGES: dict[str, Callable[[], Static]] = {"read_only": _read_only_badge, "demo": _demo_badge}


class ShellHeader(Horizontal):
    """Fed by ResilApp; every state is spelled out in words, never by colour alone."""

    site_label: reactive[str] = reactive("")
    read_only: reactive[bool] = reactive(False)
    demo: reactive[bool] = reactive(False)
    connection_label: reactive[str] = reactive("")

    def compose(self) -> ComposeResult:
        # Initial contents here: the watchers only run for changes after mounting.
        yield Static("resil-tui", id="header-title")
        yield Static(self.site_label, id="header-site", markup=False)
        # A badge exists only once it is on: a hidden widget still costs the first screen
        # its styles and layout (about a millisecond each); one turned on later is mounted.
        self._badges: dict[str, Static] = {}
        if self.read_only:
            yield self._badge("read_only")
        if self.demo:
            yield self._badge("demo")
        yield Static("", id="header-spacer")
        yield Static(self.connection_label, id="header-connection", markup=False)

    def watch_site_label(self, value: str) -> None:
        if self.is_mounted:
            self.query_one("#header-site", Static).update(value)

    def watch_read_only(self, value: bool) -> None:
        self._show_badge("read_only", value)

    def watch_demo(self, value: bool) -> None:
        self._show_badge("demo", value)

    def _badge(self, name: str) -> Static:
        badge = _BADGES[name]()
        self._badges[name] = badge
        return badge

    def _show_badge(self, name: str, value: bool) -> None:
        if not self.is_mounted:
            return
        badge = self._badges.get(name)
        if badge is not None:
            badge.display = value
        elif value:
            # In the order composed: read-only, demo, then the spacer.
            demo = self._badges.get("demo") if name == "read_only" else None
            self.mount(self._badge(name), before=demo if demo is not None else "#header-spacer")

    def watch_connection_label(self, value: str) -> None:
        if self.is_mounted:
            self.query_one("#header-connection", Static).update(value)
