"""Footers: the console's `KeyFooter` (most important keys first, `?` always there), and
`StableFooter` for the smaller apps (init form, first run).

`KeyFooter` is one line drawn from the live binding chain of the screen (the same one the
keys go through, see ui/keys.py): `? Help` first, then the keys that work now (the focused
widget's and the active pane's, then the app's), then the greyed ones; what does not fit is
left out from the end, and `^p Palette` sits on the right when there is room. It redraws
only when that text changes: the Status pane refreshes bindings on every node report.

`StableFooter`: Textual 8.2.8's Footer recomposes on every `refresh_bindings()`, and the key
widgets it drops stay referenced (their `data_bind` to the footer), so memory grows with
every refresh; comparing what would be shown first makes an unchanged footer free.
"""

from __future__ import annotations

from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual.app import App
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer

from resil_tui.core.records import record

HELP_ACTION = "help"
PALETTE = ("^p", "Palette")


@record
class FooterKey:
    """One key as the footer shows it (greyed when it does not work now)."""

    key: str  # as displayed: "?", "^s", "R"
    description: str
    enabled: bool
    app_level: bool


def footer_keys(screen: Screen[Any]) -> list[FooterKey]:
    """The keys to show, in the order they are shown (before fitting the width)."""
    app = screen.app
    seen: set[tuple[int, str]] = set()
    keys: list[FooterKey] = []
    help_key: FooterKey | None = None
    for active in screen.active_bindings.values():
        binding = active.binding
        if not binding.show and binding.action != HELP_ACTION:
            continue
        ident = (id(active.node), binding.action)
        if ident in seen:
            continue  # a compound binding ("question_mark,f1"): its first key is enough
        seen.add(ident)
        shown = FooterKey(
            app.get_key_display(binding),
            binding.description,
            active.enabled,
            isinstance(active.node, App | Screen),
        )
        if binding.action == HELP_ACTION:
            help_key = FooterKey(shown.key, shown.description or "Help", True, True)
        else:
            keys.append(shown)
    # Keys that work first; among them the pane's (and the focused widget's) before the
    # app's; greyed ones last. Order within each group: as declared.
    ordered = sorted(keys, key=lambda k: (not k.enabled, k.app_level))
    return ([help_key] if help_key is not None else []) + ordered


def fit(keys: list[FooterKey], width: int, palette: tuple[str, str] | None = PALETTE) -> Text:
    """One line of at most `width` cells: keys from the first, palette on the right."""
    line = Text(no_wrap=True, overflow="crop", end="")
    right = f" {palette[0]} {palette[1]} " if palette else ""
    room = width - cell_len(right)
    for item in keys:
        piece = f" {item.key} {item.description} "
        if cell_len(line.plain) + cell_len(piece) > room:
            break
        key_style = "bold" if item.enabled else "dim"
        line.append(f" {item.key}", style=f"{key_style} reverse" if item.enabled else key_style)
        line.append(f" {item.description} ", style="" if item.enabled else "dim")
    if palette is not None and cell_len(line.plain) + cell_len(right) <= width:
        line.append(" " * (width - cell_len(line.plain) - cell_len(right)))
        line.append(f" {palette[0]}", style="bold")
        line.append(f" {palette[1]} ")
    return line


class KeyFooter(Widget):
    DEFAULT_CSS = """
    KeyFooter {
        dock: bottom;
        height: 1;
        width: 100%;
        background: $footer-background;
        color: $footer-description-foreground;
    }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._line = Text("")
        self._update_queued = False

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self._queue_update()

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[Any]) -> None:
        if self.is_attached and screen is self.screen:
            self._queue_update()

    def _queue_update(self) -> None:
        # One update after the next refresh, however many signals came before it (seven
        # while the first screen mounts; each one asks every binding's check_action).
        if not self._update_queued:
            self._update_queued = True
            self.call_after_refresh(self._queued_update)

    def _queued_update(self) -> None:
        self._update_queued = False
        self.update_keys()

    def on_resize(self) -> None:
        # An update already queued reads the new width when it runs (the first layout
        # resizes the footer while its first update waits for the first refresh).
        if not self._update_queued:
            self.update_keys()

    def shown(self) -> list[FooterKey]:
        """The keys the footer holds now (tests read this, not the drawing)."""
        return footer_keys(self.screen)

    def update_keys(self) -> None:
        if not self.is_attached:
            return
        line = fit(self.shown(), self.size.width or 80)
        if line.plain != self._line.plain or line.spans != self._line.spans:
            self._line = line
            self.refresh()

    def render(self) -> Text:
        return self._line

    @property
    def text(self) -> str:
        return self._line.plain


class StableFooter(Footer):
    _shown: tuple[Any, ...] | None = None

    def _signature(self) -> tuple[Any, ...]:
        app = self.app
        keys = tuple(
            (key, b.action, b.description, b.show, enabled, tooltip, app.get_key_display(b))
            for key, (_node, b, enabled, tooltip) in self.screen.active_bindings.items()
        )
        return (keys, self.show_command_palette, self.compact, app.ENABLE_COMMAND_PALETTE)

    async def recompose(self) -> None:
        if self._bindings_ready and self.is_attached:
            shown = self._signature()
            if shown == self._shown:
                return
            self._shown = shown
        await super().recompose()
