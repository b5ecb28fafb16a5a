"""Plain file commands on a node: cat, test, tail (with -F), ls, and a few shell basics."""

from __future__ import annotations

import os
from pathlib import Path

from resil_tui.lab.base import CommandFailed, Ctx


async def cat(ctx: Ctx, args: list[str]) -> int:
    code = 0
    for a in args:
        if a.startswith("-") and a != "-":
            continue
        p = ctx.path(a)
        if p.is_dir():
            ctx.err(f"cat: {a}: Is a directory\n")
            code = 1
        elif not p.exists():
            ctx.err(f"cat: {a}: No such file or directory\n")
            code = 1
        else:
            ctx.io.write(p.read_bytes())
    return code


async def test(ctx: Ctx, args: list[str], bracket: bool = False) -> int:
    if bracket:
        if not args or args[-1] != "]":
            raise CommandFailed("bash: [: missing `]'", 2)
        args = args[:-1]
    negate = False
    if args and args[0] == "!":
        negate, args = True, args[1:]
    if len(args) == 1:
        result = args[0] != ""
    elif len(args) == 2 and args[0] in ("-e", "-f", "-d", "-s", "-r", "-w", "-x", "-L"):
        p = ctx.path(args[1])
        result = {
            "-e": p.exists(),
            "-f": p.is_file(),
            "-d": p.is_dir(),
            "-s": p.is_file() and p.stat().st_size > 0,
            "-L": p.is_symlink(),
        }.get(args[0], p.exists())
    elif len(args) == 2 and args[0] in ("-n", "-z"):
        result = (args[1] != "") == (args[0] == "-n")
    elif len(args) == 3 and args[1] in ("=", "==", "!="):
        result = (args[0] == args[2]) == (args[1] != "!=")
    elif not args:
        result = False
    else:
        raise CommandFailed(f"bash: test: {' '.join(args)}: unary operator expected", 2)
    return 0 if result != negate else 1


def _last_lines(data: bytes, n: int, from_start: bool) -> bytes:
    lines = data.splitlines(keepends=True)
    if from_start:
        return b"".join(lines[max(n - 1, 0) :])
    return b"".join(lines[-n:]) if n > 0 else b""


async def tail(ctx: Ctx, args: list[str]) -> int:
    n, from_start, follow, retry = 10, False, False, False
    paths: list[str] = []
    it = iter(args)
    for a in it:
        if a == "--":
            paths.extend(it)
            break
        if a in ("-n", "--lines"):
            v = next(it, "10")
        elif a.startswith("--lines="):
            v = a.split("=", 1)[1]
        elif a.startswith("-n") and len(a) > 2:
            v = a[2:]
        elif a in ("-f", "--follow", "--follow=descriptor"):
            follow = True
            continue
        elif a in ("-F", "--follow=name"):
            follow = retry = True
            continue
        elif a == "--retry":
            retry = True
            continue
        elif a[:1] == "-" and a[1:].isdigit():
            v = a[1:]
        elif a.startswith("-") and a != "-":
            raise CommandFailed(f"tail: invalid option -- '{a.lstrip('-')}'", 1)
        else:
            paths.append(a)
            continue
        from_start = v.startswith("+")
        try:
            n = int(v.lstrip("+"))
        except ValueError:
            raise CommandFailed(f"tail: invalid number of lines: '{v}'", 1) from None
    if not paths:
        raise CommandFailed("tail: reading standard input is not emulated", 1)
    code = 0
    headers_written = 0
    for name in paths:
        p = ctx.path(name)
        if p.is_file():
            # GNU tail: a header per readable file when given several, a blank line before
            # every header but the first, and no header for a file it cannot open.
            if len(paths) > 1:
                ctx.out(("\n" if headers_written else "") + f"==> {name} <==\n")
                headers_written += 1
            ctx.io.write(_last_lines(p.read_bytes(), n, from_start))
        elif p.is_dir():
            # GNU tail opens a directory, writes its header, then fails to read it.
            if len(paths) > 1:
                ctx.out(("\n" if headers_written else "") + f"==> {name} <==\n")
                headers_written += 1
            ctx.err(f"tail: error reading '{name}': Is a directory\n")
            code = 1
        else:
            ctx.err(f"tail: cannot open '{name}' for reading: No such file or directory\n")
            code = 1
    if not follow:
        return code
    if len(paths) != 1:
        raise CommandFailed("tail: following several files is not emulated", 1)
    await ctx.flush()
    await _follow(ctx, paths[0], ctx.path(paths[0]), retry)
    return code


async def _follow(ctx: Ctx, name: str, p: Path, by_name: bool) -> None:
    def ident() -> tuple[int, int] | None:
        try:
            st = p.stat()
        except OSError:
            return None
        return (st.st_dev, st.st_ino)

    current = ident()
    pos = p.stat().st_size if current else 0
    while True:
        await ctx.sleep(ctx.timing.follow_poll)
        now_id = ident()
        if now_id is None:
            if current is not None and by_name:
                ctx.err(f"tail: '{name}' has become inaccessible: No such file or directory\n")
            current = None
        elif now_id != current and by_name:
            ctx.err(
                f"tail: '{name}' has {'appeared' if current is None else 'been replaced'};"
                "  following new file\n"
            )
            current, pos = now_id, 0
        if current is not None:
            size = p.stat().st_size
            if size < pos:
                ctx.err(f"tail: {name}: file truncated\n")
                pos = 0
            if size > pos:
                with open(p, "rb") as f:
                    f.seek(pos)
                    chunk = f.read(size - pos)
                pos += len(chunk)
                ctx.io.write(chunk)
        await ctx.flush()  # raises when the peer is gone: the follow ends


async def ls(ctx: Ctx, args: list[str]) -> int:
    long_ = any(a.startswith("-") and "l" in a for a in args)
    show_all = any(a.startswith("-") and ("a" in a or "A" in a) for a in args)
    targets = [a for a in args if not a.startswith("-")] or [ctx.cwd]
    code = 0
    for t in targets:
        p = ctx.path(t)
        if not p.exists():
            ctx.err(f"ls: cannot access '{t}': No such file or directory\n")
            code = 2
            continue
        entries = sorted(os.listdir(p)) if p.is_dir() else [t]
        if not show_all:
            entries = [e for e in entries if not e.startswith(".")]
        for e in entries:
            if long_:
                q = p / e if p.is_dir() else p
                st = q.stat()
                kind = "d" if q.is_dir() else "-"
                ctx.out(f"{kind}rw-r--r-- 1 root root {st.st_size:>8} {e}\n")
            else:
                ctx.out(e + "\n")
    return code


async def echo(ctx: Ctx, args: list[str]) -> int:
    newline = True
    if args and args[0] == "-n":
        newline, args = False, args[1:]
    ctx.out(" ".join(args) + ("\n" if newline else ""))
    return 0


async def hostname(ctx: Ctx, args: list[str]) -> int:
    ctx.out((ctx.node.hostname or ctx.node.id) + "\n")
    return 0
