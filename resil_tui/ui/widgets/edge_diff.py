"""The Edge `.env` diff, coloured, with its `+` / `-` markers kept (never colour alone)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

NO_CHANGE = "(no change: the file already points to that side)"


def diff_text(diff: str) -> Text:
    """A unified diff as Rich Text; every line keeps its own marker character."""
    text = Text(no_wrap=True, overflow="ellipsis")
    if not diff:
        text.append(NO_CHANGE, style="dim")
        return text
    for line in diff.splitlines():
        if line.startswith(("+++", "---")):
            style = "bold"
        elif line.startswith("@@"):
            style = "cyan"
        elif line.startswith("+"):
            style = "bold green"
        elif line.startswith("-"):
            style = "bold red"
        elif line.startswith("\\"):
            style = "dim italic"
        else:
            style = ""
        # Text.append never parses markup: a "[" in a value is shown as is.
        text.append(line.replace("\r", "␍"), style=style)
        text.append("\n")
    text.rstrip()
    return text


class EdgeDiffView(Static):
    """Shows one unified diff; `diff` keeps the plain text for tests and copy."""

    DEFAULT_CSS = """
    EdgeDiffView {
        background: $panel;
        padding: 0 1;
        margin-top: 1;
        height: auto;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("", id=id, classes=classes, markup=False)
        self.diff = ""

    def show_diff(self, diff: str) -> None:
        self.diff = diff
        self.update(diff_text(diff))
