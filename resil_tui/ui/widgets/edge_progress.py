"""Live progress of an Edge apply / rollback: each step, which one runs, for how long."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.timer import Timer
from textual.widgets import Static

from resil_tui.ops.edge import ContainersPolled, EdgeEvent, StepFinished, StepStarted

# Words with the symbols: the state never rests on colour alone.
PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "FAILED"
_LOOK = {
    PENDING: ("·", "dim"),
    RUNNING: ("▶", "bold yellow"),
    DONE: ("✔", "green"),
    FAILED: ("✖", "bold red"),
}


@dataclass
class _Row:
    text: str
    state: str = PENDING
    started: float | None = None
    elapsed: float | None = None
    detail: str = ""


class EdgeProgress(Static):
    """Fed with ops.edge events; redraws the running step's elapsed time every 0.25 s."""

    DEFAULT_CSS = """
    EdgeProgress {
        margin-top: 1;
        height: auto;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("", id=id, classes=classes, markup=False)
        self.title = ""
        self.rows: list[_Row] = []
        self.polls: list[str] = []
        self._timer: Timer | None = None
        self._row_of: dict[tuple[str, int], _Row] = {}
        self._several = False

    def begin(self, title: str, steps: Sequence[str], nodes: Sequence[str] = ()) -> None:
        """`nodes`: several Edge nodes switched together get each step once per node."""
        self.title = title
        several = self._several = len(nodes) > 1
        self._row_of = {}
        self.rows = []
        for node in nodes if several else ("",):
            for index, text in enumerate(steps, start=1):
                row = _Row(f"{node}: {text}" if several else text)
                self._row_of[(node, index)] = row
                self.rows.append(row)
        self.polls = []
        self.display = True
        if self._timer is None:
            self._timer = self.set_interval(0.25, self._redraw)
        self._redraw()

    def _row(self, node_id: str, index: int) -> _Row | None:
        return self._row_of.get((node_id, index)) or self._row_of.get(("", index))

    def feed(self, event: EdgeEvent) -> None:
        at = f"{event.node_id} " if self._several else ""
        if isinstance(event, StepStarted):
            row = self._row(event.node_id, event.index)
            if row is not None:
                row.state, row.started = RUNNING, time.monotonic()
        elif isinstance(event, StepFinished):
            row = self._row(event.node_id, event.index)
            if row is not None:
                row.state = DONE if event.ok else FAILED
                row.elapsed, row.detail = event.elapsed, event.detail
        elif isinstance(event, ContainersPolled):
            if event.error:
                self.polls.append(f"{at}poll {event.attempt}: {event.error}")
            elif event.ps is not None:
                states = ", ".join(f"{c.service}: {c.status}" for c in event.ps.containers)
                self.polls.append(f"{at}poll {event.attempt}: {states or 'no containers listed'}")
        self._redraw()

    def end(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._redraw()

    @property
    def running(self) -> str | None:
        """The text of the step running now (tests, screen readers)."""
        for row in self.rows:
            if row.state == RUNNING:
                return row.text
        return None

    def _redraw(self) -> None:
        text = Text()
        if self.title:
            text.append(self.title + "\n", style="bold")
        now = time.monotonic()
        for index, row in enumerate(self.rows, start=1):
            symbol, style = _LOOK[row.state]
            if row.elapsed is not None:
                seconds = f"{row.elapsed:.1f}s"
            elif row.started is not None:
                seconds = f"{now - row.started:.1f}s…"
            else:
                seconds = ""
            text.append(f"{symbol} {index}/{len(self.rows)} {row.state:<7} ", style=style)
            text.append(f"{seconds:>6}  {row.text}\n")
            if row.detail:
                text.append(f"    {row.detail}\n", style="" if row.state == DONE else "red")
            if index == len(self.rows) and self.polls:
                for poll in self.polls[-5:]:
                    text.append(f"    {poll}\n", style="dim")
        text.rstrip()
        self.update(text)
