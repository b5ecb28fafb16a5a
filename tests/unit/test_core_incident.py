"""The incident figures of a wizard record, from the journal (core/incident.py)."""

from __future__ import annotations

import dataclasses
from ipaddress import IPv4Address

from resil_tui.core.cluster import Topology
from resil_tui.core.incident import incident_figures, incident_section
from resil_tui.core.journal_event import EventKind, JournalEvent
from resil_tui.core.wizard_report import render_report
from resil_tui.core.wizard_run import RunStatus, StepRecord, StepState, WizardRun

T0 = 1_795_600_000.0  # the master goes down
M, S, CCS, CCM, EDGE = "d.xivo.master", "d.xivo.slave", "d.cc.slave", "d.cc.master", "d.edge"
TOPO = Topology("d", M, S, IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2"), CCM, CCS, (EDGE,), ())


def ev(
    dt: float, node: str | None, kind: EventKind, before: str | None, after: str, **kw: str
) -> JournalEvent:
    return JournalEvent(T0 + dt, "d", node, kind, before, after, kw.get("evidence", "")).with_id()


def steady() -> list[JournalEvent]:
    return [
        ev(-3600, M, EventKind.REACHABILITY, None, "reachable"),
        ev(-3600, M, EventKind.TELEPHONY, None, "active"),
        ev(-3600, S, EventKind.TELEPHONY, None, "standby"),
        ev(-3600, EDGE, EventKind.EDGE_SIDE, None, "master"),
        ev(-3600, CCS, EventKind.XUC, None, "ready"),
        ev(-3600, None, EventKind.VERDICT, None, "normal"),
        ev(-600, CCM, EventKind.XUC, "ready", "down"),  # not a sign: the CC, before it all
        ev(-590, CCM, EventKind.XUC, "down", "ready"),
    ]


def failover() -> list[JournalEvent]:
    return [
        *steady(),
        ev(0, M, EventKind.REACHABILITY, "reachable", "unreachable", evidence="refused: boom"),
        ev(0.2, None, EventKind.VERDICT, "normal", "unknown"),
        ev(45, S, EventKind.TELEPHONY, "standby", "active"),
        ev(45.1, None, EventKind.VERDICT, "unknown", "failed_over"),
        JournalEvent(
            T0 + 80,
            "d",
            CCS,
            EventKind.ACTION,
            None,
            "exit 0",
            "xivocc-dcomp restart xuc",
            "alice",
            "op1",
        ).with_id(),
        ev(125, EDGE, EventKind.EDGE_SIDE, "master", "slave"),
    ]


def a_run(
    direction: str = "failover", started: float = 60.0, xuc_done: float | None = 95.0
) -> WizardRun:
    steps = [
        StepRecord(
            "cc.restart_xuc",
            "action",
            "Restart xuc",
            node_id=CCS,
            state=StepState.DONE,
            finished_at=T0 + 80,
        ),
        StepRecord(
            "cc.wait_xuc",
            "wait",
            "Wait for xuc",
            node_id=CCS,
            state=StepState.DONE if xuc_done is not None else StepState.SKIPPED,
            finished_at=T0 + xuc_done if xuc_done is not None else T0 + 90,
        ),
    ]
    return WizardRun(
        run_id="r1",
        site="d",
        direction=direction,
        user="alice",
        started_at=T0 + started,
        site_key="k",
        status=RunStatus.FINISHED,
        finished_at=T0 + 140,
        steps=steps,
    )


def test_failover_figures_start_at_the_first_sign() -> None:
    f = incident_figures(a_run(), failover(), TOPO)
    assert f.first_sign is not None and f.first_sign.node == M and f.start == T0
    assert [(round(o.start - T0, 1), round((o.end or 0) - T0, 1)) for o in f.outages] == [
        (0.2, 45.1)
    ]
    assert round(f.unavailable_seconds, 1) == 44.9
    assert f.target_active.at == T0 + 45.1  # verdict failed_over: the slave serves alone
    assert f.xuc_served is not None and f.xuc_served.at == T0 + 95  # the wizard's own wait
    assert f.edge_followed is not None and f.edge_followed.at == T0 + 125
    assert f.recovered.at == T0 + 125
    text = "\n".join(incident_section(f))
    assert (
        "First sign: 2026-11-25" in text
        and "d.xivo.master reachability: reachable → unreachable" in text
    )
    assert "Outage (telephony unavailable: no XiVO seen serving): 44.9 s" in text
    # The whole of it with the master unreachable and the slave not yet serving: the
    # verdict unknown, said as such (not seen down either).
    assert round(f.unknown_seconds, 1) == 44.9
    assert "of which 44.9 s with the verdict unknown" in text
    assert "Time to failover (the slave serves telephony): 45.1 s" in text
    assert "Time until xuc served again on the slave CC: 1 min 35 s" in text
    assert "Time until the Edge followed (to the slave): 2 min 05 s" in text
    assert "Time to recover (telephony, xuc, the Edge on the slave): 2 min 05 s" in text
    assert "The wizard started 1 min 00 s after the first sign." in text
    # The record carries the section, with its journal lines.
    report = render_report(a_run(), incident=f)
    assert "## Incident figures (from the journal)" in report
    assert "alice" in report and "xivocc-dcomp restart xuc" in report


def test_xuc_from_the_journal_when_the_wait_was_skipped_and_what_was_not_seen() -> None:
    events = [
        *failover(),
        ev(100, CCS, EventKind.XUC, "ready", "starting"),
        ev(110, CCS, EventKind.XUC, "starting", "ready"),
    ]
    f = incident_figures(a_run(xuc_done=None), events, TOPO)
    assert f.xuc_served is not None and f.xuc_served.at == T0 + 110  # after the restart (80)
    no_edge = [e for e in failover() if e.kind is not EventKind.EDGE_SIDE or e.time < T0]
    f = incident_figures(a_run(), no_edge, TOPO)
    assert f.edge_followed is not None and f.edge_followed.at is None
    assert f.recovered.at is None
    assert "Time until the Edge followed (to the slave): not observed" in "\n".join(
        incident_section(f)
    )


def test_xuc_served_is_when_it_was_seen_ready_first_not_when_the_wait_ran() -> None:
    # The wait ran late (at +95): a poll saw the restarted xuc ready at +85 already.
    events = [*failover(), ev(85, CCS, EventKind.XUC, "down", "ready")]
    f = incident_figures(a_run(), events, TOPO)
    assert f.xuc_served is not None and f.xuc_served.at == T0 + 85
    assert "status poll" in f.xuc_served.how
    alone = incident_figures(a_run(), failover(), TOPO).xuc_served
    assert alone is not None and alone.at == T0 + 95 and "ready by then" in alone.how


def test_failback_figures() -> None:
    events = [
        *failover(),
        ev(3000, M, EventKind.REACHABILITY, "unreachable", "reachable"),
        ev(3000.1, M, EventKind.TELEPHONY, "active", "active"),
        ev(3000.2, None, EventKind.VERDICT, "failed_over", "split_brain"),
        ev(3010, S, EventKind.TELEPHONY, "active", "standby"),
        ev(3010.1, None, EventKind.VERDICT, "split_brain", "normal"),
        ev(3100, EDGE, EventKind.EDGE_SIDE, "slave", "master"),
    ]
    run = a_run("failback", started=3050, xuc_done=None)
    run.steps[0].node_id = run.steps[1].node_id = CCM
    run.finished_at = T0 + 3200
    f = incident_figures(run, events, TOPO)
    assert f.first_sign is not None and f.first_sign.time == T0 + 3000  # the master is back
    assert f.outages == () and f.unknown_seconds == 0  # split brain is no outage
    assert f.target_active.at == T0 + 3010.1  # the master alone: verdict normal
    assert f.edge_followed is not None and f.edge_followed.at == T0 + 3100
    text = "\n".join(incident_section(f))
    assert "Time to failback (the master serves telephony alone): 10.1 s" in text
    assert "Outage (telephony unavailable: no XiVO seen serving): none seen" in text


def test_an_empty_journal_says_so_and_a_late_journal_warns() -> None:
    assert "no entry for this site" in "\n".join(
        incident_section(incident_figures(a_run(), [], TOPO))
    )
    late = [
        ev(10, M, EventKind.REACHABILITY, None, "unreachable"),
        ev(10, None, EventKind.VERDICT, None, "unknown"),
    ]
    text = "\n".join(incident_section(incident_figures(a_run(), late, TOPO)))
    assert "The journal begins during the incident" in text
    assert incident_section(None) == []


def test_a_three_server_edge_followed_when_its_last_node_did() -> None:
    web, sip = "d.edge.web", "d.edge.sip"
    topo = dataclasses.replace(TOPO, edge_ids=(web, sip))
    events = [e for e in failover() if e.node != EDGE]
    events += [
        ev(-3600, web, EventKind.EDGE_SIDE, None, "master"),
        ev(-3600, sip, EventKind.EDGE_SIDE, None, "master"),
        ev(110, web, EventKind.EDGE_SIDE, "master", "slave"),
    ]
    f = incident_figures(a_run(), sorted(events, key=lambda e: e.time), topo)
    assert f.edge_followed is not None and f.edge_followed.at is None
    assert f.edge_followed.how == f"{sip} not seen pointing to the slave"
    events.append(ev(130, sip, EventKind.EDGE_SIDE, "master", "slave"))
    f = incident_figures(a_run(), sorted(events, key=lambda e: e.time), topo)
    assert f.edge_followed is not None and f.edge_followed.at == T0 + 130
    assert f"{web} -> slave" in f.edge_followed.how and f"{sip} -> slave" in f.edge_followed.how


def test_time_until_the_phones_registered_on_the_target() -> None:
    # The journal only: the phones were all on the master, then all on the slave.
    events = [
        *failover(),
        ev(-3600, None, EventKind.PHONES, None, "master", evidence="phones: 40 on master"),
        ev(70, None, EventKind.PHONES, "master", "slave", evidence="phones: 38 on slave"),
    ]
    f = incident_figures(a_run(), events, TOPO)
    assert f.phones_moved is not None and f.phones_moved.at == T0 + 70
    text = "\n".join(incident_section(f))
    assert "Time until the phones registered on the slave: 1 min 10 s" in text
    assert "the journal: phones: 38 on slave" in text
    # The run's own phones wait is the better witness.
    run = a_run()
    run.steps.append(
        StepRecord(
            "xivo.wait_phones_registered",
            "wait",
            "Wait until the phones are registered",
            node_id=S,
            state=StepState.DONE,
            finished_at=T0 + 65,
            message="40 phones registered on d.xivo.slave",
        )
    )
    f = incident_figures(run, events, TOPO)
    assert f.phones_moved is not None and f.phones_moved.at == T0 + 65
    # A journal that never counted phones (an older one): no line at all.
    assert incident_figures(a_run(), failover(), TOPO).phones_moved is None
    # Counted, but never all on the target: said.
    stuck = [*failover(), events[-2]]
    f = incident_figures(a_run(), stuck, TOPO)
    assert f.phones_moved is not None and f.phones_moved.at is None
