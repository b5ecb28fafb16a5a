"""One rule for keys: the pane on screen answers its keys whatever widget has the focus, and
a key whose action cannot run says why.

Textual looks a key up along the focused widget and its ancestors, then the screen and the
app. The tab bar, the node table or a button inside a pane each see a different chain, so a
pane's keys worked only while the focus sat on the right widget (the Status pane needed Tab
before ↓ did anything; in the Wizard a stray Tab put the focus on the tab bar and `d`, `g`,
`f` were ignored). `ShellScreen` puts the active pane into every chain, after the focused
widget's own keys (a table still moves its cursor, an input still takes the letters typed
into it) and before the screen's and the app's. The footer and the help read the same
chain, so what they show is what the keys do.

A binding whose `check_action()` says no (greyed: `None`, hidden: `False`) used to fall
through silently. `explain_refused()` finds why (the node's `why_not()`, the read-only
rule, or the binding's own words) and the app shows it as a toast.

Both hook Textual 8.2.8 internals (`Screen._binding_chain`, `App._check_bindings`); the
version is pinned in pyproject.toml and the key tests of every pane cover them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.binding import Binding, BindingsMap
from textual.dom import DOMNode
from textual.keys import key_to_character
from textual.screen import Screen
from textual.widget import Widget

if TYPE_CHECKING:
    from resil_tui.ui.panes.base import Pane


class ShellScreen(Screen[None]):
    """The console's main screen: the active pane's keys are live whatever has focus."""

    # Where the focus goes when nothing has it: nowhere until the app has given the first
    # focus (focus_first), then Textual's own choice: every widget in the same order as
    # "*", the tab bar first, so a screen resumed with nothing focused never picks a pane
    # of a hidden tab (focusing it would switch the tab back).
    AUTO_FOCUS = ".-started *"

    def focus_first(self, widget: Widget | None) -> None:
        """The first focus, straight on `widget` (the pane shown): Textual's auto-focus
        would focus the tab bar first, and the pane then take it, two restyles before
        the first paint. From here on the screen's auto-focus is Textual's. Without a
        widget, what Textual's auto-focus would have picked."""
        # No restyle: no CSS rule reads the class, only AUTO_FOCUS.
        self.add_class("-started", update=False)
        if widget is not None:
            self.set_focus(widget)
        elif self.focused is None:
            self.focus_next()

    def active_pane(self) -> Pane | None:
        from resil_tui.ui.app import ResilApp

        app = self.app
        return app.active_pane if isinstance(app, ResilApp) else None

    @property
    def _binding_chain(self) -> list[tuple[DOMNode, BindingsMap]]:
        focused = self.focused
        if focused is not None and focused.loading:
            focused = None
        nodes: list[DOMNode] = (
            [self, self.app] if focused is None else list(focused.ancestors_with_self)
        )
        pane = self.active_pane()
        if pane is not None and pane not in nodes:
            # After the focused widget (and its containers up to the tab bar), before the
            # screen and the app: the widget's own keys first, then the pane's.
            nodes.insert(nodes.index(self) if self in nodes else len(nodes), pane)
        chain = [(node, node._bindings.copy()) for node in nodes]
        # As Textual does: a key that a widget nearer the focus consumes (a letter in an
        # Input) is not a binding further up.
        consumers: list[DOMNode] = []
        for namespace, bindings in chain:
            for consumer in consumers:
                for key in list(bindings.key_to_bindings):
                    if consumer.check_consume_key(key, key_to_character(key)):
                        del bindings.key_to_bindings[key]
            consumers.append(namespace)
        keymap = self.app._keymap
        if keymap:
            for namespace, bindings in chain:
                result = bindings.apply_keymap(keymap)
                if result.clashed_bindings:
                    self.app.handle_bindings_clash(result.clashed_bindings, namespace)
        return chain


def refused_binding(
    chain: list[tuple[DOMNode, BindingsMap]], key: str
) -> tuple[DOMNode, Binding, bool | None] | None:
    """The first binding of `key` in the chain whose action says it cannot run now."""
    for namespace, bindings in chain:
        for binding in bindings.key_to_bindings.get(key, ()):
            if binding.priority:
                continue
            state = namespace.app._check_action_state(binding.action, namespace)
            if not state:
                return namespace, binding, state
    return None


def explain_refused(namespace: DOMNode, binding: Binding) -> str:
    """Why the action of `binding` cannot run now, in one sentence for a toast."""
    target, action, parameters = namespace.app._parse_action(binding.action, namespace)
    why_not = getattr(target, "why_not", None)
    reason = why_not(action, parameters) if callable(why_not) else None
    what = binding.description or action.replace("_", " ")
    return reason or f"{what}: not available here now."
