"""Errors as the UI shows them: the UI never imports the remote layer, it asks here."""

from __future__ import annotations

from resil_tui.remote.errors import ErrorKind, RemoteError

__all__ = ["ErrorKind", "RemoteError", "error_text", "is_read_only_refusal"]


def error_text(exc: BaseException) -> str:
    """One line for the admin: a remote failure names its node; anything else its type."""
    if isinstance(exc, RemoteError):
        return f"{exc.node_id}: {exc.message}"
    if isinstance(exc, LookupError | ValueError | OSError):
        return str(exc) or type(exc).__name__
    return f"unexpected error: {type(exc).__name__}: {exc}"


def is_read_only_refusal(exc: BaseException) -> bool:
    return isinstance(exc, RemoteError) and exc.kind is ErrorKind.READ_ONLY
