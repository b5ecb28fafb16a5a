"""Read-only mode, said the same way on every pane: one notice, one refusal sentence.

A pane that can change nodes names what read-only mode stops on it (`Pane.READ_ONLY_EFFECT`)
and the base pane mounts a `ReadOnlyNotice` at its top; a greyed key or button says the
same refusal (`refusal()`) when pressed. The remote layer refuses the change again whatever
the screens do: this is the explanation, not the guard.
"""

from __future__ import annotations

from textual.widgets import Static

HOW_TO_ALLOW = (
    "restart without --read-only, with read_only = false in the inventory, to allow changes"
)


def refusal(what: str) -> str:
    """The toast for an action refused in read-only mode."""
    return f"READ-ONLY mode: {what} would change a node and is refused; {HOW_TO_ALLOW}."


def notice_text(effect: str) -> str:
    return f"■ READ-ONLY: {effect} greyed out (they would change a node); {HOW_TO_ALLOW}."


class ReadOnlyNotice(Static):
    """The line at the top of a pane whose changes read-only mode refuses."""

    DEFAULT_CSS = """
    ReadOnlyNotice {
        height: auto;
        width: 100%;
        text-style: bold;
        color: $warning;
    }
    """

    def __init__(self, effect: str) -> None:
        super().__init__(notice_text(effect), markup=False, classes="read-only-notice")
        self.effect = effect
