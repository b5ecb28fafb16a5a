"""No tracebacks for admins: unexpected errors go to the debug log, the screen gets one line.

Two kinds of failure reach here. A worker started with `exit_on_error=False` that raises
is only marked ERROR by Textual, on the widget that started it (the message does not
bubble): `DebugLogErrors` watches every worker of the app and reports such failures once,
in a notification naming the work and the debug log. An exception that escapes a handler
stops the app: it is written to the debug log, and what Textual would print on exit (a
traceback with local variables) becomes one line.
"""

from __future__ import annotations

import logging
from typing import Any

from rich.text import Text
from textual.app import App
from textual.worker import Worker, WorkerState

from resil_tui import paths

log = logging.getLogger("resil_tui.ui")


def one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    first = text[0] if text else ""
    name = type(error).__name__
    return f"{name}: {first}" if first else name


class DebugLogErrors(App[Any]):
    """Mixin for the resil-tui apps (list it before `App`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.crash_message: str | None = None
        manager = self.workers
        remove = getattr(manager, "_remove_worker", None)
        if callable(remove):
            # Textual calls this when any worker's task is done, whatever its node.
            def removed(worker: Worker[Any]) -> None:
                remove(worker)
                if worker.state is WorkerState.ERROR and worker.error is not None:
                    self.report_worker_error(worker)

            manager._remove_worker = removed  # type: ignore[method-assign]

    def report_worker_error(self, worker: Worker[Any]) -> None:
        error = worker.error
        if error is None:
            return
        what = worker.name or worker.group or "background work"
        log.error("worker %r (group %r) failed", what, worker.group, exc_info=error)
        try:
            self.notify(
                f"{what} failed: {one_line(error)}. Details in {paths.debug_log_path()}",
                title="Unexpected error",
                severity="error",
                timeout=20,
                markup=False,
            )
        except Exception:  # the app may be closing: the debug log has it already
            log.debug("could not show the worker error", exc_info=True)

    def _handle_exception(self, error: Exception) -> None:
        log.error("the console stopped on an unexpected error", exc_info=error)
        cause = error.__cause__ if error.__cause__ is not None else error
        self.crash_message = (
            f"resil-tui: the console stopped on an unexpected error: {one_line(cause)}\n"
            f"(details in {paths.debug_log_path()})"
        )
        super()._handle_exception(error)

    def _print_error_renderables(self) -> None:
        if self.crash_message is not None and self._exit_renderables:
            self._exit_renderables[:] = [Text(self.crash_message)]
        super()._print_error_renderables()
