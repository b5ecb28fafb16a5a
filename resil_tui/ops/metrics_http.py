"""`resil-tui watch --listen HOST:PORT`: `/metrics` for Prometheus, from the watcher.

A deliberately small HTTP/1.1 server on asyncio: `GET /metrics` (and `HEAD`), nothing
else, one request per connection, headers bounded in size and time. It binds a loopback
address unless the admin allowed another one explicitly (`listen_address`): the metrics
name every host of the estate.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import AsyncIterator, Callable

from resil_tui.core.prometheus import CONTENT_TYPE
from resil_tui.core.records import record

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 8192
READ_TIMEOUT = 5.0


class ListenRefused(ValueError):
    """A listen address that is not HOST:PORT, or not loopback without permission."""


@record
class ListenAddress:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def listen_address(text: str, *, allow_remote: bool = False) -> ListenAddress:
    """HOST:PORT ("127.0.0.1:9477", "[::1]:9477", "localhost:9477"). An address that is
    not loopback is refused unless `allow_remote`; a host name other than localhost is
    refused always (what it resolves to is not known here)."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not host:
        raise ListenRefused(f"{text!r}: expected HOST:PORT, e.g. 127.0.0.1:9477")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        # 0: a free port chosen by the system (the watcher says which).
        raise ListenRefused(f"{text!r}: the port must be a number from 0 to 65535")
    port = int(port_text)
    if host == "localhost":
        return ListenAddress("127.0.0.1", port)
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise ListenRefused(
            f"{text!r}: give an IP address (or localhost), not a host name"
        ) from None
    if not ip.is_loopback and not allow_remote:
        raise ListenRefused(
            f"{ip} is not a loopback address: the metrics name every node of the estate. "
            "Use 127.0.0.1 (and a reverse proxy or an SSH tunnel), or pass "
            "--allow-remote-listen to bind it anyway"
        )
    return ListenAddress(str(ip), port)


def _response(status: str, body: bytes, content_type: str, head: bool = False) -> bytes:
    headers = (
        f"HTTP/1.1 {status}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode("ascii")
    return headers + (b"" if head else body)


class MetricsServer:
    def __init__(self, address: ListenAddress, render: Callable[[], str]) -> None:
        self.address = address
        self.render = render
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        """The bound port (the one asked for, or the system's choice for port 0)."""
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[MetricsServer]:
        self._server = await asyncio.start_server(
            self._handle, self.address.host, self.address.port
        )
        try:
            yield self
        finally:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            writer.close()
            return
        try:
            reply = self._reply(head)
            writer.write(reply)
            await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    def _reply(self, head: bytes) -> bytes:
        if len(head) > MAX_HEADER_BYTES:
            return _response("431 Request Header Fields Too Large", b"", "text/plain")
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = line.split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            return _response("400 Bad Request", b"bad request\n", "text/plain")
        method, target = parts[0], parts[1].split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            return _response("405 Method Not Allowed", b"GET /metrics only\n", "text/plain")
        if target != "/metrics":
            return _response("404 Not Found", b"resil-tui serves /metrics only\n", "text/plain")
        try:
            body = self.render().encode("utf-8")
        except Exception:
            log.exception("metrics could not be rendered")
            return _response("500 Internal Server Error", b"see the debug log\n", "text/plain")
        return _response("200 OK", body, CONTENT_TYPE, head=method == "HEAD")
