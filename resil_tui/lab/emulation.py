"""The emulated XiVO site: run one command line on one node (lab contract entry point).

`run_command` is shared by the in-process asyncssh server and by the sshd-tier dispatcher
(`python -m resil_tui.lab.dispatch`); it records the command, honours the per-node faults
that concern command behaviour (power, hang, slow), then dispatches by program name.
"""

from __future__ import annotations

import asyncio
import posixpath
import shlex
import traceback
from collections.abc import Awaitable, Callable

from resil_tui.lab import asterisk_cli, containers, docker_cli, files, xivo
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
OPERATORS = ("&&", "||", ";")
PREFIXES = ("sudo", "exec", "nohup", "command")


class _RedirectIO:
    """Applies `>/dev/null`, `2>/dev/null`, `2>&1` and `>&2` to a CommandIO."""

    def __init__(self, inner: CommandIO, stdout: str, stderr: str) -> None:
        self._inner = inner
        self._stdout = stdout  # keep | null | err
        self._stderr = stderr  # keep | null | out
        self.is_pty = inner.is_pty

    async def read(self, n: int = -1) -> bytes:
        return await self._inner.read(n)

    async def readline(self) -> bytes:
        return await self._inner.readline()

    def _route(self, data: bytes, where: str, default: Callable[[bytes], None]) -> None:
        if where == "null":
            return
        if where == "out":
            self._inner.write(data)
        elif where == "err":
            self._inner.write_err(data)
        else:
            default(data)

    def write(self, data: bytes) -> None:
        self._route(data, self._stdout, self._inner.write)

    def write_err(self, data: bytes) -> None:
        self._route(data, self._stderr, self._inner.write_err)

    async def drain(self) -> None:
        await self._inner.drain()

    def set_echo(self, on: bool) -> None:
        setter = getattr(self._inner, "set_echo", None)
        if setter is not None:
            setter(on)


def _split_redirections(argv: list[str]) -> tuple[list[str], str, str]:
    stdout, stderr = "keep", "keep"
    out: list[str] = []
    it = iter(argv)
    for a in it:
        if a in (">", "1>", "2>", "&>", ">>", "2>>"):
            target = next(it, "")
            a = a + target
        if a in (">/dev/null", "1>/dev/null", ">>/dev/null"):
            stdout = "null"
        elif a in ("2>/dev/null", "2>>/dev/null"):
            stderr = "null"
        elif a == "&>/dev/null":
            stdout = stderr = "null"
        elif a == "2>&1":
            stderr = "out" if stdout == "keep" else stdout.replace("keep", "out")
        elif a in (">&2", "1>&2"):
            stdout = "err"
        else:
            # Anything else is an argument: after shlex-splitting, a quoted "|" (psql -F '|')
            # cannot be told from a pipe, so pipes and file redirections are not emulated.
            out.append(a)
    return out, stdout, stderr


async def _run_simple(ctx: Ctx, argv: list[str]) -> int:
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
    argv, stdout, stderr = _split_redirections(argv)
    if (stdout, stderr) != ("keep", "keep"):
        ctx = Ctx(ctx.world, ctx.node, _RedirectIO(ctx.io, stdout, stderr), ctx.cwd, ctx.timing)
    name = posixpath.basename(argv[0])
    args = argv[1:]
    if name in ("sh", "bash") and len(args) >= 2 and args[0] == "-c":
        return await run_line(ctx, shlex.split(args[1]))
    if name == "cd":
        target = args[0] if args else "/root"
        if not ctx.path(target).is_dir():
            raise CommandFailed(f"bash: cd: {target}: No such file or directory", 1)
        ctx.cwd = posixpath.normpath(posixpath.join(ctx.cwd, target))
        return 0
    handler = BY_KIND.get(ctx.node.kind, {}).get(name) or COMMON.get(name)
    if handler is None:
        ctx.err(f"bash: {argv[0]}: command not found\n")
        return 127
    try:
        return await handler(ctx, args)
    except CommandFailed as exc:
        ctx.err(exc.message + "\n")
        return exc.code


async def run_line(ctx: Ctx, argv: list[str]) -> int:
    """A command line with `&&`, `||` and `;` between simple commands."""
    segments: list[tuple[str, list[str]]] = [(";", [])]
    for a in argv:
        if a in OPERATORS:
            segments.append((a, []))
        else:
            segments[-1][1].append(a)
    code = 0
    for op, seg in segments:
        if (op == "&&" and code != 0) or (op == "||" and code == 0) or not seg:
            continue
        try:
            code = await _run_simple(ctx, seg)
        except CommandFailed as exc:
            ctx.err(exc.message + "\n")
            code = exc.code
    return code


async def run_command(world: LabWorld, node_id: str, argv: list[str], io: CommandIO) -> int:
    """Run one command line (already shlex-split) on node `node_id`; return its exit code."""
    node = world.node(node_id)
    world.record(node_id, {"kind": "exec", "argv": list(argv), "pty": bool(io.is_pty)})
    flags = world.node_flags(node_id)
    timing = world.timing
    if not flags.get("powered", True):
        io.write_err(b"ssh: connect to host: Connection refused (node powered off)\n")
        return 255
    if flags.get("hung"):
        await asyncio.Event().wait()  # never answers; ends only when cancelled
    delay = float(flags.get("slow") or 0.0) + timing.latency
    if delay > 0:
        await asyncio.sleep(delay)
    ctx = Ctx(world, node, io, "/root", timing)
    try:
        return await run_line(ctx, argv)
    except (BrokenPipeError, ConnectionError):
        return 141  # the reader went away (SIGPIPE)
    except asyncio.CancelledError:
        raise
    except Exception:
        with open(world.node_dir(node_id) / "errors.log", "a") as f:
            f.write(f"--- {argv!r}\n{traceback.format_exc()}")
        io.write_err(b"lab: internal error (see errors.log in the node directory)\n")
        return 70
