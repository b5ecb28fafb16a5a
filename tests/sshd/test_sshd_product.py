"""The product's own SSH layer and status collection against real OpenSSH sshd."""

from __future__ import annotations

import asyncio
import os
import stat
import time
from pathlib import Path

import pytest
from sshd_fixture import SshdLab, SshdLabFactory

from resil_tui.inventory import load_inventory
from resil_tui.inventory_model import Inventory, NodeKind
from resil_tui.ops.node_reads import KINDS
from resil_tui.ops.session import make_pool
from resil_tui.ops.status import StatusCollector
from resil_tui.remote import commands as cat
from resil_tui.remote import sftp
from resil_tui.remote.errors import ErrorKind, RemoteError


@pytest.fixture(autouse=True)
def _xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def inventory_of(lab: SshdLab) -> Inventory:
    return load_inventory(lab.inventory_path)


async def test_whole_site_status(sshd_lab: SshdLab, tmp_path: Path) -> None:
    inv = inventory_of(sshd_lab)
    pool = make_pool(inv, audit_path=tmp_path / "audit.jsonl")
    try:
        (report,) = await StatusCollector(inv, pool).poll()
    finally:
        await pool.close()
    assert report.verdicts.primary.code == "normal", report.verdicts.to_dict()
    assert all(s.reachability.ok for s in report.snapshot.nodes.values())
    master = report.snapshot.nodes["demo.xivo.master"]
    assert master.xivo is not None and master.xivo.ha is not None
    assert master.xivo.ha.mode.value == "master"
    assert master.xivo.sync_key_present is True
    edge = report.snapshot.nodes["demo.edge"]
    assert edge.edge is not None and edge.edge.targets is not None
    assert edge.edge.targets.overall.value == "master"
    # A status poll is read-only: nothing was audited.
    assert not (tmp_path / "audit.jsonl").exists()


async def test_one_remote_execution_per_node_per_refresh(sshd_lab: SshdLab, tmp_path: Path) -> None:
    # Through real OpenSSH: sshd hands each line to the lab's dispatcher (ForceCommand),
    # which records it. A refresh is one execution per node, and reads what it did before.
    inv = inventory_of(sshd_lab)
    pool = make_pool(inv, audit_path=tmp_path / "audit.jsonl")

    def execs(node_id: str) -> int:
        return sum(1 for c in sshd_lab.world.commands(node_id) if c.get("kind") == "exec")

    try:
        collector = StatusCollector(inv, pool)
        await collector.poll()  # the connections
        before = {n.id: execs(n.id) for n in inv.nodes()}
        (report,) = await collector.poll()
    finally:
        await pool.close()
    assert {n.id: execs(n.id) - before[n.id] for n in inv.nodes()} == {n.id: 1 for n in inv.nodes()}
    assert report.verdicts.primary.code == "normal"
    for snap in report.snapshot.nodes.values():
        assert snap.reachability.ok and snap.errors == [], (snap.node_id, snap.errors)
    master = report.snapshot.nodes["demo.xivo.master"]
    assert master.xivo is not None and master.xivo.services is not None
    assert master.xivo.sync_key_present is True and master.xivo.disabled_flag is False
    # Each part's output under its own command line.
    assert len(master.raw) == len(KINDS[NodeKind.XIVO].reads)
    # Phones and calls through real OpenSSH: counted on the master, n/a on the standby.
    counts = master.phone_counts()
    assert counts is not None and counts.state.value == "counted" and counts.total == 40
    standby = report.snapshot.nodes["demo.xivo.slave"].phone_counts()
    assert standby is not None and standby.phones_text() == "n/a (standby)"


async def test_atomic_replace_of_edge_env_over_real_sftp(
    sshd_lab_factory: SshdLabFactory, tmp_path: Path
) -> None:
    lab = sshd_lab_factory()
    inv = inventory_of(lab)
    node = inv.node("demo.edge")
    path = node.paths.edge_env
    local = Path(path)
    os.chmod(local, 0o640)
    pool = make_pool(inv, audit_path=tmp_path / "audit.jsonl")
    try:
        before = await sftp.read_file(pool, node, path)
        assert before is not None and b"XIVO_HOST" in before
        new = before.replace(b"NGINX_WORKER_CONNECTIONS", b"NGINX_WORKER_CONNECTIONS_X")
        result = await sftp.replace_file(
            pool, node, path, new, expected_sha256=sftp.sha256_hex(before), step="test"
        )
        assert result.changed and result.backup is not None
        assert local.read_bytes() == new
        assert stat.S_IMODE(local.stat().st_mode) == 0o640
        assert Path(result.backup).read_bytes() == before
        # The preview's hash no longer matches: a second apply is refused, file untouched.
        with pytest.raises(RemoteError) as info:
            await sftp.replace_file(
                pool, node, path, before, expected_sha256=sftp.sha256_hex(before), step="test"
            )
        assert info.value.kind is ErrorKind.CONFLICT
        assert local.read_bytes() == new
    finally:
        await pool.close()
    leftovers = [p.name for p in local.parent.iterdir() if "resil-tmp" in p.name]
    assert not leftovers


async def test_thirty_commands_on_one_connection(sshd_lab: SshdLab, tmp_path: Path) -> None:
    # OpenSSH allows 10 sessions per connection; the pool caps channels below that.
    inv = inventory_of(sshd_lab)
    node = inv.node("demo.xivo.slave")
    pool = make_pool(inv, audit_path=tmp_path / "audit.jsonl")
    try:
        results = await asyncio.gather(
            *(pool.run(node, cat.xivo_service_status(all=True)) for _ in range(30))
        )
    finally:
        await pool.close()
    assert all("Checking services" in r.stdout for r in results)
    assert all(r.exit_status is not None and not r.lost for r in results)


async def test_twenty_one_nodes_at_once(sshd_many: SshdLab, tmp_path: Path) -> None:
    # sshd's MaxStartups drops unauthenticated connections past 10: the pool must pace them.
    inv = inventory_of(sshd_many)
    assert len(inv.nodes()) >= 20
    pool = make_pool(inv, audit_path=tmp_path / "audit.jsonl")
    try:
        reports = await StatusCollector(inv, pool).poll()
    finally:
        await pool.close()
    down = [n for r in reports for n, s in r.snapshot.nodes.items() if not s.reachability.ok]
    assert down == []


async def _wait_for(predicate, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.1)
    return predicate()


async def test_stopped_follow_leaves_no_process(sshd_lab: SshdLab, tmp_path: Path) -> None:
    inv = inventory_of(sshd_lab)
    node = inv.node("demo.cc.slave")
    pool = make_pool(inv, audit_path=tmp_path / "audit.jsonl")

    def follows() -> list[str]:
        # The dispatcher's command line does not show the command (it comes in
        # SSH_ORIGINAL_COMMAND); nothing else runs on this node during the test.
        return [p.cmdline for p in sshd_lab.node_commands(node.id)]

    try:
        command = cat.compose_logs("xivocc-dcomp", "xuc", follow=True, tail=5)
        async with pool.stream(node, command) as lines:
            got = [await lines.__anext__() for _ in range(3)]
            assert got
            assert await _wait_for(lambda: bool(follows())), "the follow never ran on the node"
        assert await _wait_for(lambda: not follows()), f"still running: {follows()}"
    finally:
        await pool.close()


async def test_sshd_killed_mid_command_then_back(
    sshd_lab_factory: SshdLabFactory, tmp_path: Path
) -> None:
    lab = sshd_lab_factory()
    inv = inventory_of(lab)
    node = inv.node("demo.cc.master")
    pool = make_pool(inv, audit_path=tmp_path / "audit.jsonl")
    collector = StatusCollector(inv, pool)
    try:
        command = cat.compose_logs("xivocc-dcomp", "xuc", follow=True, tail=1)
        with pytest.raises(RemoteError) as info:
            async with pool.stream(node, command) as lines:
                await lines.__anext__()
                lab.stop_node(node.id)
                async for _ in lines:
                    pass
        assert info.value.kind is ErrorKind.DROPPED
        down = await collector.poll_node(node)
        assert not down.reachability.ok
        assert down.reachability.state.value in {"refused", "dropped", "timeout"}
        other = await collector.poll_node(inv.node("demo.cc.slave"))
        assert other.reachability.ok
        lab.start_node(node.id)
        up = None
        for _ in range(20):  # reconnect backoff: a few tries
            up = await collector.poll_node(node)
            if up.reachability.ok:
                break
            await asyncio.sleep(0.3)
        assert up is not None and up.reachability.ok, up
    finally:
        await pool.close()


async def test_edge_switch_and_rollback_over_real_sftp(
    sshd_lab_factory: SshdLabFactory, tmp_path: Path
) -> None:
    from resil_tui.core.edge_env import Direction
    from resil_tui.ops.edge import ContainerWait, apply_switch, load_preview, rollback

    lab = sshd_lab_factory()
    inv = inventory_of(lab)
    site = inv.site("demo")
    local = Path(site.edges[0].paths.edge_env)
    old = local.read_bytes()
    pool = make_pool(inv, audit_path=tmp_path / "audit.jsonl")
    try:
        preview = await load_preview(pool, site, site.edges[0])
        plan = preview.plan(Direction.TO_SLAVE)
        outcome = await apply_switch(pool, preview.node, plan, wait=ContainerWait(10, 0.2))
        assert outcome.ok, outcome.message
        assert local.read_bytes() == plan.new_text.encode()
        assert b"XIVO_HOST=10.50.0.12" in local.read_bytes()
        back = await rollback(pool, preview.node, wait=ContainerWait(10, 0.2))
        assert back.ok, back.message
        assert local.read_bytes() == old
    finally:
        await pool.close()
    audit = (tmp_path / "audit.jsonl").read_text()
    assert "before_sha256" in audit and "edge-dcomp up -d" in audit


async def test_closing_a_followed_log_leaves_no_process(sshd_lab: SshdLab, tmp_path: Path) -> None:
    from resil_tui.ops.logs import LogLines, follow

    inv = inventory_of(sshd_lab)
    node = inv.node("demo.cc.master")
    pool = make_pool(inv, audit_path=tmp_path / "audit.jsonl")
    try:
        async with follow(pool, node, "xuc", tail=3) as follower:
            async for event in follower:
                if isinstance(event, LogLines) and event.lines:
                    break
            assert await _wait_for(lambda: bool(sshd_lab.node_commands(node.id)))
        # The tab closed: the remote `xivocc-dcomp logs -f` is gone from the node.
        assert await _wait_for(lambda: not sshd_lab.node_commands(node.id)), sshd_lab.node_commands(
            node.id
        )
    finally:
        await pool.close()


async def test_web_ui_part_read_back_over_real_sshd(
    sshd_lab_factory: SshdLabFactory, tmp_path: Path
) -> None:
    """Issue 16 on real OpenSSH: after a role change through sysconfd alone, the SIP
    expiry (psql) and provd's default config (its file) are read back as 'differs';
    after the web UI's HA save (the lab's action) the status poll reads both ok."""
    from resil_tui.lab import xivo as lab_xivo
    from resil_tui.ops.ha import apply_ha_mode, ha_site_state, validate_for_node

    lab = sshd_lab_factory()
    inv = inventory_of(lab)
    site = inv.site("demo")
    master = inv.node("demo.xivo.master")
    world_master = lab.world.node("demo.xivo.master")
    pool = make_pool(inv, audit_path=tmp_path / "audit.jsonl")
    try:
        rec = await apply_ha_mode(pool, master, validate_for_node(site, master, "disabled", ""))
        assert rec.ok, rec.lines
        await lab_xivo.web_ui_ha_save(lab.world, world_master, 0.0)  # HA-off values, blank
        rec = await apply_ha_mode(
            pool, master, validate_for_node(site, master, "master", "10.50.0.12")
        )
        assert rec.ok, rec.lines
        assert rec.web_ui is not None
        assert rec.web_ui.sip.state.value == "differs", rec.web_ui.sip
        assert rec.web_ui.registrar.state.value == "differs", rec.web_ui.registrar
        assert any("save it with the same mode and peer" in line for line in rec.lines)

        await lab_xivo.web_ui_ha_save(lab.world, world_master, 0.0)
        report = await StatusCollector(inv, pool).poll_nodes(site, [master.id])
        check = ha_site_state(site, report).node(master.id).web_ui_check()  # type: ignore[union-attr]
        assert check.sip.state.value == "ok", check.sip
        assert check.registrar.state.value == "ok", check.registrar
        assert "10.50.0.12" in check.registrar.detail
    finally:
        await pool.close()


async def test_three_server_edge_switched_and_rolled_back_through_real_sshd(
    sshd_lab_factory: SshdLabFactory, tmp_path: Path
) -> None:
    # A 3-server Edge: both Edge nodes behind their own sshd, switched together (each under
    # its lock, one up -d each), then both restored from their own backup.
    from resil_tui.core.edge_env import Direction
    from resil_tui.lab.spec import LabSpec
    from resil_tui.ops.edge import ContainerWait, EdgeChange, apply_switches, load_previews
    from resil_tui.ops.edge import rollback as edge_rollback

    lab = sshd_lab_factory(LabSpec.demo(edges=("web", "sip")))
    inv = inventory_of(lab)
    site = inv.site("demo")
    assert [n.id for n in site.edges] == ["demo.edge.web", "demo.edge.sip"]
    files = {n.id: lab.world.resolve(n.id, n.paths.edge_env) for n in site.edges}
    before = {nid: f.read_bytes() for nid, f in files.items()}
    wait = ContainerWait(10, 0.2)

    def ups(node_id: str) -> int:
        return sum(
            1 for c in lab.world.commands(node_id) if c.get("argv") == ["edge-dcomp", "up", "-d"]
        )

    pool = make_pool(inv, audit_path=tmp_path / "audit.jsonl")
    try:
        previews = await load_previews(pool, site)
        done = await apply_switches(
            pool, [EdgeChange.of(p, Direction.TO_SLAVE) for p in previews], wait=wait
        )
        assert done.ok, [o.message for o in done.outcomes]
        for nid, f in files.items():
            assert b"XIVO_HOST=10.50.0.12\n" in f.read_bytes(), nid
            assert ups(nid) == 1, nid
        for node in site.edges:
            back = await edge_rollback(pool, node, wait=wait)
            assert back.ok, back.message
    finally:
        await pool.close()
    assert {nid: f.read_bytes() for nid, f in files.items()} == before
    audit = (tmp_path / "audit.jsonl").read_text()
    assert all(nid in audit for nid in files)


async def test_a_console_reads_through_a_kept_shell_over_real_sshd(
    sshd_lab_factory: SshdLabFactory, tmp_path: Path
) -> None:
    # sshd runs `sh` through the dispatcher (ForceCommand), whose shell reads its stdin a
    # line at a time: after the first refreshes, a refresh is one line per node, no new
    # execution, and the picture is the same as one execution per read.
    lab = sshd_lab_factory()
    inv = inventory_of(lab)
    kept = make_pool(inv, audit_path=tmp_path / "audit.jsonl", keep_shells=True)
    plain = make_pool(inv, audit_path=tmp_path / "audit-plain.jsonl")

    def received(node_id: str) -> list[str | None]:
        return [c.get("via") for c in lab.world.commands(node_id) if c.get("kind") == "exec"]

    try:
        collector, alone = StatusCollector(inv, kept), StatusCollector(inv, plain)
        for _ in range(50):
            await collector.poll()
            if all(kept.kept_shell(n.id) for n in inv.nodes()):
                break
            await asyncio.sleep(0.1)
        assert all(kept.kept_shell(n.id) for n in inv.nodes())
        await alone.poll()
        before = {n.id: len(received(n.id)) for n in inv.nodes()}
        (report,) = await collector.poll()
        (other,) = await alone.poll()
        assert {n.id: received(n.id)[before[n.id] :] for n in inv.nodes()} == {
            n.id: ["stdin", None]
            for n in inv.nodes()  # the kept shell's line, then plain's
        }
        assert report.verdicts.primary.code == other.verdicts.primary.code == "normal"
        for node_id, snap in report.snapshot.nodes.items():
            assert snap.reachability.ok and snap.errors == [], (node_id, snap.errors)
            assert snap.raw.keys() == other.snapshot.nodes[node_id].raw.keys(), node_id
        master = report.snapshot.nodes["demo.xivo.master"]
        assert master.xivo is not None and master.xivo.ha is not None
        assert master.xivo.ha.mode.value == "master" and master.xivo.sync_key_present is True
        # sshd gone with the shell open: the read fails over to a new connection once the
        # node is back, and a new shell is kept there.
        node = inv.node("demo.xivo.slave")
        lab.stop_node(node.id)
        down = await collector.poll_node(node)
        assert not down.reachability.ok
        lab.start_node(node.id)
        for _ in range(30):
            up = await collector.poll_node(node)
            if up.reachability.ok and kept.kept_shell(node.id):
                break
            await asyncio.sleep(0.3)
        assert up.reachability.ok and kept.kept_shell(node.id)
    finally:
        await kept.close()
        await plain.close()
