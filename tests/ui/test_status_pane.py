"""Pilot tests of the Status pane against the real in-process lab (SSH on 127.0.0.1).

Each test starts the lab with fast timings, builds the pool the way the CLI does and
drives the app; waits are bounded loops on `pilot.pause()`, never timing assertions.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from labkit import console
from textual.css.query import NoMatches
from textual.pilot import Pilot
from textual.widgets import Static

from resil_tui.inventory import load_inventory
from resil_tui.inventory_model import Inventory
from resil_tui.lab.server import Lab
from resil_tui.lab.spec import LabSpec, LabTiming
from resil_tui.ops.session import make_pool
from resil_tui.remote.pool import Pool
from resil_tui.ui.app import ResilApp
from resil_tui.ui.commands import palette_commands
from resil_tui.ui.panes.status import StatusPane
from resil_tui.ui.screens.confirm import ConfirmScreen

EXAMPLE = Path(__file__).resolve().parents[2] / "hosts.example.toml"
SIZE = (120, 40)
MASTER = "demo.xivo.master"
SLAVE = "demo.xivo.slave"
# Long enough that only the test (r key, palette) starts a poll after the first one.
MANUAL = 600.0


# The slave's check-master-status cron runs: the site follows the lab's faults.
pytestmark = pytest.mark.lab(ticker=True)


class RecordingApp(ResilApp):
    """ResilApp that remembers its notifications (run_test hides toasts)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.notes: list[tuple[str, str]] = []
        super().__init__(*args, **kwargs)

    def notify(self, message: str, **kwargs: Any) -> None:
        self.notes.append((kwargs.get("severity", "information"), message))
        super().notify(message, **kwargs)


@pytest.fixture(autouse=True)
def _xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def lab_inventory(
    lab: Lab, tmp_path: Path, *, read_only: bool = False, edit: Callable[[str], str] | None = None
) -> Inventory:
    text = lab.inventory_path.read_text()
    if edit is not None:
        text = edit(text)
    path = tmp_path / "hosts.toml"
    path.write_text(text)
    inventory = load_inventory(path)
    return dataclasses.replace(inventory, demo=True, read_only=read_only)


def build_app(
    inventory: Inventory, tmp_path: Path, lab: Lab | None, interval: float = MANUAL
) -> tuple[RecordingApp, Pool]:
    pool = make_pool(inventory, audit_path=tmp_path / "audit.jsonl")
    app = console(
        inventory,
        read_only=inventory.read_only,
        demo=lab is not None,
        pool=pool,
        lab=lab,
        status_refresh_interval=interval,
        app_class=RecordingApp,
    )
    return app, pool


def pane_of(app: ResilApp) -> StatusPane:
    return app.query_one(StatusPane)


def reach(app: ResilApp, node_id: str) -> str:
    return pane_of(app).table.cells(node_id).get("reach", "")


def banner(app: ResilApp) -> str:
    return pane_of(app).banner.text


def _state(pilot: Pilot[Any]) -> str:
    """What the pane shows, for a timeout message."""
    app = pilot.app
    if not isinstance(app, ResilApp):
        return ""
    pane = pane_of(app)
    rows = {n.id: pane.table.cells(n.id).get("reach") for n in app.current_site.nodes()}
    return f"rows={rows} banner={banner(app)!r} notes={getattr(app, 'notes', [])}"


async def until(
    pilot: Pilot[Any], check: Callable[[], bool], what: str, timeout: float = 10.0
) -> None:
    deadline = time.monotonic() + timeout

    def holds() -> bool:
        try:
            return check()
        except NoMatches:  # the pane's widgets are not mounted yet
            return False

    while not holds():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {_state(pilot)}")
        await pilot.pause(0.05)


async def refresh_until(
    pilot: Pilot[Any], check: Callable[[], bool], what: str, timeout: float = 10.0
) -> None:
    """Press r (refresh) until `check` holds: for lab states that settle on their own."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {_state(pilot)}")
        app: ResilApp = pilot.app  # type: ignore[assignment]
        if not app.site_state().polling:
            await pilot.press("r")
        await pilot.pause(0.1)


def all_up(app: ResilApp) -> bool:
    return all(reach(app, n.id).startswith("✔ up") for n in app.current_site.nodes())


def run_palette(app: ResilApp, title: str) -> None:
    commands = {c.title: c for c in palette_commands(app)}
    assert title in commands, sorted(t for t in commands if t.startswith("lab:"))
    commands[title].callback()


def header_text(app: ResilApp) -> str:
    return " ".join(
        str(w.content) for w in app.query("ShellHeader Static").results(Static) if w.display
    )


@pytest.mark.parametrize("read_only", [False, True])
async def test_rows_fill_in_and_banner_says_normal(
    lab: Lab, tmp_path: Path, read_only: bool
) -> None:
    inventory = lab_inventory(lab, tmp_path, read_only=read_only)
    app, pool = build_app(inventory, tmp_path, lab)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: all_up(app), "every row up")
        await until(pilot, lambda: app.poller.polls_finished > 0, "the poll to finish")
        pane = pane_of(app)
        assert "✔ OK · Normal: master serves telephony" in banner(app)
        master = pane.table.cells(MASTER)
        assert master["role"] == "XiVO master"
        assert master["ha"] == "master → 10.50.0.12"
        assert master["summary"].startswith("☎ ACTIVE")
        assert master["latency"].endswith(" ms")
        slave = pane.table.cells(SLAVE)
        assert slave["ha"] == "slave → 10.50.0.11"
        assert slave["summary"].startswith("◇ standby")
        assert pane.table.cells("demo.cc.master")["summary"].startswith("xuc ✔ ready since")
        assert pane.table.cells("demo.edge")["summary"] == "Edge → master"
        assert pane.table.cells("demo.mds.mds1")["summary"] == "services ✔ all running"
        assert "7 nodes · 7 connected" in header_text(app)
        assert "last refresh" in str(app.query_one("#status-line", Static).content)
        assert ("READ-ONLY" in header_text(app)) is read_only
        # No node has an unknown host key: the trust binding is hidden.
        assert pane.check_action("trust", ()) is False
    await pool.close()
    # Polling never changes a node: nothing was audited as sent.
    audit = tmp_path / "audit.jsonl"
    assert not audit.exists() or audit.read_text() == ""


async def test_power_off_master_shows_down_row_and_failover(lab: Lab, tmp_path: Path) -> None:
    app, pool = build_app(lab_inventory(lab, tmp_path), tmp_path, lab)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: pane_of(app).report is not None and all_up(app), "first poll")
        faulted_at = time.time()
        run_palette(app, f"lab: power off {MASTER}")
        # The first poll may meet the connection being torn down (a channel error); a
        # refresh after that finds nothing listening.
        await refresh_until(
            pilot, lambda: reach(app, MASTER).startswith("✖ down (refused since"), "master down"
        )
        await refresh_until(
            pilot, lambda: "Failed over: the slave serves telephony" in banner(app), "failover"
        )
        pane = pane_of(app)
        assert f"{MASTER} unreachable (refused)" in banner(app)
        for node in app.current_site.nodes():
            if node.id == MASTER:
                continue
            snap = pane.snapshots[node.id]
            assert snap.polled_at is not None and snap.polled_at >= faulted_at
            assert reach(app, node.id).startswith("✔ up"), node.id
        assert pane.table.cells(SLAVE)["summary"].startswith("☎ ACTIVE")
        # The master's last known data stays, marked as not current.
        assert pane.table.cells(MASTER)["summary"].startswith("was: ☎ ACTIVE")
        assert "6 connected · ✗ 1 unreachable" in header_text(app)
        # The detail view says why, and the palette now offers the way back.
        pane.table.select_node(MASTER)
        await pilot.pause()
        detail = pane.detail.text
        assert "Reachability: refused since" in detail and "connection refused" in detail
        assert "Last errors:" in detail
        titles = [c.title for c in palette_commands(app)]
        assert f"lab: power on {MASTER}" in titles
        assert f"lab: power off {MASTER}" not in titles
        assert any("powered off" in text for _, text in app.notes)
    await pool.close()


async def test_cut_link_gives_split_brain(lab: Lab, tmp_path: Path) -> None:
    app, pool = build_app(lab_inventory(lab, tmp_path), tmp_path, lab)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.poller.polls_finished > 0, "first poll")
        run_palette(app, "lab: cut master/slave link")
        await refresh_until(
            pilot, lambda: "Split brain: both XiVO run telephony" in banner(app), "split brain"
        )
        assert banner(app).startswith("✖ CRITICAL · Split brain")
        pane = pane_of(app)
        assert pane.table.cells(MASTER)["summary"].startswith("☎ ACTIVE")
        assert pane.table.cells(SLAVE)["summary"].startswith("☎ ACTIVE")
        assert pane.banner.has_class("-critical")
        assert "lab: heal master/slave link" in [c.title for c in palette_commands(app)]
    await pool.close()


async def test_detail_view_shows_raw_command_outputs(lab: Lab, tmp_path: Path) -> None:
    app, pool = build_app(lab_inventory(lab, tmp_path), tmp_path, lab)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.poller.polls_finished > 0, "first poll")
        pane = pane_of(app)
        pane.table.focus()
        pane.table.select_node(MASTER)
        await pilot.pause()
        detail = pane.detail.text
        assert detail.startswith(f"■ {MASTER} — XiVO master")
        raw = pane.snapshots[MASTER].raw["xivo-service status all"]
        assert "$ xivo-service status all" in detail
        for line in raw.splitlines():
            if line.strip():
                assert f"  {line}" in detail
        assert "asterisk" in raw
        assert "HA config: master, peer 10.50.0.12" in detail
        assert "Cron: master" in detail and "Sync key /root/.ssh/xivo_id_rsa: present" in detail
        await pilot.press("down")
        await pilot.pause()
        assert pane.detail.text.startswith(f"■ {SLAVE} — XiVO slave")
        assert "Disabled flag /var/lib/xivo/disabled: present" in pane.detail.text
    await pool.close()


@pytest.mark.parametrize("read_only", [False, True])
async def test_unknown_host_key_trust_flow(lab: Lab, tmp_path: Path, read_only: bool) -> None:
    port = lab.port(MASTER)
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(
        "".join(
            line + "\n"
            for line in lab.known_hosts_path.read_text().splitlines()
            if not line.startswith(f"[127.0.0.1]:{port} ")
        )
    )
    inventory = lab_inventory(
        lab,
        tmp_path,
        read_only=read_only,
        edit=lambda text: text.replace(str(lab.known_hosts_path), str(known_hosts)),
    )
    fingerprint = asyncssh.read_private_key(lab.host_key_path(MASTER)).get_fingerprint("sha256")
    app, pool = build_app(inventory, tmp_path, lab)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.poller.polls_finished > 0, "first poll")
        pane = pane_of(app)
        assert reach(app, MASTER) == "? host key unknown: t to trust"
        assert reach(app, SLAVE).startswith("✔ up")
        assert f"{MASTER} unreachable (host_key_unknown)" in banner(app)
        pane.table.focus()
        pane.table.select_node(MASTER)
        await pilot.pause()
        assert pane.check_action("trust", ()) is True
        # Answer no first: nothing is written.
        before = known_hosts.read_text()
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        screen = app.screen
        assert isinstance(screen, ConfirmScreen)
        assert fingerprint in screen.command and str(known_hosts) in screen.command
        await pilot.press("n")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), "dismissal")
        assert known_hosts.read_text() == before
        # Then yes: the key is appended and the row comes up.
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        await pilot.press("y")
        await until(pilot, lambda: reach(app, MASTER).startswith("✔ up"), "master up")
        added = known_hosts.read_text()[len(before) :]
        assert added.startswith(f"[127.0.0.1]:{port} ssh-ed25519 ")
        assert pane.check_action("trust", ()) is False
    await pool.close()
    records = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [r["kind"] for r in records] == ["trust_host_key"]
    assert fingerprint in records[0]["command"]


async def test_changed_host_key_is_refused_without_trust(lab: Lab, tmp_path: Path) -> None:
    app, pool = build_app(lab_inventory(lab, tmp_path), tmp_path, lab)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.poller.polls_finished > 0, "first poll")
        run_palette(app, f"lab: new host key on {SLAVE}")
        await until(pilot, lambda: any("new host key" in t for _, t in app.notes), "rekey")
        # The open connection keeps working until it is dropped; a new one sees the new key.
        await lab.drop_connections(SLAVE)
        await refresh_until(
            pilot, lambda: "HOST KEY CHANGED" in reach(app, SLAVE), "changed key refused"
        )
        row = reach(app, SLAVE)
        assert row.startswith("✖ refused: HOST KEY CHANGED, fix ")
        assert f"{lab.known_hosts_path} line 2" in row
        pane = pane_of(app)
        pane.table.focus()
        pane.table.select_node(SLAVE)
        await pilot.pause()
        assert pane.check_action("trust", ()) is False
        await pilot.press("t")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
    await pool.close()


async def test_hung_node_does_not_hold_back_other_rows(lab: Lab, tmp_path: Path) -> None:
    await lab.hang("demo.cc.slave")
    inventory = lab_inventory(
        lab, tmp_path, edit=lambda t: t.replace("connect_timeout = 5.0", "connect_timeout = 3.0")
    )
    app, pool = build_app(inventory, tmp_path, lab)
    async with app.run_test(size=SIZE) as pilot:
        others = [n.id for n in app.current_site.nodes() if n.id != "demo.cc.slave"]
        await until(
            pilot, lambda: all(reach(app, n).startswith("✔ up") for n in others), "other rows"
        )
        # The first screen is there before the hung node answered: its row says so.
        assert app.site_state().polling and reach(app, "demo.cc.slave").startswith("… polling")
        assert "still waiting for demo.cc.slave" in banner(app)
        await until(
            pilot, lambda: reach(app, "demo.cc.slave").startswith("✖ down (timeout"), "timeout"
        )
        assert "demo.cc.slave unreachable (timeout)" in banner(app)
    await pool.close()


async def test_polls_never_stack_and_site_switch_repolls(tmp_path: Path) -> None:
    spec = LabSpec.many(2, cc=False, edge=False, mds=0)
    async with await Lab.start(tmp_path / "lab", spec=spec, timing=LabTiming.fast()) as lab:
        app, pool = build_app(lab_inventory(lab, tmp_path), tmp_path, lab, interval=0.1)
        async with app.run_test(size=SIZE) as pilot:
            pane = pane_of(app)
            collector = app.session.collector
            running = 0
            most = 0
            real = collector.poll_site

            async def counted(*args: Any, **kwargs: Any) -> Any:
                nonlocal running, most
                running += 1
                most = max(most, running)
                try:
                    return await real(*args, **kwargs)
                finally:
                    running -= 1

            collector.poll_site = counted  # type: ignore[method-assign]
            start = app.poller.polls_finished
            for _ in range(3):
                await pilot.press("r")  # queued while a poll runs, never run alongside it
            await until(pilot, lambda: app.poller.polls_finished >= start + 4, "auto-refreshes")
            assert most == 1
            assert app.site_name == "s001"
            await pilot.press("s")
            await until(
                pilot,
                lambda: (report := app.site_state().report) is not None and report.site == "s002",
                "the other site's poll",
            )
            assert set(pane.snapshots) == {"s002.xivo.master", "s002.xivo.slave"}
            assert reach(app, "s002.xivo.master").startswith("✔ up")
            assert "Normal" in banner(app)
            assert most == 1
        await pool.close()


async def test_without_polling_nothing_is_polled_and_no_lab_commands(tmp_path: Path) -> None:
    app = console(load_inventory(EXAMPLE), read_only=False, app_class=RecordingApp)
    async with app.run_test(size=SIZE) as pilot:
        assert not app.poller.enabled
        assert reach(app, "paris.xivo.master") == "· not polled (no connection)"
        assert "without polling" in banner(app)
        await pilot.press("r")
        await pilot.pause()
        assert any("nothing to refresh" in text for _, text in app.notes)
        assert not [c for c in palette_commands(app) if c.title.startswith("lab:")]


# --- the words of a row and of the banner (pure functions, no screen) -----------------------


def test_reach_words_for_each_state() -> None:
    from resil_tui.core.node_status import NodeSnapshot as Snap
    from resil_tui.core.node_status import Reachability, ReachState
    from resil_tui.ui.widgets.node_table import RowContext, reach_text

    now = 1_000_000.0
    ctx = RowContext(now=now, stale_after=120.0)

    def snap(state: ReachState, message: str = "", **kw: Any) -> Snap:
        where = {"known_hosts": "/home/a/.ssh/known_hosts", "line": 7} if message else {}
        reach = Reachability(state, message, now - 5, **where)  # type: ignore[arg-type]
        return Snap("n", "xivo", reachability=reach, **kw)

    assert reach_text(None, ctx) == "… polling"
    assert reach_text(None, dataclasses.replace(ctx, can_poll=False)).startswith("· not polled")
    waiting = dataclasses.replace(ctx, polling_since=now - 7)
    assert reach_text(None, waiting) == "… polling 7s"
    # A node that answered last time and is slow this time keeps its state, marked.
    ok = snap(ReachState.OK, last_success_at=now - 10)
    assert reach_text(ok, waiting) == "✔ up · ⟳ waiting 7s"
    assert reach_text(snap(ReachState.REFUSED), ctx).startswith("✖ down (refused since ")
    assert reach_text(snap(ReachState.HOST_KEY_UNKNOWN), ctx) == "? host key unknown: t to trust"
    changed = (
        "HOST KEY CHANGED for [127.0.0.1]:2222 (root@127.0.0.1:2222): the key the server "
        "presents does not match /home/a/.ssh/known_hosts line 7 (ssh-ed25519 SHA256:x)."
    )
    assert (
        reach_text(snap(ReachState.HOST_KEY_CHANGED, changed), ctx)
        == "✖ refused: HOST KEY CHANGED, fix /home/a/.ssh/known_hosts line 7"
    )
    up = snap(ReachState.OK, last_success_at=now - 300)
    assert reach_text(up, ctx) == "✔ up · ▲ stale 5m"
    assert reach_text(snap(ReachState.OK, last_success_at=now), ctx) == "✔ up"


def test_banner_lists_other_findings_worst_first() -> None:
    from resil_tui.core.cluster import Finding, Severity, SiteVerdicts, Verdict
    from resil_tui.ui.widgets.verdict_banner import banner_text

    primary = Finding(Verdict.FAILED_OVER, Severity.WARNING, "Failed over", "The slave serves.")
    verdicts = SiteVerdicts(
        site="demo",
        primary=primary,
        findings=[
            primary,
            Finding(Verdict.NODE_UNREACHABLE, Severity.WARNING, "m unreachable", "Refused."),
            Finding(Verdict.EDGE_WRONG_SIDE, Severity.CRITICAL, "Edge wrong side", "Switch."),
            Finding(Verdict.NORMAL, Severity.OK, "fine", "Not listed."),
        ],
        severity=Severity.CRITICAL,
        active_side="slave",
        xivo_states={},
        evaluated_at=0.0,
    )
    assert banner_text(verdicts, ["demo.edge"]).splitlines() == [
        "✖ CRITICAL · Edge wrong side",
        "  Switch.",
        "  Telephony: Failed over",
        "  ▲ WARNING Failed over: The slave serves.",
        "  ▲ WARNING m unreachable: Refused.",
        "  … still waiting for demo.edge",
    ]


async def test_phones_and_calls_per_xivo_and_where_the_phones_are(lab: Lab, tmp_path: Path) -> None:
    await lab.hold_calls(MASTER, 3)
    app, pool = build_app(lab_inventory(lab, tmp_path), tmp_path, lab)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: pane_of(app).report is not None and all_up(app), "first poll")
        pane = pane_of(app)
        master = pane.table.cells(MASTER)["summary"]
        assert "phones 40/40 · calls 3" in master, master
        assert "phones" not in pane.table.cells(SLAVE)["summary"]  # n/a: in the detail
        # The line carries the time of the judgement the banner shows (while a later poll
        # runs, a preview's: not the last report's).
        shown = pane.banner.verdicts
        assert shown is not None
        stamp = time.strftime("%H:%M:%S", time.localtime(shown.evaluated_at))
        assert f"phones: 40 on master · 0 on slave (as of {stamp})" in banner(app)
        # The detail says the figures and their age, the standby's as n/a.
        pane.table.focus()
        pane.table.select_node(SLAVE)
        await until(pilot, lambda: pane.detail.node_id == SLAVE, "the slave's detail")
        text = pane.detail.text
        assert "Phones: n/a (standby)" in text and "Calls: n/a (standby)" in text
        pane.table.select_node(MASTER)
        await until(pilot, lambda: pane.detail.node_id == MASTER, "the master's detail")
        snap = pane.snapshots[MASTER]
        when = time.strftime("%H:%M:%S", time.localtime(snap.last_success_at))
        assert f"Phones: 40 reachable / 40 contacts (as of {when})" in pane.detail.text
        assert f"Calls: 3 (as of {when})" in pane.detail.text
    await pool.close()
