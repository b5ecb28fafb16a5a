"""The watcher's parts that need no node: the listen address rule, the on_change runner
(no shell, JSON on stdin, killed with its children at the timeout) and the [watch] and
[journal] tables of the inventory (checked with file, line and key)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from resil_tui.core.journal_event import EventKind, JournalEvent
from resil_tui.inventory import InventoryError, parse_inventory
from resil_tui.inventory_model import WatchSettings
from resil_tui.ops.metrics_http import ListenRefused, listen_address
from resil_tui.ops.notify import ChangeNotifier

EXAMPLE = Path(__file__).resolve().parents[2] / "hosts.example.toml"


def test_listen_is_loopback_unless_allowed() -> None:
    assert str(listen_address("127.0.0.1:9477")) == "127.0.0.1:9477"
    assert str(listen_address("[::1]:9477")) == "[::1]:9477"
    assert str(listen_address("localhost:9477")) == "127.0.0.1:9477"
    with pytest.raises(ListenRefused, match="not a loopback address"):
        listen_address("0.0.0.0:9477")
    with pytest.raises(ListenRefused, match="not a loopback address"):
        listen_address("10.1.2.3:9477")
    assert str(listen_address("0.0.0.0:9477", allow_remote=True)) == "0.0.0.0:9477"
    for bad in ("9477", "127.0.0.1:", "127.0.0.1:99999", "127.0.0.1:x", "metrics.example.com:9477"):
        with pytest.raises(ListenRefused):
            listen_address(bad, allow_remote=True)


def verdict_event() -> JournalEvent:
    return JournalEvent(
        time.time(), "paris", None, EventKind.VERDICT, "normal", "failed_over", "x"
    ).with_id()


async def test_on_change_gets_the_entry_as_json_and_no_shell(tmp_path: Path) -> None:
    out = tmp_path / "got.json"
    script = f"import sys; open({str(out)!r}, 'w').write(sys.stdin.read()); print('sent')"
    shell = f"; touch {tmp_path / 'shell-ran'}"  # an argument, never a shell command
    notifier = ChangeNotifier(WatchSettings((sys.executable, "-c", script, shell), 10.0))
    result = await notifier.notify(verdict_event())
    assert result.exit_status == 0 and result.detail == "exit 0"
    assert not (tmp_path / "shell-ran").exists()
    doc = json.loads(out.read_text())
    assert doc["schema_version"] == 1 and doc["event"]["to"] == "failed_over"
    assert doc["event"]["kind"] == "verdict" and doc["event"]["site"] == "paris"
    # Only the chosen kinds go: a reachability entry is not submitted.
    reach = JournalEvent(1.0, "paris", "paris.edge", EventKind.REACHABILITY, None, "reachable")
    notifier.submit(reach.with_id())
    assert notifier._queue.empty()
    first = JournalEvent(1.0, "paris", None, EventKind.VERDICT, None, "normal").with_id()
    notifier.submit(first)  # first seen: a baseline, not a change
    assert notifier._queue.empty()
    notifier.submit(verdict_event())
    assert notifier._queue.qsize() == 1


async def test_on_change_is_killed_with_its_children_at_the_timeout(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    script = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(60)\n"
    )
    notifier = ChangeNotifier(WatchSettings((sys.executable, "-c", script), 1.0))
    started = time.monotonic()
    result = await notifier.notify(verdict_event())
    assert result.exit_status is None and "timeout" in result.detail
    assert time.monotonic() - started < 30
    child = int(pid_file.read_text())
    for _ in range(100):  # reaped by init once killed
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        with open(f"/proc/{child}/stat") as stat:
            if stat.read().split()[2] == "Z":
                break
        time.sleep(0.05)
    else:
        raise AssertionError("the on_change command's child outlived the timeout")


async def test_an_on_change_that_cannot_start_is_reported(tmp_path: Path) -> None:
    notifier = ChangeNotifier(WatchSettings((str(tmp_path / "missing"),), 1.0))
    result = await notifier.notify(verdict_event())
    assert result.exit_status is None and "could not start" in result.detail


def test_watch_and_journal_tables_are_checked_with_file_line_and_key() -> None:
    base = EXAMPLE.read_text()
    good = parse_inventory(
        base + "\n[journal]\nmax_age_days = 30\n\n[watch]\n"
        'on_change = ["/usr/bin/logger", "-t", "resil"]\n'
        'on_change_kinds = ["verdict", "reachability"]\n'
    )
    assert good.watch.on_change == ("/usr/bin/logger", "-t", "resil")
    assert good.watch.on_change_kinds == ("verdict", "reachability")
    assert good.journal.max_age_days == 30.0
    text = (
        base + '\n[watch]\non_change = "mail -s alert root"\non_change_timeout = 0\n'
        'on_change_kinds = ["verdicts"]\nonchange = 1\n\n[journal]\nmax_size_mb = 0\n'
    )
    with pytest.raises(InventoryError) as info:
        parse_inventory(text, file="hosts.toml")
    errors = [str(e) for e in info.value.errors]
    first = base.count("\n") + 2
    assert any(
        e.startswith(f"hosts.toml:{first + 1}: watch.on_change: must be an array") for e in errors
    ), errors
    assert any("watch.on_change_timeout: 0 must be between 0.1 and 600" in e for e in errors)
    assert any("watch.on_change_kinds: unknown kind 'verdicts'" in e for e in errors)
    assert any("watch.onchange: unknown key (did you mean 'on_change'?)" in e for e in errors)
    assert any("journal.max_size_mb: 0 must be between 1 and 1024" in e for e in errors)
    with pytest.raises(InventoryError, match="must be an absolute path"):
        parse_inventory(base + '\n[watch]\non_change = ["logger", "-t", "resil"]\n')
