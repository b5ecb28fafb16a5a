"""`resil-tui status`: the read-only status for people (table) and scripts (--json).

Exit codes follow the monitoring-plugin convention (0 OK, 1 WARNING, 2 CRITICAL,
3 UNKNOWN) so the command can be dropped into Nagios/Icinga/Zabbix as is.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from resil_tui import __version__
from resil_tui.cli.common import TextSink, checked, one_line
from resil_tui.cli.context import Context
from resil_tui.core import validators
from resil_tui.core.freshness import stamp
from resil_tui.core.records import record
from resil_tui.core.roles import CLASSIC_WORDS, RoleWords, role_words
from resil_tui.inventory_model import Site
from resil_tui.lazy import lazy_module

if TYPE_CHECKING:
    from resil_tui.core import cluster
    from resil_tui.core.node_status import NodeSnapshot
    from resil_tui.ops import status as ops_status
    from resil_tui.ops.status_events import SiteReport
else:
    cluster = lazy_module("resil_tui.core.cluster")
    ops_status = lazy_module("resil_tui.ops.status")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output (stable schema)")
    p.add_argument("--site", metavar="NAME", help="only this site")
    p.add_argument(
        "--watch",
        metavar="SECONDS",
        type=checked(validators.watch_seconds),
        help="repeat every SECONDS (at least 1)",
    )


@record
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


def role_labels(site: Site) -> dict[str, Any]:
    """The words a site's roles are shown with (keys stay master/slave in the JSON): the
    side words, and each node's role as the table shows it."""
    words = role_words(site.resilience)
    return {
        "resilience": site.resilience.value,
        "sides": {"master": words.master, "slave": words.slave},
        "nodes": {
            n.id: f"{n.kind.value} {words.of(n.side)}" if n.side else n.kind.value
            for n in site.nodes()
        },
    }


def report_json(
    reports: list[SiteReport], generated_at: float, sites: dict[str, Site] | None = None
) -> dict[str, Any]:
    code = ops_status.overall_exit_code(reports)
    sites = sites or {}
    return {
        "schema_version": cluster.SCHEMA_VERSION,
        "tool": f"resil-tui {__version__}",
        "generated_at": datetime.fromtimestamp(generated_at, UTC).isoformat(),
        "exit_code": code,
        "severity": ["ok", "warning", "critical", "unknown"][code],
        "sites": [
            {**r.to_dict(), **({"labels": role_labels(sites[r.site])} if r.site in sites else {})}
            for r in reports
        ],
    }


def _node_line(
    snap: NodeSnapshot, now: float, words: RoleWords = CLASSIC_WORDS
) -> tuple[str, str, str]:
    """A node's row: its state, what it says, its latency. What it says quotes the node
    (a DISCONNECT reason, ha.conf's peer, xuc's state): render_table prints it on one line."""
    reach = snap.reachability
    if not reach.ok:
        since = f" (since {stamp(reach.since, now)})" if reach.since is not None else ""
        return ("✖ down", f"{reach.state.value}: {reach.message}{since}", "")
    latency = f"{snap.latency_seconds * 1000:.0f} ms" if snap.latency_seconds is not None else ""
    if snap.xivo is not None:
        x = snap.xivo
        mode = words.mode(x.ha.mode.value) if x.ha else "?"
        peer = f" → {x.ha.peer}" if x.ha and x.ha.peer else ""
        role = {"active": "ACTIVE", "standby": "standby", "stopped": "stopped"}.get(
            cluster.telephony_role(x).value, "?"
        )
        counts = x.phone_counts()
        phones = f"phones: {counts.phones_text()} · calls: {counts.calls_text()}"
        return ("✔ up", f"HA {mode}{peer} · telephony {role} · {phones}", latency)
    if snap.cc is not None:
        if snap.cc.xuc is not None:
            return ("✔ up", f"xuc {snap.cc.xuc.describe(now)}", latency)
        state = snap.cc.xuc_state()
        return ("✔ up", f"xuc {state.value if state else 'not found'}", latency)
    if snap.edge is not None:
        side = snap.edge.targets.overall.value if snap.edge.targets else "unknown"
        return ("✔ up", f"Edge → {words.of(side)}", latency)
    if snap.mds is not None and snap.mds.services is not None:
        ok = snap.mds.services.all_running
        return ("✔ up", "services running" if ok else "services not all running", latency)
    return ("✔ up", "", latency)


def render_table(
    reports: list[SiteReport], out: TextSink, sites: dict[str, Site] | None = None
) -> None:
    """The table, one line per write: a node row, a verdict's title or explanation can
    hold what a node said (a DISCONNECT reason with newlines), shown on its own line only
    (`one_line`), never as forged rows or verdicts."""

    def say(text: str) -> None:
        out.write(one_line(text) + "\n")

    for report in reports:
        site = (sites or {}).get(report.site)
        words = role_words(site.resilience) if site is not None else CLASSIC_WORDS
        v = report.verdicts
        head = v.headline
        # Every figure below is as old as this poll (a node down keeps its since).
        as_of = f"as of {stamp(report.snapshot.polled_at, v.evaluated_at)}"
        say(f"Site {report.site}: {SYMBOL[v.severity.value]} {head.title}  ({as_of})")
        say(f"  {head.explanation}")
        if head is not v.primary:
            say(f"  Telephony: {v.primary.title}")
        now = report.verdicts.evaluated_at
        say(f"  {v.phones_text} (as of {stamp(now, now)})")
        rows = [(nid, *_node_line(s, now, words)) for nid, s in report.snapshot.nodes.items()]
        width = max((len(r[0]) for r in rows), default=10)
        for nid, state, what, latency in rows:
            say(f"  {nid:<{width}}  {state:<7} {what}  {latency}".rstrip())
        for f in v.ordered():
            if f is not head:
                say(f"  {SYMBOL[f.severity.value].split()[0]} {f.title}: {f.explanation}")
            if f.remedy is not None:
                say(
                    f"    → the {f.remedy.value} procedure: resil-tui plan {f.remedy.value} "
                    f"--site {report.site}, or the console's Wizard pane"
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
                by_name = {s.name: s for s in sites}
                out.write(json.dumps(report_json(reports, started, by_name), indent=2) + "\n")
            else:
                render_table(reports, out, {s.name: s for s in sites})
            out.flush()
            code = ops_status.overall_exit_code(reports)
            if not args.watch:
                return code
            # The next poll starts a full interval after this one finished: slow polls never stack.
            import asyncio

            await asyncio.sleep(args.watch)


async def main(ctx: Context, ns: argparse.Namespace) -> int:
    return await run(ctx, StatusArgs.from_namespace(ns))
