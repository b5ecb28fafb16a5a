"""Phones and calls: counts per node, where the phones are, since when, and the findings."""

from __future__ import annotations

from dataclasses import replace

import pytest

from resil_tui.core.asterisk import parse_channels_count, parse_pjsip_contacts, parse_sip_peers
from resil_tui.core.cluster import Severity, Verdict, evaluate, phone_placement
from resil_tui.core.node_status import NodeSnapshot, ReachState, SiteSnapshot
from resil_tui.core.site_picture import observe, site_events
from resil_tui.core.telephony import (
    CountState,
    PhoneHistory,
    PhoneMark,
    PhonePlacement,
    count_before_move,
    count_phones,
    track,
)
from resil_tui.inventory_model import PhonePolicy
from tests.unit.test_core_asterisk import CONTACTS, NOT_RUNNING, PEERS
from tests.unit.test_core_cluster import NOW, STALE, TOPO, master_active, site, slave_standby

CALLS = "5 active channels\n3 active calls\n120 calls processed\n"


def contacts_text(n: int, unavail: int = 0) -> str:
    rows = "".join(
        f"  Contact:  {1001 + i}/sip:{1001 + i}@10.60.1.{i + 1}:5060   0123456789 "
        f"{'Unavail' if i < unavail else 'Avail'}        12.000\n"
        for i in range(n)
    )
    header = "\n  Contact:  <Aor/ContactUri....> <Hash....> <Status> <RTT(ms)..>\n" + "=" * 90
    return f"{header}\n\n{rows}\nObjects found: {n}\n" if n else "No objects found.\n"


def with_phones(
    snap: NodeSnapshot, n: int | None, calls: int = 0, unavail: int = 0
) -> NodeSnapshot:
    """The node's snapshot with `asterisk -rx` answers: n phones (None: not running)."""
    assert snap.xivo is not None
    if n is None:
        contacts = parse_pjsip_contacts("", NOT_RUNNING, 1)
        channels = parse_channels_count("", NOT_RUNNING, 1)
    else:
        contacts = parse_pjsip_contacts(contacts_text(n, unavail))
        channels = parse_channels_count(f"{2 * calls} active channels\n{calls} active calls\n")
    return replace(snap, xivo=replace(snap.xivo, contacts=contacts, channels=channels))


# --- counts of one node ---------------------------------------------------------------------


def test_counts_from_pjsip_contacts_and_channels() -> None:
    counts = count_phones(parse_pjsip_contacts(CONTACTS), None, parse_channels_count(CALLS))
    assert (counts.state, counts.reachable, counts.total, counts.calls) == (
        CountState.COUNTED,
        1,
        4,
        3,
    )
    assert counts.phones == 2  # Avail and NonQual are registered; Unavail, Unknown are not
    assert counts.phones_text() == "1 reachable / 4 contacts"
    assert counts.calls_text() == "3"
    assert counts.to_dict()["contacts_reachable"] == 1 and counts.to_dict()["active_calls"] == 3


def test_a_standby_reads_not_applicable_never_zero() -> None:
    down = parse_pjsip_contacts("", NOT_RUNNING, 1)
    counts = count_phones(down, None, parse_channels_count("", NOT_RUNNING, 1), standby=True)
    assert counts.state is CountState.NOT_RUNNING and counts.reason == ""
    assert counts.phones_text() == counts.calls_text() == "n/a (standby)"
    data = counts.to_dict()
    assert data["contacts_reachable"] is data["contacts_total"] is data["active_calls"] is None
    stopped = count_phones(down, None, None)
    assert stopped.phones_text() == "n/a (Asterisk not running)"
    assert stopped.calls_text() == "not read"


def test_an_answer_not_understood_is_unknown_with_its_reason() -> None:
    garbage = parse_pjsip_contacts("Segmentation fault\n")
    counts = count_phones(garbage, None, parse_channels_count("1 active channel\n"))
    assert counts.state is CountState.UNREADABLE and counts.reachable is None
    assert counts.calls_state is CountState.UNREADABLE  # channels without their calls line
    assert counts.phones_text().startswith("unknown (no pjsip contacts table")
    assert "no 'active call(s)' line" in counts.reason


def test_chan_sip_peers_count_registered_and_reachable() -> None:
    counts = count_phones(None, parse_sip_peers(PEERS), parse_channels_count(CALLS))
    # 1001 OK and the trunk LAGGED reach; 1002/1003 have no address; fax is unmonitored.
    assert (counts.reachable, counts.total, counts.phones) == (2, 3, 3)


# --- where the phones are ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("master", "slave", "value", "text"),
    [
        (412, 0, "master", "phones: 412 on master · 0 on slave"),
        (3, 412, "split", "phones: 412 on slave · 3 on master"),
        (None, 40, "slave", "phones: 40 on slave · master unknown"),
        (0, 0, "none", "phones: 0 on master · 0 on slave"),
        (None, 0, None, "phones: 0 on slave · master unknown"),
        (None, None, None, "phones: master unknown · slave unknown"),
    ],
)
def test_placement(master: int | None, slave: int | None, value: str | None, text: str) -> None:
    placement = PhonePlacement(master, slave)
    assert placement.value == value and placement.text() == text


def test_placement_from_snapshots_counts_only_what_answered_now() -> None:
    m = with_phones(master_active(), 40)
    s = with_phones(slave_standby(), None)
    assert phone_placement(m, s, NOW, STALE) == PhonePlacement(40, 0)
    old = replace(m, last_success_at=NOW - 10 * STALE)
    assert phone_placement(old, s, NOW, STALE) == PhonePlacement(None, 0)


# --- since when -------------------------------------------------------------------------------


def test_history_remembers_the_count_before_the_move_and_since_when_split() -> None:
    h = track(None, PhonePlacement(40, 0), 100.0)
    assert (h.side, h.count, h.since, h.before) == ("master", 40, 100.0, None)
    h = track(h, PhonePlacement(None, 0), 110.0)  # master down, nothing on the slave yet
    assert h.side == "master" and h.at == 100.0  # unknown never overwrites
    h = track(h, PhonePlacement(None, 12), 120.0)
    assert (h.side, h.count, h.since) == ("slave", 12, 120.0)
    assert h.before == PhoneMark("master", 40, 100.0)
    h = track(h, PhonePlacement(3, 30), 130.0)
    assert h.split_since == 130.0 and h.side == "slave"
    h = track(h, PhonePlacement(2, 31), 200.0)
    assert h.split_since == 130.0 and h.split_for(230.0) == 100.0
    assert track(h, PhonePlacement(0, 33), 240.0).split_since is None


def test_count_before_move() -> None:
    on_slave = PhoneHistory("slave", 38, 50.0, 10.0)
    moved = PhoneHistory("master", 30, 90.0, 80.0, before=PhoneMark("slave", 38, 50.0))
    nothing = PhonePlacement(None, None)
    assert count_before_move(on_slave, nothing, "slave", "master", 99.0) == PhoneMark(
        "slave", 38, 50.0
    )
    assert count_before_move(moved, nothing, "slave", "master", 99.0) == PhoneMark(
        "slave", 38, 50.0
    )
    assert count_before_move(None, PhonePlacement(0, 7), "slave", "master", 99.0) == PhoneMark(
        "slave", 7, 99.0
    )
    expected = count_before_move(None, nothing, "master", "slave", 99.0, expected=400)
    assert expected == PhoneMark("master", 400, 99.0, basis="expected")
    assert count_before_move(None, nothing, "master", "slave", 99.0) is None


# --- findings ---------------------------------------------------------------------------------


def judge(snapshot: SiteSnapshot, history: PhoneHistory | None, policy: PhonePolicy):  # type: ignore[no-untyped-def]
    return evaluate(snapshot, replace(TOPO, phones=policy), NOW, STALE, history)


def codes(verdicts) -> dict[Verdict, Severity]:  # type: ignore[no-untyped-def]
    return {f.code: f.severity for f in verdicts.findings}


def test_phones_split_longer_than_the_grace_is_critical() -> None:
    split = site(
        with_phones(master_active(), 10),
        with_phones(slave_standby(asterisk="running", disabled=False), 30),
    )
    policy = PhonePolicy(split_grace=60.0)
    young = PhoneHistory("master", 40, NOW - 100, NOW - 500, split_since=NOW - 30)
    assert Verdict.PHONES_SPLIT not in codes(judge(split, young, policy))
    old = replace(young, split_since=NOW - 90)
    found = judge(split, old, policy)
    assert codes(found)[Verdict.PHONES_SPLIT] is Severity.CRITICAL
    finding = next(f for f in found.findings if f.code is Verdict.PHONES_SPLIT)
    assert finding.title == "Phones split across both XiVO for 2m"
    assert finding.evidence[0].startswith("phones: 30 on slave · 10 on master")
    # One poll alone cannot say for how long: no finding.
    assert Verdict.PHONES_SPLIT not in codes(judge(split, None, policy))


def test_far_fewer_phones_on_the_serving_node_than_before_the_move() -> None:
    failed_over = site(
        master_active(reach=ReachState.REFUSED),
        with_phones(slave_standby(asterisk="running", disabled=False), 12),
    )
    policy = PhonePolicy(low_percent=50.0, move_grace=120.0)
    moved = PhoneHistory("slave", 12, NOW, NOW - 200, before=PhoneMark("master", 40, NOW - 210))
    found = judge(failed_over, moved, policy)
    assert codes(found)[Verdict.PHONES_LOW] is Severity.WARNING
    finding = next(f for f in found.findings if f.code is Verdict.PHONES_LOW)
    assert finding.title == "Only 12 phones on the serving slave, 40 on the master before the move"
    assert finding.nodes == [TOPO.xivo_slave_id]
    # Within the grace (phones still re-registering), or enough of them: nothing.
    assert Verdict.PHONES_LOW not in codes(
        judge(failed_over, replace(moved, since=NOW - 60), policy)
    )
    assert Verdict.PHONES_LOW not in codes(
        judge(failed_over, moved, replace(policy, low_percent=25))
    )
    # Not one phone followed: the side they were last seen on says how many there were.
    stuck = site(
        master_active(reach=ReachState.REFUSED),
        with_phones(slave_standby(asterisk="running", disabled=False), 0),
    )
    last_seen = PhoneHistory("master", 40, NOW - 300, NOW - 900)
    assert codes(judge(stuck, last_seen, policy))[Verdict.PHONES_LOW] is Severity.WARNING


def test_the_journal_records_where_the_phones_are() -> None:
    normal = site(with_phones(master_active(), 40), with_phones(slave_standby(), None))
    moved = site(
        master_active(reach=ReachState.REFUSED),
        with_phones(slave_standby(asterisk="running", disabled=False), 38),
    )
    first = observe("s", normal.nodes.values(), None)
    then = observe("s", moved.nodes.values(), None)
    events = [e for e in site_events(first, then) if e.kind.value == "phones"]
    assert [(e.before, e.after, e.evidence) for e in events] == [
        ("master", "slave", "phones: 38 on slave · master unknown")
    ]


def test_the_readme_says_the_phone_findings_severities() -> None:
    from tests.unit.test_core_cluster import _readme_rows

    rows = _readme_rows()
    assert "CRITICAL" in rows[Verdict.PHONES_SPLIT.value]
    assert "WARNING" in rows[Verdict.PHONES_LOW.value]


def test_where_the_phones_are_in_the_sites_role_words() -> None:
    from resil_tui.inventory_model import Resilience

    snap = site(with_phones(master_active(), 40), with_phones(slave_standby(), None))
    classic = evaluate(snap, TOPO, NOW, STALE)
    assert classic.phones_text == "phones: 40 on master · 0 on slave"
    manual = evaluate(snap, replace(TOPO, resilience=Resilience.MANUAL), NOW, STALE)
    assert manual.phones_text == "phones: 40 on Main · 0 on Standby"
    assert manual.to_dict()["phones"]["text"] == manual.phones_text


def test_a_reason_quoting_the_node_is_sanitized() -> None:
    hostile = parse_pjsip_contacts("", "\x1b]52;c;aGk=\x07boom\nnext\n", 2)
    counts = count_phones(hostile, None, None)
    assert "\x1b" not in counts.reason and "\n" not in counts.reason
    assert counts.phones_text().startswith("unknown (asterisk -rx exited 2")
