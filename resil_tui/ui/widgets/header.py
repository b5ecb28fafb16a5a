"""The one-line header: app name, current site, READ-ONLY / DEMO badges, connections."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widgets import Static


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
        read_only = Static("■ READ-ONLY", id="header-readonly", classes="badge")
        read_only.display = self.read_only
        yield read_only
        demo = Static("◆ DEMO", id="header-demo", classes="badge")
        demo.display = self.demo
        yield demo
        yield Static("", id="header-spacer")
        yield Static(self.connection_label, id="header-connection", markup=False)

    def watch_site_label(self, value: str) -> None:
        if self.is_mounted:
            self.query_one("#header-site", Static).update(value)

    def watch_read_only(self, value: bool) -> None:
        if self.is_mounted:
            self.query_one("#header-readonly").display = value

    def watch_demo(self, value: bool) -> None:
        if self.is_mounted:
            self.query_one("#header-demo").display = value

    def watch_connection_label(self, value: str) -> None:
        if self.is_mounted:
            self.query_one("#header-connection", Static).update(value)
