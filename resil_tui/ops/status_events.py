"""What the status collector tells its listeners: a node polled, a site judged (its report).

Apart from the collector (ops/status.py), which imports the pool: the console's site state
and its first screen read these types before any poll, and paint before the pool and the
collector are even imported (ResilApp opens the session right after its first paint).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from resil_tui.core.records import record

if TYPE_CHECKING:
    from resil_tui.core.cluster import Severity, SiteVerdicts
    from resil_tui.core.node_status import NodeSnapshot, SiteSnapshot


@record
class SiteReport:
    """A site judged from its nodes' latest snapshots (what `SiteJudged` carries)."""

    site: str
    snapshot: SiteSnapshot
    verdicts: SiteVerdicts
    waiting: tuple[str, ...] = ()  # nodes still answering a previous poll (last data shown)

    @property
    def severity(self) -> Severity:
        return self.verdicts.severity

    def to_dict(self, include_raw: bool = False) -> dict[str, Any]:
        return {
            "site": self.site,
            "verdicts": self.verdicts.to_dict(),
            "nodes": self.snapshot.to_dict(include_raw)["nodes"],
        }


@record
class NodePolled:
    """One node answered (or failed) a poll, whoever asked for it."""

    site: str
    snapshot: NodeSnapshot


@record
class SiteJudged:
    """A site was judged from its nodes' latest snapshots."""

    report: SiteReport


CollectorEvent = NodePolled | SiteJudged
Listener = Callable[[CollectorEvent], None]
