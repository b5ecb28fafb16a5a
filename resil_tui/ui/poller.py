"""The console's poll cycle of the site on screen (the only place the console polls).

Each poll runs in a Textual worker (group `status-poll`, `exit_on_error=False`) through the
session's collector; results reach the site state through the collector's listener, so a
node's row changes the moment it answers and a slow or dead node never holds back the
others. The next automatic poll is scheduled only when the previous one finished: polls
never stack. A refresh asked for while a poll runs is queued and starts when it ends.
After an action, `repoll(nodes)` polls just the nodes it touched, at once.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from textual.message import Message
from textual.timer import Timer

from resil_tui.ops.site_state import SiteState

if TYPE_CHECKING:
    from resil_tui.ui.app import ResilApp

POLL_GROUP = "status-poll"
REPOLL_GROUP = "status-repoll"


class PollFinished(Message):
    """A poll of the whole site ended (error: it failed as a whole, a bug)."""

    def __init__(self, site: str, generation: int, error: str | None) -> None:
        super().__init__()
        self.site = site
        self.generation = generation
        self.error = error


class SitePoller:
    def __init__(self, app: ResilApp, *, enabled: bool = True) -> None:
        self.app = app
        self.enabled = enabled
        self.generation = 0  # bumped on site switch: late results of another cycle are dropped
        self.polls_finished = 0
        self._timer: Timer | None = None

    @property
    def state(self) -> SiteState:
        return self.app.site_state()

    @property
    def interval(self) -> float:
        return self.app.status_refresh_interval

    def start(self) -> None:
        """Poll the site on screen now (queued when a poll runs)."""
        if not self.enabled:
            return
        state = self.state
        if state.polling:
            state.refresh_queued = True
            self.app.site_state_changed(state.name)
            return
        self._stop_timer()
        state.next_at = None
        state.refresh_interval = self.interval
        state.polling = True
        state.poll_started_at = time.time()
        state.pending = {n.id for n in state.site.nodes()}
        # The function, not a coroutine: a worker the closing console never starts leaves
        # nothing un-awaited behind.
        self.app.run_worker(
            # Textual types `work` as Callable[[], Coroutine[None, None, T]]: no async def
            # (Coroutine[Any, Any, T]) matches it under mypy.
            functools.partial(self._poll, state, self.generation),  # type: ignore[arg-type]
            name=f"status poll {state.name}",
            group=POLL_GROUP,
            exit_on_error=False,
        )
        self.app.site_state_changed(state.name)

    def repoll(self, node_ids: Iterable[str], site: str | None = None) -> None:
        """Poll these nodes again at once (an action touched them); every pane follows."""
        if not self.enabled:
            return
        state = self.app.site_state(site)
        wanted = [n.id for n in state.site.nodes() if n.id in set(node_ids)]
        if not wanted:
            return
        collector = self.app.session.collector
        self.app.run_worker(
            functools.partial(collector.poll_nodes, state.site, wanted),  # type: ignore[arg-type]
            name=f"re-poll {', '.join(wanted)}",
            group=REPOLL_GROUP,
            exit_on_error=False,
        )

    async def _poll(self, state: SiteState, generation: int) -> None:
        collector = self.app.session.collector
        try:
            # A hung node must not hold back the others' next refresh: after `patience` the
            # report is made with its last data, and it is not asked again until it answers.
            await collector.poll_site(state.site, patience=max(2.0, self.interval))
        except Exception as exc:  # a bug must not stop the polling cycle
            self.app.post_message(
                PollFinished(state.name, generation, f"{type(exc).__name__}: {exc}")
            )
            return
        self.app.post_message(PollFinished(state.name, generation, None))

    def finished(self, message: PollFinished) -> None:
        if message.generation != self.generation:
            return
        state = self.app.site_state(message.site)
        state.polling = False
        self.polls_finished += 1
        # Nodes still answering an earlier poll keep their "waiting" mark until they report.
        state.pending = set(state.report.waiting) if state.report is not None else set()
        if message.error is None:
            state.last_refresh_at = time.time()
            state.last_error = None
        else:
            state.last_error = message.error
            self.app.notify(f"Status poll failed: {message.error}", severity="error", markup=False)
        if state.refresh_queued:
            state.refresh_queued = False
            self.start()
            return
        state.next_at = time.time() + self.interval
        self._timer = self.app.set_timer(self.interval, self._auto, name="status auto-refresh")
        self.app.site_state_changed(state.name)

    def _auto(self) -> None:
        self._timer = None
        self.start()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def switch_site(self) -> None:
        """Another site is shown: drop the cycle of the previous one, start this one's."""
        self.generation += 1
        self.app.workers.cancel_group(self.app, POLL_GROUP)
        self._stop_timer()
        self.start()

    def stop(self) -> None:
        self._stop_timer()
        session = self.app.opened_session  # none yet: nothing polled, nothing to cancel
        if session is not None:
            session.collector.cancel()
