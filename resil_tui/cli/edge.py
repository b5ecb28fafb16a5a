"""`resil-tui edge plan|apply|rollback`: the Edge `.env` switch from a shell.

`plan` prints the unified diff on stdout (pipe it, review it) and everything else on
stderr; exit 0 when there are changes, 1 when there is nothing to do, 2 on errors.
`apply` and `rollback` show what they will do, ask `Apply? [y/N]` on the terminal unless
--yes (and refuse without a terminal), then print each step as it runs. No Textual here.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import TYPE_CHECKING

from resil_tui.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    Context,
    Io,
    Refused,
    SubParsers,
    subparser,
)
from resil_tui.core.freshness import clock
from resil_tui.inventory_model import Node, Side, Site
from resil_tui.lazy import lazy_module

if TYPE_CHECKING:
    from resil_tui.core import edge_side, site_facts
    from resil_tui.core.edge_env import Direction, EdgeSwitchPlan
    from resil_tui.ops import edge as edge_ops
    from resil_tui.ops import errors as ops_errors
    from resil_tui.ops.session import Session
else:
    edge_side = lazy_module("resil_tui.core.edge_side")
    site_facts = lazy_module("resil_tui.core.site_facts")
    edge_ops = lazy_module("resil_tui.ops.edge")
    ops_errors = lazy_module("resil_tui.ops.errors")

NAME = "edge"
HELP = "preview, apply or roll back the Edge .env switch"

EXIT_CHANGES = 0
EXIT_NOTHING = 1
EXIT_ERROR = 2


def add_parser(sub: SubParsers[argparse.ArgumentParser]) -> None:
    p = subparser(sub, NAME, HELP)
    edge = p.add_subparsers(dest="edge_command", metavar="ACTION", required=True)
    for name, text in (
        ("plan", "print the diff of the switch (exit 0: changes, 1: nothing to do)"),
        ("apply", "switch the Edge to a side: backup, atomic write, verify, edge-dcomp up -d"),
        ("rollback", "restore a backup of the Edge .env, then edge-dcomp up -d"),
    ):
        ep = subparser(edge, name, text)
        ep.set_defaults(to=None, yes=False, backup=None, break_stale_lock=False)
        ep.add_argument("--site", metavar="NAME", help="the site (default: the first)")
        if name in ("plan", "apply"):
            ep.add_argument("--to", choices=("slave", "master"), required=True)
        if name in ("apply", "rollback"):
            ep.add_argument("--yes", action="store_true", help="do not ask for confirmation")
            ep.add_argument(
                "--break-stale-lock",
                action="store_true",
                help="take over the node's change lock when it is stale (its console died)",
            )
        if name == "rollback":
            ep.add_argument("--backup", metavar="NAME", help="backup file (default: newest)")


@dataclass(frozen=True)
class EdgeArgs:
    action: str  # plan | apply | rollback
    site: str | None = None
    to: str | None = None  # plan, apply: slave | master
    yes: bool = False
    backup: str | None = None  # rollback
    break_stale_lock: bool = False

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace) -> EdgeArgs:
        return cls(
            action=ns.edge_command,
            site=ns.site,
            to=ns.to,
            yes=bool(ns.yes),
            backup=ns.backup,
            break_stale_lock=bool(ns.break_stale_lock),
        )


class EdgeCli:
    def __init__(self, ctx: Context, args: EdgeArgs, wait: edge_ops.ContainerWait | None) -> None:
        self.inventory = ctx.inventory
        self.args = args
        self.io: Io = ctx.io
        self.wait = wait

    # --- output helpers ------------------------------------------------------------------

    def note(self, text: str) -> None:
        self.io.note(text)

    def progress(self, event: edge_ops.EdgeEvent) -> None:
        if isinstance(event, edge_ops.StepStarted):
            self.note(f"[{event.index}/{event.total}] {event.text}…")
        elif isinstance(event, edge_ops.StepFinished):
            word = "ok" if event.ok else "FAILED"
            self.note(f"      {word} ({event.elapsed:.1f}s): {event.detail}")
        elif isinstance(event, edge_ops.ContainersPolled):
            if event.error:
                self.note(f"      poll {event.attempt}: {event.error}")
            elif event.ps is not None:
                states = (
                    ", ".join(f"{c.service} {c.status}" for c in event.ps.containers)
                    or "no containers"
                )
                self.note(f"      poll {event.attempt}: {states}")

    def describe(self, preview: edge_ops.EdgePreview) -> None:
        sides = preview.sides
        values = preview.values()
        self.note(
            f"Edge {preview.node.id} ({preview.path}) points to: {preview.overall.value}"
            f"  (read at {clock(preview.as_of)})"
        )
        for name in edge_side.EDGE_VARIABLES:
            value = values.get(name)
            shown = "(not set)" if value is None else value
            self.note(f"  {name:<22} {sides[name].value:<8} {shown}")

    # --- setup ---------------------------------------------------------------------------

    def site(self) -> tuple[Site, Node]:
        site = self.inventory.site(self.args.site)
        try:
            node = edge_ops.edge_node(site)
            edge_ops.edge_addresses(site)
        except edge_ops.EdgeSetupError as exc:
            raise CliError(str(exc)) from None
        return site, node

    def require_change_allowed(self, session: Session, node: Node, what: str) -> None:
        """Refuse before connecting: read-only mode, or no way to ask for confirmation."""
        try:
            session.pool.require_writable(node, what)
        except ops_errors.RemoteError as err:
            raise CliError(err.message) from None
        if not self.args.yes and not self.io.interactive:
            raise CliError(
                f"refusing to {what} without confirmation: stdin is not a terminal; "
                "pass --yes to confirm in advance"
            )

    async def consequences(self, session: Session, site: Site, direction: Direction) -> None:
        """What the switch does now, from a poll of the site: who serves telephony, where
        remote users go after it, what drops."""
        report = await session.collector.poll_site(site)
        facts = site_facts.site_facts(
            site, report.verdicts, report.snapshot.nodes, report.verdicts.evaluated_at
        )
        target = Side(direction.target.value)
        found = site_facts.edge_switch_consequences(facts, site, target)
        for line in found.lines:
            self.note(line)
        for warning in found.warnings:
            self.note(f"WARNING: {warning}")

    async def confirm(self) -> bool:
        try:
            await self.io.confirm("Apply?", yes=self.args.yes)
        except Refused:
            return False
        return True

    def finish(self, outcome: edge_ops.EdgeOutcome, site: Site) -> int:
        if outcome.ok:
            self.io.say(outcome.message)
            return EXIT_OK
        self.note(f"resil-tui: {outcome.message}")
        if outcome.rollback_offered:
            hint = f"resil-tui edge rollback --site {site.name}"
            if outcome.backup:
                hint += f" --backup {outcome.backup.rsplit('/', 1)[-1]}"
            self.note(f"To put the previous file back: {hint}")
        return EXIT_ERROR

    # --- the three actions -------------------------------------------------------------

    def show_plan(
        self, preview: edge_ops.EdgePreview, direction: Direction
    ) -> tuple[EdgeSwitchPlan, int]:
        """Print the targets, notes and diff; the exit code `plan` would return."""
        plan = preview.plan(direction)
        self.describe(preview)
        for text in edge_ops.plan_notes(plan):
            self.note(f"warning: {text}")
        for issue in plan.errors:
            self.note(f"error: {issue.message}")
        if plan.errors:
            self.note("resil-tui: the switch cannot be planned; nothing would be written")
            return plan, EXIT_ERROR
        if plan.nothing_to_do:
            self.note(f"already on the {direction.target.value} side: nothing to do")
            return plan, EXIT_NOTHING
        self.io.out.write(plan.unified_diff(preview.path))
        self.io.out.flush()
        return plan, EXIT_CHANGES

    async def plan(self, session: Session, direction: Direction) -> int:
        site, _node = self.site()
        preview = await edge_ops.load_preview(session.pool, site)
        return self.show_plan(preview, direction)[1]

    async def apply(self, session: Session) -> int:
        pool = session.pool
        site, node = self.site()
        direction = edge_ops.direction_of(self.args.to or "")
        self.require_change_allowed(session, node, f"switch the Edge .env of {node.id}")
        # One read: what is applied is exactly the diff shown (apply re-checks its hash).
        preview = await edge_ops.load_preview(pool, site)
        plan, code = self.show_plan(preview, direction)
        if code != EXIT_CHANGES:
            return code
        self.note(f"On {node.id}: back up and replace {preview.path}, then edge-dcomp up -d")
        await self.consequences(session, site, direction)
        if not await self.confirm():
            self.note("cancelled: nothing was changed")
            return EXIT_NOTHING
        outcome = await edge_ops.apply_switch(
            pool,
            node,
            plan,
            path=preview.path,
            on_event=self.progress,
            wait=self.wait,
            force=self.args.break_stale_lock,
        )
        return self.finish(outcome, site)

    async def rollback(self, session: Session) -> int:
        pool = session.pool
        site, node = self.site()
        self.require_change_allowed(session, node, f"roll back the Edge .env of {node.id}")
        try:
            preview = await edge_ops.load_rollback_preview(pool, node, self.args.backup)
        except edge_ops.NoBackupError as exc:
            raise CliError(str(exc)) from None
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
            self.io.out.write(preview.diff())
            self.io.out.flush()
        if not await self.confirm():
            self.note("cancelled: nothing was changed")
            return EXIT_NOTHING
        outcome = await edge_ops.rollback(
            pool,
            node,
            backup=preview.backup.path,
            expected_sha256=preview.current_sha256,
            path=preview.path,
            on_event=self.progress,
            wait=self.wait,
            force=self.args.break_stale_lock,
        )
        return self.finish(outcome, site)


async def run(ctx: Context, args: EdgeArgs, *, wait: edge_ops.ContainerWait | None = None) -> int:
    """`resil-tui edge ACTION`; returns the exit code."""
    cli = EdgeCli(ctx, args, wait)
    try:
        async with ctx.session() as session:
            if args.action == "plan":
                return await cli.plan(session, edge_ops.direction_of(args.to or ""))
            if args.action == "apply":
                return await cli.apply(session)
            if args.action == "rollback":
                return await cli.rollback(session)
            raise CliError(f"unknown edge action {args.action!r} (plan, apply, rollback)")
    except ops_errors.RemoteError as exc:
        cli.note(f"resil-tui: {exc.node_id}: {exc.message}")
        return EXIT_ERROR
    except (edge_ops.EdgeSetupError, ValueError) as exc:
        cli.note(f"resil-tui: {exc}")
        return EXIT_USAGE


async def main(ctx: Context, ns: argparse.Namespace) -> int:
    return await run(ctx, EdgeArgs.from_namespace(ns))
