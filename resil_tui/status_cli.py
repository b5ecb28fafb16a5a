"""`resil-tui status`: the read-only status for people (table) and scripts (--json).

Exit codes follow the monitoring-plugin convention (0 OK, 1 WARNING, 2 CRITICAL,
3 UNKNOWN) so the command can be dropped into Nagios/Icinga/Zabbix as is.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import UTC, datetime
from typing import Any, TextIO

from resil_tui import __version__
from resil_tui.core.cluster import SCHEMA_VERSION, Severity
from resil_tui.core.node_status import NodeSnapshot
from resil_tui.inventory_model import Inventory
from resil_tui.ops.session import open_pool
from resil_tui.ops.status import SiteReport, StatusCollector, overall_exit_code

SYMBOL = {
    Severity.OK: "✔ OK",
    Severity.WARNING: "▲ WARNING",
    Severity.CRITICAL: "✖ CRITICAL",
    Severity.UNKNOWN: "? UNKNOWN",
}


def report_json(reports: list[SiteReport], generated_at: float) -> dict[str, Any]:
    code = overall_exit_code(reports)
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": f"resil-tui {__version__}",
        "generated_at": datetime.fromtimestamp(generated_at, UTC).isoformat(),
        "exit_code": code,
        "severity": ["ok", "warning", "critical", "unknown"][code],
        "sites": [r.to_dict() for r in reports],
    }


def _node_line(snap: NodeSnapshot) -> tuple[str, str, str]:
    reach = snap.reachability
    if not reach.ok:
        return ("✖ down", f"{reach.state.value}: {reach.message}", "")
    latency = f"{snap.latency_seconds * 1000:.0f} ms" if snap.latency_seconds is not None else ""
    if snap.xivo is not None:
        x = snap.xivo
        mode = x.ha.mode.value if x.ha else "?"
        peer = f" → {x.ha.peer}" if x.ha and x.ha.peer else ""
        tel = x.services.telephony_running if x.services else None
        role = {True: "ACTIVE", False: "standby" if x.disabled_flag else "stopped", None: "?"}[tel]
        return ("✔ up", f"HA {mode}{peer} · telephony {role}", latency)
    if snap.cc is not None:
        state = snap.cc.xuc_state()
        return ("✔ up", f"xuc {state.value if state else 'not found'}", latency)
    if snap.edge is not None:
        side = snap.edge.targets.overall.value if snap.edge.targets else "unknown"
        return ("✔ up", f"Edge → {side}", latency)
    if snap.mds is not None and snap.mds.services is not None:
        ok = snap.mds.services.all_running
        return ("✔ up", "services running" if ok else "services not all running", latency)
    return ("✔ up", "", latency)


def render_table(reports: list[SiteReport], out: TextIO) -> None:
    for report in reports:
        v = report.verdicts
        out.write(f"Site {report.site}: {SYMBOL[v.severity]} {v.primary.title}\n")
        out.write(f"  {v.primary.explanation}\n")
        rows = [(nid, *_node_line(s)) for nid, s in report.snapshot.nodes.items()]
        width = max((len(r[0]) for r in rows), default=10)
        for nid, state, what, latency in rows:
            out.write(f"  {nid:<{width}}  {state:<7} {what}  {latency}".rstrip() + "\n")
        others = [f for f in v.findings[1:] if f.severity is not Severity.OK]
        for f in others:
            out.write(f"  {SYMBOL[f.severity].split()[0]} {f.title}: {f.explanation}\n")
        out.write("\n")


async def run_status(
    inventory: Inventory, args: argparse.Namespace, out: TextIO = sys.stdout
) -> int:
    sites = [inventory.site(args.site)] if args.site else list(inventory.sites.values())
    async with open_pool(inventory) as pool:
        collector = StatusCollector(inventory, pool)
        while True:
            started = time.time()
            reports = await collector.poll(sites)
            if args.json:
                out.write(json.dumps(report_json(reports, started), indent=2) + "\n")
            else:
                render_table(reports, out)
            out.flush()
            code = overall_exit_code(reports)
            if not args.watch:
                return code
            # The next poll starts a full interval after this one finished: slow polls never stack.
            await asyncio.sleep(args.watch)
