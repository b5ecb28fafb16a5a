"""The monitoring outputs, from verdicts and snapshots: the Nagios plugin text
(core/nagios.py) and the Prometheus exposition (core/prometheus.py), the latter read back
with prometheus_client's own parser."""

from __future__ import annotations

import re
from dataclasses import replace

from prometheus_client.parser import text_string_to_metric_families

from resil_tui.core.nagios import SiteCheck, Thresholds, plugin_output, unknown_output
from resil_tui.core.node_status import Reachability, ReachState, SiteSnapshot
from resil_tui.core.prometheus import SitePoll, exposition
from tests.unit.test_core_cluster import NOW, master_active, run, site, slave_standby

PERF = re.compile(r"'[a-z_]+'=(?:[0-9.]+s?|U);[0-9.]*;[0-9.]*;[0-9.]*;?[0-9]*")


def check(snapshot: SiteSnapshot, **kw: float) -> tuple[int, list[str]]:
    result = plugin_output([SiteCheck(snapshot, run(snapshot))], Thresholds(**kw))
    return result.code, result.text.splitlines()


def test_healthy_is_one_ok_line_with_performance_data() -> None:
    code, lines = check(site())
    assert code == 0 and len(lines) == 1
    head, perf = lines[0].split(" | ")
    assert head == "RESIL OK - s: normal, master active"
    assert perf.split() == [
        "'nodes_up'=6;;;0;6",
        "'latency_max'=0.010s;1;5;0",
        "'findings_critical'=0;;;0",
        "'findings_warning'=0;;;0",
    ]
    assert all(PERF.fullmatch(p) for p in perf.split())


def test_master_down_is_critical_with_one_line_per_finding() -> None:
    down = replace(
        master_active(),
        reachability=Reachability(ReachState.REFUSED, "refused | by 127.0.0.1:2201", NOW),
    )
    code, lines = check(site(down))
    assert code == 2
    assert lines[0].startswith("RESIL CRITICAL - s: unknown, no XiVO seen active; ")
    assert lines[0].count("|") == 1  # remote text never adds a '|' (performance data)
    assert "'nodes_up'=5;;;0;6" in lines[0]
    assert any(line.startswith("CRITICAL s: s.xivo.master unreachable (refused)") for line in lines)
    assert all("|" not in line for line in lines[1:])


def test_failed_over_with_the_edge_behind_and_latency_thresholds() -> None:
    code, lines = check(
        site(
            replace(master_active(), reachability=Reachability(ReachState.REFUSED, "x", NOW)),
            slave_standby(asterisk="running", disabled=False),
        )
    )
    assert code == 2  # failed over, and the Edge still sends users to the master
    assert lines[0].startswith("RESIL CRITICAL - s: failed over, slave active; Edge points to")
    slow = site(replace(master_active(), latency_seconds=1.5))
    code, lines = check(slow)
    assert code == 1 and "latency 1.500s on s.xivo.master (limit 1s)" in lines[1]
    code, lines = check(slow, latency_warning=1.0, latency_critical=1.2)
    assert code == 2 and lines[0].startswith("RESIL CRITICAL")
    assert "'latency_max'=1.500s;1;1.2;0" in lines[0]


def test_several_sites_prefix_their_labels_and_unknown_is_3() -> None:
    a, b = site(), site()
    result = plugin_output(
        [SiteCheck(a, run(a)), SiteCheck(b, run(b), waiting=("s.cc.slave",))], Thresholds()
    )
    assert "'s_nodes_up'=6;;;0;6" in result.first_line
    assert "UNKNOWN s: s.cc.slave: no answer within the check's time" in result.text
    bad = unknown_output("invalid inventory:\nline 2")
    assert bad.code == 3 and bad.text == "RESIL UNKNOWN - invalid inventory:␤line 2\n"


def _families(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((sample.labels, sample.value))
    return out


def test_exposition_parses_and_says_what_it_knows_only() -> None:
    snap = site(replace(slave_standby(), reachability=Reachability(ReachState.TIMEOUT, "t", NOW)))
    text = exposition([SitePoll(snap, run(snap), 0.25, NOW, 3)], NOW, "9.9")
    fams = _families(text)
    up = {labels["node"]: value for labels, value in fams["resil_node_up"]}
    assert up["s.xivo.master"] == 1 and up["s.xivo.slave"] == 0
    latency = {labels["node"] for labels, _ in fams["resil_node_latency_seconds"]}
    assert "s.xivo.master" in latency and "s.xivo.slave" not in latency  # not measured
    active = {labels["node"]: v for labels, v in fams["resil_xivo_telephony_active"]}
    assert active == {"s.xivo.master": 1}  # the slave's is not known while it is down
    verdict = {labels["verdict"]: v for labels, v in fams["resil_site_verdict"]}
    assert verdict["normal"] == 1 and sum(verdict.values()) == 1
    assert fams["resil_site_polls_total"] == [({"site": "s"}, 3.0)]
    assert fams["resil_build_info"] == [({"version": "9.9"}, 1.0)]
    edge = {labels["side"]: v for labels, v in fams["resil_edge_side"]}
    assert edge == {"master": 1, "slave": 0, "mixed": 0, "unknown": 0}
    # Names and labels per the conventions: prefix, base units, bounded label values.
    for line in text.splitlines():
        if not line.startswith("#"):
            assert line.startswith("resil_")
    assert all(n.endswith(("_seconds", "_total")) or "second" not in n for n in fams)


def test_phones_and_calls_only_where_they_were_counted() -> None:
    from tests.unit.test_core_telephony import with_phones

    snap = site(
        with_phones(master_active(), 40, calls=3, unavail=2), with_phones(slave_standby(), None)
    )
    fams = _families(exposition([SitePoll(snap, run(snap))], NOW, "9.9"))
    reachable = {labels["node"]: v for labels, v in fams["resil_xivo_phones_reachable"]}
    contacts = {labels["node"]: v for labels, v in fams["resil_xivo_phone_contacts"]}
    calls = {labels["node"]: v for labels, v in fams["resil_xivo_active_calls"]}
    # The standby's Asterisk is stopped: no sample rather than a made-up 0.
    assert reachable == {"s.xivo.master": 38} and contacts == {"s.xivo.master": 40}
    assert calls == {"s.xivo.master": 3}
