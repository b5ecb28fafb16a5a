"""Strict host key handling: which known_hosts file, is a host unknown or changed, and the
explicit "trust this key" step (only ever run after the admin accepted the fingerprint).
"""

from __future__ import annotations

import getpass
import os
import shlex
from enum import StrEnum
from ipaddress import ip_address
from pathlib import Path

from resil_tui.core.records import record
from resil_tui.inventory_model import SshSettings
from resil_tui.remote import ssh
from resil_tui.remote.ssh import asyncssh

DEFAULT_PORT = 22


@record
class Target:
    """Where a node really is once ~/.ssh/config has been applied."""

    host: str  # HostName (or the alias when the config has none)
    port: int
    key_name: str  # what known_hosts is keyed on: HostKeyAlias or host
    proxy_jump: str | None = None  # ProxyJump of ~/.ssh/config ("none" and unset: None)

    @property
    def pattern(self) -> str:
        """How known_hosts names this target: `name`, or `[name]:port` off port 22."""
        return self.key_name if self.port == DEFAULT_PORT else f"[{self.key_name}]:{self.port}"


@record
class KnownHostEntry:
    """A known_hosts line that names the host: the fingerprint of its key and where the line is."""

    line: int  # 1-based
    key_type: str
    fingerprint: str  # SHA256:...
    marker: str  # "" | "@cert-authority" | "@revoked"
    path: Path = Path()

    @property
    def revoked(self) -> bool:
        return self.marker == "@revoked"

    @property
    def where(self) -> str:
        return f"{self.path} line {self.line}"


@record
class HostKeyInfo:
    """A server key fetched for the admin to accept or reject."""

    host: str
    port: int
    key_type: str
    fingerprint: str  # "SHA256:..." as ssh-keygen -l prints it
    public_key: str  # OpenSSH one-line form "ssh-ed25519 AAAA..."

    @property
    def host_pattern(self) -> str:
        return self.host if self.port == DEFAULT_PORT else f"[{self.host}]:{self.port}"

    def known_hosts_line(self) -> str:
        return f"{self.host_pattern} {self.public_key}"


def known_hosts_path(settings: SshSettings) -> Path:
    """The user's known_hosts file: the one trusted keys are appended to."""
    return Path(os.path.expanduser(settings.known_hosts or "~/.ssh/known_hosts"))


def global_known_hosts_path() -> Path:
    """OpenSSH's GlobalKnownHostsFile, read (never written) like OpenSSH does.
    RESIL_TUI_GLOBAL_KNOWN_HOSTS points elsewhere (tests, unusual systems)."""
    return Path(os.environ.get("RESIL_TUI_GLOBAL_KNOWN_HOSTS") or "/etc/ssh/ssh_known_hosts")


def known_hosts_paths(settings: SshSettings) -> list[Path]:
    """Every file a host key is checked against: the user's, then the global one."""
    return [known_hosts_path(settings), global_known_hosts_path()]


def ssh_config_paths(settings: SshSettings) -> list[Path]:
    if not settings.use_ssh_config:
        return []
    default = Path("~/.ssh/config").expanduser()
    return [default] if os.access(default, os.R_OK) else []


def resolve_target(settings: SshSettings) -> Target:
    """Apply HostName / Port / HostKeyAlias / ProxyJump from ~/.ssh/config as asyncssh does."""
    host, port, alias = settings.host, settings.port, None
    proxy_jump: str | None = None
    cfg_paths = ssh_config_paths(settings)
    if cfg_paths:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = ""
        from asyncssh.config import SSHClientConfig  # with asyncssh: on first use

        cfg = SSHClientConfig.load(
            None,
            cfg_paths,
            False,
            False,
            False,
            user,
            settings.user if settings.user is not None else (),
            settings.host,
            settings.port if settings.port is not None else (),
        )
        found_host = cfg.get("Hostname")
        host = found_host if isinstance(found_host, str) and found_host else settings.host
        found_port = cfg.get("Port")
        if port is None and isinstance(found_port, int):
            port = found_port
        found_alias = cfg.get("HostKeyAlias")
        alias = found_alias if isinstance(found_alias, str) and found_alias else None
        found_jump = cfg.get("ProxyJump")
        if isinstance(found_jump, str) and found_jump.strip().lower() not in ("", "none"):
            proxy_jump = found_jump.strip()
    return Target(
        host=host, port=port or DEFAULT_PORT, key_name=alias or host, proxy_jump=proxy_jump
    )


def lookup(path: Path, host: str, port: int) -> list[KnownHostEntry]:
    """Lines of `path` whose host pattern matches host (as `[host]:port` off port 22).

    Each line is matched on its own through asyncssh, so hashed names, wildcards and
    negations behave exactly as they do when asyncssh verifies the key.
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    try:
        addr = str(ip_address(host))
    except ValueError:
        addr = ""
    p = None if port == DEFAULT_PORT else port
    found: list[KnownHostEntry] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        marker, body = "", line
        if line.startswith("@"):
            marker, _, body = line.partition(" ")
        try:
            # Matched without its marker: asyncssh drops a @revoked-only match on a
            # non-default port (it retries without the port), and the marker is ours anyway.
            entries = asyncssh.import_known_hosts(body.strip())
        except (ValueError, asyncssh.KeyImportError):
            continue  # a line asyncssh cannot read cannot match either
        keys, ca_keys, revoked, *_ = entries.match(host, addr, p)
        for key in dict.fromkeys((*keys, *ca_keys, *revoked)):
            found.append(
                KnownHostEntry(
                    number, key.get_algorithm(), key.get_fingerprint("sha256"), marker, path
                )
            )
    return found


def lookup_all(paths: list[Path], target: Target) -> list[KnownHostEntry]:
    """`lookup` over every file, in order (user file first)."""
    return [e for path in paths for e in lookup(path, target.key_name, target.port)]


class KeyStatus(StrEnum):
    TRUSTED = "trusted"  # a plain entry holds this very key
    UNKNOWN = "unknown"  # no entry for the host at all: may be offered for trust
    CHANGED = "changed"  # entries for the host, none with this key: refuse, never offer
    REVOKED = "revoked"  # a @revoked entry holds this key: refuse, never offer


@record
class KeyVerdict:
    """A presented host key judged against the known_hosts files."""

    status: KeyStatus
    entry: KnownHostEntry | None = None  # the line that decided (changed: the first one)


def judge_key(entries: list[KnownHostEntry], info: HostKeyInfo) -> KeyVerdict:
    """What the known_hosts entries of a host say about the key it presented.

    A @cert-authority line can only be checked by asyncssh during a real connection;
    here it counts as an entry for the host (a plain key that is not listed is CHANGED)."""
    for entry in entries:
        if entry.revoked and entry.fingerprint == info.fingerprint:
            return KeyVerdict(KeyStatus.REVOKED, entry)
    for entry in entries:
        if not entry.marker and entry.fingerprint == info.fingerprint:
            return KeyVerdict(KeyStatus.TRUSTED, entry)
    listed = [e for e in entries if not e.revoked]
    if listed:
        return KeyVerdict(KeyStatus.CHANGED, listed[0])
    return KeyVerdict(KeyStatus.UNKNOWN)


# The files as last parsed, with the stat each had then: the pool asks at every connect,
# and parsing a known_hosts of N lines for each of N nodes made a cold start O(N^2) (2.6 ms
# per connect at 500 lines). Any change to a file (a key trusted a moment ago,
# `ssh-keygen -R`) changes its stat, and the next connect reads them again.
_Stamp = tuple[tuple[int, int, int, int] | None, ...]
_parsed: dict[tuple[Path, ...], tuple[_Stamp, asyncssh.SSHKnownHosts]] = {}


def _stamp(path: Path) -> tuple[int, int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def load_known_hosts(paths: list[Path]) -> asyncssh.SSHKnownHosts:
    """The object passed to asyncssh: every file's lines, user file first. A missing file
    adds nothing, never a fallback to another file (asyncssh treats b"" as "use
    ~/.ssh/known_hosts")."""
    key = tuple(paths)
    stamp = tuple(_stamp(p) for p in paths)
    cached = _parsed.get(key)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    texts: list[str] = []
    for path in paths:
        try:
            texts.append(path.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            continue
    known = asyncssh.import_known_hosts("\n".join(texts))
    _parsed[key] = (stamp, known)
    return known


async def fetch_host_key(
    settings: SshSettings, tunnel: asyncssh.SSHClientConnection | None = None
) -> HostKeyInfo:
    """Connect just long enough to read the server's host key (no authentication)."""
    await ssh.load()
    target = resolve_target(settings)
    key = await asyncssh.get_server_host_key(
        target.host,
        target.port,
        tunnel=tunnel if tunnel is not None else (),
        config=None,
    )
    if key is None:
        raise ValueError(f"{target.host}:{target.port} presented no host key")
    return HostKeyInfo(
        host=target.key_name,
        port=target.port,
        key_type=key.get_algorithm(),
        fingerprint=key.get_fingerprint("sha256"),
        public_key=key.export_public_key("openssh").decode("ascii").strip(),
    )


def append_known_host(path: Path, info: HostKeyInfo) -> str:
    """Append the key to known_hosts (created 0600 in a 0700 dir). Returns the line."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    line = info.known_hosts_line()
    prefix = ""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() > 0:
                f.seek(-1, os.SEEK_END)
                prefix = "" if f.read(1) == b"\n" else "\n"
    except FileNotFoundError:
        pass
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, (prefix + line + "\n").encode("ascii"))
    finally:
        os.close(fd)
    return line


def removal_hint(path: Path, target: Target) -> str:
    return f"ssh-keygen -R {shlex.quote(target.pattern)} -f {shlex.quote(str(path))}"
