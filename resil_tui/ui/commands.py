"""Command palette providers: namespaced, state-aware commands ("pane: Status", "site: lyon").

The list is rebuilt from the app's state on every search, so it always says which site and
theme are current and what read-only mode refuses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from resil_tui.ui.app import ResilApp


@dataclass(frozen=True)
class PaletteCommand:
    title: str
    callback: Callable[[], object]
    help: str


def _key_hint(app: ResilApp, binding_id: str) -> str:
    keys = app.keys_for(binding_id)
    return f" (key {keys})" if keys else ""


def palette_commands(app: ResilApp) -> list[PaletteCommand]:
    """Every command the palette offers right now, in display order."""
    commands: list[PaletteCommand] = []
    active = app.active_pane_id
    for pane_cls in app.pane_classes():
        state = " (showing)" if active == pane_cls.PANE_ID else ""
        commands.append(
            PaletteCommand(
                f"pane: {pane_cls.TITLE}",
                partial(app.action_show_pane, pane_cls.PANE_ID),
                f"Show the {pane_cls.TITLE} pane{state}"
                + _key_hint(app, f"pane.{pane_cls.PANE_ID}"),
            )
        )
    pane = app.active_pane
    if pane is not None and pane.can_apply():
        refused = " (refused: READ-ONLY mode)" if app.read_only else ""
        commands.append(
            PaletteCommand(
                "pane: apply",
                app.action_apply,
                f"Apply the {pane.TITLE} pane's change, after confirmation{refused}",
            )
        )
    for name, site in app.inventory.sites.items():
        state = " (current)" if name == app.site_name else ""
        description = site.description or f"{len(site.nodes())} nodes"
        commands.append(
            PaletteCommand(
                f"site: {name}",
                partial(app.action_switch_site, name),
                f"{description}{state}",
            )
        )
    for name in app.resil_theme_names:
        state = " (current)" if name == app.theme else ""
        description = app.theme_description(name) or "theme"
        commands.append(
            PaletteCommand(
                f"theme: {name}", partial(app.action_set_theme, name), f"{description}{state}"
            )
        )
    commands.extend(
        [
            PaletteCommand(
                "app: help",
                app.action_help,
                "Keys, binding ids, safety model, log paths" + _key_hint(app, "app.help"),
            ),
            PaletteCommand(
                "app: refresh",
                app.action_refresh,
                "Refresh the current pane" + _key_hint(app, "app.refresh"),
            ),
            PaletteCommand("app: quit", app.action_quit, "Quit" + _key_hint(app, "app.quit")),
        ]
    )
    return commands


class ShellCommands(Provider):
    """Panes, sites, themes and app commands of ResilApp."""

    def _commands(self) -> list[PaletteCommand]:
        from resil_tui.ui.app import ResilApp

        app = self.app
        if not isinstance(app, ResilApp):
            return []
        return palette_commands(app)

    async def discover(self) -> Hits:
        for command in self._commands():
            yield DiscoveryHit(command.title, command.callback, help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self._commands():
            score = matcher.match(command.title)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(command.title),
                    command.callback,
                    text=command.title,
                    help=command.help,
                )
