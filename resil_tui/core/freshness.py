"""How old a fact is, and when it is too old to trust: the one staleness rule.

Every pane, the CLI and the verdicts use these functions, so "stale" means the same thing
everywhere: data is stale once it is older than a few missed refreshes, with a floor so
that a very short refresh interval does not make fresh data look stale.
"""

from __future__ import annotations

import time

STALE_AFTER_REFRESHES = 3
STALE_FLOOR_SECONDS = 30.0
# When nothing says how often polls run (a one-shot CLI status), the default refresh.
DEFAULT_REFRESH_SECONDS = 10.0


def stale_after(refresh_interval: float = DEFAULT_REFRESH_SECONDS) -> float:
    """Seconds after which data from the last successful poll is stale."""
    return max(STALE_FLOOR_SECONDS, STALE_AFTER_REFRESHES * refresh_interval)


def is_stale(last_success_at: float | None, now: float, limit: float) -> bool:
    """True when the last success is older than `limit` (never stale without a success:
    "no data" is its own state, not old data)."""
    return last_success_at is not None and now - last_success_at > limit


def clock(ts: float | None) -> str:
    """Local wall-clock time of an epoch timestamp, as shown on screen (HH:MM:SS)."""
    return time.strftime("%H:%M:%S", time.localtime(ts)) if ts is not None else "?"


def stamp(ts: float | None, now: float) -> str:
    """A moment an admin can place: HH:MM:SS within the last 20 hours, else with its date
    (a time alone would read as today's)."""
    if ts is None:
        return "?"
    if abs(now - ts) < 20 * 3600:
        return clock(ts)
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def age(seconds: float) -> str:
    """A duration the way an admin reads it at a glance: 42s, 12m, 3.5h."""
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def as_of(ts: float | None, now: float, limit: float) -> str:
    """The age label every pane shows next to what it renders from the site state."""
    if ts is None:
        return "not polled yet"
    text = f"as of {clock(ts)} ({age(now - ts)} ago)"
    return f"▲ STALE {text}" if now - ts > limit else text
