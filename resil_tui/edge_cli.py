"""`resil-tui edge plan|apply|rollback`: the Edge `.env` switch from a shell.

`plan` prints the unified diff on stdout (pipe it, review it) and everything else on
stderr; exit 0 when there are changes, 1 when there is nothing to do, 2 on errors.
`apply` and `rollback` show what they will do, ask `Apply? [y/N]` on the terminal unless
--yes (and refuse without a terminal), then print each step as it runs. No Textual here.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TextIO

from resil_tui.core.edge_env import Direction, EdgeSwitchPlan
from resil_tui.core.edge_side import EDGE_VARIABLES
from resil_tui.inventory_model import Inventory, Node, Site
from resil_tui.ops.edge import (
    ContainersPolled,
    ContainerWait,
    EdgeEvent,
    EdgeOutcome,
    EdgePreview,
    EdgeSetupError,
    NoBackupError,
    StepFinished,
    StepStarted,
    apply_switch,
    direction_of,
    edge_addresses,
    edge_node,
    load_preview,
    load_rollback_preview,
    plan_notes,
    rollback,
)
from resil_tui.ops.session import open_pool
from resil_tui.remote.errors import RemoteError
from resil_tui.remote.pool import Pool

EXIT_CHANGES = 0
EXIT_OK = 0
EXIT_NOTHING = 1
EXIT_ERROR = 2


class _Stop(Exception):
    """End the command with one message on stderr and an exit code."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


class EdgeCli:
    def __init__(
        self,
        inventory: Inventory,
        args: argparse.Namespace,
        out: TextIO,
        err: TextIO,
        stdin: TextIO,
        wait: ContainerWait | None,
    ) -> None:
        self.inventory = inventory
        self.args = args
        self.out = out
        self.err = err
        self.stdin = stdin
        self.wait = wait

    # --- output helpers ------------------------------------------------------------------

    def note(self, text: str) -> None:
        self.err.write(text + "\n")
        self.err.flush()

    def progress(self, event: EdgeEvent) -> None:
        if isinstance(event, StepStarted):
            self.note(f"[{event.index}/{event.total}] {event.text}…")
        elif isinstance(event, StepFinished):
            word = "ok" if event.ok else "FAILED"
            self.note(f"      {word} ({event.elapsed:.1f}s): {event.detail}")
        elif isinstance(event, ContainersPolled):
            if event.error:
                self.note(f"      poll {event.attempt}: {event.error}")
            elif event.ps is not None:
                states = (
                    ", ".join(f"{c.service} {c.status}" for c in event.ps.containers)
                    or "no containers"
                )
                self.note(f"      poll {event.attempt}: {states}")

    def describe(self, preview: EdgePreview) -> None:
        sides = preview.sides
        values = preview.values()
        self.note(f"Edge {preview.node.id} ({preview.path}) points to: {preview.overall.value}")
        for name in EDGE_VARIABLES:
            value = values.get(name)
            shown = "(not set)" if value is None else value
            self.note(f"  {name:<22} {sides[name].value:<8} {shown}")

    # --- setup ---------------------------------------------------------------------------

    def site(self) -> tuple[Site, Node]:
        try:
            site = self.inventory.site(getattr(self.args, "site", None))
        except LookupError as exc:
            raise _Stop(str(exc.args[0])) from None
        try:
            node = edge_node(site)
            edge_addresses(site)
        except EdgeSetupError as exc:
            raise _Stop(str(exc)) from None
        return site, node

    def require_change_allowed(self, pool: Pool, node: Node, what: str) -> None:
        """Refuse before connecting: read-only mode, or no way to ask for confirmation."""
        try:
            pool.require_writable(node, what)
        except RemoteError as err:
            raise _Stop(err.message) from None
        if not getattr(self.args, "yes", False) and not _is_tty(self.stdin):
            raise _Stop(
                f"refusing to {what} without confirmation: stdin is not a terminal; "
                "pass --yes to confirm in advance"
            )

    async def confirm(self) -> bool:
        if getattr(self.args, "yes", False):
            return True
        self.err.write("Apply? [y/N] ")
        self.err.flush()
        answer = await asyncio.to_thread(self.stdin.readline)
        return answer.strip().lower() in ("y", "yes")

    def finish(self, outcome: EdgeOutcome, site: Site) -> int:
        if outcome.ok:
            self.out.write(outcome.message + "\n")
            return EXIT_OK
        self.note(f"resil-tui: {outcome.message}")
        if outcome.rollback_offered:
            hint = f"resil-tui edge rollback --site {site.name}"
            if outcome.backup:
                hint += f" --backup {outcome.backup.rsplit('/', 1)[-1]}"
            self.note(f"To put the previous file back: {hint}")
        return EXIT_ERROR

    # --- the three actions -------------------------------------------------------------

    def show_plan(self, preview: EdgePreview, direction: Direction) -> tuple[EdgeSwitchPlan, int]:
        """Print the targets, notes and diff; the exit code `plan` would return."""
        plan = preview.plan(direction)
        self.describe(preview)
        for text in plan_notes(plan):
            self.note(f"warning: {text}")
        for issue in plan.errors:
            self.note(f"error: {issue.message}")
        if plan.errors:
            self.note("resil-tui: the switch cannot be planned; nothing would be written")
            return plan, EXIT_ERROR
        if plan.nothing_to_do:
            self.note(f"already on the {direction.target.value} side: nothing to do")
            return plan, EXIT_NOTHING
        self.out.write(plan.unified_diff(preview.path))
        self.out.flush()
        return plan, EXIT_CHANGES

    async def plan(self, pool: Pool, direction: Direction) -> int:
        site, _node = self.site()
        preview = await load_preview(pool, site)
        return self.show_plan(preview, direction)[1]

    async def apply(self, pool: Pool) -> int:
        site, node = self.site()
        direction = direction_of(self.args.to)
        self.require_change_allowed(pool, node, f"switch the Edge .env of {node.id}")
        # One read: what is applied is exactly the diff shown (apply re-checks its hash).
        preview = await load_preview(pool, site)
        plan, code = self.show_plan(preview, direction)
        if code != EXIT_CHANGES:
            return code
        self.note(f"On {node.id}: back up and replace {preview.path}, then edge-dcomp up -d")
        if not await self.confirm():
            self.note("cancelled: nothing was changed")
            return EXIT_NOTHING
        outcome = await apply_switch(
            pool, node, plan, path=preview.path, on_event=self.progress, wait=self.wait
        )
        return self.finish(outcome, site)

    async def rollback(self, pool: Pool) -> int:
        site, node = self.site()
        self.require_change_allowed(pool, node, f"roll back the Edge .env of {node.id}")
        try:
            preview = await load_rollback_preview(pool, node, getattr(self.args, "backup", None))
        except NoBackupError as exc:
            raise _Stop(str(exc)) from None
        taken = f"{preview.backup.taken:%Y-%m-%d %H:%M:%S} UTC"
        self.note(
            f"On {node.id}: restore {preview.path} from {preview.name} (taken {taken}), "
            "backing up the current file, then edge-dcomp up -d"
        )
        if preview.identical:
            self.note(
                "the file already holds this backup's content: only edge-dcomp up -d will run"
            )
        else:
            self.out.write(preview.diff())
            self.out.flush()
        if not await self.confirm():
            self.note("cancelled: nothing was changed")
            return EXIT_NOTHING
        outcome = await rollback(
            pool,
            node,
            backup=preview.backup.path,
            expected_sha256=preview.current_sha256,
            path=preview.path,
            on_event=self.progress,
            wait=self.wait,
        )
        return self.finish(outcome, site)


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


async def run_edge(
    inventory: Inventory,
    args: argparse.Namespace,
    out: TextIO | None = None,
    err: TextIO | None = None,
    stdin: TextIO | None = None,
    *,
    wait: ContainerWait | None = None,
) -> int:
    """Entry point of `resil-tui edge ACTION`; returns the exit code."""
    cli = EdgeCli(inventory, args, out or sys.stdout, err or sys.stderr, stdin or sys.stdin, wait)
    action = args.edge_command
    try:
        async with open_pool(inventory) as pool:
            if action == "plan":
                return await cli.plan(pool, direction_of(args.to))
            if action == "apply":
                return await cli.apply(pool)
            if action == "rollback":
                return await cli.rollback(pool)
            raise _Stop(f"unknown edge action {action!r} (plan, apply, rollback)")
    except _Stop as stop:
        cli.note(f"resil-tui: {stop}")
        return stop.code
    except RemoteError as exc:
        cli.note(f"resil-tui: {exc.node_id}: {exc.message}")
        return EXIT_ERROR
    except (EdgeSetupError, ValueError) as exc:
        cli.note(f"resil-tui: {exc}")
        return EXIT_ERROR
