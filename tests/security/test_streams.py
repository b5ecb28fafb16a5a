"""Inventory log streams: readers only, refused at load (check-config) and again by the
catalog; run in read-only mode only when allowed; every stream start audited."""

from __future__ import annotations

import dataclasses
import json
import shlex
from pathlib import Path

import pytest
from hostile import FUZZ, counted
from hypothesis import given
from hypothesis import strategies as st

from resil_tui.core.log_readers import READERS, ReaderRefused, check_reader
from resil_tui.inventory import InventoryError, load_inventory, parse_inventory
from resil_tui.inventory_model import LogStreamSpec
from resil_tui.lab.server import Lab
from resil_tui.ops.logs import FollowState, LogFollower, LogLines, LogState, find_stream
from resil_tui.ops.session import make_pool
from resil_tui.remote import commands as cat
from resil_tui.remote.commands import CommandError

ALLOWED = [
    ["tail", "-F", "/var/log/syslog"],
    ["tail", "-n", "50", "-f", "/var/log/a.log", "/var/log/b.log"],
    ["tail", "--lines=+10", "--follow=name", "--retry", "--", "/var/log/x"],
    ["cat", "/var/log/xivo-sync.log"],
    ["journalctl", "-u", "asterisk", "-f", "-n", "100", "--no-pager", "-o", "short-iso"],
    ["journalctl", "--unit=xivo-*", "--since", "-1h", "-p", "err..alert", "-b"],
    ["docker", "logs", "-f", "--tail", "100", "-t", "xuc"],
    ["xivocc-dcomp", "logs", "-f", "--tail", "10", "xuc", "nginx"],
    ["edge-dcomp", "logs", "--since", "2026-11-25T10:00:00Z", "--no-color"],
]
REFUSED = [
    (["xivo-service", "stop"], "not an allowed log reader"),
    (["journalctl", "--vacuum-size=1K"], "not a reading option"),
    (["journalctl", "--rotate"], "not a reading option"),
    (["journalctl", "--flush"], "not a reading option"),
    (["journalctl", "-u", "x", "--sync"], "not a reading option"),
    (["journalctl", "_PID=1"], "use -u UNIT"),
    (["tail", "-f"], "needs at least one file path"),
    (["tail", "--pid=1", "/var/log/x"], "not a reading option"),
    (["tail", "-F", "../../etc/shadow"], "refused remote path"),
    (["tail", "-F", "/var/log/../../etc/shadow"], "no '.', '..'"),
    (["/usr/bin/tail", "-F", "/var/log/x"], "not an allowed log reader"),
    (["sh", "-c", "tail -F /var/log/x"], "not an allowed log reader"),
    (["docker", "rm", "-f", "xuc"], "only `docker logs`"),
    (["docker", "logs", "a", "b"], "exactly one container"),
    (["docker", "logs", "--until", "$(id)", "xuc"], "not a valid time"),
    (["xivocc-dcomp", "restart", "xuc"], "only `xivocc-dcomp logs`"),
    (["edge-dcomp", "up", "-d"], "only `edge-dcomp logs`"),
    (["edge-dcomp", "logs", "-f", "x;reboot"], "not a valid service"),
    (["cat", "/var/log/x\n"], "NUL/newline"),
    (["tail", "-F", "/var/log/\x1b[2J"], "control characters"),
    ([], "empty"),
]


@pytest.mark.parametrize("argv", ALLOWED, ids=lambda a: " ".join(a)[:40])
def test_readers_are_allowed_by_loader_and_catalog(argv: list[str]) -> None:
    assert check_reader(argv) == tuple(argv)
    assert cat.custom_log(argv, "x").argv == tuple(argv)
    assert not cat.custom_log(argv).mutates


@pytest.mark.parametrize(("argv", "why"), REFUSED, ids=lambda a: str(a)[:40])
def test_anything_else_is_refused_with_the_reason(argv: list[str], why: str) -> None:
    with pytest.raises(ReaderRefused) as info:
        check_reader(argv)
    assert why in str(info.value)
    with pytest.raises(CommandError) as again:
        cat.custom_log(argv, "evil")
    assert "log stream 'evil' refused" in str(again.value) and why in str(again.value)


def _stream_inventory(lab: Lab, tmp_path: Path, command: list[str], read_only: bool) -> Path:
    text = lab.inventory_path.read_text()
    if read_only:
        text = text.replace("read_only = false", "read_only = true")
    header = "[site.demo.xivo.master]\n"
    assert header in text
    entry = 'logs = [{ name = "evil", command = ' + json.dumps(command) + " }]\n"
    path = tmp_path / "hosts.toml"
    path.write_text(text.replace(header, header + entry, 1))
    return path


async def test_check_config_refuses_a_changing_stream_with_file_line_and_key(
    lab: Lab, tmp_path: Path
) -> None:
    path = _stream_inventory(lab, tmp_path, ["xivo-service", "stop"], read_only=True)
    with pytest.raises(InventoryError) as info:
        load_inventory(path)
    (err,) = info.value.errors
    assert err.file == str(path) and err.line is not None
    assert err.key == "site.demo.xivo.master.logs[0].command"
    assert "log stream 'evil' refused" in err.message and "xivo-service" in err.message
    lines = path.read_text().splitlines()
    assert "logs = " in lines[err.line - 1]


async def test_read_only_with_a_hostile_stream_sends_nothing_beyond_the_allow_list(
    lab: Lab, tmp_path: Path
) -> None:
    path = _stream_inventory(lab, tmp_path, ["tail", "-n", "5", "/var/log/xivo-sync.log"], True)
    inventory = load_inventory(path)
    assert inventory.read_only
    master = inventory.node("demo.xivo.master")
    # A planted node model that bypassed the loader: the catalog refuses it again.
    planted = dataclasses.replace(
        master,
        logs=(
            *master.logs,
            LogStreamSpec("stop", ("xivo-service", "stop")),
            LogStreamSpec("vacuum", ("journalctl", "--vacuum-time=1s")),
        ),
    )
    audit = tmp_path / "audit.jsonl"
    pool = make_pool(inventory, audit_path=audit)
    before = len(lab.commands(master.id))
    try:
        for name in ("stop", "vacuum"):
            follower = LogFollower(pool, planted, find_stream(planted, name), follow=False)
            states = []
            async with follower:
                async for event in follower:
                    if isinstance(event, LogState):
                        states.append(event)
            assert states[-1].state is FollowState.FAILED
            assert f"log stream {name!r} refused" in states[-1].message
        good = LogFollower(pool, planted, find_stream(planted, "evil"), follow=False)
        got: list[str] = []
        async with good:
            async for event in good:
                if isinstance(event, LogLines):
                    got += event.lines
        assert got  # the allowed reader did run
    finally:
        await pool.close()
    received = [c for c in lab.commands(master.id)[before:]]
    assert [c["argv"] for c in received] == [["tail", "-n", "5", "/var/log/xivo-sync.log"]]
    for c in received:
        check_reader(c["argv"])  # every command the node received is an allowed reader
    # Every stream start is audited, read-only included; nothing else was recorded.
    records = [json.loads(x) for x in audit.read_text().splitlines()]
    assert [(r["kind"], r["result"], r["command"]) for r in records] == [
        ("stream", "started", "tail -n 5 /var/log/xivo-sync.log")
    ]


# --- properties --------------------------------------------------------------------------

TOKENS = [
    *(r.split()[0] for r in READERS),
    "logs",
    "rm",
    "stop",
    "restart",
    "up",
    "-d",
    "-f",
    "-F",
    "-n",
    "5",
    "-u",
    "x",
    "--vacuum-size=1",
    "--rotate",
    "--flush",
    "--sync",
    "--pid=1",
    "-exec",
    "/var/log/x",
    "/etc/../x",
    "$(id)",
    ";",
    "--",
    "--tail",
    "--since",
    "-1h",
]
NEVER = {"--vacuum-size=1", "--rotate", "--flush", "--sync", "--pid=1", "-exec", "$(id)", ";"}


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=8))
def test_no_accepted_argv_can_change_anything(argv: list[str]) -> None:
    counted("log readers: allow-list holds")
    try:
        check_reader(argv)
    except ReaderRefused:
        accepted = False
    else:
        accepted = True
        assert argv[0] in {r.split()[0] for r in READERS}
        if argv[0] in ("docker", "xivocc-dcomp", "edge-dcomp"):
            assert argv[1] == "logs"  # `up`, `rm`, `restart` here are only service names
        assert not NEVER & set(argv)
    # check-config = runtime: the loader and the catalog agree on every argv.
    doc = (
        '[site.s.xivo.master]\nssh = "h1"\nvoip_ip = "10.0.0.1"\n'
        f'logs = [{{ name = "x", command = {json.dumps(argv)} }}]\n'
        '[site.s.xivo.slave]\nssh = "h2"\nvoip_ip = "10.0.0.2"\n'
    )
    try:
        parse_inventory(doc)
        loads = True
    except InventoryError:
        loads = False
    assert loads == (accepted and bool(argv)), shlex.join(argv)
