"""The lab's Asterisk CLI, phones and calls, through real SSH (issue 18's groundwork).

Formats are checked against patterns written from the Asterisk source (location.c,
pjsip_cli.c, cli.c, chan_sip.c, asterisk.c), not against resil-tui's parsers; one test at
the end reads the lab's output with the parsers, as the product will.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from labkit import eventually

from resil_tui.core.asterisk import Outcome, parse_channels_count, parse_pjsip_contacts
from resil_tui.lab import phones
from resil_tui.lab.faults import apply_fault
from resil_tui.lab.server import Lab
from resil_tui.lab.spec import CHAN_SIP, LabSpec, LabTiming
from tests.lab.conftest import run, ssh_cli

M, S = "demo.xivo.master", "demo.xivo.slave"
CONTACTS = 'asterisk -rx "pjsip show contacts"'
COUNT = 'asterisk -rx "core show channels count"'
NOT_RUNNING = "Unable to connect to remote asterisk (does /var/run/asterisk/asterisk.ctl exist?)\n"
HEADER = (
    "  Contact:  <Aor/ContactUri..............................> <Hash....> <Status> <RTT(ms)..>"
)
# "%*s:  %s/%-*.*s %-10.10s %-7.7s %11.3f" with indent 9: "  Contact:  ", then AOR/URI
# padded (or cut) to 46 columns, the 10-character hash at column 59, the status in 7, the
# RTT in 11 ("nan" unless Avail).
LINE = re.compile(
    r"^  Contact:  (?P<aor>\d{4})/(?P<uri>sip:\S+?) +(?P<hash>[0-9a-f]{10}) "
    r"(?P<status>Avail  |Unavail) (?P<rtt>.{11})$"
)


def contact_lines(text: str) -> list[re.Match[str]]:
    lines = text.split("\n")
    assert lines[:4] == ["", HEADER, "=" * 90, ""], lines[:4]
    end = lines.index("", 4)
    body = [LINE.match(line) for line in lines[4:end]]
    assert all(body), [line for line, m in zip(lines[4:end], body, strict=True) if not m]
    for m in body:
        assert m is not None and m.start("hash") == 59, m
        rtt = m["rtt"].strip()
        assert rtt == "nan" if m["status"] == "Unavail" else float(rtt) > 0, m.group(0)
    assert lines[end + 1 :] == [f"Objects found: {len(body)}", "", ""]
    return [m for m in body if m]


async def contacts(lab: Lab, node: str) -> dict[str, str]:
    """AOR -> status on the node; {} when Asterisk answers `No objects found.`."""
    res = await run(lab, node, CONTACTS)
    assert res.exit_status == 0, res.stderr
    if str(res.stdout) == "No objects found.\n\n":
        return {}
    return {m["aor"]: m["status"].strip() for m in contact_lines(str(res.stdout))}


async def counts(lab: Lab, node: str) -> list[str]:
    res = await run(lab, node, COUNT)
    assert res.exit_status == 0, res.stderr
    return str(res.stdout).splitlines()


def telephony(lab: Lab, node: str) -> bool:
    return phones.asterisk_up(lab.world, node)


@pytest.fixture
async def slow_phones(tmp_path: Path) -> AsyncIterator[Lab]:
    """Ticking lab whose phones take 1.5-3 s to notice a registrar gone (moves are visible)."""
    timing = LabTiming.fast().with_(phone_expiry_min=1.5, phone_expiry_max=3.0)
    lab = await Lab.start(tmp_path / "lab", timing=timing, ticker=True)
    try:
        yield lab
    finally:
        await lab.stop()


# --- formats ---------------------------------------------------------------------------------


async def test_contacts_on_the_active_node_and_standby_not_running(lab: Lab) -> None:
    res = await ssh_cli(lab, M, CONTACTS)  # OpenSSH's client: the bytes as a user sees them
    assert (res.returncode, res.stderr) == (0, "")
    found = contact_lines(res.stdout)
    assert [m["aor"] for m in found] == [str(1001 + i) for i in range(40)]
    assert {m["status"] for m in found} == {"Avail  "}
    # Long Snom-style URIs are cut at Asterisk's column, right before the hash.
    assert any(len(m["aor"] + "/" + m["uri"]) == 46 for m in found)
    standby = await ssh_cli(lab, S, CONTACTS)
    assert (standby.returncode, standby.stdout, standby.stderr) == (1, "", NOT_RUNNING)
    standby_count = await run(lab, S, COUNT)
    assert (standby_count.exit_status, standby_count.stderr) == (1, NOT_RUNNING)


async def test_other_asterisk_answers(lab: Lab) -> None:
    no_sip = await run(lab, M, 'asterisk -rx "sip show peers"')
    assert no_sip.exit_status == 0  # a connected -rx exits 0 whatever the command said
    assert str(no_sip.stdout) == (
        "No such command 'sip show peers' (type 'core show help sip show' for other "
        "possible commands)\n"
    )
    other = await run(lab, M, 'asterisk -rx "core show frobs"')
    assert "(type 'core show help core show frobs'" in str(other.stdout)
    assert str((await run(lab, "demo.mds.mds1", CONTACTS)).stdout) == "No objects found.\n\n"
    interactive = await run(lab, M, "asterisk -r")
    assert interactive.exit_status == 1 and "not emulated" in str(interactive.stderr)
    split = await run(lab, M, "asterisk -r -x 'core show channels count'")
    assert str(split.stdout).splitlines()[1] == "0 active calls"


async def test_chan_sip_site_shows_peers(tmp_path: Path) -> None:
    lab = await Lab.start(
        tmp_path / "lab", spec=LabSpec.demo(sip=CHAN_SIP, phones=3), timing=LabTiming.fast()
    )
    try:
        res = await run(lab, M, 'asterisk -rx "sip show peers"')
        lines = str(res.stdout).splitlines()
        assert lines[0].split() == [
            "Name/username",
            "Host",
            "Dyn",
            "Forcerport",
            "Comedia",
            "ACL",
            "Port",
            "Status",
            "Description",
        ]
        # "%-25.25s %-39.39s %-3.3s %-10.10s %-10.10s %-3.3s %-8s %-11s %-32.32s %s"
        row = re.compile(
            r"^100[1-3]/100[1-3] {17}10\.50\.100\.1[0-2] {29}D  Auto \(No\)  Auto \(No\)      "
            r"50\d\d {5}OK \(\d+ ms\) +$"
        )
        assert all(row.match(line) for line in lines[1:4]), lines
        assert (
            lines[4]
            == "3 sip peers [Monitored: 3 online, 0 offline Unmonitored: 0 online, 0 offline]"
        )
        pjsip = await run(lab, M, CONTACTS)
        assert str(pjsip.stdout).startswith("No such command 'pjsip show contacts' (type")
    finally:
        await lab.stop()


# --- calls -------------------------------------------------------------------------------------


async def test_held_calls_counts_and_listing(lab: Lab) -> None:
    assert await counts(lab, M) == ["0 active channels", "0 active calls", "0 calls processed"]
    assert "3 call(s) started" in await apply_fault(lab, ["calls", "3", "xivo.master"])
    assert await counts(lab, M) == ["6 active channels", "3 active calls", "3 calls processed"]
    listing = str((await run(lab, M, 'asterisk -rx "core show channels"')).stdout).splitlines()
    assert listing[0].split() == ["Channel", "Location", "State", "Application(Data)"]
    assert len(listing) == 1 + 6 + 3 and listing[1].startswith("PJSIP/100")
    assert "2 held call(s) hung up" in await apply_fault(lab, ["calls", "1", "xivo.master"])
    assert await counts(lab, M) == ["2 active channels", "1 active call", "3 calls processed"]
    await apply_fault(lab, ["hangup-all"])
    assert (await counts(lab, M))[1] == "0 active calls"
    with pytest.raises(ValueError, match="not running"):
        await apply_fault(lab, ["calls", "2", "xivo.slave"])  # standby: Asterisk is stopped
    with pytest.raises(ValueError, match="usage"):
        await apply_fault(lab, ["calls", "2"])
    with pytest.raises(ValueError, match="not a XiVO node"):
        await apply_fault(lab, ["calls", "2", "cc.master"])


async def test_timed_calls_end_by_themselves(lab: Lab) -> None:
    await apply_fault(lab, ["calls", "2", "xivo.master", "0.3"])
    assert (await counts(lab, M))[1] == "2 active calls"

    async def ended() -> bool:
        return (await counts(lab, M))[1:] == ["0 active calls", "2 calls processed"]

    await eventually(ended, what="timed calls to end")


async def test_maxcalls_form(tmp_path: Path) -> None:
    lab = await Lab.start(
        tmp_path / "lab", spec=LabSpec.demo(max_calls=200), timing=LabTiming.fast()
    )
    try:
        await lab.hold_calls(M, 3)
        assert (await counts(lab, M))[1] == "3 of 200 max active calls ( 1.50% of capacity)"
    finally:
        await lab.stop()


async def test_generated_calls_start_and_end(tmp_path: Path) -> None:
    timing = LabTiming.fast().with_(call_rate=20.0, call_duration=0.3)
    lab = await Lab.start(tmp_path / "lab", timing=timing, ticker=False)
    try:

        async def some_done() -> bool:
            lines = await counts(lab, M)
            active = int(lines[1].split()[0])
            processed = int(lines[2].split()[0])
            return processed > active + 5  # calls started and ended on their own

        await eventually(some_done, what="generated calls")
        assert (await run(lab, S, COUNT)).exit_status == 1  # the standby carries none
    finally:
        await lab.stop()


# --- phones over time --------------------------------------------------------------------------


async def test_phones_follow_failover_then_failback_with_calls(slow_phones: Lab) -> None:
    lab = slow_phones
    assert len(await contacts(lab, M)) == 40
    await lab.power_off(M)
    await eventually(lambda: telephony(lab, S), what="slave takes over")
    await eventually(
        lambda: phones.registered_on(lab.world, "demo").get(S) == 40, what="all phones on the slave"
    )
    assert set((await contacts(lab, S)).values()) == {"Avail"}
    # When each phone moved (the lab's record, not the test's clock): each at its own next
    # REGISTER after the slave started Asterisk, spread out, all within the longest expiry.
    st = lab.world.read_site_state("demo")
    up_since = st["nodes"][S]["started"]
    moved = sorted(p["since"] for p in st["phones"])
    assert up_since <= moved[0] and moved[-1] - up_since <= 3.0
    assert moved[-1] - moved[0] > 0.5
    # Calls in progress on the slave when the master comes back: the failback cuts them.
    await apply_fault(lab, ["calls", "4", "xivo.slave"])
    assert (await counts(lab, S))[1] == "4 active calls"
    await lab.power_on(M)
    await eventually(lambda: not telephony(lab, S), what="slave back to standby")
    assert phones.dropped_on(lab.world, S) == 4
    assert (await run(lab, S, COUNT)).exit_status == 1
    await eventually(
        lambda: phones.registered_on(lab.world, "demo").get(M) == 40, what="phones back home"
    )
    assert (await counts(lab, M))[1] == "0 active calls"


async def test_phones_stuck_on_the_master(ticking_lab: Lab) -> None:
    lab = ticking_lab
    await apply_fault(lab, ["phones-stuck", "xivo.master", "on"])
    await lab.power_off(M)
    await eventually(lambda: telephony(lab, S), what="slave takes over")
    deadline = time.monotonic() + 1.2  # longer than any phone's expiry (fast: 0.4-1 s)
    while time.monotonic() < deadline:
        assert await contacts(lab, S) == {}
        await asyncio.sleep(0.2)
    assert phones.registered_on(lab.world, "demo") == {None: 40}
    await apply_fault(lab, ["phones-stuck", "xivo.master", "off"])
    await eventually(
        lambda: phones.registered_on(lab.world, "demo").get(S) == 40, what="phones unstuck"
    )


async def test_split_brain_splits_phones_by_reachability(slow_phones: Lab) -> None:
    lab = slow_phones
    await apply_fault(lab, ["cut-link"])
    await eventually(lambda: telephony(lab, S), what="split brain")
    assert telephony(lab, M)
    # The link alone: phones still reach the master and stay there.
    assert phones.registered_on(lab.world, "demo").get(M) == 40
    await apply_fault(lab, ["phones-cut", "xivo.master", "15"])
    on_master = await contacts(lab, M)
    assert list(on_master.values()).count("Unavail") == 15  # registered, not answering
    await eventually(
        lambda: phones.registered_on(lab.world, "demo") == {M: 25, S: 15}, what="phones split"
    )
    assert set((await contacts(lab, S)).keys()) == {str(1001 + i) for i in range(25, 40)}
    await eventually(
        lambda: len(phones.contacts_on(lab.world, M)) == 25, what="stale contacts expire"
    )
    assert "15 cut from xivo.master" in await apply_fault(lab, ["status"])
    await apply_fault(lab, ["phones-cut", "xivo.master", "0"])
    await apply_fault(lab, ["heal-link"])
    await eventually(lambda: not telephony(lab, S), what="slave back to standby")
    await eventually(
        lambda: phones.registered_on(lab.world, "demo") == {M: 40}, what="all back on the master"
    )


async def test_contacts_outlive_an_asterisk_restart(tmp_path: Path) -> None:
    timing = LabTiming.fast().with_(phone_expiry_min=20.0, phone_expiry_max=30.0)
    lab = await Lab.start(tmp_path / "lab", timing=timing, ticker=False)
    try:
        assert (await run(lab, M, "xivo-service restart")).exit_status == 0
        assert len(await contacts(lab, M)) == 40  # astdb keeps them until they expire
    finally:
        await lab.stop()


async def test_the_parsers_read_the_lab(lab: Lab) -> None:
    await lab.hold_calls(M, 2)
    res = await run(lab, M, CONTACTS)
    parsed = parse_pjsip_contacts(str(res.stdout), str(res.stderr), res.exit_status)
    assert parsed.value is not None and parsed.value.complete
    assert (parsed.value.total, parsed.value.reachable) == (40, 40)
    calls = await run(lab, M, COUNT)
    channels = parse_channels_count(str(calls.stdout), str(calls.stderr), calls.exit_status)
    assert channels.value is not None and channels.value.active_calls == 2
    standby = await run(lab, S, CONTACTS)
    assert (
        parse_pjsip_contacts(str(standby.stdout), str(standby.stderr), standby.exit_status).outcome
        is Outcome.ASTERISK_NOT_RUNNING
    )
