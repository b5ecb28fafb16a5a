"""Value rules shared by the inventory loader, the command catalog, `init` and the CLI.

Each rule is written once here so that `check-config` refuses exactly what the runtime
would refuse: a remote path, an SSH target (`user@host:port`, `[v6]:port`), a bounded
finite number. Pure: no I/O. Every pattern is matched whole (`fullmatch`), never with
`$`, which lets a trailing newline through.
"""

from __future__ import annotations

import math
import re

from resil_tui.core.records import record

# Remote paths: absolute, a conservative character set, no "..", no empty components.
_PATH_RE = re.compile(r"/[A-Za-z0-9_.@+:,=~/-]{0,4095}")
# Host names, addresses and ssh_config aliases (no brackets: IPv6 goes in [..] below).
_HOST_RE = re.compile(r"[A-Za-z0-9_.%-]{1,253}")
_IPV6_RE = re.compile(r"[0-9A-Fa-f:.]{2,45}(?:%[A-Za-z0-9_.-]{1,32})?")
_USER_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}")
_PORT_RE = re.compile(r"[0-9]{1,5}")


class InvalidValue(ValueError):
    """A value refused by one of the shared rules; the message says why and how to fix."""


def remote_path(value: object) -> str:
    """An absolute remote path of plain characters, no `.`, `..` or empty component."""
    if not isinstance(value, str) or not _PATH_RE.fullmatch(value):
        raise InvalidValue(f"refused remote path {value!r}: must be absolute, plain characters")
    parts = value.split("/")[1:]
    if any(p in ("..", ".") for p in parts) or "//" in value:
        raise InvalidValue(f"refused remote path {value!r}: no '.', '..' or empty components")
    return value


def is_user(value: str) -> bool:
    return bool(_USER_RE.fullmatch(value))


def is_host(value: str) -> bool:
    return bool(_HOST_RE.fullmatch(value))


@record
class SshTarget:
    """An SSH target (`[user@]host[:port]`) taken apart, as the inventory and `init` give it."""

    user: str | None
    host: str
    port: int | None

    def __str__(self) -> str:
        user = f"{self.user}@" if self.user else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{user}{host}" + (f":{self.port}" if self.port is not None else "")


def port(value: object) -> int:
    """A TCP port, 1-65535, from an int or its decimal text."""
    if isinstance(value, bool):
        raise InvalidValue(f"{value!r} is not a port (1-65535)")
    if isinstance(value, str):
        if not _PORT_RE.fullmatch(value):
            raise InvalidValue(f"{value!r} is not a port (1-65535)")
        value = int(value)
    if not isinstance(value, int) or not 1 <= value <= 65535:
        raise InvalidValue(f"{value!r} is not a port (1-65535)")
    return value


def ssh_target(text: object) -> SshTarget:
    """`[user@]host[:port]`, `[user@][v6addr][:port]` or a bare IPv6 address -> parts.

    The one parser of SSH targets: the inventory's `ssh` and `jump`, `init`'s fields and
    the pool's jump host all go through it, so what check-config accepts is what connects.
    """
    if not isinstance(text, str):
        raise InvalidValue(f"{text!r} is not an SSH target (user@host[:port])")
    if any(not ch.isprintable() for ch in text):  # a trailing newline included
        raise InvalidValue(f"{text!r} is not an SSH target: no control characters")
    spec = text.strip()
    if not spec or any(ch.isspace() for ch in spec):
        raise InvalidValue(f"{text!r} is not an SSH target: no spaces inside")
    user: str | None = None
    rest = spec
    if "@" in spec:
        user, _, rest = spec.rpartition("@")
        if not is_user(user):
            raise InvalidValue(f"{user!r} is not a valid user name (in {text!r})")
    found_port: int | None = None
    if rest.startswith("["):
        host, close, tail = rest[1:].partition("]")
        if not close or not _IPV6_RE.fullmatch(host) or ":" not in host:
            raise InvalidValue(f"{rest!r} is not an IPv6 address in brackets: use [addr]:port")
        if tail:
            if not tail.startswith(":"):
                raise InvalidValue(f"unexpected {tail!r} after ]: use [addr]:port")
            found_port = port(tail[1:])
    elif rest.count(":") == 1:
        host, _, port_text = rest.partition(":")
        found_port = port(port_text)
        if not is_host(host):
            raise InvalidValue(f"{host!r} is not a host name, address or ssh alias")
    elif rest.count(":") > 1:
        host = rest  # a bare IPv6 address: no port possible without brackets
        if not _IPV6_RE.fullmatch(host):
            raise InvalidValue(f"{rest!r} is not a host: write IPv6 as [addr] or [addr]:port")
    else:
        host = rest
        if not is_host(host):
            raise InvalidValue(f"{host!r} is not a host name, address or ssh alias")
    return SshTarget(user, host, found_port)


def bounded(
    value: object,
    *,
    what: str,
    minimum: float,
    maximum: float,
    integer: bool = False,
) -> float:
    """A finite number within [minimum, maximum] (an int when `integer`); refuses bools,
    NaN and infinities with a message naming `what` and the bounds."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        kind = "an integer" if integer else "a number"
        raise InvalidValue(f"{what} must be {kind}, not {value!r}")
    if integer and not isinstance(value, int):
        raise InvalidValue(f"{what} must be an integer, not {value!r}")
    if not math.isfinite(value):
        raise InvalidValue(f"{what} must be a finite number, not {value!r}")
    if not minimum <= value <= maximum:
        raise InvalidValue(f"{what} {value!r} must be between {minimum:g} and {maximum:g}")
    return value


def parse_number(text: str, *, what: str, minimum: float, maximum: float, integer: bool) -> float:
    """A command-line number: `text` parsed, then `bounded` (so `nan`, `inf`, `1e999`,
    `-1` and `0x10` are all refused with the reason)."""
    raw = text.strip()
    try:
        value: float = int(raw, 10) if integer else float(raw)
    except ValueError:
        kind = "an integer" if integer else "a number"
        raise InvalidValue(f"{what} must be {kind}, not {text!r}") from None
    return bounded(value, what=what, minimum=minimum, maximum=maximum, integer=integer)


# Bounds of the CLI's numeric options (the CLI package wires them; tests hold them here).
MAX_TAIL_LINES = 100_000
MIN_WATCH_SECONDS = 1.0
MAX_WATCH_SECONDS = 86_400.0
MIN_TIMEOUT_SECONDS = 0.1
MAX_TIMEOUT_SECONDS = 86_400.0


def tail_lines(text: str) -> int:
    """`--tail N`: 0 to MAX_TAIL_LINES lines of history."""
    return int(parse_number(text, what="--tail", minimum=0, maximum=MAX_TAIL_LINES, integer=True))


def watch_seconds(text: str) -> float:
    """`--watch SECONDS`: at least one second between polls, finite."""
    return parse_number(
        text, what="--watch", minimum=MIN_WATCH_SECONDS, maximum=MAX_WATCH_SECONDS, integer=False
    )


def timeout_seconds(text: str) -> float:
    """`--timeout SECONDS`: finite, positive, at most a day."""
    return parse_number(
        text,
        what="--timeout",
        minimum=MIN_TIMEOUT_SECONDS,
        maximum=MAX_TIMEOUT_SECONDS,
        integer=False,
    )


# An HTTP(S) URL run by curl on a node: host (name, IPv4 or [IPv6]), optional port, a path
# and query of plain characters. Nothing curl would read as an option or a glob (`[`, `{`).
# Compiled at its first use (re's own cache): only a CC node's xuc probe has one.
_URL = (
    r"https?://(?:[A-Za-z0-9_.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?"
    r"(?:/[A-Za-z0-9_.~!$&'()*+,;=:@%/?-]{0,2000})?"
)


def http_url(value: object) -> str:
    """An http:// or https:// URL of plain characters (the xuc probe's URL)."""
    if not isinstance(value, str) or not re.fullmatch(_URL, value):
        raise InvalidValue(
            f"refused URL {value!r}: expected http://HOST[:PORT]/PATH, plain characters"
        )
    port_match = re.match(r"https?://(?:[^/\[]+|\[[^\]]+\]):([0-9]+)", value)
    if port_match is not None:
        port(port_match.group(1))
    return value
