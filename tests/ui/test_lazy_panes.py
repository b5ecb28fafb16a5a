"""The first screen loads the Status pane alone (issue 17): the other panes' keys come from
ui/panes/catalog.py, so help, the keymap check and the palette know them before their
modules are imported; the status poll's reads and parsers load with the first poll; the
console's start-up runs without the cyclic collector and turns it back on once started.
Checked in fresh interpreters (sys.modules, gc), never timed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from labkit import ROOT
from textual.binding import Binding

from bench.startup import smallest_inventory
from resil_tui.gc_policy import YOUNG_THRESHOLD
from resil_tui.ui.panes.base import Pane
from resil_tui.ui.panes.catalog import (
    CONFIRM_BINDINGS,
    HELP_BINDINGS,
    PANES,
    TYPED_CONFIRM_BINDINGS,
)
from resil_tui.ui.screens.confirm import ConfirmScreen, TypedConfirmScreen
from resil_tui.ui.screens.help import HelpScreen

LAZY = [f"resil_tui.ui.panes.{spec.module}" for spec in PANES[1:]]
# What only a node's answer needs (resil_tui.lazy): not loaded before the first screen.
PARSERS = [
    "resil_tui.ops.node_reads",
    "resil_tui.ops.cc_status",
    "resil_tui.core.asterisk",
    "resil_tui.core.xuc_readiness",
    "resil_tui.core.edge_scan",
    "resil_tui.core.edge_env",
    "resil_tui.remote.hostkeys",
    "dotenv",
    # What only polled data holds, read by the verdicts and the table's cells.
    "resil_tui.core.compose",
    "resil_tui.core.edge_side",
    "resil_tui.core.replication",
    "resil_tui.core.services",
    "resil_tui.core.sync_log",
    "resil_tui.core.telephony",
    "resil_tui.core.ha",  # ha.conf and the cron files (the role itself: core/ha_mode.py)
    "resil_tui.core.ha_webui",  # the web UI's checks (the expected SIP expiry: sip_expiry.py)
    "resil_tui.core.site_picture",  # what the journal records of a judged site
    "resil_tui.core.cluster",  # the verdicts' rules (their words: core/cluster_kinds.py)
    "resil_tui.core.node_status",  # the snapshots (a node's reachability: reach_state.py)
    # An id for an action or an event, a batch's nonce, the local user's name: not before
    # the first connection (asyncssh imports them) or the first audit record or event.
    "secrets",
    "hashlib",
    "getpass",
    # The SSH library and its cryptography: with the first connection, in a thread.
    "asyncssh",
    "cryptography",
    # The help screen and the dialogs (their keys are in the catalog), and what trusting a
    # host key needs: when first opened.
    "resil_tui.ui.screens.help",
    "resil_tui.ui.screens.confirm",
    "resil_tui.ops.trust",
    # The command catalog and the batch's framing: with the first poll.
    "resil_tui.remote.commands",
    "resil_tui.core.batch",
    "resil_tui.core.log_readers",
    # The command palette's provider: when the palette first opens.
    "resil_tui.ui.commands",
    # What only a mistake in the inventory needs.
    "resil_tui.config_error",
    # The session's pool and collector, the audit log and what feeds the journal: opened
    # once the first screen is painted (the screen shows the inventory, nothing polled).
    "resil_tui.remote.pool",
    "resil_tui.ops.status",
    "resil_tui.ops.journal_feed",
    "resil_tui.audit",
    # What the collector and the journal tell the console: heard once the session is open.
    "resil_tui.ops.status_events",
    "resil_tui.journal",
    "resil_tui.core.journal_event",
    "json",
]


def _run(tmp_path: Path, script: str) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        XDG_STATE_HOME=str(tmp_path / "state"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        PYTHONPATH=str(ROOT),
    )
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
        cwd=ROOT,
    )


def _lines(out: str) -> dict[str, str]:
    return {k: v for k, _, v in (line.partition(" ") for line in out.splitlines())}


def test_each_pane_class_takes_its_keys_from_the_catalog() -> None:
    for spec in PANES:
        cls = spec.load()
        assert issubclass(cls, Pane)
        assert (spec.pane_id, spec.title) == (cls.PANE_ID, cls.TITLE)
        assert cls.BINDINGS is spec.bindings


def test_each_dialog_takes_its_keys_from_the_catalog() -> None:
    assert HelpScreen.BINDINGS is HELP_BINDINGS
    assert ConfirmScreen.BINDINGS is CONFIRM_BINDINGS
    assert TypedConfirmScreen.BINDINGS is TYPED_CONFIRM_BINDINGS


def test_keys_of_panes_not_imported_are_listed_and_checked(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from resil_tui.ui.app import ResilApp\n"
        "from resil_tui.ui.keymap import check_keymap\n"
        f"lazy = {LAZY!r}\n"
        "known = [i.id for i in ResilApp.binding_infos()]\n"
        "check = check_keymap({'ha.replicate': 'f9', 'logs.open': 'f8', 'timeline.nope': 'f7'},"
        " known)\n"
        "print('LOADED', ' '.join(m for m in lazy if m in sys.modules))\n"
        "print('IDS', ' '.join(known))\n"
        "print('VALID', ' '.join(sorted(check.valid)))\n"
        "print('UNKNOWN', ' '.join(check.unknown_ids))\n"
    )
    proc = _run(tmp_path, script)
    assert proc.returncode == 0, proc.stderr
    found = _lines(proc.stdout)
    assert found["LOADED"] == ""
    ids = set(found["IDS"].split())
    for spec in PANES:
        assert {b.id for b in spec.bindings if isinstance(b, Binding)} <= ids, spec.pane_id
    assert found["VALID"] == "ha.replicate logs.open"
    assert found["UNKNOWN"] == "timeline.nope"


def test_console_starts_without_the_collector_and_turns_it_back_on(tmp_path: Path) -> None:
    inv = smallest_inventory(tmp_path / "smallest.toml")
    script = (
        "import asyncio, gc, sys, types\n"
        "from textual.app import App\n"
        "from textual.screen import Screen\n"
        "seen = {'FOCUSED': []}\n"
        "set_focus = Screen.set_focus\n"
        "def record_focus(self, widget, *a, **k):\n"
        "    if 'PAINTED' not in seen and widget is not None:\n"
        "        seen['FOCUSED'].append(type(widget).__name__)\n"
        "    return set_focus(self, widget, *a, **k)\n"
        "Screen.set_focus = record_focus\n"
        "def loaded(name):  # a lazy module is in sys.modules before it is loaded\n"
        "    return type(sys.modules.get(name)) is types.ModuleType\n"
        "async def pilot(p):\n"
        "    seen['FIRST'] = gc.isenabled()\n"
        "    painted = asyncio.Event()\n"
        "    p.app.call_after_refresh(painted.set)  # as bench/startup.py: the first paint\n"
        "    await painted.wait()\n"
        "    seen['PAINTED'] = True\n"
        f"    seen['LOADED'] = [m for m in {LAZY!r} if m in sys.modules]\n"
        f"    seen['PARSERS'] = [m for m in {PARSERS!r} if loaded(m)]\n"
        "    from resil_tui.ui.panes.base import Pane\n"
        "    for _ in range(400):\n"
        "        if len(p.app.query(Pane)) == 6 and gc.isenabled()"
        f" and gc.get_threshold()[0] == {YOUNG_THRESHOLD}:\n"
        "            break\n"
        "        await asyncio.sleep(0.05)\n"
        "    seen['PANES'] = len(p.app.query(Pane))\n"
        "    seen['STARTED'] = gc.isenabled()\n"
        "    seen['YOUNG'] = gc.get_threshold()[0]\n"
        "    seen['FROZEN'] = gc.get_freeze_count() > 0\n"
        "    p.app.exit()\n"
        "original = App.run_async\n"
        "async def run_async(self, *a, **k):\n"
        "    return await original(self, headless=True, size=(120, 40), auto_pilot=pilot)\n"
        "App.run_async = run_async\n"
        "from resil_tui.entry import main\n"
        f"code = main(['--hosts', {str(inv)!r}])\n"
        "seen['AFTER'] = gc.isenabled()\n"
        "for k, v in seen.items():\n"
        "    print(k, v)\n"
        "sys.exit(code)\n"
    )
    proc = _run(tmp_path, script)
    assert proc.returncode == 0, proc.stderr
    found = _lines(proc.stdout)
    assert found["FIRST"] == "False"
    # The first screen is painted before the other panes' modules are imported.
    assert found["LOADED"] == "[]"
    assert found["PARSERS"] == "[]"
    # Along the program's own path the first focus goes straight to the pane shown (under
    # run_test the tab bar is not focused first either, so only this path can tell).
    assert found["FOCUSED"] == "['StatusPane']"
    assert (found["PANES"], found["STARTED"], found["AFTER"]) == ("6", "True", "True")
    # Once started, the collector runs as a long-running console's (gc_policy.py).
    assert (found["YOUNG"], found["FROZEN"]) == (str(YOUNG_THRESHOLD), "True")
