"""The emulated XiVO site: run one command line on one node (lab contract entry point).

`run_command` is shared by the in-process asyncssh server and by the sshd-tier dispatcher
(`python -m resil_tui.lab.dispatch`); it records the command, honours the per-node faults
that concern command behaviour (power, hang, slow), then dispatches by program name.
"""

from __future__ import annotations

import asyncio
import contextlib
import posixpath
import shlex
import traceback
import weakref
from collections import deque
from collections.abc import Awaitable, Callable

from resil_tui.lab import asterisk_cli, containers, docker_cli, files, shell, xivo
from resil_tui.lab.base import CommandFailed, CommandIO, Ctx
from resil_tui.lab.spec import CC, EDGE, MDS, XIVO, LabSpec, LabTiming
from resil_tui.lab.ticker import LabTicker
from resil_tui.lab.world import LabWorld

__all__ = ["CommandIO", "LabSpec", "LabTicker", "LabTiming", "LabWorld", "run_command"]

Handler = Callable[[Ctx, list[str]], Awaitable[int]]


async def _true(ctx: Ctx, args: list[str]) -> int:
    return 0


async def _false(ctx: Ctx, args: list[str]) -> int:
    return 1


async def _which(ctx: Ctx, args: list[str]) -> int:
    # Debian's which: the path of each program found on stdout, exit 1 if any is missing.
    code = 0 if args else 1
    for program in (a for a in args if not a.startswith("-")):
        known = program in COMMON or program in BY_KIND.get(ctx.node.kind, {})
        if known:
            ctx.out(f"/usr/bin/{program}\n")
        else:
            code = 1
    return code


COMMON: dict[str, Handler] = {
    "cat": files.cat,
    "test": files.test,
    "[": lambda ctx, args: files.test(ctx, args, bracket=True),
    "tail": files.tail,
    "ls": files.ls,
    "echo": files.echo,
    "hostname": files.hostname,
    "true": _true,
    "false": _false,
    "curl": xivo.curl,
    "which": _which,
}
BY_KIND: dict[str, dict[str, Handler]] = {
    XIVO: {
        "xivo-service": xivo.xivo_service,
        "xivo-master-slave-db-replication": xivo.db_replication,
        "xivo-manage-slave-services": xivo.manage_slave_services,
        "xivo-check-master-status": xivo.check_master_status,
        "xivo-sync": xivo.xivo_sync,
        "psql": xivo.psql,
        "asterisk": asterisk_cli.asterisk,
    },
    MDS: {"xivo-service": xivo.xivo_service, "asterisk": asterisk_cli.asterisk},
    CC: {
        "xivocc-dcomp": lambda ctx, args: containers.dcomp(ctx, "xivocc-dcomp", args),
        "docker": docker_cli.docker,
    },
    EDGE: {
        "edge-dcomp": lambda ctx, args: containers.dcomp(ctx, "edge-dcomp", args),
        "docker": docker_cli.docker,
    },
}
PREFIXES = ("sudo", "exec", "nohup", "command")
# What the emulated root's shell has in its environment (an unset name expands to "").
ENVIRONMENT = {
    "HOME": "/root",
    "USER": "root",
    "LOGNAME": "root",
    "SHELL": "/bin/bash",
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
}


class _RedirectIO:
    """A command's streams after its redirections: each one kept, sent to the other
    stream, or thrown away (/dev/null); stdin may read from /dev/null."""

    def __init__(self, inner: CommandIO, stdout: str, stderr: str, stdin_null: bool) -> None:
        self._inner = inner
        self._stdout = stdout  # out | err | null
        self._stderr = stderr  # out | err | null
        self._stdin_null = stdin_null
        self.is_pty = inner.is_pty

    async def read(self, n: int = -1) -> bytes:
        return b"" if self._stdin_null else await self._inner.read(n)

    async def readline(self) -> bytes:
        return b"" if self._stdin_null else await self._inner.readline()

    def _route(self, data: bytes, where: str) -> None:
        if where == "out":
            self._inner.write(data)
        elif where == "err":
            self._inner.write_err(data)

    def write(self, data: bytes) -> None:
        self._route(data, self._stdout)

    def write_err(self, data: bytes) -> None:
        self._route(data, self._stderr)

    async def drain(self) -> None:
        await self._inner.drain()

    def set_echo(self, on: bool) -> None:
        setter = getattr(self._inner, "set_echo", None)
        if setter is not None:
            setter(on)


class _Turns:
    """When lines' work may start, on a lab with latency: one line's per turn of the loop,
    in the order their clocks started.

    The lab plays a whole estate on one process. Work started as soon as it is read runs
    every line read so far before the loop reads its sockets again; while a fleet's lines
    keep arriving, each turn of the loop is longer than the one before, and a line waits
    tens of milliseconds in the lab's socket before its clock starts (measured at 200
    nodes: the last clock 50 ms after the client's last write). One start per turn, the
    sockets are read between any two, and a line's clock starts when it arrives, as on a
    node with a CPU of its own. The work itself is the same, in arrival order; the latency
    hides it unless the lab has more of it than its cores can do in that time.
    """

    # No reference to its loop: the loop is its key in _TURNS (a weak one).
    def __init__(self) -> None:
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._granting = False

    def turn(self) -> asyncio.Future[None]:
        """Done when this line's work may start."""
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self._waiting.append(waiter)
        if not self._granting:
            self._granting = True
            loop.call_soon(self._grant, loop)
        return waiter

    def _grant(self, loop: asyncio.AbstractEventLoop) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():  # a line given up on (its peer left) has no turn
                waiter.set_result(None)
                break
        if self._waiting:
            # On the next turn of the loop, after it has read its sockets.
            loop.call_soon(self._grant, loop)
        else:
            self._granting = False


_TURNS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Turns] = weakref.WeakKeyDictionary()


def _turns_of(loop: asyncio.AbstractEventLoop) -> _Turns:
    turns = _TURNS.get(loop)
    if turns is None:
        turns = _TURNS[loop] = _Turns()
    return turns


class _Latency:
    """A command line's streams while the lab's latency runs: what it writes leaves no
    sooner than `latency` after the line arrived, and the line runs meanwhile. A real node
    works on its own CPU while its answer is on the way; the lab plays every node on one,
    and a line run only after its wait would queue the work of a whole fleet behind the
    last wait (the benchmarks' "x the slowest node alone" would measure the emulation).
    What was held leaves at the deadline even if the command still runs (`logs -f`);
    reads pass through (a prompt is answered once it has been seen)."""

    def __init__(self, inner: CommandIO, latency: float) -> None:
        self._inner = inner
        self._loop = asyncio.get_running_loop()
        self._deadline = self._loop.time() + latency
        self._held: list[tuple[bool, bytes]] | None = [] if latency > 0 else None
        self._timer: asyncio.TimerHandle | None = None
        self.is_pty = inner.is_pty

    @classmethod
    async def start(cls, inner: CommandIO, latency: float) -> _Latency:
        """The line's clock starts now; its work waits for its turn (_Turns): the node
        of a line read while the lab runs other nodes' lines does not count their work
        as its own latency."""
        held = cls(inner, latency)
        if latency > 0:
            await _turns_of(held._loop).turn()
        return held

    async def read(self, n: int = -1) -> bytes:
        return await self._inner.read(n)

    async def readline(self) -> bytes:
        return await self._inner.readline()

    def write(self, data: bytes) -> None:
        self._hold(False, data)

    def write_err(self, data: bytes) -> None:
        self._hold(True, data)

    def _hold(self, err: bool, data: bytes) -> None:
        if self._held is not None and self._loop.time() >= self._deadline:
            self.let_go()  # past the deadline: straight through, not on a later turn
        if self._held is None:
            (self._inner.write_err if err else self._inner.write)(data)
            return
        self._held.append((err, data))
        if self._timer is None:
            self._timer = self._loop.call_at(self._deadline, self.let_go)

    def let_go(self) -> None:
        """What was held goes out now, and every later write straight through."""
        held, self._held = self._held or [], None
        if self._timer is not None:
            self._timer.cancel()
        # A peer gone meanwhile: the output is lost, as a real one would be; the command
        # learns it at its next write or drain.
        with contextlib.suppress(BrokenPipeError, ConnectionError):
            for err, data in held:
                (self._inner.write_err if err else self._inner.write)(data)

    async def release(self) -> None:
        """The command line has ended: its answer (exit status included) waits for the
        deadline."""
        if self._held is None:
            return
        wait = self._deadline - self._loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        self.let_go()

    async def drain(self) -> None:
        if self._held is not None and self._loop.time() >= self._deadline:
            self.let_go()
        if self._held is None:  # before the deadline nothing has left: nothing to wait for
            await self._inner.drain()

    def set_echo(self, on: bool) -> None:
        setter = getattr(self._inner, "set_echo", None)
        if setter is not None:
            setter(on)


def _redirected(ctx: Ctx, redirects: tuple[shell.Redirect, ...], status: int) -> Ctx:
    """Apply a simple command's redirections, in order, as sh does (fd 1 and 2 only)."""
    if not redirects:
        return ctx
    where = {1: "out", 2: "err"}
    stdin_null = False
    for r in redirects:
        target = shell.expand(r.target, status, ENVIRONMENT) or ""
        if r.op in (">&", "<&") and target in ("1", "2") and r.fd in (1, 2):
            where[r.fd] = where[int(target)]  # a dup: where that fd goes now
        elif r.op in (">", ">>", ">|", "<", "<>") and target == "/dev/null":
            if r.fd == 0:
                stdin_null = True
            elif r.fd in where:
                where[r.fd] = "null"  # (`1</dev/null` too: nothing written there arrives)
            # another fd: no emulated command writes to it
        elif r.op in (">&", "<&") and target == "-":
            where[r.fd] = "null"  # closing a stream: what is written to it is lost
        else:
            raise CommandFailed(
                f"lab: redirection {r.fd}{r.op}{target} is not emulated "
                "(only /dev/null and between stdout and stderr)",
                2,
            )
    io = _RedirectIO(ctx.io, where[1], where[2], stdin_null)
    return Ctx(ctx.world, ctx.node, io, ctx.cwd, ctx.timing)


class _Exit(Exception):
    """The `exit` builtin: ends the shell that runs it."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


async def _builtin(ctx: Ctx, name: str, args: list[str], status: int) -> int | None:
    """Shell builtins the lab's commands rely on; None when `name` is not one."""
    if name == "printf":
        out, err, code = shell.printf(args)
        ctx.out(out)
        ctx.err(err)
        return code
    if name == ":":
        return 0
    if name == "exit":
        if not args:
            raise _Exit(status)
        if args[0] and args[0].isascii() and args[0].isdigit():
            raise _Exit(int(args[0]) & 0xFF)
        # sh's "Illegal number" ends the shell too (dash: `exit 3x; printf after` prints
        # nothing); a sign is illegal there as well.
        ctx.err(f"sh: exit: Illegal number: {args[0]}\n")
        raise _Exit(2)
    if name == "cd":
        target = args[0] if args else "/root"
        if not ctx.path(target).is_dir():
            raise CommandFailed(f"bash: cd: {target}: No such file or directory", 1)
        ctx.cwd = posixpath.normpath(posixpath.join(ctx.cwd, target))
        return 0
    return None


async def _run_simple(ctx: Ctx, command: shell.Simple, status: int) -> int:
    words = (shell.expand(w, status, ENVIRONMENT) for w in command.words)
    argv = [w for w in words if w is not None]
    return await _run_argv(_redirected(ctx, command.redirects, status), argv, status)


async def _run_argv(ctx: Ctx, argv: list[str], status: int, *, shell_line: bool = True) -> int:
    # Leading VAR=value assignments and wrappers do not change what runs.
    while argv and (
        "=" in argv[0] and not argv[0].startswith("=") and argv[0].split("=", 1)[0].isidentifier()
    ):
        argv = argv[1:]
    while argv and argv[0] in PREFIXES:
        argv = argv[1:]
    if argv and argv[0] == "timeout" and len(argv) > 2:
        argv = argv[2:]
    if not argv:
        return 0
    name = posixpath.basename(argv[0])
    args = argv[1:]
    if name in shell.SHELLS and len(args) > 2 and args[0] == "-c":
        raise CommandFailed(
            f"{name}: the lab does not emulate the arguments after -c's script ($0, $1...)", 2
        )
    if name in shell.SHELLS and len(args) == 2 and args[0] == "-c":
        # A new shell: its own $? (0), its own `exit`; the cwd does not come back.
        sub = Ctx(ctx.world, ctx.node, ctx.io, ctx.cwd, ctx.timing)
        return await (run_script(sub, args[1]) if shell_line else _run_words(sub, args[1]))
    if name in shell.SHELLS and args in ([], ["-s"]) and shell_line:
        return await _run_stdin(Ctx(ctx.world, ctx.node, ctx.io, ctx.cwd, ctx.timing))
    builtin = await _builtin(ctx, name, args, status) if shell_line else None
    if builtin is not None:
        return builtin
    handler = BY_KIND.get(ctx.node.kind, {}).get(name) or COMMON.get(name)
    if handler is None:
        ctx.err(f"bash: {argv[0]}: command not found\n")
        return 127
    try:
        return await handler(ctx, args)
    except CommandFailed as exc:
        ctx.err(exc.message + "\n")
        return exc.code


async def _run_words(ctx: Ctx, line: str) -> int:
    """The `words_only` fault: an SSH server that runs no shell, but splits the line into
    words (shlex) and takes a lone `;`, `&&` or `||` word as a separator, as a naive
    ForceCommand emulation would: no quoting rules of sh, no `$?`, no builtins."""
    try:
        words = shlex.split(line)
    except ValueError as exc:
        ctx.err(f"bash: syntax error: {exc}\n")
        return 2
    code = 0
    connector, current = ";", []
    for word in [*words, ";"]:
        if word not in (";", "&&", "||"):
            current.append(word)
            continue
        run = not ((connector == "&&" and code != 0) or (connector == "||" and code == 0))
        if current and run:
            code = await _run_argv(ctx, current, code, shell_line=False)
        connector, current = word, []
    return code


async def run_script(ctx: Ctx, line: str) -> int:
    """Run a command line as sh would: every simple command in turn, `&&`/`||` by $?."""
    try:
        program = shell.parse(line)
    except shell.ShellError as exc:
        ctx.err(f"sh: 1: {exc}\n")
        return 2
    try:
        return await _run_program(ctx, program, 0)
    except _Exit as exc:
        return exc.code


async def _run_program(ctx: Ctx, program: shell.Program, status: int) -> int:
    """One line of a script, parsed, `status` being $? when it starts; `exit` raises
    _Exit."""
    for connector, command in program:
        if (connector == "&&" and status != 0) or (connector == "||" and status == 0):
            continue  # skipped: $? stays what it was
        try:
            status = await _run_simple(ctx, command, status)
        except CommandFailed as exc:
            ctx.err(exc.message + "\n")
            status = exc.code
    return status


async def _run_stdin(ctx: Ctx) -> int:
    """`sh` with no script: it reads its stdin a line at a time and runs each line as it
    comes, $? and the working directory carrying over, until EOF or `exit` (a client that
    keeps one shell open for its reads). Each line is answered like a command line of its
    own: recorded, and as slow as the node."""
    status, number = 0, 0
    while True:
        raw = await ctx.io.readline()
        if not raw:
            return status
        number += 1
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        world, node_id = ctx.world, ctx.node.id
        world.record(
            node_id,
            {"kind": "exec", "via": "stdin", "line": line, "pty": bool(ctx.io.is_pty)},
        )
        await _fault_delay(world, node_id)
        streams, held = ctx.io, await _Latency.start(ctx.io, world.timing.latency)
        ctx.io = held
        ended = True
        try:
            # Parsed once: a syntax error ends the shell before any of the line runs.
            status = await _run_program(ctx, shell.parse(line), status)
            ended = False
        except shell.ShellError as exc:
            # A script read from stdin ends at its first syntax error, as in dash (and
            # the lab's refusals of what it does not emulate end it the same way).
            ctx.err(f"sh: {number}: {exc}\n")
            status = 2
        except _Exit as exc:
            status = exc.code
        except BaseException:
            held.let_go()  # what the line wrote goes out ahead of what the failure adds
            raise
        finally:
            ctx.io = streams
        await held.release()  # not when cancelled (the peer left): nothing to wait for
        if ended:
            return status
        # What a line's programs wrote is on its way before the shell reads the next one
        # (their writes are theirs, not buffered in the shell).
        await ctx.io.drain()


async def _fault_delay(world: LabWorld, node_id: str) -> None:
    """What the node's faults make a command line wait before it runs (a slow or hung
    node's line has not reached its shell yet: a client that gives up first changed
    nothing). The lab's latency is another matter: see _Latency."""
    flags = world.node_flags(node_id)
    if flags.get("hung"):
        await asyncio.Event().wait()  # never answers; ends only when cancelled
    delay = float(flags.get("slow") or 0.0)
    if delay > 0:
        await asyncio.sleep(delay)


async def run_command(world: LabWorld, node_id: str, line: str, io: CommandIO) -> int:
    """Run one command line, as the node's shell would, on node `node_id`; its exit code."""
    node = world.node(node_id)
    world.record(node_id, {"kind": "exec", "line": line, "pty": bool(io.is_pty)})
    flags = world.node_flags(node_id)
    if not flags.get("powered", True):
        io.write_err(b"ssh: connect to host: Connection refused (node powered off)\n")
        return 255
    await _fault_delay(world, node_id)
    held = await _Latency.start(io, world.timing.latency)
    ctx = Ctx(world, node, held, "/root", world.timing)
    try:
        if flags.get("words_only"):
            code = await _run_words(ctx, line)
        else:
            code = await run_script(ctx, line)
        await held.release()  # not when cancelled (the peer left): nothing to wait for
        return code
    except (BrokenPipeError, ConnectionError):
        return 141  # the reader went away (SIGPIPE)
    except asyncio.CancelledError:
        raise
    except Exception:
        with open(world.node_dir(node_id) / "errors.log", "a") as f:
            f.write(f"--- {line!r}\n{traceback.format_exc()}")
        await held.release()
        io.write_err(b"lab: internal error (see errors.log in the node directory)\n")
        return 70
