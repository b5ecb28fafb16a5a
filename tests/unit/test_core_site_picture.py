"""A site picture's facts and the journal events between two pictures (core/site_picture.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from resil_tui.core.journal_event import EventKind, JournalEvent
from resil_tui.core.node_status import NodeSnapshot, Reachability, ReachState, SiteSnapshot
from resil_tui.core.site_picture import (
    NODE_RULES,
    NodeRule,
    SitePicture,
    observe,
    picture_from_events,
    site_events,
    xuc_readiness,
)
from resil_tui.core.xuc_readiness import XucState
from tests.unit.test_core_cluster import (
    NOW,
    XS,
    cc,
    edge,
    master_active,
    ready_cc,
    run,
    site,
    slave_standby,
)

M, S = "s.xivo.master", "s.xivo.slave"


def picture(snapshot: SiteSnapshot) -> SitePicture:
    return observe("s", snapshot.nodes.values(), run(snapshot))


def down(snap: NodeSnapshot, state: ReachState = ReachState.REFUSED) -> NodeSnapshot:
    # As the collector keeps it: the last data, a new reachability and poll time.
    return replace(
        snap,
        reachability=Reachability(state, "connection refused by 127.0.0.1:2201", NOW),
        polled_at=NOW - 1,
        latency_seconds=None,
    )


def later(snap: NodeSnapshot, dt: float = 10.0) -> NodeSnapshot:
    assert snap.polled_at is not None
    return replace(snap, polled_at=snap.polled_at + dt, last_success_at=snap.polled_at + dt)


def changes(events: list[JournalEvent]) -> set[tuple[str | None, str, str | None, str]]:
    return {(e.node, e.kind.value, e.before, e.after) for e in events}


def test_a_healthy_site_is_seen_once_for_each_fact() -> None:
    ccs = [ready_cc(n, XucState.READY) for n in ("s.cc.master", "s.cc.slave")]
    first = site_events(None, picture(site(*ccs)))
    seen = changes(first)
    assert (M, "reachability", None, "reachable") in seen
    assert (M, "telephony", None, "active") in seen and (S, "telephony", None, "standby") in seen
    assert (M, "ha_role", None, "master") in seen and (S, "ha_role", None, "slave") in seen
    assert ("s.cc.slave", "xuc", None, "ready") in seen
    assert ("s.edge", "edge_side", None, "master") in seen
    assert (M, "sync", None, "success") in seen  # sync is the HA master's
    assert (S, "sync", None, "success") not in seen
    assert (None, "verdict", None, "normal") in seen
    assert all(e.id for e in first) and len({e.id for e in first}) == len(first)
    # The same picture again is no change at all.
    assert site_events(picture(site()), picture(site())) == []


def test_master_powered_off_the_slave_takes_over() -> None:
    before = picture(site())
    off = picture(site(down(master_active())))
    events = site_events(before, off)
    assert changes(events) == {
        (M, "reachability", "reachable", "unreachable"),
        (None, "verdict", "normal", "unknown"),
    }
    reach = next(e for e in events if e.kind is EventKind.REACHABILITY)
    assert reach.evidence == "refused: connection refused by 127.0.0.1:2201"
    # The master's telephony, HA role and sync are unknown while it is down: no change.
    assert events[-1].kind is EventKind.VERDICT  # the site after its nodes

    took_over = picture(
        site(
            down(master_active()),
            later(slave_standby(asterisk="running", disabled=False), 20),
        )
    )
    events = site_events(off, took_over)
    assert (S, "telephony", "standby", "active") in changes(events)
    assert (None, "verdict", "unknown", "failed_over") in changes(events)


def test_unknown_never_overwrites_a_value_and_the_journal_remembers_it() -> None:
    before = site_events(None, picture(site()))
    # The slave does not answer one poll, and starts telephony meanwhile.
    gap = picture(site(down(slave_standby())))
    back = picture(site(later(slave_standby(asterisk="running", disabled=False), 30)))
    assert (S, "telephony", None, "active") in changes(site_events(gap, back))  # gap: no value
    # The journal's picture still knows "standby": the change is recorded as one.
    journal = picture_from_events("s", before + site_events(picture(site()), gap))
    assert journal.value(S, EventKind.TELEPHONY) == "standby"
    assert journal.value(S, EventKind.REACHABILITY) == "unreachable"
    assert (S, "telephony", "standby", "active") in changes(site_events(journal, back))


def test_an_older_observation_is_not_a_change() -> None:
    journal = picture_from_events("s", site_events(None, picture(site(later(master_active(), 60)))))
    # Another process polled earlier and saw the master down: the journal knows newer.
    stale = picture(site(down(master_active())))
    assert not any(
        e.node == M and e.kind is EventKind.REACHABILITY for e in site_events(journal, stale)
    )


def test_a_rule_that_cannot_tell_gives_no_fact_and_no_event() -> None:
    # A fact the snapshot does not carry yet (phone counts, say) is one more rule; until
    # then it reads nothing, and nothing is recorded.
    def phones(snap: NodeSnapshot) -> tuple[str, str] | None:
        return None

    extra = NodeRule(EventKind.TELEPHONY, frozenset({"xivo"}), phones)
    only = observe("s", site().nodes.values(), None, rules=[extra])
    assert only.facts == {}
    with_all = observe("s", site().nodes.values(), None, rules=[*NODE_RULES, extra])
    assert with_all.value(M, EventKind.TELEPHONY) == "active"


@pytest.mark.parametrize("state", list(XucState))
def test_xuc_readiness_is_the_current_runs(state: XucState) -> None:
    snap = ready_cc("s.cc.slave", state)
    got = xuc_readiness(snap.cc)
    # Unknown is no fact: it never overwrites what the journal knows.
    assert got == (None if state is XucState.UNKNOWN else (state.value, "test"))


def test_xuc_readiness_is_not_the_container_alone() -> None:
    # Up for hours without a readiness judgement (nothing read): no fact, not "ready".
    assert xuc_readiness(cc("s.cc.slave").cc) is None
    assert xuc_readiness(None) is None


def test_the_edge_switch_and_remote_text_in_evidence() -> None:
    before = picture(site())
    switched = picture(site(later(edge(XS, "10.0.1.2"), 40)))
    assert ("s.edge", "edge_side", "master", "slave") in changes(site_events(before, switched))
    hostile = down(master_active())
    hostile = replace(
        hostile, reachability=Reachability(ReachState.ERROR, "evil\x1b[31m\nsecond line", NOW)
    )
    events = site_events(before, picture(site(hostile)))
    reach = next(e for e in events if e.kind is EventKind.REACHABILITY)
    assert "\n" not in reach.evidence and "\x1b" not in reach.evidence
