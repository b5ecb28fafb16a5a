"""Load and validate the inventory file (hosts.toml) into the typed model.

Every error names the file, the line and the key path, so that an admin at 3 a.m. can fix
the file without reading Python. Nothing here raises anything but InventoryError.

check-config = runtime: every value goes through the rule the runtime applies to it
(core/validators.py for remote paths, SSH targets and numbers, core/log_readers.py for
log streams), so what loads here is what runs. Every pattern is matched whole.
"""

from __future__ import annotations

import functools
import math
import os
import re
import stat
import tomllib
from collections.abc import Callable, Iterator
from enum import StrEnum
from ipaddress import IPv4Address
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from resil_tui import paths as xdg
from resil_tui.core import validators
from resil_tui.core.records import field_names, replace
from resil_tui.inventory_model import (
    DEFAULT_HA_SIP_EXPIRY,
    DEFAULT_READINESS_PATTERN,
    DEFAULT_XUC_PROBE_URL,
    ChangePolicy,
    Inventory,
    JournalPolicy,
    LogStreamSpec,
    ManualServices,
    Node,
    NodeKind,
    PhonePolicy,
    RemotePaths,
    Resilience,
    Side,
    SipStack,
    Site,
    SshSettings,
    WatchSettings,
    XucSettings,
)

if TYPE_CHECKING:
    from resil_tui.config_error import ConfigError

ENV_VAR = "RESIL_TUI_HOSTS"

# Validators: always .fullmatch() (a `$` would let a trailing newline through).
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")
_USER_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}")
# These two as text, compiled at their first use (re's own cache): keys an inventory may
# well not have (a CC's xuc containers, a node's fqdn); compiling them was 0.3 ms of
# every start-up. The command catalog's container-name rule (remote/commands.py `name`):
_CONTAINER = r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}"
_FQDN = (
    r"(?=.{1,253}\Z)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
    r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
)


def config_error(
    file: str, line: int | None, key: str, message: str, column: int | None = None
) -> ConfigError:
    """A ConfigError; its module loads with the first mistake (resil_tui/config_error.py)."""
    from resil_tui.config_error import ConfigError

    return ConfigError(file, line, key, message, column)


class InventoryError(Exception):
    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


class InventoryNotFound(InventoryError):
    """No inventory anywhere in the lookup order; `looked_in` says where we looked."""

    def __init__(self, looked_in: list[str]) -> None:
        self.looked_in = looked_in
        msg = "no inventory found; looked in: " + ", ".join(looked_in)
        super().__init__([config_error(file="(inventory)", line=None, key="", message=msg)])

    def __str__(self) -> str:
        return "no inventory found; looked in:\n" + "\n".join(f"  - {p}" for p in self.looked_in)


# --- where the inventory is ---------------------------------------------------------------


def find_inventory(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Lookup: --hosts, $RESIL_TUI_HOSTS, ./hosts.toml, $XDG_CONFIG_HOME/resil-tui/hosts.toml.

    The inventory chooses the nodes, the known_hosts file and the stream commands: one
    found in the current directory (where anyone may have planted it) is used only when
    owned by the user (or root) and writable by nobody else; any other one is refused
    when world-writable. A refusal is an InventoryError saying why."""
    if explicit:
        return check_file_trust(Path(explicit).expanduser(), strict=False)
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return check_file_trust(Path(env).expanduser(), strict=False)
    candidates = xdg.default_inventory_candidates()
    cwd_candidate = candidates[0]
    for candidate in candidates:
        if candidate.is_file():
            return check_file_trust(candidate, strict=candidate == cwd_candidate)
    raise InventoryNotFound(["--hosts (not given)", f"${ENV_VAR} (not set)", *map(str, candidates)])


def check_file_trust(path: Path, *, strict: bool) -> Path:
    """`path` when its owner and mode can be trusted; InventoryError saying why not.

    strict (found in the current directory): owned by the user or root, no group or
    other write bit. Otherwise (named by --hosts / $RESIL_TUI_HOSTS, or in the user's own
    config directory): no other-write bit. A missing file is left to the loader."""
    try:
        st = path.stat()
    except OSError:
        return path
    mode = stat.S_IMODE(st.st_mode)
    reason = ""
    if strict and st.st_uid not in (os.getuid(), 0):
        reason = (
            f"owned by uid {st.st_uid}, not by you (uid {os.getuid()}) or root: an inventory "
            "in the current directory could have been planted by someone else"
        )
    elif strict and mode & 0o022:
        reason = (
            f"mode {mode:04o} lets {'others' if mode & 0o002 else 'the group'} change it: an "
            "inventory in the current directory must be writable by you only (chmod go-w)"
        )
    elif mode & 0o002:
        reason = (
            f"mode {mode:04o}: anyone on this machine can change it (and so choose the nodes, "
            "the known_hosts file and the commands); chmod o-w it first"
        )
    if reason:
        raise InventoryError([config_error(str(path), None, "", f"refused: {reason}")])
    return path


# --- line numbers for key paths -------------------------------------------------------------


# Patterns only a file with a mistake needs (see _Checker.lines): compiled at the first
# error by `_line_patterns`, not at every start-up (check-config on a valid file, the console).
@functools.cache
def _line_patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """The header (`[a.b]`, `[[a.b]]`) and assignment (`key =`) patterns of _locate_keys."""
    return (
        re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$"),
        re.compile(r"^\s*([A-Za-z0-9_\-.\"' ]+?)\s*="),
    )


def _split_dotted(text: str) -> list[str]:
    parts: list[str] = []
    for raw in re.findall(r'"[^"]*"|\'[^\']*\'|[^.]+', text):
        parts.append(raw.strip().strip("\"'"))
    return [p for p in parts if p]


def _locate_keys(text: str) -> dict[str, int]:
    """Map dotted key paths (arrays of tables as name[i]) to the line that defines them.

    tomllib gives no positions, so this is a light scan of headers and assignments: good
    enough to point at the right line, never trusted for the values themselves.
    """
    header_re, assign_re = _line_patterns()
    lines: dict[str, int] = {}
    array_counts: dict[str, int] = {}
    current: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        header = header_re.match(line)
        if header and not line.lstrip().startswith("#"):
            names = _split_dotted(header.group(2))
            if header.group(1) == "[[":
                key = ".".join(names)
                index = array_counts.get(key, 0)
                array_counts[key] = index + 1
                current = [*names[:-1], f"{names[-1]}[{index}]"]
            else:
                current = _with_array_indexes(names, array_counts)
            path = ".".join(current)
            lines.setdefault(path, number)
            for i in range(1, len(current)):
                lines.setdefault(".".join(current[:i]), number)
            continue
        assign = assign_re.match(line)
        if assign and not line.lstrip().startswith("#"):
            path = ".".join([*current, *_split_dotted(assign.group(1))])
            lines.setdefault(path, number)
    return lines


def _with_array_indexes(names: list[str], array_counts: dict[str, int]) -> list[str]:
    # [site.paris.mds.paths] after [[site.paris.mds]] belongs to the last array element.
    out: list[str] = []
    for name in names:
        key = ".".join([*(n.split("[")[0] for n in out), name])
        if key in array_counts:
            out.append(f"{name}[{array_counts[key] - 1}]")
        else:
            out.append(name)
    return out


# --- validation ------------------------------------------------------------------------------

_SSH_KEYS = {
    "user",
    "port",
    "identity_file",
    "known_hosts",
    "jump",
    "connect_timeout",
    "command_timeout",
    "keepalive_interval",
    "use_ssh_config",
    "keep_shell",
}
_PATH_KEYS = set(field_names(RemotePaths))
_TOP_KEYS = {"read_only", "ssh", "paths", "keys", "site", "changes", "journal", "watch"}
_SITE_KEYS = {
    "description",
    "xivo",
    "cc",
    "edge",
    "mds",
    "resilience",
    "manual_services",
    "ha_sip_expiry",
    "sip",
    "phones",
}
_NODE_COMMON = _SSH_KEYS | {"ssh", "paths", "logs", "changes"}
_NODE_KEYS: dict[str, set[str]] = {
    "xivo": _NODE_COMMON | {"voip_ip"},
    "cc": _NODE_COMMON | {"ip", "fqdn", "readiness_pattern", "xuc"},
    "edge": _NODE_COMMON | {"fqdn", "env_path"},
    "mds": _NODE_COMMON | {"name", "ip"},
}


class _Checker:
    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.text = text
        self.errors: list[ConfigError] = []

    @functools.cached_property
    def lines(self) -> dict[str, int]:
        """Where each key path is defined; scanned at the first error, since a valid file
        never needs its line numbers."""
        return _locate_keys(self.text)

    def line_of(self, path: str) -> int | None:
        probe = path
        while probe:
            if probe in self.lines:
                return self.lines[probe]
            # An item of an inline array (logs = [{...}]) is on its key's line.
            bare = re.sub(r"\[\d+\]\Z", "", probe)
            if bare != probe and bare in self.lines:
                return self.lines[bare]
            probe = probe.rpartition(".")[0]
        return None

    def error(self, path: str, message: str) -> None:
        self.errors.append(config_error(self.file, self.line_of(path), path, message))

    def table(self, value: Any, path: str) -> dict[str, Any] | None:
        if isinstance(value, dict):
            return value
        self.error(path, f"must be a table, not {_kind(value)}")
        return None

    def unknown_keys(self, table: dict[str, Any], allowed: set[str], path: str) -> None:
        for key in table:
            if key in allowed:
                continue
            import difflib  # only for a mistake: check-config on a good file never needs it

            hint = difflib.get_close_matches(key, sorted(allowed), n=1)
            suffix = (
                f" (did you mean '{hint[0]}'?)"
                if hint
                else f" (allowed: {', '.join(sorted(allowed))})"
            )
            self.error(f"{path}.{key}" if path else key, f"unknown key{suffix}")

    def string(
        self,
        table: dict[str, Any],
        key: str,
        path: str,
        *,
        required: bool = False,
        pattern: re.Pattern[str] | str | None = None,
        what: str = "",
    ) -> str | None:
        full = f"{path}.{key}" if path else key
        if key not in table:
            if required:
                self.error(full, "is required")
            return None
        value = table[key]
        if not isinstance(value, str):
            self.error(full, f"must be a string, not {_kind(value)}")
            return None
        if not value.strip():
            self.error(full, "must not be empty")
            return None
        if pattern is not None and not re.fullmatch(pattern, value):
            self.error(full, f"{value!r} is not {what or 'valid'}")
            return None
        return value

    def ipv4(
        self, table: dict[str, Any], key: str, path: str, *, required: bool
    ) -> IPv4Address | None:
        raw = self.string(table, key, path, required=required)
        if raw is None:
            return None
        try:
            ip = IPv4Address(raw.strip())
        except ValueError:
            self.error(f"{path}.{key}", f"{raw!r} is not an IPv4 address")
            return None
        if ip.is_unspecified or ip.is_multicast:
            self.error(f"{path}.{key}", f"{raw!r} cannot be a node address")
            return None
        return ip

    def number(
        self,
        table: dict[str, Any],
        key: str,
        path: str,
        *,
        minimum: float,
        maximum: float | None = None,
        integer: bool = False,
    ) -> float | int | None:
        if key not in table:
            return None
        value = table[key]
        full = f"{path}.{key}" if path else key
        ok_type = isinstance(value, int) if integer else isinstance(value, int | float)
        if isinstance(value, bool) or not ok_type:
            self.error(
                full, f"must be {'an integer' if integer else 'a number'}, not {_kind(value)}"
            )
            return None
        if not math.isfinite(value):
            self.error(full, f"{value!r} must be a finite number")
            return None
        if value < minimum or (maximum is not None and value > maximum):
            bounds = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
            self.error(full, f"{value!r} must be {bounds}")
            return None
        return int(value) if integer else float(value)

    def boolean(self, table: dict[str, Any], key: str, path: str) -> bool | None:
        if key not in table:
            return None
        value = table[key]
        if not isinstance(value, bool):
            self.error(
                f"{path}.{key}" if path else key, f"must be true or false, not {_kind(value)}"
            )
            return None
        return value


def _kind(value: Any) -> str:
    return {
        dict: "a table",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
    }.get(type(value), type(value).__name__)


def _ssh_overrides(c: _Checker, table: dict[str, Any], path: str, base: SshSettings) -> SshSettings:
    out = base
    user = c.string(table, "user", path, pattern=_USER_RE, what="a valid user name")
    if user is not None:
        out = replace(out, user=user)
    port = c.number(table, "port", path, minimum=1, maximum=65535, integer=True)
    if port is not None:
        out = replace(out, port=int(port))
    if "identity_file" in table:
        raw = table["identity_file"]
        files = [raw] if isinstance(raw, str) else raw
        if not isinstance(files, list) or not all(isinstance(f, str) and f.strip() for f in files):
            c.error(f"{path}.identity_file", "must be a path or a list of paths")
        else:
            out = replace(out, identity_files=tuple(files))
    known = c.string(table, "known_hosts", path)
    if known is not None:
        out = replace(out, known_hosts=known)
    jump = c.string(table, "jump", path)
    if jump is not None:
        try:
            validators.ssh_target(jump)
        except validators.InvalidValue as exc:
            c.error(f"{path}.jump", f"{exc} (expected user@host:port)")
        else:
            out = replace(out, jump=jump.strip())
    connect = c.number(table, "connect_timeout", path, minimum=0.1, maximum=86400)
    if connect is not None:
        out = replace(out, connect_timeout=float(connect))
    command = c.number(table, "command_timeout", path, minimum=0.1, maximum=86400)
    if command is not None:
        out = replace(out, command_timeout=float(command))
    keepalive = c.number(table, "keepalive_interval", path, minimum=0, maximum=86400)
    if keepalive is not None:
        out = replace(out, keepalive_interval=float(keepalive))
    use_config = c.boolean(table, "use_ssh_config", path)
    if use_config is not None:
        out = replace(out, use_ssh_config=use_config)
    keep_shell = c.boolean(table, "keep_shell", path)
    if keep_shell is not None:
        out = replace(out, keep_shell=keep_shell)
    return out


def _paths(c: _Checker, value: Any, path: str, base: RemotePaths) -> RemotePaths:
    table = c.table(value, path)
    if table is None:
        return base
    c.unknown_keys(table, _PATH_KEYS, path)
    changes: dict[str, str] = {}
    for key in _PATH_KEYS & set(table):
        raw = c.string(table, key, path)
        if raw is None:
            continue
        checked = _remote_path(c, raw, f"{path}.{key}")
        if checked is not None:
            changes[key] = checked
    return replace(base, **changes)


def _remote_path(c: _Checker, raw: str, key: str) -> str | None:
    """The runtime's remote-path rule (the catalog refuses the same values)."""
    try:
        return validators.remote_path(raw)
    except validators.InvalidValue as exc:
        c.error(key, str(exc))
        return None


_CHANGES_KEYS = {"lock_stale_after", "keep_backups"}


def _changes(c: _Checker, value: Any, path: str, base: ChangePolicy) -> ChangePolicy:
    table = c.table(value, path)
    if table is None:
        return base
    c.unknown_keys(table, _CHANGES_KEYS, path)
    out = base
    stale = c.number(table, "lock_stale_after", path, minimum=60, maximum=86400)
    if stale is not None:
        out = replace(out, lock_stale_after=float(stale))
    keep = c.number(table, "keep_backups", path, minimum=1, maximum=1000, integer=True)
    if keep is not None:
        out = replace(out, keep_backups=int(keep))
    return out


_JOURNAL_KEYS = {"max_age_days", "max_size_mb"}


def _journal(c: _Checker, value: Any) -> JournalPolicy:
    table = c.table(value, "journal")
    if table is None:
        return JournalPolicy()
    c.unknown_keys(table, _JOURNAL_KEYS, "journal")
    out = JournalPolicy()
    days = c.number(table, "max_age_days", "journal", minimum=1, maximum=3650)
    if days is not None:
        out = replace(out, max_age_days=float(days))
    size = c.number(table, "max_size_mb", "journal", minimum=1, maximum=1024)
    if size is not None:
        out = replace(out, max_size_mb=float(size))
    return out


_WATCH_KEYS = {"on_change", "on_change_timeout", "on_change_kinds"}


def _watch(c: _Checker, value: Any) -> WatchSettings:
    """[watch]: the command run with each recorded change as JSON on stdin. An argv array
    with an absolute program path: no shell ever parses it, no PATH lookup chooses it."""
    table = c.table(value, "watch")
    if table is None:
        return WatchSettings()
    c.unknown_keys(table, _WATCH_KEYS, "watch")
    out = WatchSettings()
    if "on_change" in table:
        argv = table["on_change"]
        if isinstance(argv, str):
            c.error(
                "watch.on_change",
                'must be an array of strings (argv, no shell), e.g. ["/usr/local/bin/notify", '
                '"--to", "oncall"]',
            )
        elif (
            not isinstance(argv, list)
            or not argv
            or not all(isinstance(a, str) and a and "\x00" not in a and "\n" not in a for a in argv)
        ):
            c.error("watch.on_change", "must be a non-empty array of strings (argv, no shell)")
        elif not os.path.isabs(argv[0]):
            c.error(
                "watch.on_change",
                f"{argv[0]!r}: the program must be an absolute path (no PATH lookup)",
            )
        else:
            out = replace(out, on_change=tuple(argv))
    timeout = c.number(table, "on_change_timeout", "watch", minimum=0.1, maximum=600)
    if timeout is not None:
        out = replace(out, on_change_timeout=float(timeout))
    if "on_change_kinds" in table:
        # Here, not at the top: check-config of an inventory without [watch] stays lean.
        from resil_tui.core.journal_event import EventKind

        kinds = table["on_change_kinds"]
        allowed = [k.value for k in EventKind]
        if not isinstance(kinds, list) or not kinds or not all(isinstance(k, str) for k in kinds):
            c.error(
                "watch.on_change_kinds", f"must be an array of event kinds: {', '.join(allowed)}"
            )
        else:
            bad = [k for k in kinds if k not in allowed]
            if bad:
                c.error(
                    "watch.on_change_kinds",
                    f"unknown kind {bad[0]!r} (allowed: {', '.join(allowed)})",
                )
            else:
                out = replace(out, on_change_kinds=tuple(kinds))
    return out


_XUC_KEYS = {"container", "start_from", "probe", "probe_url", "probe_timeout", "grace"}


def _xuc(c: _Checker, value: Any, path: str) -> XucSettings:
    table = c.table(value, path)
    if table is None:
        return XucSettings()
    c.unknown_keys(table, _XUC_KEYS, path)
    out = XucSettings()
    if "container" in table:
        raw = table["container"]
        names = [raw] if isinstance(raw, str) else raw
        if (
            not isinstance(names, list)
            or not names
            or not all(isinstance(n, str) and re.fullmatch(_CONTAINER, n) for n in names)
        ):
            c.error(f"{path}.container", "must be a container name or a list of names")
        else:
            out = replace(out, containers=tuple(names))
    start = c.string(table, "start_from", path)
    if start is not None:
        if start not in ("inspect", "ps"):
            c.error(f"{path}.start_from", f"{start!r} must be 'inspect' or 'ps'")
        else:
            out = replace(out, start_from=start)
    probe = c.boolean(table, "probe", path)
    url = c.string(table, "probe_url", path)
    if url is not None:
        try:
            out = replace(out, probe_url=validators.http_url(url))
        except validators.InvalidValue as exc:
            c.error(f"{path}.probe_url", str(exc))
    if probe is True and out.probe_url is None and url is None:
        out = replace(out, probe_url=DEFAULT_XUC_PROBE_URL)
    elif probe is False:
        out = replace(out, probe_url=None)
    timeout = c.number(table, "probe_timeout", path, minimum=0.5, maximum=60)
    if timeout is not None:
        out = replace(out, probe_timeout=float(timeout))
    grace = c.number(table, "grace", path, minimum=10, maximum=86400)
    if grace is not None:
        out = replace(out, grace=float(grace))
    return out


def _logs(c: _Checker, value: Any, path: str) -> tuple[LogStreamSpec, ...]:
    if not isinstance(value, list):
        c.error(path, f"must be an array of {{ name = ..., command = [...] }}, not {_kind(value)}")
        return ()
    # Here: the readers' rules (a module and its patterns) are for the inventories that
    # declare log streams, not the start-up of every command.
    from resil_tui.core.log_readers import ReaderRefused, check_reader

    out: list[LogStreamSpec] = []
    for i, item in enumerate(value):
        item_path = f"{path}[{i}]"
        if not isinstance(item, dict):
            c.error(item_path, "must be a table { name = ..., command = [...] }")
            continue
        c.unknown_keys(item, {"name", "command"}, item_path)
        name = c.string(
            item, "name", item_path, required=True, pattern=_NAME_RE, what="a simple name"
        )
        command = item.get("command")
        if (
            not isinstance(command, list)
            or not command
            or not all(
                isinstance(a, str) and a and "\x00" not in a and "\n" not in a for a in command
            )
        ):
            c.error(f"{item_path}.command", "must be a non-empty array of strings (argv, no shell)")
            continue
        try:
            check_reader(command)
        except ReaderRefused as exc:
            # It runs in read-only mode too: only readers, with their reading flags.
            c.error(f"{item_path}.command", f"log stream {name or '?'!r} refused: {exc}")
            continue
        if name is not None:
            out.append(LogStreamSpec(name=name, argv=tuple(command)))
    return tuple(out)


def _node(
    c: _Checker,
    value: Any,
    path: str,
    *,
    site: str,
    kind: NodeKind,
    side: Side | None,
    name: str,
    defaults: SshSettings,
    paths: RemotePaths,
    changes: ChangePolicy,
) -> Node | None:
    table = c.table(value, path)
    if table is None:
        return None
    c.unknown_keys(table, _NODE_KEYS[kind.value], path)
    raw_ssh = c.string(table, "ssh", path, required=True)
    host: str | None = None
    target: validators.SshTarget | None = None
    if raw_ssh is not None:
        try:
            target = validators.ssh_target(raw_ssh)
        except validators.InvalidValue as exc:
            c.error(f"{path}.ssh", f"{exc} (expected host, user@host or user@host:port)")
        else:
            host = target.host
    ssh = _ssh_overrides(c, table, path, defaults)
    if target is not None and target.user and "user" not in table:
        ssh = replace(ssh, user=target.user)
    if target is not None and target.port is not None:
        if "port" in table and table["port"] != target.port:
            c.error(
                f"{path}.port",
                f"{table['port']!r} contradicts the port in ssh = {raw_ssh!r}: give it once",
            )
        else:
            ssh = replace(ssh, port=target.port)
    node_paths = _paths(c, table["paths"], f"{path}.paths", paths) if "paths" in table else paths
    if kind is NodeKind.EDGE:
        env_path = c.string(table, "env_path", path)
        if env_path is not None:
            checked = _remote_path(c, env_path, f"{path}.env_path")
            if checked is not None:
                node_paths = replace(node_paths, edge_env=checked)
    node_changes = (
        _changes(c, table["changes"], f"{path}.changes", changes) if "changes" in table else changes
    )
    ip: IPv4Address | None = None
    if kind is NodeKind.XIVO:
        ip = c.ipv4(table, "voip_ip", path, required=True)
    elif kind is NodeKind.CC:
        ip = c.ipv4(table, "ip", path, required=True)
    elif kind is NodeKind.MDS:
        ip = c.ipv4(table, "ip", path, required=False)
    fqdn = c.string(
        table,
        "fqdn",
        path,
        required=kind is NodeKind.CC,
        pattern=_FQDN,
        what="a host name (FQDN)",
    )
    readiness = DEFAULT_READINESS_PATTERN
    if kind is NodeKind.CC and "readiness_pattern" in table:
        raw = c.string(table, "readiness_pattern", path)
        if raw is not None:
            try:
                re.compile(raw)
                readiness = raw
            except re.error as exc:
                c.error(
                    f"{path}.readiness_pattern", f"{raw!r} is not a valid regular expression: {exc}"
                )
    logs = _logs(c, table["logs"], f"{path}.logs") if "logs" in table else ()
    xuc = _xuc(c, table["xuc"], f"{path}.xuc") if "xuc" in table else XucSettings()
    if host is None:
        return None
    return Node(
        id=f"{site}.{name}",
        site=site,
        kind=kind,
        side=side,
        ssh=replace(ssh, host=host),
        ip=ip,
        fqdn=fqdn,
        paths=node_paths,
        readiness_pattern=readiness,
        logs=logs,
        name=name,
        changes=node_changes,
        xuc=xuc,
    )


def _pair(
    c: _Checker,
    site_table: dict[str, Any],
    part: str,
    path: str,
    *,
    required: bool,
    build: Callable[[Any, str, Side], Node | None],
) -> tuple[Node | None, Node | None]:
    if part not in site_table:
        if required:
            c.error(f"{path}.{part}", "is required (a master and a slave)")
        return None, None
    table = c.table(site_table[part], f"{path}.{part}")
    if table is None:
        return None, None
    c.unknown_keys(table, {"master", "slave"}, f"{path}.{part}")
    nodes: list[Node | None] = []
    for side in (Side.MASTER, Side.SLAVE):
        sub = f"{path}.{part}.{side.value}"
        if side.value not in table:
            c.error(sub, "is required")
            nodes.append(None)
        else:
            nodes.append(build(table[side.value], sub, side))
    master, slave = nodes
    if master and slave and master.ip is not None and master.ip == slave.ip:
        c.error(
            f"{path}.{part}.slave.{'voip_ip' if part == 'xivo' else 'ip'}",
            f"{slave.ip} is also the master's address: master and slave must differ",
        )
    return master, slave


def _edges(
    c: _Checker,
    table: dict[str, Any],
    path: str,
    *,
    site: str,
    defaults: SshSettings,
    paths: RemotePaths,
    changes: ChangePolicy,
) -> tuple[Node, ...]:
    """`[site.S.edge]` (a 1-server Edge: node `S.edge`) or `[[site.S.edge]]` with a `name`
    each (a 3-server install: nodes `S.edge.NAME`, each with its own `.env`)."""
    if "edge" not in table:
        return ()
    raw = table["edge"]

    def build(item: Any, item_path: str, short: str) -> Node | None:
        return _node(
            c,
            item,
            item_path,
            site=site,
            kind=NodeKind.EDGE,
            side=None,
            name=short,
            defaults=defaults,
            paths=paths,
            changes=changes,
        )

    if not isinstance(raw, list):
        if isinstance(raw, dict) and "name" in raw:
            c.error(
                f"{path}.edge.name",
                "a single Edge has no name; several Edge nodes are [[site.NAME.edge]] tables",
            )
            return ()
        node = build(raw, f"{path}.edge", "edge")
        return (node,) if node is not None else ()
    found: list[Node] = []
    for short, item, item_path in _named_tables(c, raw, f"{path}.edge", "Edge node"):
        node = build({k: v for k, v in item.items() if k != "name"}, item_path, f"edge.{short}")
        if node is not None:
            found.append(node)
    if not raw:
        c.error(f"{path}.edge", "is an empty array: give at least one [[site.NAME.edge]]")
    return tuple(found)


def _named_tables(
    c: _Checker, raw: list[Any], path: str, what: str
) -> Iterator[tuple[str, dict[str, Any], str]]:
    """The tables of a `[[...]]` array that have a simple `name` no other one has:
    (name, table, its path); the others are reported and left out."""
    seen: set[str] = set()
    for i, item in enumerate(raw):
        item_path = f"{path}[{i}]"
        if not isinstance(item, dict):
            c.error(item_path, "must be a table")
            continue
        short = c.string(
            item, "name", item_path, required=True, pattern=_NAME_RE, what="a simple name"
        )
        if short is None:
            continue
        if short in seen:
            c.error(f"{item_path}.name", f"{short!r} is used by another {what} of this site")
            continue
        seen.add(short)
        yield short, item, item_path


def _site(
    c: _Checker,
    name: str,
    value: Any,
    defaults: SshSettings,
    paths: RemotePaths,
    changes: ChangePolicy,
) -> Site | None:
    path = f"site.{name}"
    if not _NAME_RE.fullmatch(name):
        c.error(path, f"site name {name!r} must be letters, digits, '-' or '_'")
        return None
    table = c.table(value, path)
    if table is None:
        return None
    c.unknown_keys(table, _SITE_KEYS, path)

    def builder(kind: NodeKind) -> Callable[[Any, str, Side], Node | None]:
        def build(v: Any, p: str, side: Side) -> Node | None:
            return _node(
                c,
                v,
                p,
                site=name,
                kind=kind,
                side=side,
                name=f"{kind.value}.{side.value}",
                defaults=defaults,
                paths=paths,
                changes=changes,
            )

        return build

    xm, xs = _pair(c, table, "xivo", path, required=True, build=builder(NodeKind.XIVO))
    cm, cs = _pair(c, table, "cc", path, required=False, build=builder(NodeKind.CC))
    edges = _edges(c, table, path, site=name, defaults=defaults, paths=paths, changes=changes)
    mds: list[Node] = []
    if "mds" in table:
        raw = table["mds"]
        if not isinstance(raw, list):
            c.error(f"{path}.mds", "must be an array of tables ([[site.NAME.mds]])")
        else:
            for mname, item, ipath in _named_tables(c, raw, f"{path}.mds", "media server"):
                node = _node(
                    c,
                    item,
                    ipath,
                    site=name,
                    kind=NodeKind.MDS,
                    side=None,
                    name=f"mds.{mname}",
                    defaults=defaults,
                    paths=paths,
                    changes=changes,
                )
                if node is not None:
                    mds.append(node)
    description = c.string(table, "description", path) or ""
    resilience = _choice(c, table, "resilience", path, Resilience, Resilience.CLASSIC)
    manual = _choice(c, table, "manual_services", path, ManualServices, ManualServices.RUN)
    sip_expiry = _sip_expiry(c, table, path)
    sip = _choice(c, table, "sip", path, SipStack, SipStack.PJSIP)
    phones = _phones(c, table, path)
    if xm is None or xs is None:
        return None
    return Site(
        name=name,
        xivo_master=xm,
        xivo_slave=xs,
        cc_master=cm,
        cc_slave=cs,
        edges=edges,
        mds=tuple(mds),
        description=description,
        resilience=resilience,
        manual_services=manual,
        ha_sip_expiry=sip_expiry,
        sip=sip,
        phones=phones,
    )


_E = TypeVar("_E", bound=StrEnum)


def _choice(
    c: _Checker, table: dict[str, Any], key: str, path: str, enum: type[_E], default: _E
) -> _E:
    """One of an enum's values; anything else is an error naming the choices."""
    if key not in table:
        return default
    raw = table[key]
    choices = ", ".join(repr(e.value) for e in enum)
    if isinstance(raw, str):
        try:
            return enum(raw.strip().lower())
        except ValueError:
            pass
    shown = repr(raw) if isinstance(raw, str) else _kind(raw)
    c.error(f"{path}.{key}", f"{shown} is not one of {choices}")
    return default


def _sip_expiry(c: _Checker, table: dict[str, Any], path: str) -> tuple[int, int, int]:
    """`ha_sip_expiry = { min = 60, max = 300, default = 120 }` (seconds, HA on)."""
    if "ha_sip_expiry" not in table:
        return DEFAULT_HA_SIP_EXPIRY
    full = f"{path}.ha_sip_expiry"
    sub = c.table(table["ha_sip_expiry"], full)
    if sub is None:
        return DEFAULT_HA_SIP_EXPIRY
    c.unknown_keys(sub, {"min", "max", "default"}, full)
    values = dict(zip(("min", "max", "default"), DEFAULT_HA_SIP_EXPIRY, strict=True))
    for key in values:
        got = c.number(sub, key, full, minimum=1, maximum=86400, integer=True)
        if got is not None:
            values[key] = int(got)
    low, high, default = values["min"], values["max"], values["default"]
    if not low <= default <= high:
        c.error(full, f"min {low} <= default {default} <= max {high} is required (seconds)")
        return DEFAULT_HA_SIP_EXPIRY
    return (low, high, default)


_PHONE_BOUNDS: dict[str, tuple[float, float, bool]] = {
    "split_grace": (0, 86400, False),
    "low_percent": (0, 100, False),
    "move_grace": (0, 86400, False),
    "wait_percent": (0, 100, False),
    "wait_timeout": (1, 86400, False),
    "calls_below": (1, 100000, True),
    "calls_wait_timeout": (1, 86400, False),
    "expected": (1, 1000000, True),
}


def _phones(c: _Checker, table: dict[str, Any], path: str) -> PhonePolicy:
    """`phones = { split_grace = 300, low_percent = 50, wait_percent = 90, ... }`."""
    if "phones" not in table:
        return PhonePolicy()
    full = f"{path}.phones"
    sub = c.table(table["phones"], full)
    if sub is None:
        return PhonePolicy()
    c.unknown_keys(sub, set(_PHONE_BOUNDS), full)
    values: dict[str, Any] = {}
    for key, (low, high, integer) in _PHONE_BOUNDS.items():
        got = c.number(sub, key, full, minimum=low, maximum=high, integer=integer)
        if got is not None:
            values[key] = got
    return PhonePolicy(**values)


def parse_inventory(text: str, *, file: str = "<inventory>", path: Path | None = None) -> Inventory:
    """Validate inventory text; raise InventoryError with every located problem at once."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InventoryError([_syntax_error(file, exc, text)]) from None
    c = _Checker(file, text)
    c.unknown_keys(data, _TOP_KEYS, "")
    read_only = c.boolean(data, "read_only", "") or False
    defaults = SshSettings(host="")
    if "ssh" in data:
        ssh_table = c.table(data["ssh"], "ssh")
        if ssh_table is not None:
            c.unknown_keys(ssh_table, _SSH_KEYS, "ssh")
            defaults = _ssh_overrides(c, ssh_table, "ssh", defaults)
    paths = _paths(c, data["paths"], "paths", RemotePaths()) if "paths" in data else RemotePaths()
    changes = (
        _changes(c, data["changes"], "changes", ChangePolicy())
        if "changes" in data
        else ChangePolicy()
    )
    journal = _journal(c, data["journal"]) if "journal" in data else JournalPolicy()
    watch = _watch(c, data["watch"]) if "watch" in data else WatchSettings()
    keys: dict[str, str] = {}
    if "keys" in data:
        keys_table = c.table(data["keys"], "keys")
        for key, value in (keys_table or {}).items():
            if isinstance(value, str) and value.strip():
                keys[key] = value
            else:
                c.error(f"keys.{key}", "must be a key name such as 'ctrl+r' or 'f5'")
    sites: dict[str, Site] = {}
    raw_sites = data.get("site")
    if raw_sites is None:
        c.error("site", "at least one [site.NAME] with a XiVO master and slave is required")
    else:
        table = c.table(raw_sites, "site")
        for name, value in (table or {}).items():
            site = _site(c, name, value, defaults, paths, changes)
            if site is not None:
                sites[name] = site
        if table is not None and not table:
            c.error("site", "at least one [site.NAME] is required")
    if c.errors:
        raise InventoryError(c.errors)
    return Inventory(
        path=path, sites=sites, read_only=read_only, keys=keys, journal=journal, watch=watch
    )


def _syntax_error(file: str, exc: tomllib.TOMLDecodeError, text: str) -> ConfigError:
    message = str(exc)
    lines = text.split("\n")
    if text.startswith("\ufeff"):
        # tomllib reads a byte order mark as a statement it does not know.
        return config_error(
            file,
            1,
            "",
            "TOML syntax error: the file starts with a byte order mark (BOM); "
            "save it as UTF-8 without BOM",
        )
    if message.endswith("(at end of document)"):
        bare = message.removesuffix("(at end of document)").strip()
        # The last line that holds something, not the empty one after the final newline.
        last = len(text.rstrip().split("\n")) if text.strip() else 1
        return config_error(file, last, "", f"TOML syntax error at end of file: {bare}")
    found = re.search(r"\(at line (\d+), column (\d+)\)", message)
    if found:
        bare = message[: found.start()].strip()
        number = int(found.group(1))
        return config_error(
            file,
            number,
            _key_at(lines, number),
            f"TOML syntax error: {bare}",
            column=int(found.group(2)),
        )
    return config_error(file, None, "", f"TOML syntax error: {message}")


_BARE_KEY = re.compile(r"[A-Za-z0-9_.-]+")
_TABLE = re.compile(r"^\s*\[\[?\s*([A-Za-z0-9_.-]+)\s*\]\]?\s*(?:#.*)?$")


def _key_at(lines: list[str], number: int) -> str:
    """The full key line `number` assigns (`site.paris.xivo.slave.ssh`), as every other
    error names it; "" when that is not plain: not `key = ...`, or a line inside a
    multi-line string or array (whose text only looks like a key)."""
    if not 0 < number <= len(lines) or "=" not in lines[number - 1]:
        return ""
    key = lines[number - 1].split("=", 1)[0].strip()
    before = lines[: number - 1]
    text = "\n".join(before)
    depth = sum(line.count("[") - line.count("]") for line in before if not _TABLE.match(line))
    if not _BARE_KEY.fullmatch(key) or text.count('"""') % 2 or text.count("'''") % 2 or depth:
        return ""
    table = next((m.group(1) for line in reversed(before) if (m := _TABLE.match(line))), "")
    return f"{table}.{key}" if table else key


def load_inventory(path: str | os.PathLike[str]) -> Inventory:
    file = Path(path)
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise InventoryError([config_error(str(file), None, "", "file not found")]) from None
    except OSError as exc:
        raise InventoryError(
            [config_error(str(file), None, "", f"cannot read: {exc.strerror}")]
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InventoryError([config_error(str(file), line, "", "not valid UTF-8 text")]) from None
    return parse_inventory(text, file=str(file), path=file.resolve())
