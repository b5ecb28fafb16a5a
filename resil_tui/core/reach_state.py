"""Whether the last poll reached a node over SSH, and if not, why (one word for it).

Apart from core/node_status.py (the snapshots' dataclasses) so that the node table, the
node detail and the Status pane can name a state without loading it: the console's first
screen shows nodes not polled yet, and the snapshots load with the first poll
(tests/ui/test_lazy_panes.py).
"""

from __future__ import annotations

from enum import StrEnum


class ReachState(StrEnum):
    OK = "ok"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    AUTH = "auth"
    HOST_KEY_UNKNOWN = "host_key_unknown"
    HOST_KEY_CHANGED = "host_key_changed"
    HOST_KEY_REVOKED = "host_key_revoked"
    DROPPED = "dropped"  # connection lost mid-poll / exit status None
    ERROR = "error"
    NOT_POLLED = "not_polled"  # no poll finished yet
