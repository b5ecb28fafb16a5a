"""`resil-tui status`: the read-only status for people (table) and scripts (--json).

Exit codes follow the monitoring-plugin convention (0 OK, 1 WARNING, 2 CRITICAL,
3 UNKNOWN) so the command can be dropped into Nagios/Icinga/Zabbix as is.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from resil_tui import __version__
from resil_tui.cli.common import Context, SubParsers, TextSink, checked, subparser
from resil_tui.core import validators
from resil_tui.lazy import lazy_module

if TYPE_CHECKING:
    from resil_tui.core import cluster
    from resil_tui.core.node_status import NodeSnapshot
    from resil_tui.ops import status as ops_status
    from resil_tui.ops.status import SiteReport
else:
    cluster = lazy_module("resil_tui.core.cluster")
    ops_status = lazy_module("resil_tui.ops.status")

NAME = "status"
HELP = "print the status of every node and the cluster verdicts"


def add_parser(sub: SubParsers[argparse.ArgumentParser]) -> None:
    p = subparser(sub, NAME, HELP)
    p.add_argument("--json", action="store_true", help="machine-readable output (stable schema)")
    p.add_argument("--site", metavar="NAME", help="only this site")
    p.add_argument(
        "--watch",
        metavar="SECONDS",
        type=checked(validators.watch_seconds),
        help="repeat every SECONDS (at least 1)",
    )


@dataclass(frozen=True)
class StatusArgs:
    json: bool = False
    site: str | None = None
    watch: float | None = None

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace) -> StatusArgs:
        return cls(json=bool(ns.json), site=ns.site, watch=ns.watch)


SYMBOL = {  # by Severity value
    "ok": "✔ OK",
    "warning": "▲ WARNING",
    "critical": "✖ CRITICAL",
    "unknown": "? UNKNOWN",
}


def report_json(reports: list[SiteReport], generated_at: float) -> dict[str, Any]:
    code = ops_status.overall_exit_code(reports)
    return {
        "schema_version": cluster.SCHEMA_VERSION,
        "tool": f"resil-tui {__version__}",
        "generated_at": datetime.fromtimestamp(generated_at, UTC).isoformat(),
        "exit_code": code,
        "severity": ["ok", "warning", "critical", "unknown"][code],
        "sites": [r.to_dict() for r in reports],
    }


def _node_line(snap: NodeSnapshot, now: float) -> tuple[str, str, str]:
    reach = snap.reachability
    if not reach.ok:
        return ("✖ down", f"{reach.state.value}: {reach.message}", "")
    latency = f"{snap.latency_seconds * 1000:.0f} ms" if snap.latency_seconds is not None else ""
    if snap.xivo is not None:
        x = snap.xivo
        mode = x.ha.mode.value if x.ha else "?"
        peer = f" → {x.ha.peer}" if x.ha and x.ha.peer else ""
        role = {"active": "ACTIVE", "standby": "standby", "stopped": "stopped"}.get(
            cluster.telephony_role(x).value, "?"
        )
        from resil_tui.core.sanitize import clean

        counts = x.phone_counts()
        phones = f"phones: {counts.phones_text()} · calls: {counts.calls_text()}"
        return ("✔ up", f"HA {mode}{peer} · telephony {role} · {clean(phones)}", latency)
    if snap.cc is not None:
        if snap.cc.xuc is not None:
            return ("✔ up", f"xuc {snap.cc.xuc.describe(now)}", latency)
        state = snap.cc.xuc_state()
        return ("✔ up", f"xuc {state.value if state else 'not found'}", latency)
    if snap.edge is not None:
        side = snap.edge.targets.overall.value if snap.edge.targets else "unknown"
        return ("✔ up", f"Edge → {side}", latency)
    if snap.mds is not None and snap.mds.services is not None:
        ok = snap.mds.services.all_running
        return ("✔ up", "services running" if ok else "services not all running", latency)
    return ("✔ up", "", latency)


def render_table(reports: list[SiteReport], out: TextSink) -> None:
    for report in reports:
        v = report.verdicts
        head = v.headline
        out.write(f"Site {report.site}: {SYMBOL[v.severity.value]} {head.title}\n")
        out.write(f"  {head.explanation}\n")
        if head is not v.primary:
            out.write(f"  Telephony: {v.primary.title}\n")
        now = report.verdicts.evaluated_at
        from resil_tui.core.freshness import clock

        out.write(f"  {v.phones_text} (as of {clock(now)})\n")
        rows = [(nid, *_node_line(s, now)) for nid, s in report.snapshot.nodes.items()]
        width = max((len(r[0]) for r in rows), default=10)
        for nid, state, what, latency in rows:
            out.write(f"  {nid:<{width}}  {state:<7} {what}  {latency}".rstrip() + "\n")
        for f in v.ordered():
            if f is not head:
                out.write(f"  {SYMBOL[f.severity.value].split()[0]} {f.title}: {f.explanation}\n")
            if f.remedy is not None:
                out.write(
                    f"    → the {f.remedy.value} procedure: resil-tui plan {f.remedy.value} "
                    f"--site {report.site}, or the console's Wizard pane\n"
                )
        out.write("\n")


async def run(ctx: Context, args: StatusArgs) -> int:
    inventory = ctx.inventory
    sites = [inventory.site(args.site)] if args.site else list(inventory.sites.values())
    out = ctx.io.out
    async with ctx.session() as session:
        while True:
            started = time.time()
            reports = await session.collector.poll(sites)
            if args.json:
                out.write(json.dumps(report_json(reports, started), indent=2) + "\n")
            else:
                render_table(reports, out)
            out.flush()
            code = ops_status.overall_exit_code(reports)
            if not args.watch:
                return code
            # The next poll starts a full interval after this one finished: slow polls never stack.
            import asyncio

            await asyncio.sleep(args.watch)


async def main(ctx: Context, ns: argparse.Namespace) -> int:
    return await run(ctx, StatusArgs.from_namespace(ns))
