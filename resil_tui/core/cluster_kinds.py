"""The words of a site's verdicts (core/cluster.py): severity, a XiVO node's state, remedy.

Apart from the rules and their dataclasses so that the verdict banner, the node table and
the Status pane can name them without loading the rules: the console's first screen judges
no site (nothing is polled yet), and core/cluster.py loads with the first verdict
(tests/ui/test_lazy_panes.py). core/cluster.py re-exports all three.
"""

from __future__ import annotations

from enum import StrEnum


class Severity(StrEnum):
    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"
    UNKNOWN = "unknown"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Severity.OK: 0, Severity.WARNING: 1, Severity.UNKNOWN: 2, Severity.CRITICAL: 3}


class XivoState(StrEnum):
    ACTIVE = "active"
    STANDBY = "standby"
    STOPPED = "stopped"
    UNREACHABLE = "unreachable"
    UNKNOWN = "unknown"


class Remedy(StrEnum):
    """The guided procedure that deals with a finding (the console names its key)."""

    FAILOVER = "failover"  # CC and Edge to the slave
    FAILBACK = "failback"  # CC and Edge back to the master
