"""Payloads x display paths: each payload alone, through each path where node text becomes
product text; per cell the payload must arrive (made visible) and 0 characters leak.

The matrix is printed at the end of the run (docs/SECURITY.md quotes it) and written to
$RESIL_SECURITY_MATRIX (JSON) when that variable is set.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncssh
import hostile_server  # its ALL is swapped per payload below
import pytest
from hostile import MATRIX, PAYLOADS, escapes, leaks
from hostile_server import HOST, HostileServer

from resil_tui.core.edge_env import Direction
from resil_tui.core.nagios import SiteCheck, Thresholds, plugin_output
from resil_tui.core.node_status import Reachability, ReachState
from resil_tui.core.prometheus import SitePoll, exposition
from resil_tui.core.site_picture import observe
from resil_tui.core.wizard_report import render_report
from resil_tui.core.wizard_run import StepRecord, StepState, WizardRun
from resil_tui.inventory import load_inventory
from resil_tui.inventory_model import Node, NodeKind, SshSettings
from resil_tui.journal import Journal
from resil_tui.lab import facts
from resil_tui.lab import server as lab_server
from resil_tui.lab.server import Lab
from resil_tui.ops import edge as edge_ops
from resil_tui.ops import ha as ha_ops
from resil_tui.ops.logs import LogFollower, LogLines, find_stream
from resil_tui.ops.session import make_pool
from resil_tui.ops.status import StatusCollector
from resil_tui.remote import sftp
from resil_tui.remote.commands import Command
from resil_tui.remote.errors import RemoteError
from resil_tui.remote.pool import Pool


def visible(text: str) -> int:
    """Markers the sanitizer leaves: Control Pictures and ⟨U+XXXX⟩."""
    return sum(1 for ch in text if 0x2400 <= ord(ch) <= 0x2426) + text.count("⟨U+")


def cell(path: str, payload: str, text: Any) -> None:
    flat = json.dumps(text, ensure_ascii=False, default=str) if not isinstance(text, str) else text
    MATRIX.setdefault(payload, {})[path] = {
        "leaked": leaks(text),
        "escapes": escapes(flat),
        "visible": visible(flat),
    }


@pytest.fixture(params=sorted(PAYLOADS))
def payload(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    name: str = request.param
    monkeypatch.setattr(hostile_server, "ALL", PAYLOADS[name])
    monkeypatch.setattr(hostile_server, "PAYLOAD", PAYLOADS[name].encode())
    return name


def _node(srv: HostileServer, keys: Path, known: Path) -> Node:
    return Node(
        "t.xivo.master",
        "t",
        NodeKind.XIVO,
        None,
        SshSettings(
            host=HOST,
            port=srv.port,
            user="admin",
            identity_files=(str(keys / "id"),),
            known_hosts=str(known),
            connect_timeout=5.0,
            command_timeout=10.0,
            keepalive_interval=0.0,
            use_ssh_config=False,
        ),
    )


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[tuple[HostileServer, Node]]:
    keys = tmp_path / "keys"
    keys.mkdir()
    client = asyncssh.generate_private_key("ssh-ed25519")
    client.write_private_key(keys / "id")
    host = asyncssh.generate_private_key("ssh-ed25519")
    srv = await HostileServer(host, client.export_public_key().decode(), tmp_path / "root").start()
    known = tmp_path / "known_hosts"
    known.write_text(f"[{HOST}]:{srv.port} {host.export_public_key().decode().strip()}\n")
    try:
        yield srv, _node(srv, keys, known)
    finally:
        await srv.stop()


async def test_hostile_server_paths(
    payload: str, server: tuple[HostileServer, Node], tmp_path: Path
) -> None:
    srv, node = server
    text = PAYLOADS[payload]
    async with Pool(audit=tmp_path / "audit.jsonl", connect_attempts=1) as pool:
        result = await pool.run(node, Command("t", ("hostile",), mutates=False))
        cell("command output (stdout, stderr)", payload, result.stdout + result.stderr)
        got: list[str] = []
        async with pool.stream(node, Command("t", ("stream",), False, pty=True)) as lines:
            async for line in lines:
                got.append(line)
                if len(got) == 3:
                    break
        cell("stream lines", payload, got)
        async with pool.open_pty(node, Command("t", ("secret-split",), True, pty=True)) as s:
            s.send_secret("pw-1234")
            out = []
            while chunk := await s.read(5):
                out.append(chunk)
        cell("PTY reads", payload, "".join(out))
        with pytest.raises(RemoteError) as info:
            await sftp.read_file(pool, node, "/hostile-error")
        cell("SFTP error text", payload, info.value.message)
        srv.mode = "banner"
        await pool.disconnect(node)
        banner = await pool.run(node, Command("t", ("ok",), mutates=False))
        shown = banner.stdout + banner.stderr + banner.note + (pool.state(node.id).reason or "")
        # The banner is never displayed: the cell holds what of it surfaced (nothing).
        cell("auth banner (never shown)", payload, "Welcome" if "Welcome" in shown else "")
        srv.mode = "disconnect"
        await pool.disconnect(node)
        pool.reset(node)
        with pytest.raises(RemoteError) as info:
            await pool.run(node, Command("t", ("ok",), mutates=False))
        cell("pre-auth DISCONNECT reason", payload, info.value.message)
        cell("audit log", payload, (tmp_path / "audit.jsonl").read_text())
    for path, values in MATRIX[payload].items():
        assert values["leaked"] == 0 and values["escapes"] == 0, (path, values)
        if "never shown" not in path and "audit log" not in path:
            assert values["visible"] > 0 or (payload == "CR overwrite" and "stream" in path), (
                path,
                values,
            )
    assert text


@pytest.fixture
def inject(monkeypatch: pytest.MonkeyPatch, payload: str) -> bytes:
    data = PAYLOADS[payload].encode()
    io = lab_server._ProcessIO
    write, write_err = io.write, io.write_err

    def add(raw: bytes) -> bytes:
        return data + raw.replace(b"\n", b" " + data + b"\n")

    monkeypatch.setattr(io, "write", lambda self, raw: write(self, add(raw)))
    monkeypatch.setattr(io, "write_err", lambda self, raw: write_err(self, add(raw)))
    return data


async def test_lab_paths(payload: str, inject: bytes, lab: Lab, tmp_path: Path) -> None:
    text = PAYLOADS[payload]
    env = lab.world.resolve("demo.edge", facts.EDGE_ENV)
    env.write_bytes(env.read_bytes() + f"EDGE_NOTE=x{text}y\n".encode())
    log = lab.world.resolve("demo.xivo.master", facts.SYNC_LOG)
    with log.open("ab") as f:
        f.write(f"2026-11-25 10:00:00,000 [1] (INFO): {text}\n".encode())
    inventory = load_inventory(lab.inventory_path)
    site = inventory.site("demo")
    async with make_pool(inventory, audit_path=tmp_path / "audit.jsonl") as pool:
        reports = await StatusCollector(inventory, pool).poll()
        cell("status (--json document)", payload, [r.to_dict(include_raw=True) for r in reports])
        journal = Journal(tmp_path / "journal.jsonl")
        for r in reports:
            journal.record_site(observe(r.site, r.snapshot.nodes.values(), r.verdicts))
            # A node's error text (a hostile DISCONNECT reason, say) is evidence too.
            snap = r.snapshot.nodes["demo.xivo.master"]
            refused = Reachability(ReachState.ERROR, f"disconnect: {text}", snap.polled_at)
            later = dataclasses.replace(snap, reachability=refused, polled_at=time.time() + 1)
            journal.record_site(observe(r.site, [later], None))
        shown_entries = [e.describe() for e in journal.events()]
        cell("journal (history, Timeline)", payload, [*shown_entries, journal.path.read_text()])
        checks = [SiteCheck(r.snapshot, r.verdicts) for r in reports]
        cell("check plugin output", payload, plugin_output(checks, Thresholds()).text)
        polls = [SitePoll(r.snapshot, r.verdicts) for r in reports]
        cell("metrics exposition", payload, exposition(polls, 0.0, "x"))
        state = await ha_ops.read_ha_site(StatusCollector(inventory, pool), site)
        cell("HA state", payload, state.to_dict())
        preview = await edge_ops.load_preview(pool, site, site.edges[0])
        plan = preview.plan(Direction.TO_SLAVE)
        cell("Edge .env diff", payload, plan.unified_diff(preview.path))
        # A managed variable's value holding the payload, as the preview displays it.
        tainted = preview.text.replace("XIVO_HOST=", "XIVO_HOST=" + text + "x", 1)
        shown = dataclasses.replace(preview, text=tainted)
        cell("Edge values + notes", payload, [shown.values(), edge_ops.plan_notes(plan)])
        outcome = await edge_ops.apply_switch(
            pool,
            site.edges[0],
            plan,
            wait=edge_ops.ContainerWait(1.0, 0.2),  # type: ignore[arg-type]
        )
        cell(
            "Edge apply outcome",
            payload,
            [outcome.message, outcome.up_output, [s.detail for s in outcome.steps]],
        )
        master = inventory.node("demo.xivo.master")
        follower = LogFollower(pool, master, find_stream(master, "xivo-sync"), follow=False)
        lines: list[str] = []
        async with follower:
            async for event in follower:
                if isinstance(event, LogLines):
                    lines += event.lines
        cell("log follow lines", payload, lines)
        rec = await ha_ops.run_replication(pool, master, "10.50.0.12")
        cell("HA script output", payload, [rec.lines, rec.summary])
        await asyncio.sleep(0)
    cell("audit log (lab)", payload, (tmp_path / "audit.jsonl").read_text())
    report = render_report(
        WizardRun(
            run_id="r", site="demo", direction="failover", user="admin", started_at=0.0,
            site_key="k",
            steps=[
                StepRecord(
                    "edge.switch", "action", "Switch", state=StepState.FAILED,
                    message=outcome.message, output=[*lines, *rec.lines],
                )
            ],
        )
    )  # fmt: skip
    cell("wizard Markdown report", payload, report)
    for path, values in MATRIX[payload].items():
        assert values["leaked"] == 0 and values["escapes"] == 0, (path, values)
    arrived = [p for p, v in MATRIX[payload].items() if v["visible"] > 0]
    assert "status (--json document)" in arrived and "log follow lines" in arrived
