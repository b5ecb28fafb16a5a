"""`resil-tui plan failover|failback`: the runbook of the procedure with the hosts filled in."""

from __future__ import annotations

import argparse
import json

from resil_tui.cli.common import EXIT_OK, CliError
from resil_tui.cli.context import Context
from resil_tui.core.records import record


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("direction", choices=("failover", "failback"))
    p.add_argument("--site", metavar="NAME", help="the site (default: the first)")
    p.add_argument("--only", metavar="PARTS", help="comma-separated: xivo,cc,xds,edge")
    p.add_argument("--json", action="store_true", help="the steps as JSON instead")


@record
class PlanArgs:
    direction: str
    site: str | None = None
    only: str | None = None
    json: bool = False

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace) -> PlanArgs:
        return cls(direction=ns.direction, site=ns.site, only=ns.only, json=bool(ns.json))


def run(ctx: Context, args: PlanArgs) -> int:
    from resil_tui.core.runbook import Direction, build_runbook, parse_parts
    from resil_tui.core.runbook_markdown import render_markdown

    site = ctx.inventory.site(args.site)
    try:
        only = parse_parts(args.only) if args.only else None
    except ValueError as exc:
        raise CliError(str(exc)) from None
    runbook = build_runbook(site, Direction(args.direction), only)
    if args.json:
        ctx.io.say(json.dumps(runbook.to_dict(), indent=2))
    else:
        ctx.io.say(render_markdown(runbook))
    return EXIT_OK


async def main(ctx: Context, ns: argparse.Namespace) -> int:
    # Nothing is sent to a node: a plan is made from the inventory alone.
    return run(ctx, PlanArgs.from_namespace(ns))
