"""Classification of low-level failures into RemoteError kinds."""

from __future__ import annotations

import errno
import socket

import asyncssh
import pytest

from resil_tui.remote.errors import ErrorKind, RemoteError, classify


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), ErrorKind.REFUSED),
        (OSError(errno.EHOSTUNREACH, "No route to host"), ErrorKind.REFUSED),
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), ErrorKind.DNS),
        (TimeoutError(), ErrorKind.TIMEOUT),
        (OSError(errno.ETIMEDOUT, "timed out"), ErrorKind.TIMEOUT),
        (asyncssh.PermissionDenied("no"), ErrorKind.AUTH),
        (asyncssh.ConnectionLost("gone"), ErrorKind.DROPPED),
        (ConnectionResetError(errno.ECONNRESET, "reset"), ErrorKind.DROPPED),
        (asyncssh.ProtocolError("bad"), ErrorKind.DROPPED),
        (ValueError("weird"), ErrorKind.ERROR),
    ],
)
def test_classify(exc: BaseException, kind: ErrorKind) -> None:
    err = classify(exc, "paris.xivo.master", "root@xivo:22")
    assert err.kind is kind
    assert err.node_id == "paris.xivo.master" and "xivo" in err.message
    assert str(err).startswith("paris.xivo.master: ")


def test_kinds_compare_as_strings() -> None:
    err = RemoteError("host_key_changed", "n", "m", known_hosts="/k", line=3)
    assert err.kind == "host_key_changed" and err.kind is ErrorKind.HOST_KEY_CHANGED
    assert not err.transient and RemoteError("refused", "n", "m").transient
    with pytest.raises(ValueError):
        RemoteError("nope", "n", "m")
