"""The wizard's plan: every step of the runbook with its state, the current one marked.

States are words with symbols (never colour alone): pending, running, done, failed,
interrupted, skipped (with the reason), awaiting done / confirmation / acknowledgement.
Rendered with markup off: titles hold node names and commands.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from resil_tui.core.runbook import Runbook
from resil_tui.core.wizard_run import StepState, WizardRun

_LOOK = {
    StepState.PENDING: ("·", "dim"),
    StepState.RUNNING: ("▶", "bold yellow"),
    StepState.DONE: ("✔", "green"),
    StepState.FAILED: ("✖", "bold red"),
    StepState.SKIPPED: ("⤼", "yellow"),
    StepState.AWAITING_DONE: ("?", "bold cyan"),
    StepState.AWAITING_CONFIRM: ("!", "bold red"),
    StepState.AWAITING_ACK: ("!", "bold yellow"),
    StepState.INTERRUPTED: ("✖", "bold red"),
}


def plan_text(runbook: Runbook, run: WizardRun | None) -> Text:
    current = run.current() if run is not None else None
    text = Text()
    for number, step in enumerate(runbook.steps, start=1):
        rec = run.record(step.id) if run is not None else None
        state = rec.state if rec is not None else StepState.PENDING
        symbol, style = _LOOK[state]
        here = current is not None and current.step_id == step.id
        text.append("➜ " if here else "  ", style="bold")
        text.append(f"{number:>2}. {symbol} ", style=style)
        text.append(f"[{step.kind.value:<6}] ", style="dim")
        text.append(step.title, style="bold" if here else "")
        if step.guard:
            text.append("  (guard)", style="dim")
        label = (
            state.value.upper()
            if state in (StepState.FAILED, StepState.INTERRUPTED)
            else state.value
        )
        text.append(f"  — {label}", style=style)
        if rec is not None and rec.state is StepState.SKIPPED and rec.skip_reason:
            text.append(f": {rec.skip_reason}", style="yellow")
        elif rec is not None and rec.warning and rec.state is StepState.DONE:
            text.append(" ⚠ warning", style="bold yellow")
        elif rec is not None and rec.flags.get("nothing_left"):
            text.append(": nothing left to apply", style="dim")
        elif rec is not None and rec.flags.get("acknowledged") and rec.state is StepState.DONE:
            text.append(" ⚠ a wait it depends on was skipped", style="bold yellow")
        text.append("\n")
    text.rstrip()
    return text


class WizardPlan(Static):
    DEFAULT_CSS = """
    WizardPlan { height: auto; margin-top: 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.plain = ""

    def show(self, runbook: Runbook, run: WizardRun | None) -> None:
        text = plan_text(runbook, run)
        self.plain = text.plain
        self.update(text)
