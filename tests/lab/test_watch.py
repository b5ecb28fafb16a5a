"""An incident under the watcher, at the lab's fast timings: the master powered off, the
slave takes over, the failover wizard (xuc restart, Edge switch), the master powered on,
the slave stands down, the failback wizard. The journal's entries and the records'
figures are checked against each other and against what the lab did."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from labkit import eventually
from prometheus_client.parser import text_string_to_metric_families

from resil_tui.core.incident import span
from resil_tui.core.journal_event import EventKind, JournalEvent
from resil_tui.core.runbook import Direction
from resil_tui.inventory_model import Inventory
from resil_tui.lab.server import Lab
from resil_tui.ops.metrics_http import MetricsServer, listen_address
from resil_tui.ops.session import Session, open_session
from resil_tui.ops.watch import Watcher
from resil_tui.ops.wizard import WizardEngine
from tests.lab.test_wizard_ops import FAST, SHORT, drive

M, S, CCS, CCM, EDGE = (
    "demo.xivo.master",
    "demo.xivo.slave",
    "demo.cc.slave",
    "demo.cc.master",
    "demo.edge",
)
pytestmark = pytest.mark.lab(ticker=True)


@pytest.fixture
async def watched(inventory: Inventory, tmp_path: Path) -> AsyncIterator[tuple[Session, list[str]]]:
    lines: list[str] = []
    async with open_session(inventory, audit_path=tmp_path / "audit.jsonl") as session:
        watcher = Watcher(session, list(inventory.sites.values()), interval=0.2, say=lines.append)
        stop = asyncio.Event()
        task = asyncio.create_task(watcher.run(stop))
        try:
            yield session, lines
        finally:
            stop.set()
            await task


def slave_check_settled(lab: Lab, interval: float) -> bool:
    """The slave's last check started at `interval` and has ended; the next is >= 5 s away."""
    state = lab.world.read_state(S)
    due = float(state.get("next_check_at", 0.0))
    ended = float(state.get("last_check", {}).get("t", 0.0))
    return ended >= due - interval and due > time.time() + 5.0


def verdict(session: Session) -> str | None:
    session.journal.refresh()
    entry = session.journal.latest("demo", None, EventKind.VERDICT)
    return entry.after if entry is not None else None


def changes(events: list[JournalEvent]) -> list[tuple[str | None, str, str | None, str]]:
    return [(e.node, e.kind.value, e.before, e.after) for e in events if e.kind.observed]


def first(
    events: list[JournalEvent], node: str | None, kind: EventKind, after: str, t: float
) -> JournalEvent:
    return next(
        e for e in events if e.node == node and e.kind is kind and e.after == after and e.time >= t
    )


async def wizard(session: Session, inventory: Inventory, direction: Direction) -> str:
    eng = WizardEngine.create(
        session.pool,
        inventory,
        "demo",
        direction,
        runbook_opts=SHORT,
        options=FAST,
        collector=session.collector,
        journal=session.journal,
    )
    assert await eng.run_guards()
    await drive(eng)
    assert eng.run.report_path is not None
    return Path(eng.run.report_path).read_text()


async def test_failover_and_failback_under_the_watcher(
    lab: Lab, inventory: Inventory, watched: tuple[Session, list[str]]
) -> None:
    session, lines = watched
    await eventually(lambda: verdict(session) == "normal", 15, "the first polls")
    # A slower cron than the fast lab's (a poll of a powered-off node waits for its
    # connect timeout, longer on a loaded machine): the slave takes over several polls
    # later, so the watcher sees the site without telephony first, as in a real incident.
    # Powered off only once a check started at the new interval has ended (it saw the
    # master) with the next one seconds away: a check due at the fast one, or one still
    # pinging, would take over within a poll of the power-off, before the watcher has seen
    # the master gone (seen on a slow machine, twice).
    lab.world.set_timing(lab.world.timing.with_(check_interval=8.0))
    await eventually(lambda: slave_check_settled(lab, 8.0), 15, "the slave's slower check")
    await lab.power_off(M)
    await eventually(lambda: verdict(session) == "failed_over", 30, "the slave to take over")
    failover_report = await wizard(session, inventory, Direction.FAILOVER)
    await lab.power_on(M)
    await eventually(lambda: verdict(session) == "normal", 30, "the slave to stand down")
    failback_report = await wizard(session, inventory, Direction.FAILBACK)

    events = session.journal.events(site="demo")
    seen = changes(events)
    expected = [
        (M, "reachability", "reachable", "unreachable"),
        (None, "verdict", "normal", "unknown"),
        (S, "telephony", "standby", "active"),
        (None, "verdict", "unknown", "failed_over"),
        (EDGE, "edge_side", "master", "slave"),
        (M, "reachability", "unreachable", "reachable"),
        (S, "telephony", "active", "standby"),
        (EDGE, "edge_side", "slave", "master"),
    ]
    missing = [change for change in expected if change not in seen]
    assert not missing, f"{missing} not in {seen}"
    at = [seen.index(change) for change in expected]  # each is there, once, in this order
    assert at == sorted(at), seen
    assert all(seen.count(change) == 1 for change in expected)
    # No fact recorded twice in a row: one entry per change.
    last: dict[tuple[str | None, str], str] = {}
    for node, kind, before, after in seen:
        assert last.get((node, kind), before) == before and last.get((node, kind)) != after
        last[(node, kind)] = after
    # The actions and runs are there, linked to the audit log.
    acts = [e for e in events if e.kind is EventKind.ACTION]
    assert any(e.node == CCS and "xivocc-dcomp restart xuc" in e.evidence for e in acts)
    assert any(e.node == CCM and "xivocc-dcomp restart xuc" in e.evidence for e in acts)
    assert all(e.op and e.user for e in acts)
    runs = [(e.after, e.op) for e in events if e.kind is EventKind.WIZARD]
    assert [a for a, _ in runs] == ["started", "finished", "started", "finished"]
    assert runs[0][1] == runs[1][1] != runs[2][1] == runs[3][1]
    # The watcher printed every entry as a line.
    assert any("demo.xivo.master reachability: reachable → unreachable" in line for line in lines)

    # The failover record: figures computed from these entries.
    off = first(events, M, EventKind.REACHABILITY, "unreachable", 0)
    down = first(events, None, EventKind.VERDICT, "unknown", off.time)
    served = first(events, None, EventKind.VERDICT, "failed_over", down.time)
    edge = first(events, EDGE, EventKind.EDGE_SIDE, "slave", off.time)
    assert "## Incident figures (from the journal)" in failover_report
    assert (
        "- First sign: " in failover_report
        and "demo.xivo.master reachability: reachable → unreachable" in failover_report
    )
    outage = span(served.time - down.time)
    assert f"- Outage (telephony unavailable: no XiVO seen serving): {outage} (" in failover_report
    assert (
        f"- Time to failover (the slave serves telephony): {span(served.time - off.time)} ("
        in failover_report
    )
    assert "- Time until xuc served again on the slave CC: " in failover_report
    assert "the wizard's xuc wait saw the readiness line" in failover_report
    assert (
        f"- Time until the Edge followed (to the slave): {span(edge.time - off.time)} ("
        in failover_report
    )
    assert "- Time to recover (telephony, xuc, the Edge on the slave): " in failover_report

    # The failback record starts when the master came back.
    back = first(events, M, EventKind.REACHABILITY, "reachable", edge.time)
    alone = first(events, None, EventKind.VERDICT, "normal", back.time)
    assert "demo.xivo.master reachability: unreachable → reachable" in failback_report
    assert (
        f"Time to failback (the master serves telephony alone): {span(alone.time - back.time)}"
        in failback_report
    )
    assert "- Time until the Edge followed (to the master): " in failback_report
    assert "not observed" not in failback_report.split("## Site verdict")[0]


async def http_get(port: int, request: bytes) -> tuple[str, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    data = await reader.read()
    writer.close()
    head, _, body = data.decode().partition("\r\n\r\n")
    return head, body


async def test_the_watchers_metrics_endpoint(
    lab: Lab, inventory: Inventory, tmp_path: Path
) -> None:
    async with open_session(inventory, audit_path=tmp_path / "audit.jsonl") as session:
        watcher = Watcher(session, list(inventory.sites.values()), interval=0.2)
        stop = asyncio.Event()
        server = MetricsServer(listen_address("127.0.0.1:0"), watcher.metrics)
        async with server.serving():
            task = asyncio.create_task(watcher.run(stop))
            try:
                await eventually(lambda: watcher.cycles["demo"].polls >= 2, 15, "two polls")
                head, body = await http_get(
                    server.port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
                )
                assert head.startswith("HTTP/1.1 200 OK") and "version=0.0.4" in head
                families = {f.name: f for f in text_string_to_metric_families(body)}
                polls = families["resil_site_polls"].samples[0]
                assert polls.labels == {"site": "demo"} and polls.value >= 2
                up = {s.labels["node"]: s.value for s in families["resil_node_up"].samples}
                assert len(up) == 7 and set(up.values()) == {1.0}
                assert families["resil_site_poll_duration_seconds"].samples[0].value > 0
                await lab.power_off(M)
                await eventually(lambda: down_in(watcher.metrics(), M), 15, "the master down")
                head, _ = await http_get(server.port, b"GET / HTTP/1.1\r\n\r\n")
                assert head.startswith("HTTP/1.1 404")
                head, _ = await http_get(server.port, b"POST /metrics HTTP/1.1\r\n\r\n")
                assert head.startswith("HTTP/1.1 405")
                head, body = await http_get(server.port, b"HEAD /metrics HTTP/1.1\r\n\r\n")
                assert head.startswith("HTTP/1.1 200") and body == ""
            finally:
                stop.set()
                await task


def down_in(text: str, node: str) -> bool:
    return f'resil_node_up{{site="demo",node="{node}",kind="xivo",side="master"}} 0' in text
