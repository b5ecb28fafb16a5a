"""The wizard's dialogs: ask why (a skip, an abort) and offer to resume an unfinished run."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from resil_tui.core.wizard_report import when
from resil_tui.core.wizard_run import WizardRun


class ReasonScreen(ModalScreen[str | None]):
    """Ask for a reason (recorded in the run's report); dismisses None on esc."""

    DEFAULT_CSS = """
    ReasonScreen { align: center middle; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="wizard.reason_cancel"),
    ]

    def __init__(self, title: str, hint: str) -> None:
        super().__init__()
        self.reason_title = title
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical(id="reason-dialog", classes="dialog"):
            yield Static(f"? {self.reason_title}", classes="dialog-title", markup=False)
            yield Static(self.hint, classes="dialog-hint", markup=False)
            yield Input(placeholder="why (goes into the run's report)", id="reason-input")
            yield Static("", id="reason-feedback", classes="dialog-hint", markup=False)
            yield Static("enter confirms · esc cancels", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#reason-input", Input).focus()

    @on(Input.Submitted, "#reason-input")
    def _submitted(self, event: Input.Submitted) -> None:
        reason = " ".join(event.value.split())
        if not reason:
            self.query_one("#reason-feedback", Static).update("✗ a reason is required")
            self.app.bell()
            return
        self.dismiss(reason)

    def action_cancel(self) -> None:
        self.dismiss(None)


RESUME, DISCARD, LATER = "resume", "discard", "later"


class ResumeScreen(ModalScreen[str]):
    """An unfinished run was found at start-up: resume it, discard it, or decide later."""

    DEFAULT_CSS = """
    ResumeScreen { align: center middle; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "choose('resume')", "Resume", id="wizard.resume_yes"),
        Binding("d", "choose('discard')", "Discard", id="wizard.resume_discard"),
        Binding("l,escape", "choose('later')", "Later", id="wizard.resume_later"),
    ]

    def __init__(self, run: WizardRun, others: int = 0) -> None:
        super().__init__()
        self.run = run
        self.others = others

    def compose(self) -> ComposeResult:
        run = self.run
        cur = run.current()
        where = f"{cur.title} ({cur.state.value})" if cur is not None else "the end"
        done = sum(1 for r in run.steps if r.state.settled)
        lines = [
            f"Site {run.site}, {run.direction}, started {when(run.started_at)} by {run.user}.",
            f"{done} of {len(run.steps)} steps settled; it stopped at: {where}.",
            "Resuming checks the guards again first, then continues where it stopped.",
        ]
        if self.others:
            lines.append(f"({self.others} other unfinished run(s) are kept for later.)")
        with Vertical(id="resume-dialog", classes="dialog"):
            yield Static("? An unfinished wizard run was found", classes="dialog-title")
            yield Static("\n".join(lines), id="resume-text", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("r  Resume", id="resume-resume", variant="warning")
                yield Button("d  Discard", id="resume-discard", variant="error")
                yield Button("l  Later", id="resume-later", variant="primary")
            yield Static("esc: later (the run stays saved)", classes="dialog-hint")

    def on_mount(self) -> None:
        # The harmless answer has the focus (absent when already answered: a fast key).
        for button in self.query("#resume-later").results(Button):
            button.focus()

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        choice = (event.button.id or "").removeprefix("resume-")
        if choice in (RESUME, DISCARD, LATER):
            self.dismiss(choice)
