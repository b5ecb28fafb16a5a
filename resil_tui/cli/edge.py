"""`resil-tui edge plan|apply|rollback`: the Edge `.env` switch from a shell.

`plan` prints the unified diff on stdout (pipe it, review it) and everything else on
stderr; exit 0 when there are changes, 1 when there is nothing to do, 2 on errors.
`apply` and `rollback` show what they will do, ask `Apply? [y/N]` on the terminal unless
--yes (and refuse without a terminal), then print each step as it runs. No Textual here.

A site with several Edge nodes (a 3-server Edge) is switched as one: every node's `.env`
is read first (one that does not answer: nothing is written), one diff per node (its
headers name the node and the path), one confirmation; `rollback` puts every node back,
or one (`--node`).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from resil_tui.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    Io,
    Refused,
    one_line,
    subparser,
)
from resil_tui.cli.context import Context
from resil_tui.core.freshness import clock
from resil_tui.core.records import record
from resil_tui.inventory_model import Node, Side, Site
from resil_tui.lazy import lazy_module

if TYPE_CHECKING:
    from resil_tui.core import edge_side, roles, site_facts
    from resil_tui.core.edge_env import Direction, EdgeSwitchPlan
    from resil_tui.ops import edge as edge_ops
    from resil_tui.ops import errors as ops_errors
    from resil_tui.ops.session import Session
else:
    edge_side = lazy_module("resil_tui.core.edge_side")
    roles = lazy_module("resil_tui.core.roles")
    site_facts = lazy_module("resil_tui.core.site_facts")
    edge_ops = lazy_module("resil_tui.ops.edge")
    ops_errors = lazy_module("resil_tui.ops.errors")


EXIT_CHANGES = 0
EXIT_NOTHING = 1
EXIT_ERROR = 2


def add_arguments(p: argparse.ArgumentParser) -> None:
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
            ep.add_argument(
                "--to",
                choices=("slave", "master", "standby", "main"),
                required=True,
                help="the side to switch to; main and standby (the next LTS's words) are "
                "aliases of master and slave, accepted for every site",
            )
        if name in ("apply", "rollback"):
            ep.add_argument("--yes", action="store_true", help="do not ask for confirmation")
            ep.add_argument(
                "--break-stale-lock",
                action="store_true",
                help="take over the node's change lock when it is stale (its console died)",
            )
        if name == "rollback":
            ep.set_defaults(node=None)
            ep.add_argument(
                "--node",
                metavar="ID",
                help="roll back this Edge node only (default: every Edge node of the site)",
            )
            ep.add_argument(
                "--backup",
                metavar="NAME",
                help="backup file (default: newest; with several Edge nodes, give --node)",
            )


@record
class EdgeArgs:
    action: str  # plan | apply | rollback
    site: str | None = None
    to: str | None = None  # plan, apply: slave | master
    yes: bool = False
    backup: str | None = None  # rollback
    break_stale_lock: bool = False
    node: str | None = None  # rollback: one Edge node only

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace) -> EdgeArgs:
        return cls(
            action=ns.edge_command,
            site=ns.site,
            to=ns.to,
            yes=bool(ns.yes),
            backup=ns.backup,
            break_stale_lock=bool(ns.break_stale_lock),
            node=getattr(ns, "node", None),
        )


class EdgeCli:
    def __init__(self, ctx: Context, args: EdgeArgs, wait: edge_ops.ContainerWait | None) -> None:
        self.inventory = ctx.inventory
        self.args = args
        self.io: Io = ctx.io
        self.wait = wait

    # --- output helpers ------------------------------------------------------------------

    def note(self, text: str) -> None:
        # Most notes quote the node (a step's detail, a poll error, `docker ps` states, a
        # backup's name): each of the note's own lines (one per node of a 3-server Edge's
        # outcome) is kept on its line by `one_line`.
        for line in text.split("\n"):
            self.io.note(one_line(line))

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

    def progress_of(self, several: bool) -> edge_ops.EventCallback:
        def show(event: edge_ops.EdgeEvent) -> None:
            if several and isinstance(event, edge_ops.StepStarted):
                self.note(f"{event.node_id}:")
            self.progress(event)

        return show

    def describe(self, preview: edge_ops.EdgePreview) -> None:
        sides = preview.sides
        values = preview.values()
        w = self.words(preview.site)
        self.note(
            f"Edge {preview.node.id} ({preview.path}) points to: {w.of(preview.overall.value)}"
            f"  (read at {clock(preview.as_of)})"
        )
        for name in edge_side.EDGE_VARIABLES:
            value = values.get(name)
            shown = "(not set)" if value is None else value
            self.note(f"  {name:<22} {w.of(sides[name].value):<8} {shown}")

    def words(self, site: str) -> roles.RoleWords:
        """master/slave, or Main/Standby for a next-LTS site."""
        return roles.role_words(self.inventory.site(site).resilience)

    # --- setup ---------------------------------------------------------------------------

    def site(self) -> tuple[Site, tuple[Node, ...]]:
        site = self.inventory.site(self.args.site)
        try:
            nodes = edge_ops.edge_nodes(site)
            edge_ops.edge_addresses(site)
        except edge_ops.EdgeSetupError as exc:
            raise CliError(str(exc)) from None
        return site, nodes

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
        w = self.words(site.name)
        for line in found.lines:
            self.note(roles.reword(line, w))
        for warning in found.warnings:
            self.note(f"WARNING: {roles.reword(warning, w)}")

    async def confirm(self) -> bool:
        try:
            await self.io.confirm("Apply?", yes=self.args.yes)
        except Refused:
            return False
        return True

    def finish(self, done: edge_ops.SiteEdgeOutcome, site: Site) -> int:
        said = roles.reword(done.message, self.words(site.name))
        if done.ok:
            for line in said.split("\n"):  # one line per node of a 3-server Edge
                self.io.say(one_line(line))
            return EXIT_OK
        self.note(f"resil-tui: {said}")
        several = len(done.outcomes) > 1
        for outcome in done.outcomes:
            if outcome.node_id not in done.rollback_nodes:
                continue
            hint = f"resil-tui edge rollback --site {site.name}"
            if several:
                hint += f" --node {outcome.node_id}"
            if outcome.backup:
                hint += f" --backup {outcome.backup.rsplit('/', 1)[-1]}"
            self.note(
                f"To put the previous file back{f' on {outcome.node_id}' if several else ''}: "
                f"{hint}"
            )
        return EXIT_ERROR

    # --- the three actions -------------------------------------------------------------

    def show_plans(
        self, previews: tuple[edge_ops.EdgePreview, ...], direction: Direction
    ) -> tuple[list[edge_ops.EdgeChange], int]:
        """Print each node's targets, notes and diff; the exit code `plan` would return
        (errors on any node: 2; changes on any: 0; else 1)."""
        several = len(previews) > 1
        changes: list[edge_ops.EdgeChange] = []
        codes: list[int] = []
        for preview in previews:
            change = edge_ops.EdgeChange.of(preview, direction)
            changes.append(change)
            codes.append(self.show_plan(preview, change.plan, several))
        if EXIT_ERROR in codes:
            if several:
                self.note(
                    "resil-tui: the switch cannot be planned on every Edge node; nothing "
                    "would be written"
                )
            return changes, EXIT_ERROR
        return changes, EXIT_CHANGES if EXIT_CHANGES in codes else EXIT_NOTHING

    def show_plan(self, preview: edge_ops.EdgePreview, plan: EdgeSwitchPlan, several: bool) -> int:
        self.describe(preview)
        for text in edge_ops.plan_notes(plan):
            self.note(f"warning: {text}")
        for issue in plan.errors:
            self.note(f"error: {issue.message}")
        if plan.errors:
            self.note("resil-tui: the switch cannot be planned; nothing would be written")
            return EXIT_ERROR
        if plan.nothing_to_do:
            side = self.words(preview.site).of(plan.direction.target.value)
            self.note(f"already on the {side} side: nothing to do")
            return EXIT_NOTHING
        # With several Edge nodes each diff's headers name its node and path.
        title = f"{preview.node.id}:{preview.path}" if several else preview.path
        self.io.out.write(plan.unified_diff(title))
        self.io.out.flush()
        return EXIT_CHANGES

    async def plan(self, session: Session, direction: Direction) -> int:
        site, _nodes = self.site()
        previews = await edge_ops.load_previews(session.pool, site)
        return self.show_plans(previews, direction)[1]

    async def apply(self, session: Session) -> int:
        pool = session.pool
        site, nodes = self.site()
        direction = edge_ops.direction_of(self.args.to or "")
        for node in nodes:
            self.require_change_allowed(session, node, f"switch the Edge .env of {node.id}")
        # One read: what is applied is exactly the diff shown (apply re-checks its hash).
        previews = await edge_ops.load_previews(pool, site)
        changes, code = self.show_plans(previews, direction)
        if code != EXIT_CHANGES:
            return code
        for preview, change in zip(previews, changes, strict=True):
            if change.plan.nothing_to_do:
                self.note(f"On {preview.node.id}: nothing to write ({preview.path} already there)")
            else:
                self.note(
                    f"On {preview.node.id}: back up and replace {preview.path}, "
                    "then edge-dcomp up -d"
                )
        await self.consequences(session, site, direction)
        if not await self.confirm():
            self.note("cancelled: nothing was changed")
            return EXIT_NOTHING
        done = await edge_ops.apply_switches(
            pool,
            changes,
            on_event=self.progress_of(len(changes) > 1),
            wait=self.wait,
            break_stale=frozenset(n.id for n in nodes)
            if self.args.break_stale_lock
            else frozenset(),
        )
        return self.finish(done, site)

    def rollback_nodes(self, site: Site, nodes: tuple[Node, ...]) -> tuple[Node, ...]:
        if self.args.node is not None:
            chosen = [n for n in nodes if self.args.node in (n.id, n.name)]
            if not chosen:
                raise CliError(
                    f"{self.args.node!r} is not an Edge node of site {site.name} "
                    f"(its Edge nodes: {', '.join(n.id for n in nodes)})"
                )
            return (chosen[0],)
        if self.args.backup is not None and len(nodes) > 1:
            raise CliError(
                f"site {site.name} has {len(nodes)} Edge nodes: --backup names one node's "
                "file, give --node too"
            )
        return nodes

    async def rollback(self, session: Session) -> int:
        pool = session.pool
        site, nodes = self.site()
        nodes = self.rollback_nodes(site, nodes)
        for node in nodes:
            self.require_change_allowed(session, node, f"roll back the Edge .env of {node.id}")
        previews: list[edge_ops.RollbackPreview] = []
        for node in nodes:
            try:
                previews.append(await edge_ops.load_rollback_preview(pool, node, self.args.backup))
            except edge_ops.NoBackupError as exc:
                raise CliError(str(exc)) from None
        for preview in previews:
            taken = f"{preview.backup.taken:%Y-%m-%d %H:%M:%S} UTC"
            self.note(
                f"On {preview.node.id}: restore {preview.path} from {preview.name} "
                f"(taken {taken}), backing up the current file, then edge-dcomp up -d"
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
        done = await edge_ops.rollback_all(
            pool,
            previews,
            on_event=self.progress_of(len(previews) > 1),
            wait=self.wait,
            break_stale=frozenset(n.id for n in nodes)
            if self.args.break_stale_lock
            else frozenset(),
        )
        return self.finish(done, site)


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
