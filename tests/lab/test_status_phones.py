"""Phones and calls in the status poll, against the lab: PJSIP and chan_sip sites, a site
whose inventory says the wrong one, and phones split across both XiVO for too long."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from labkit import eventually, lab_inventory, run_cli

from resil_tui.core.cluster import Severity, Verdict
from resil_tui.core.journal_event import EventKind, JournalEvent
from resil_tui.journal import Journal
from resil_tui.lab import phones
from resil_tui.lab.server import Lab
from resil_tui.lab.spec import CHAN_SIP, LabSpec, LabTiming
from resil_tui.ops.session import make_pool
from resil_tui.ops.status import StatusCollector

MASTER, SLAVE = "demo.xivo.master", "demo.xivo.slave"


@pytest.fixture(autouse=True)
def _xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


@pytest.fixture
async def chan_sip_lab(tmp_path: Path) -> AsyncIterator[Lab]:
    spec = LabSpec.demo(sip=CHAN_SIP, phones=5)
    running = await Lab.start(tmp_path / "lab", spec=spec, timing=LabTiming.fast())
    try:
        yield running
    finally:
        await running.stop()


async def test_a_chan_sip_site_is_read_with_sip_show_peers(
    chan_sip_lab: Lab, tmp_path: Path
) -> None:
    inventory, _ = lab_inventory(chan_sip_lab, tmp_path)
    assert inventory.site("demo").sip.value == "chan_sip"  # the lab's inventory says so
    pool = make_pool(inventory, audit_path=tmp_path / "audit.jsonl")
    try:
        await chan_sip_lab.hold_calls(MASTER, 2)
        (report,) = await StatusCollector(inventory, pool).poll()
    finally:
        await pool.close()
    master = report.snapshot.nodes[MASTER]
    assert master.errors == [] and "asterisk -rx 'sip show peers'" in master.raw
    counts = master.phone_counts()
    assert counts is not None
    assert (counts.reachable, counts.total, counts.phones, counts.calls) == (5, 5, 5, 2)
    assert report.verdicts.phones.text() == "phones: 5 on master · 0 on slave"


async def test_a_chan_sip_site_read_as_pjsip_says_why_and_counts_nothing(
    chan_sip_lab: Lab, tmp_path: Path
) -> None:
    def pjsip(text: str) -> str:
        return text.replace('sip = "chan_sip"\n', "")

    inventory, _ = lab_inventory(chan_sip_lab, tmp_path, edit=pjsip)
    pool = make_pool(inventory, audit_path=tmp_path / "audit.jsonl")
    try:
        (report,) = await StatusCollector(inventory, pool).poll()
    finally:
        await pool.close()
    master = report.snapshot.nodes[MASTER]
    (error,) = master.errors
    assert error.startswith("asterisk -rx 'pjsip show contacts': No such command")
    assert 'say sip = "chan_sip"' in error
    counts = master.phone_counts()
    assert counts is not None and counts.reachable is None and counts.total is None
    assert counts.phones_text().startswith("unknown (No such command")
    data = master.to_dict()["telephony"]
    assert data["contacts_total"] is None and data["state"] == "unreadable"
    # The standby's stopped Asterisk is no error, whatever the command.
    assert report.snapshot.nodes[SLAVE].errors == []


@pytest.mark.lab(ticker=True)
async def test_phones_split_across_both_xivo_for_too_long(lab: Lab, tmp_path: Path) -> None:
    def no_grace(text: str) -> str:
        return text.replace("[site.demo]\n", "[site.demo]\nphones = { split_grace = 0 }\n", 1)

    inventory, _ = lab_inventory(lab, tmp_path, edit=no_grace)
    pool = make_pool(inventory, audit_path=tmp_path / "audit.jsonl")
    collector = StatusCollector(inventory, pool)
    try:
        (first,) = await collector.poll()
        assert Verdict.PHONES_SPLIT not in {f.code for f in first.verdicts.findings}
        # The master <-> slave link is cut (split brain) and the far end of the phone LAN
        # cannot reach the master: those phones move to the slave, the others stay.
        await lab.cut_link("demo")
        await lab.phones_cut(MASTER, 10)
        await eventually(
            lambda: phones.registered_on(lab.world, "demo").get(SLAVE) == 10, 15, "10 moved"
        )
        (seen,) = await collector.poll()  # split seen: since now
        (later,) = await collector.poll()  # still split, for longer than the grace (0 s)
    finally:
        await pool.close()
    assert seen.verdicts.phones.text() == "phones: 30 on master · 10 on slave"
    found = {f.code: f for f in later.verdicts.findings}
    split = found[Verdict.PHONES_SPLIT]
    assert split.severity is Severity.CRITICAL and split.title.startswith("Phones split")
    assert found[Verdict.SPLIT_BRAIN].severity is Severity.CRITICAL
    history = collector.phone_history("demo")
    assert history is not None and history.split_since == seen.verdicts.evaluated_at


@pytest.mark.lab(ticker=True)
async def test_a_one_shot_status_says_how_long_the_journal_has_seen_phones_split(
    lab: Lab, tmp_path: Path
) -> None:
    inventory, _ = lab_inventory(lab, tmp_path)
    await lab.cut_link("demo")
    await lab.phones_cut(MASTER, 10)
    await eventually(
        lambda: phones.registered_on(lab.world, "demo").get(SLAVE) == 10, 15, "10 moved"
    )
    # A watcher saw the split ten minutes ago (past the 300 s grace) and journaled it.
    seen = time.time() - 600
    Journal().record(
        [JournalEvent(seen, "demo", None, EventKind.PHONES, "master", "split", "phones: ...")]
    )
    result = await run_cli(inventory, "status", "--json")
    found = {f["code"]: f for f in json.loads(result.out)["sites"][0]["verdicts"]["findings"]}
    assert found["phones_split"]["severity"] == "critical"
    assert found["phones_split"]["title"] == "Phones split across both XiVO for 10m"
