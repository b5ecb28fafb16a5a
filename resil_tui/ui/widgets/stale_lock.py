"""The one offer to break a node's stale change lock and retry, from any pane.

A change refused because the node's lock is stale (remote/errors.py `STALE_LOCK`: its
console died, or it was left behind) can be retried with the lock broken: only after the
admin types the node's id. The lock layer audits the break (whose lock it was); the pane
retries the very change that was refused."""

from __future__ import annotations

from resil_tui.ui.screens.confirm import TypedConfirmScreen


def break_stale_lock_screen(node_id: str, what: str, holder: str) -> TypedConfirmScreen:
    """`what`: the change to retry ("the Edge switch"); `holder`: the refusal's text."""
    return TypedConfirmScreen(
        f"Break the stale lock of {node_id} and retry {what}",
        f"remove the stale change lock on {node_id}, take it, then retry {what}",
        node_id,
        node_id,
        [
            holder,
            "Make sure that change is over (its console closed, nobody is working on the "
            "node): breaking a lock that is still in use lets two changes run at once.",
            "The break is audited, with whose lock it was.",
        ],
        confirm_label="Break it and retry",
    )
