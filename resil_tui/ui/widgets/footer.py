"""A Footer that rebuilds its keys only when what it shows changes.

Textual 8.2.8's Footer recomposes on every `refresh_bindings()`, and the key widgets it
drops stay referenced (their `data_bind` to the footer), so memory grows with every
refresh. The Status pane refreshes bindings on every node report: over a 10-minute soak
that was ~0.4 MB/s. Comparing what would be shown first makes an unchanged footer free.
"""

from __future__ import annotations

from typing import Any

from textual.widgets import Footer


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
