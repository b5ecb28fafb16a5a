"""The console's one picture of a site: the latest snapshot of every node and the latest
judgement, fed by every poll the status collector makes (whoever asked for it).

Every pane renders from a `SiteState` and says how old it is with the one staleness rule
(core/freshness.py). The console keeps one per site; the poll schedule (when the next poll
starts) is recorded here too, so the status line and the panes read one source.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from resil_tui.core.freshness import as_of, stale_after
from resil_tui.inventory_model import Site
from resil_tui.lazy import lazy_module

if TYPE_CHECKING:
    from resil_tui.core.cluster import SiteVerdicts
    from resil_tui.core.node_status import NodeSnapshot
    from resil_tui.ops import status_events as events
    from resil_tui.ops.status_events import CollectorEvent, SiteReport
else:
    # The collector's events: they load with the collector, after the console's first
    # screen (which shows the sites before any of them).
    events = lazy_module("resil_tui.ops.status_events")


@dataclass
class SiteState:
    """The console's picture of one site: every pane renders from it."""

    site: Site
    refresh_interval: float
    report: SiteReport | None = None  # the last judgement of the whole site
    nodes: dict[str, NodeSnapshot] = field(default_factory=dict)  # latest per node
    # The console's poll cycle (ui/app.py drives it; recorded here for every pane).
    polling: bool = False
    poll_started_at: float | None = None
    pending: set[str] = field(default_factory=set)  # nodes of the running poll not in yet
    refresh_queued: bool = False
    last_refresh_at: float | None = None  # end of the last complete poll
    last_error: str | None = None  # the last poll failed as a whole (a bug, not a node)
    next_at: float | None = None  # when the next automatic poll starts

    @property
    def name(self) -> str:
        return self.site.name

    @property
    def stale_after(self) -> float:
        return stale_after(self.refresh_interval)

    @property
    def verdicts(self) -> SiteVerdicts | None:
        return self.report.verdicts if self.report is not None else None

    @property
    def judged_at(self) -> float | None:
        return self.report.verdicts.evaluated_at if self.report is not None else None

    def node(self, node_id: str | None) -> NodeSnapshot | None:
        return self.nodes.get(node_id) if node_id is not None else None

    def as_of(self, now: float) -> str:
        """The age of the site's judgement, as every pane shows it."""
        return as_of(self.judged_at, now, self.stale_after)

    def node_as_of(self, node_id: str, now: float) -> str:
        """The age of what a node last told us (its last successful poll)."""
        snap = self.nodes.get(node_id)
        return as_of(snap.last_success_at if snap else None, now, self.stale_after)

    def apply(self, event: CollectorEvent) -> bool:
        """Take in a collector event; True when it concerns this site."""
        if isinstance(event, events.NodePolled):
            if event.site != self.site.name:
                return False
            self.nodes[event.snapshot.node_id] = event.snapshot
            self.pending.discard(event.snapshot.node_id)
            return True
        if isinstance(event, events.SiteJudged):
            if event.report.site != self.site.name:
                return False
            self.report = event.report
            self.nodes.update(event.report.snapshot.nodes)
            return True
        return False

    def reset(self, site: Site) -> None:
        """Another site is shown: forget this one's poll cycle (its facts stay valid)."""
        self.site = site
        self.polling = False
        self.pending.clear()
        self.refresh_queued = False
        self.next_at = None
