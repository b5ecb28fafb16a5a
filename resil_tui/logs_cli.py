"""`resil-tui logs NODE`: a node's log stream on stdout, for people and scripts.

* `resil-tui logs NODE [--stream NAME] [--tail N]` follows until interrupted; a dropped
  connection is resumed without duplicates, the gap marker goes to stderr (stdout carries
  log lines only).
* `--no-follow` prints the last N lines and exits (1 when the command could not run).
* `--until-ready [--timeout S]` follows until the node's readiness line appears (exit 0)
  or the timeout passes (exit 1). Only a line logged after the command started counts:
  the previous start's readiness line, still in the history, must not end the wait of a
  script that just restarted xuc. (A `not_before` attribute on `args`, when present,
  overrides that moment.)

Exit codes: 0 success, 1 not ready / stream failed, 2 usage (unknown node or stream).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import TextIO

from resil_tui.inventory_model import Inventory
from resil_tui.ops.logs import (
    FollowState,
    LogFollower,
    LogGap,
    LogLines,
    LogState,
    find_stream,
    wait_until_ready,
)
from resil_tui.ops.session import open_pool

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


async def run_logs(
    inventory: Inventory,
    args: argparse.Namespace,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        node = inventory.node(args.node)
        stream = find_stream(node, getattr(args, "stream", None))
    except (LookupError, ValueError) as exc:
        err.write(f"resil-tui: {str(exc).strip(chr(34) + chr(39))}\n")
        return EXIT_USAGE
    tail = int(getattr(args, "tail", 100) or 0)
    if tail < 0:
        err.write("resil-tui: --tail must be 0 or more\n")
        return EXIT_USAGE

    async with open_pool(inventory) as pool:
        if getattr(args, "until_ready", False):
            not_before = getattr(args, "not_before", None) or datetime.now(UTC)

            def show(line: str) -> None:
                (err if line.startswith("── ") else out).write(line + "\n")
                out.flush()

            result = await wait_until_ready(
                pool,
                node,
                timeout=float(args.timeout),
                not_before=not_before,
                on_line=show,
                stream=stream,
                tail=tail,
            )
            err.write(f"resil-tui: {result.summary}\n")
            return EXIT_OK if result.ready else EXIT_FAILED

        follow = not getattr(args, "no_follow", False)
        follower = LogFollower(pool, node, stream, tail=tail, follow=follow)
        final: LogState | None = None
        async with follower:
            async for event in follower:
                if isinstance(event, LogLines):
                    out.write("".join(line + "\n" for line in event.lines))
                    out.flush()
                elif isinstance(event, LogGap):
                    err.write(event.marker + "\n")
                elif event.state in (FollowState.ENDED, FollowState.FAILED):
                    final = event
                elif event.state is FollowState.RECONNECTING and "; retry" in event.message:
                    err.write(f"resil-tui: {event.message}\n")
        if final is None or final.state is FollowState.FAILED:
            err.write(f"resil-tui: {node.id}: {final.message if final else 'stream stopped'}\n")
            return EXIT_FAILED
        if final.exit_status not in (0, None):
            err.write(f"resil-tui: {node.id}: {final.message}\n")
            return EXIT_FAILED
        return EXIT_OK
