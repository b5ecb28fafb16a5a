"""The command catalog: every command resil-tui may run on a node, and nothing else.

Each entry validates its values, builds an argv tuple and says whether it mutates the
node. The pool only accepts `Command` objects, so read-only mode and the audit log are
decided here once, from `mutates`, rather than per screen. The line sent to sshd is
`shlex.join(argv)`: quoting is never done by hand.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from ipaddress import IPv4Address
from typing import Literal

from resil_tui.core import validators
from resil_tui.core.batch import (
    BEGIN_FORMAT,
    END_ERR_FORMAT,
    END_OUT_FORMAT,
    PROBE_FORMAT,
    check_nonce,
)
from resil_tui.core.log_readers import ReaderRefused, check_reader
from resil_tui.core.records import record

# The most one command's answer may hold on one stream (stdout or stderr), whether it ran
# as an execution or on a kept shell: a node that writes more is stopped, its answer
# dropped, never buffered without end on the jump host.
MAX_ANSWER_BYTES = 64 * 1024 * 1024

SYSCONFD = "http://127.0.0.1:8668"
# provd's REST API on the node (XiVO-era default; unverified on XiVO.solutions).
PROVD_CONFIG_URL = "http://127.0.0.1:8666/provd/cfg_mgr/configs/default"
PROVD_MIME = "application/vnd.proformatique.provd+json"

# Service / container names: what docker compose and systemd accept, nothing shell-special.
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
# docker compose --since: RFC 3339 timestamp, unix timestamp or relative ("10m", "1h30m").
_SINCE_RE = re.compile(r"[0-9][0-9A-Za-z:.+-]{0,39}")
MAX_LINES = 1_000_000
MAX_ARG_LEN = 4096


class CommandError(ValueError):
    """A value refused before any command is built (bad IP, path, name...)."""


@dataclass(frozen=True)
class Command:
    """One catalog entry, built: the argv to run on a node and whether it changes the node."""

    name: str
    argv: tuple[str, ...]
    mutates: bool
    pty: bool = False
    stdin: bytes | None = None
    secret_stdin: bool = False  # the caller must pass the secret at run time; never stored
    long_running: bool = False  # a follow/stream: run it with Pool.stream

    def __post_init__(self) -> None:
        if not self.argv:
            raise CommandError(f"{self.name}: empty argv")
        for arg in self.argv:
            if not isinstance(arg, str):
                raise CommandError(f"{self.name}: argument {arg!r} is not a string")
            if "\x00" in arg:
                raise CommandError(f"{self.name}: NUL byte in an argument")
            try:
                arg.encode("utf-8")
            except UnicodeEncodeError:
                # A lone surrogate (e.g. from bytes decoded with surrogateescape) cannot be
                # sent: refuse it here rather than crash inside asyncssh's packet encoder.
                raise CommandError(
                    f"{self.name}: argument {arg!r} is not valid UTF-8 text"
                ) from None

    @functools.cached_property
    def line(self) -> str:
        # Cached: the pool, the audit, the status detail and the batch all ask for it.
        return shlex.join(self.argv)

    @functools.cached_property
    def shell_refusal(self) -> str | None:
        # Cached: every part of every batch and every read on a kept shell is asked
        # (`shared_shell_refusal`), and the same commands go out at every poll.
        return _shell_refusal(self)

    def __str__(self) -> str:
        return self.line


# --- validators ----------------------------------------------------------------------


def ipv4(value: IPv4Address | str) -> str:
    try:
        return str(IPv4Address(value.strip() if isinstance(value, str) else value))
    except ValueError:
        raise CommandError(f"not an IPv4 address: {value!r}") from None


def remote_path(value: str) -> str:
    """The one remote-path rule (core/validators.py), as a CommandError here."""
    try:
        return validators.remote_path(value)
    except validators.InvalidValue as exc:
        raise CommandError(str(exc)) from None


def name(value: str, what: str = "name") -> str:
    if not isinstance(value, str) or not _NAME_RE.fullmatch(value):
        raise CommandError(f"refused {what} {value!r}: letters, digits, '_.@-' only")
    return value


def count(value: int, what: str = "line count") -> str:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_LINES:
        raise CommandError(f"refused {what} {value!r}: an integer from 0 to {MAX_LINES}")
    return str(value)


def since_value(value: str) -> str:
    if not isinstance(value, str) or not _SINCE_RE.fullmatch(value):
        raise CommandError(f"refused --since value {value!r}")
    return value


# --- the catalog ---------------------------------------------------------------------


class ServiceAction(StrEnum):
    START = "start"
    STOP = "stop"
    RESTART = "restart"


class HaMode(StrEnum):
    DISABLED = "disabled"
    MASTER = "master"
    SLAVE = "slave"


class SlaveAction(StrEnum):
    START = "start"
    STOP = "stop"


ComposeTool = Literal["xivocc-dcomp", "edge-dcomp"]
COMPOSE_TOOLS: tuple[str, ...] = ("xivocc-dcomp", "edge-dcomp")


def xivo_service_status(all: bool = False) -> Command:
    argv = ("xivo-service", "status", "all") if all else ("xivo-service", "status")
    return Command("xivo_service_status", argv, mutates=False)


def xivo_service(action: ServiceAction | str) -> Command:
    try:
        act = ServiceAction(action)
    except ValueError:
        raise CommandError(f"unknown xivo-service action {action!r}") from None
    return Command(f"xivo_service_{act.value}", ("xivo-service", act.value), mutates=True)


def cat(path: str) -> Command:
    return Command("cat", ("cat", remote_path(path)), mutates=False)


def test_exists(path: str, *, regular_file: bool = False) -> Command:
    flag = "-f" if regular_file else "-e"
    return Command("test_exists", ("test", flag, remote_path(path)), mutates=False)


def command_exists(program: str) -> Command:
    """`which PROGRAM`: exit 0 and its path when the node has it (init checks targets)."""
    return Command("command_exists", ("which", name(program, "program")), mutates=False)


def ls(path: str) -> Command:
    return Command("ls", ("ls", remote_path(path)), mutates=False)


def tail(path: str, lines: int = 200, follow: bool = False) -> Command:
    p, n = remote_path(path), count(lines)
    if follow:
        # PTY so that closing the channel hangs the tail up instead of leaving it running.
        return Command(
            "tail_follow", ("tail", "-F", "-n", n, p), False, pty=True, long_running=True
        )
    return Command("tail", ("tail", "-n", n, p), mutates=False)


def tail_files(paths: Iterable[str], lines: int = 200) -> Command:
    """Several small files in one command (GNU tail headers; see core/multifile.py)."""
    checked = tuple(remote_path(p) for p in paths)
    if not checked:
        raise CommandError("tail_files needs at least one path")
    return Command("tail_files", ("tail", "-n", count(lines), "--", *checked), mutates=False)


# `curl -q` first (it must be the first argument): root's ~/.curlrc could otherwise add
# options (a proxy, -k, an output file) to every call. `psql -X`: no ~/.psqlrc either.
def sysconfd_get_ha_config() -> Command:
    argv = ("curl", "-q", "-sS", "--max-time", "10", f"{SYSCONFD}/get_ha_config")
    return Command("sysconfd_get_ha_config", argv, mutates=False)


def ha_config_body(mode: HaMode | str, peer: IPv4Address | str | None) -> str:
    """The JSON sysconfd expects (XIVO.md): {"node_type": ..., "remote_address": ...}."""
    try:
        m = HaMode(mode)
    except ValueError:
        raise CommandError(f"unknown HA mode {mode!r}") from None
    if peer is None or (isinstance(peer, str) and peer.strip() == ""):
        if m is not HaMode.DISABLED:
            raise CommandError(f"HA mode {m.value} needs the peer's IP address")
        address = ""
    else:
        address = ipv4(peer)
    return json.dumps({"node_type": m.value, "remote_address": address})


def sysconfd_update_ha_config(mode: HaMode | str, peer: IPv4Address | str | None) -> Command:
    body = ha_config_body(mode, peer)
    argv = (
        "curl",
        "-q",
        "-sS",
        "--max-time",
        "60",
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-d",
        body,
        f"{SYSCONFD}/update_ha_config",
    )
    return Command("sysconfd_update_ha_config", argv, mutates=True)


def db_replication(slave_ip: IPv4Address | str) -> Command:
    argv = ("xivo-master-slave-db-replication", ipv4(slave_ip))
    return Command("db_replication", argv, mutates=True)


def manage_slave_services(action: SlaveAction | str) -> Command:
    try:
        act = SlaveAction(action)
    except ValueError:
        raise CommandError(f"xivo-manage-slave-services takes start|stop, not {action!r}") from None
    argv = ("xivo-manage-slave-services", act.value)
    return Command(f"manage_slave_services_{act.value}", argv, mutates=True)


def check_master_status(master_ip: IPv4Address | str) -> Command:
    # Mutates: depending on the ping it starts or stops the slave's telephony services.
    argv = ("xivo-check-master-status", ipv4(master_ip))
    return Command("check_master_status", argv, mutates=True)


def xivo_sync() -> Command:
    return Command("xivo_sync", ("xivo-sync",), mutates=True)


def xivo_sync_init() -> Command:
    # ssh-copy-id asks for the slave's root password on a terminal: needs a PTY.
    return Command("xivo_sync_init", ("xivo-sync", "-i"), mutates=True, pty=True, secret_stdin=True)


SIP_EXPIRY_SQL = (
    "SELECT var_name, var_val FROM staticsip "
    "WHERE var_name IN ('minexpiry','maxexpiry','defaultexpiry')"
)


def sip_expiry_query() -> Command:
    argv = (
        "psql",
        "-X",
        "-U",
        "postgres",
        "-d",
        "asterisk",
        "-At",
        "-F",
        "|",
        "-c",
        SIP_EXPIRY_SQL,
    )
    return Command("sip_expiry_query", argv, mutates=False)


# The Asterisk CLI commands resil-tui reads (XIVO.md "Phones and calls"): read-only
# `asterisk -rx` one-shots, nothing else goes through `-rx` (it runs any CLI command).
ASTERISK_READS = ("pjsip show contacts", "core show channels count", "sip show peers")


def asterisk_rx(cli: str) -> Command:
    """`asterisk -rx "pjsip show contacts"` and the other reads of ASTERISK_READS."""
    if cli not in ASTERISK_READS:
        raise CommandError(f"not a read-only Asterisk CLI command of the catalog: {cli!r}")
    return Command("asterisk_rx", ("asterisk", "-rx", cli), mutates=False)


def sip_expiry_update(minimum: int, maximum: int, default: int) -> Command:
    """What the web UI's HA save writes to staticsip (seconds), through psql -X."""
    values = {"minexpiry": minimum, "maxexpiry": maximum, "defaultexpiry": default}
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 86400:
            raise CommandError(f"refused {key} {value!r}: whole seconds from 1 to 86400")
    cases = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in values.items())
    sql = (
        f"UPDATE staticsip SET var_val = CASE var_name {cases} END "
        "WHERE var_name IN ('minexpiry','maxexpiry','defaultexpiry')"
    )
    argv = ("psql", "-X", "-U", "postgres", "-d", "asterisk", "-v", "ON_ERROR_STOP=1", "-c", sql)
    return Command("sip_expiry_update", argv, mutates=True)


def provd_get_default() -> Command:
    argv = (
        "curl",
        "-q",
        "-sS",
        "--fail-with-body",
        "--max-time",
        "10",
        "-H",
        f"Accept: {PROVD_MIME}",
        PROVD_CONFIG_URL,
    )
    return Command("provd_get_default", argv, mutates=False)


def provd_put_default(body: str) -> Command:
    """PUT the default config back to provd (the body on stdin: it can be long)."""
    try:
        data = json.loads(body)
    except ValueError:
        raise CommandError("provd config body is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
        raise CommandError('provd config body must be {"config": {...}}')
    argv = (
        "curl",
        "-q",
        "-sS",
        "--fail-with-body",
        "--max-time",
        "30",
        "-X",
        "PUT",
        "-H",
        f"Content-Type: {PROVD_MIME}",
        "--data-binary",
        "@-",
        PROVD_CONFIG_URL,
    )
    return Command("provd_put_default", argv, mutates=True, stdin=body.encode())


# `ps -a`: compose v2 hides stopped containers by default, and "xuc exited" must not read
# as "no xuc here".
def xivocc_ps() -> Command:
    return Command("xivocc_ps", ("xivocc-dcomp", "ps", "-a"), mutates=False)


def xivocc_restart(service: str = "xuc") -> Command:
    argv = ("xivocc-dcomp", "restart", name(service, "service"))
    return Command("xivocc_restart", argv, mutates=True)


def compose_logs(
    tool: ComposeTool | str,
    service: str | None = None,
    *,
    follow: bool = False,
    tail: int | None = 200,
    since: str | None = None,
    timestamps: bool = False,
) -> Command:
    if tool not in COMPOSE_TOOLS:
        raise CommandError(f"unknown compose wrapper {tool!r} (known: {', '.join(COMPOSE_TOOLS)})")
    argv: list[str] = [tool, "logs"]
    if follow:
        argv.append("-f")
    if tail is not None:
        argv += ["--tail", count(tail, "--tail")]
    if since is not None:
        argv += ["--since", since_value(since)]
    if timestamps:
        argv.append("-t")
    if service is not None:
        argv.append(name(service, "service"))
    # Without a PTY a `logs -f` survives the channel; with one it gets SIGHUP.
    return Command("compose_logs", tuple(argv), mutates=False, pty=follow, long_running=follow)


def docker_inspect(names: Iterable[str]) -> Command:
    """`docker inspect NAME...`: the JSON of each container (its run's start, state, health).
    An unknown name adds an error on stderr and exit 1; the found ones are still printed."""
    checked = tuple(name(n, "container name") for n in names)
    if not checked:
        raise CommandError("docker_inspect needs at least one container name")
    return Command("docker_inspect", ("docker", "inspect", *checked), mutates=False)


def http_probe(url: str, max_time: float = 5.0) -> Command:
    """The HTTP code a URL answers on the node (000: no answer); `-q` first: no ~/.curlrc."""
    try:
        checked = validators.http_url(url)
        seconds = validators.bounded(max_time, what="probe timeout", minimum=0.5, maximum=60.0)
    except validators.InvalidValue as exc:
        raise CommandError(str(exc)) from None
    argv = (
        "curl",
        "-q",
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--max-time",
        f"{seconds:g}",
        checked,
    )
    return Command("http_probe", argv, mutates=False)


def edge_ps() -> Command:
    return Command("edge_ps", ("edge-dcomp", "ps", "-a"), mutates=False)


def edge_up() -> Command:
    return Command("edge_up", ("edge-dcomp", "up", "-d"), mutates=True)


def custom_log(argv: Iterable[str], name: str = "") -> Command:
    """An extra log stream declared in the inventory. It runs in read-only mode too, so it
    must be one of the allowed readers with reading flags only (core/log_readers.py): the
    loader refuses anything else, and so does this entry (defence in depth)."""
    args = tuple(argv)
    label = f"log stream {name!r}" if name else "custom log stream"
    for a in args:
        if not isinstance(a, str):
            raise CommandError(f"{label}: argument {a!r} is not a string")
        if len(a) > MAX_ARG_LEN:
            raise CommandError(f"{label}: an argument is longer than {MAX_ARG_LEN} characters")
    try:
        check_reader(args)
    except ReaderRefused as exc:
        raise CommandError(f"{label} refused: {exc}") from None
    return Command("custom_log", args, mutates=False, pty=True, long_running=True)


# --- several reads in one remote execution ------------------------------------------

MAX_BATCH_PARTS = 32
# A part's program: a plain name or an absolute path, nothing the shell would read as
# syntax. Reserved words and special builtins are refused too: `exec`, `exit` or `set`
# as a part would change what the rest of the batch does.
_PROGRAM_RE = re.compile(r"(/?[A-Za-z0-9_][A-Za-z0-9_.+-]*)+")
_SHELL_WORDS_TEXT = (
    "! { } case do done elif else esac fi for if in then until while . : break continue "
    "eval exec exit export readonly return set shift times trap unset alias unalias cd "
    "command read wait source builtin time function select coproc ulimit umask"
)  # the last eight: bash's (where the node's sh is bash), or acting on the shell
_SHELL_WORDS = frozenset(_SHELL_WORDS_TEXT.split())
# `$?` must be expanded by the node's shell: the one token of the script that is not
# quoted by shlex (which would single-quote it into a literal).
_LAST_STATUS = '"$?"'


@record
class Batch:
    """Read-only catalog commands sent as one execution; split with core.batch."""

    command: Command  # `sh -c SCRIPT`: what the pool runs
    parts: tuple[Command, ...]
    nonce: str  # the markers' nonce (core.batch.split_batch needs it)


def shared_shell_refusal(command: Command) -> str | None:
    """Why `command` may not run in a shell shared with other commands (a batch's
    `sh -c`, a shell kept open for reads): None when it may. Only a read that ends by
    itself, needs no terminal and no stdin, and names a program, not a shell word (`cd`,
    `exit`, `set`...) that would act on the shell running it."""
    return command.shell_refusal


def _shell_refusal(command: Command) -> str | None:
    if command.mutates:
        return "it changes the node"
    if command.pty:
        return "it needs a terminal"
    if command.long_running:
        return "it does not end by itself"
    if command.stdin is not None or command.secret_stdin:
        return "it reads stdin"
    if not _PROGRAM_RE.fullmatch(command.argv[0]) or command.argv[0] in _SHELL_WORDS:
        return "its program is not a plain program name"
    return None


def batch(parts: Iterable[Command], nonce: str | None = None) -> Batch:
    """Join read-only commands into one `sh -c` script that delimits each part.

    The script first checks that `$?` works (`false`, then printf of its status: see
    core.batch). Then for part i, in this order: a begin marker on stdout and on
    stderr, the part, then end markers whose stdout one carries `$?` (the part's exit
    status, taken by printf right after the part). A part's failure does not stop the
    next part. `sh -c` makes the script mean the same whatever the login shell is.
    """
    chosen = tuple(parts)
    if not chosen:
        raise CommandError("a batch needs at least one command")
    if len(chosen) > MAX_BATCH_PARTS:
        raise CommandError(f"a batch holds at most {MAX_BATCH_PARTS} commands")
    for part in chosen:
        if not isinstance(part, Command):
            raise CommandError(f"a batch part must be a catalog Command, not {part!r}")
        refusal = shared_shell_refusal(part)
        if refusal is not None:
            raise CommandError(f"refused `{part.line}` in a batch: {refusal}")
    # os.urandom(16).hex() is secrets.token_hex(16), without its imports (see audit.py).
    tag = check_nonce(nonce if nonce is not None else os.urandom(16).hex())
    lines = tuple(part.line for part in chosen)
    script = tag.join(_script_around_nonce(lines))
    command = Command("batch", ("sh", "-c", script), mutates=False)
    # Its line from pieces quoted once per set of parts: shlex.join of a script of a few
    # kilobytes at every poll of every node was a large part of the client's CPU per read.
    # (A nonce is hex: it needs no quoting, and quoting the whole changes nothing in it.)
    command.__dict__["line"] = tag.join(_line_around_nonce(lines))
    return Batch(command, chosen, tag)


@functools.lru_cache(maxsize=256)
def _line_around_nonce(lines: tuple[str, ...]) -> tuple[str, ...]:
    """`shlex.join(["sh", "-c", script])`, cut where the nonce goes.

    shlex.quote puts a string that needs quoting (a script always does: it holds " ; ")
    between single quotes with each `'` written `'"'"'`: piece by piece, the same, since a
    hex nonce holds no quote.
    """
    pieces = [p.replace("'", "'\"'\"'") for p in _script_around_nonce(lines)]
    pieces[0] = "sh -c '" + pieces[0]
    pieces[-1] += "'"
    return tuple(pieces)


@functools.lru_cache(maxsize=256)
def _script_around_nonce(lines: tuple[str, ...]) -> tuple[str, ...]:
    """The batch script for these part lines, cut where the nonce goes (joined with it).

    Built once per set of parts: a poll sends the same parts to a node every time, and
    only the nonce changes. The pieces are made here, around the nonce's places, so no
    search for a placeholder can ever hit a part's own text.
    """
    pieces: list[str] = []
    current = ["false ; "]

    def printf(fmt: str, index: str | None, *, status: bool = False, stderr: bool = False) -> None:
        # The core's formats hold real newlines; printf gets the two characters `\\n`, so
        # the line sent stays one line and no marker appears in it literally.
        escaped = fmt.replace("\\", "\\\\").replace("\n", "\\n")
        current.append(shlex.join(["printf", escaped]) + " ")
        pieces.append("".join(current))  # the nonce goes here
        tail = (" " + shlex.quote(index) if index is not None else "") + (
            " " + _LAST_STATUS if status else ""
        )
        current[:] = [tail + (" >&2" if stderr else "") + " ; "]

    printf(PROBE_FORMAT, None, status=True)
    for i, line in enumerate(lines):
        index = str(i)
        printf(BEGIN_FORMAT, index)
        printf(BEGIN_FORMAT, index, stderr=True)
        current.append(line + " ; ")
        printf(END_OUT_FORMAT, index, status=True)
        printf(END_ERR_FORMAT, index, stderr=True)
    pieces.append("".join(current)[: -len(" ; ")])
    return tuple(pieces)


def mutating_entries() -> list[Command]:
    """One instance of every entry that changes a node (tests and docs use this list)."""
    return [
        *(xivo_service(a) for a in ServiceAction),
        sysconfd_update_ha_config(HaMode.SLAVE, "10.0.0.1"),
        db_replication("10.0.0.2"),
        *(manage_slave_services(a) for a in SlaveAction),
        check_master_status("10.0.0.1"),
        xivo_sync(),
        xivo_sync_init(),
        xivocc_restart("xuc"),
        edge_up(),
        sip_expiry_update(60, 300, 120),
        provd_put_default('{"config": {"id": "default"}}'),
    ]


def read_only_entries() -> list[Command]:
    return [
        xivo_service_status(),
        xivo_service_status(all=True),
        cat("/etc/xivo/ha.conf"),
        test_exists("/var/lib/xivo/disabled"),
        command_exists("xivo-service"),
        ls("/etc/cron.d"),
        tail("/var/log/xivo-sync.log", 50),
        tail("/var/log/xivo-sync.log", 50, follow=True),
        sysconfd_get_ha_config(),
        sip_expiry_query(),
        *(asterisk_rx(c) for c in ASTERISK_READS),
        provd_get_default(),
        xivocc_ps(),
        compose_logs("xivocc-dcomp", "xuc", follow=True, tail=100),
        edge_ps(),
        docker_inspect(["xivocc-xuc-1"]),
        http_probe("http://127.0.0.1:8090/"),
        custom_log(["tail", "-F", "/var/log/syslog"]),
    ]
