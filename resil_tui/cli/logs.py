"""`resil-tui logs NODE`: a node's log stream on stdout, for people and scripts.

* `resil-tui logs NODE [--stream NAME] [--tail N]` follows until interrupted; a dropped
  connection is resumed without duplicates, the gap marker goes to stderr (stdout carries
  log lines only).
* `--no-follow` prints the last N lines and exits (1 when the command could not run).
* `--until-ready [--timeout S]` on a CC node: exit 0 once the *current run* of xuc is
  ready (ops/xuc_wait.py), 1 at the timeout. A xuc ready for days is ready at once (and
  says since when); after a restart only the new run's readiness line counts, with or
  without docker timestamps (core/xuc_readiness.py). `--since TIME`: a readiness line
  must also be logged at or after TIME. On another node's stream: a line matching the
  readiness pattern logged after the command started (or `--since`).

Exit codes: 0 success, 1 not ready / stream failed, 2 usage (unknown node or stream).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from resil_tui.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    checked,
    one_line,
    timestamp,
)
from resil_tui.cli.context import Context
from resil_tui.core import validators
from resil_tui.core.records import record
from resil_tui.lazy import lazy_module

if TYPE_CHECKING:
    from resil_tui.ops import logs as logs_ops
    from resil_tui.ops import xuc_wait
else:
    logs_ops = lazy_module("resil_tui.ops.logs")
    xuc_wait = lazy_module("resil_tui.ops.xuc_wait")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("node", metavar="NODE", help="node id, e.g. paris.cc.slave")
    p.add_argument("--stream", metavar="NAME", help="stream name (see the Logs pane)")
    p.add_argument(
        "--tail",
        type=checked(validators.tail_lines),
        default=100,
        metavar="N",
        help="history lines first",
    )
    p.add_argument("--no-follow", action="store_true", help="print history and exit")
    p.add_argument(
        "--until-ready",
        action="store_true",
        help="exit 0 once xuc's current run is ready (at once if it already is), 1 at --timeout",
    )
    p.add_argument(
        "--timeout", type=checked(validators.timeout_seconds), default=180.0, metavar="S"
    )
    p.add_argument(
        "--since",
        dest="not_before",
        type=timestamp,
        metavar="TIME",
        help="with --until-ready: a readiness line must also be logged at or after TIME "
        "(ISO 8601, e.g. when you restarted xuc); xuc's current run is judged anyway",
    )


@record
class LogsArgs:
    node: str
    stream: str | None = None
    tail: int = 100
    no_follow: bool = False
    until_ready: bool = False
    timeout: float = 180.0
    not_before: datetime | None = None

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace) -> LogsArgs:
        return cls(
            node=ns.node,
            stream=ns.stream,
            tail=ns.tail,
            no_follow=bool(ns.no_follow),
            until_ready=bool(ns.until_ready),
            timeout=ns.timeout,
            not_before=ns.not_before,
        )


async def run(ctx: Context, args: LogsArgs) -> int:
    out, err = ctx.io.out, ctx.io.err
    node = ctx.inventory.node(args.node)
    try:
        stream = logs_ops.find_stream(node, args.stream)
    except ValueError as exc:
        err.write(f"resil-tui: {exc}\n")
        return EXIT_USAGE

    async with ctx.session() as session:
        pool = session.pool
        if args.until_ready:

            def show(line: str) -> None:
                (err if line.startswith("── ") else out).write(one_line(line) + "\n")
                out.flush()

            if node.kind.value == "cc" and stream.name == "xuc":
                plan = xuc_wait.plan_xuc_wait(node)
                err.write(f"resil-tui: {node.id}: {one_line(plan.text)}\n")
                since = args.not_before.timestamp() if args.not_before else None
                waited = await xuc_wait.wait_for_xuc(
                    pool, plan, timeout=args.timeout, not_before=since, on_line=show
                )
                err.write(f"resil-tui: {one_line(waited.summary())}\n")
                return EXIT_OK if waited.ready else EXIT_FAILED
            not_before = args.not_before or datetime.now(UTC)
            result = await logs_ops.wait_until_ready(
                pool,
                node,
                timeout=args.timeout,
                not_before=not_before,
                on_line=show,
                stream=stream,
                tail=args.tail,
            )
            err.write(f"resil-tui: {one_line(result.summary)}\n")
            return EXIT_OK if result.ready else EXIT_FAILED

        follower = logs_ops.LogFollower(
            pool, node, stream, tail=args.tail, follow=not args.no_follow
        )
        final: logs_ops.LogState | None = None

        async def pump() -> None:
            nonlocal final
            async with follower:
                async for event in follower:
                    if isinstance(event, logs_ops.LogLines):
                        out.write("".join(line + "\n" for line in event.lines))
                        out.flush()
                    elif isinstance(event, logs_ops.LogGap):
                        err.write(event.marker + "\n")
                    elif event.state in (
                        logs_ops.FollowState.ENDED,
                        logs_ops.FollowState.FAILED,
                    ):
                        final = event
                    elif (
                        event.state is logs_ops.FollowState.RECONNECTING
                        and "; retry" in event.message
                    ):
                        err.write(f"resil-tui: {one_line(event.message)}\n")

        if args.no_follow:
            import asyncio  # here: 30 ms that check-config does not need

            # A stream that follows by itself (an inventory `tail -F`) would never end:
            # history is read within the node's command timeout.
            limit = node.ssh.command_timeout
            try:
                await asyncio.wait_for(pump(), limit)
            except TimeoutError:
                err.write(
                    f"resil-tui: {node.id}: stopped after {limit:g}s: the stream does not end "
                    "by itself (it follows); the lines above are what it printed\n"
                )
                return EXIT_FAILED
        else:
            await pump()
        if final is None or final.state is logs_ops.FollowState.FAILED:
            said = final.message if final else "stream stopped"
            err.write(f"resil-tui: {node.id}: {one_line(said)}\n")
            return EXIT_FAILED
        if final.exit_status not in (0, None):
            err.write(f"resil-tui: {node.id}: {one_line(final.message)}\n")
            return EXIT_FAILED
        return EXIT_OK


async def main(ctx: Context, ns: argparse.Namespace) -> int:
    return await run(ctx, LogsArgs.from_namespace(ns))
