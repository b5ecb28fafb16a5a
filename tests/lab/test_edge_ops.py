"""ops.edge against the in-process lab: real SSH, real SFTP, the lab's edge-dcomp."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import asyncssh
import pytest

from resil_tui.audit import AuditLog
from resil_tui.core.edge_env import Direction
from resil_tui.core.edge_side import EdgeSide
from resil_tui.inventory import load_inventory
from resil_tui.inventory_model import Site
from resil_tui.lab import containers
from resil_tui.lab.server import Lab
from resil_tui.ops.edge import (
    APPLY_STEPS,
    ContainersPolled,
    ContainerWait,
    EdgeEvent,
    EdgeSetupError,
    EdgeStep,
    NodeState,
    StepFinished,
    StepStarted,
    apply_switch,
    default_direction,
    edge_addresses,
    list_edge_backups,
    load_preview,
    rollback,
)
from resil_tui.remote import commands as cat
from resil_tui.remote.errors import ErrorKind
from resil_tui.remote.pool import Pool, Result

EDGE = "demo.edge"
ENV = "/etc/docker/edge/.env"
FAST = ContainerWait(timeout=5.0, interval=0.05)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)


@pytest.fixture
def site(lab: Lab) -> Site:
    return load_inventory(lab.inventory_path).site("demo")


@pytest.fixture
async def pool(tmp_path: Path) -> AsyncIterator[Pool]:
    async with Pool(audit=tmp_path / "audit.jsonl") as p:
        yield p


def env_file(lab: Lab) -> Path:
    return lab.world.resolve(EDGE, ENV)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def leftovers(lab: Lab) -> list[str]:
    """Temp files of an interrupted atomic write."""
    return sorted(p.name for p in env_file(lab).parent.iterdir() if ".resil-tmp-" in p.name)


def sent(lab: Lab, argv0: str = "edge-dcomp") -> list[list[str]]:
    return [c["argv"] for c in lab.commands(EDGE) if c.get("argv", [None])[0] == argv0]


LOCK_DIR = "/var/lock"


def sftp_changes(lab: Lab) -> list[dict[str, object]]:
    """SFTP changes to the node's files; the change lock's own (mkdir, holder file,
    rmdir under /var/lock) are not changes to the Edge's files."""
    return [
        c
        for c in lab.commands(EDGE)
        if c.get("kind") == "sftp"
        and not all(str(p).startswith(LOCK_DIR) for p in c.get("paths", []))  # type: ignore[attr-defined]
    ]


class Recorder:
    def __init__(self) -> None:
        self.events: list[EdgeEvent] = []

    def __call__(self, event: EdgeEvent) -> None:
        self.events.append(event)

    def finished(self) -> list[tuple[EdgeStep, bool]]:
        return [(e.step, e.ok) for e in self.events if isinstance(e, StepFinished)]


async def test_apply_to_slave_and_back_restores_the_bytes(
    lab: Lab, site: Site, pool: Pool, tmp_path: Path
) -> None:
    original = env_file(lab).read_bytes()
    mode = env_file(lab).stat().st_mode & 0o7777
    nginx_before = containers.container(lab.world, EDGE, "nginx")
    assert nginx_before is not None and nginx_before["env"]["XIVO_HOST"] == "10.50.0.11"

    preview = await load_preview(pool, site, site.edges[0])
    assert preview.text.encode() == original
    assert preview.overall is EdgeSide.MASTER
    assert default_direction(preview.targets) is Direction.TO_SLAVE
    plan = preview.plan(Direction.TO_SLAVE)
    assert plan.applicable

    record = Recorder()
    outcome = await apply_switch(pool, site.edges[0], plan, on_event=record, wait=FAST)
    assert outcome.ok, outcome.message
    assert outcome.state is NodeState.APPLIED
    assert record.finished() == [(step, True) for step in APPLY_STEPS]
    assert any(isinstance(e, ContainersPolled) and e.all_up for e in record.events)

    switched = env_file(lab).read_bytes()
    assert switched == plan.new_text.encode()
    assert b"XIVO_HOST=10.50.0.12\n" in switched and b"XIVOCC_HOST=10.50.0.22\n" in switched
    # Whole addresses only: the .110 look-alike and the comment stay.
    assert b"EDGE_HOST_IP=10.50.0.110\n" in switched
    assert b"# Installed against the main XiVO 10.50.0.11" in switched
    assert env_file(lab).stat().st_mode & 0o7777 == mode
    assert leftovers(lab) == []

    # The backup holds the previous bytes, next to the file.
    assert outcome.backup is not None and outcome.backup.startswith(ENV + ".resil-")
    assert lab.world.resolve(EDGE, outcome.backup).read_bytes() == original

    # The containers were recreated with the new settings.
    nginx_after = containers.container(lab.world, EDGE, "nginx")
    assert nginx_after is not None
    assert nginx_after["env"]["XIVO_HOST"] == "10.50.0.12"
    assert nginx_after["created_at"] > nginx_before["created_at"]
    assert ["edge-dcomp", "up", "-d"] in sent(lab)

    # The audit log: the write with both hashes and the backup, then up -d, same step.
    records = AuditLog(tmp_path / "audit.jsonl").read()
    # Each change is recorded before it is sent, then with its result (same op id).
    writes = [r for r in records if r["kind"] == "write" and r["result"] != "started"]
    assert len(writes) == 1
    assert writes[0]["step"] == "edge switch to slave"
    assert writes[0]["before_sha256"] == sha(original)
    assert writes[0]["after_sha256"] == sha(switched)
    assert writes[0]["backup"] == outcome.backup
    assert writes[0]["result"] == "ok"
    ups = [r for r in records if r["command"] == "edge-dcomp up -d"]
    assert [(r["step"], r["exit_status"], r["result"]) for r in ups] == [
        ("edge switch to slave", None, "started"),
        ("edge switch to slave", 0, "ok"),
    ]
    assert ups[0]["op"] == ups[1]["op"]
    # The switch ran under the Edge's lock: taken before the write, released after.
    locks = [r["result"] for r in records if r["kind"] == "lock"]
    assert locks[:3] == ["started", "acquired", "released"]

    # And back to master: the very same bytes as before.
    back = await load_preview(pool, site, site.edges[0])
    assert back.overall is EdgeSide.SLAVE
    assert default_direction(back.targets) is Direction.TO_MASTER
    outcome2 = await apply_switch(pool, site.edges[0], back.plan(Direction.TO_MASTER), wait=FAST)
    assert outcome2.ok, outcome2.message
    assert env_file(lab).read_bytes() == original
    nginx_back = containers.container(lab.world, EDGE, "nginx")
    assert nginx_back is not None and nginx_back["env"]["XIVO_HOST"] == "10.50.0.11"
    assert len(await list_edge_backups(pool, site.edges[0])) == 2


async def test_file_changed_since_preview_is_refused_and_untouched(
    lab: Lab, site: Site, pool: Pool
) -> None:
    preview = await load_preview(pool, site, site.edges[0])
    plan = preview.plan(Direction.TO_SLAVE)
    edited = preview.text.encode() + b"# edited by a colleague meanwhile\n"
    env_file(lab).write_bytes(edited)

    outcome = await apply_switch(pool, site.edges[0], plan, wait=FAST)
    assert not outcome.ok
    assert outcome.state is NodeState.UNCHANGED
    assert outcome.failed_step is EdgeStep.CHECK
    assert outcome.error is not None and outcome.error.kind is ErrorKind.CONFLICT
    assert "changed since the preview" in outcome.message
    assert "nothing was written" in outcome.message
    assert not outcome.rollback_offered
    assert env_file(lab).read_bytes() == edited
    assert sftp_changes(lab) == [] and sent(lab) == []


async def test_change_between_check_and_write_is_refused_by_the_write(
    lab: Lab, site: Site, pool: Pool
) -> None:
    preview = await load_preview(pool, site, site.edges[0])
    edited = preview.text.encode().replace(b"TIMEZONE=Europe/Paris", b"TIMEZONE=UTC")

    def meddle(event: EdgeEvent) -> None:
        if isinstance(event, StepStarted) and event.step is EdgeStep.WRITE:
            env_file(lab).write_bytes(edited)

    outcome = await apply_switch(
        pool,
        site.edges[0],
        preview.plan(Direction.TO_SLAVE),  # type: ignore[arg-type]
        on_event=meddle,
        wait=FAST,
    )
    assert outcome.state is NodeState.UNCHANGED
    assert outcome.failed_step is EdgeStep.WRITE
    assert outcome.error is not None and outcome.error.kind is ErrorKind.CONFLICT
    assert env_file(lab).read_bytes() == edited
    assert sent(lab) == []


@pytest.mark.parametrize("step", APPLY_STEPS, ids=[s.value for s in APPLY_STEPS])
async def test_connection_dropped_at_each_step(
    lab: Lab, site: Site, pool: Pool, step: EdgeStep
) -> None:
    old = env_file(lab).read_bytes()
    preview = await load_preview(pool, site, site.edges[0])
    plan = preview.plan(Direction.TO_SLAVE)
    new = plan.new_text.encode()
    dropped: list[int] = []

    async def hook(event: EdgeEvent) -> None:
        if isinstance(event, StepStarted) and event.step is step:
            dropped.append(await lab.drop_connections(EDGE))

    outcome = await apply_switch(pool, site.edges[0], plan, on_event=hook, wait=FAST)
    assert dropped == [1]  # the pool's one connection was cut
    on_disk = env_file(lab).read_bytes()
    assert on_disk in (old, new), "never a partial file"
    assert leftovers(lab) == []
    if outcome.ok:
        assert on_disk == new and outcome.state is NodeState.APPLIED
    else:
        assert outcome.failed_step is step
        assert f"({step.value})" in outcome.message  # says where it stopped
        expected = new if outcome.state in (NodeState.WRITTEN, NodeState.APPLIED) else old
        assert on_disk == expected

    if step in (EdgeStep.CHECK, EdgeStep.WAIT, EdgeStep.UP):
        # Reads are retried on a fresh connection, and so is `up -d` when the drop came
        # before its channel opened (nothing was sent yet): the switch completes.
        assert outcome.ok, outcome.message
    elif step is EdgeStep.WRITE:
        assert outcome.state is NodeState.UNCHANGED
        assert "nothing was changed" in outcome.message
        assert sent(lab) == []


async def test_node_lost_before_up_leaves_the_file_switched_and_offers_rollback(
    lab: Lab, site: Site, pool: Pool
) -> None:
    preview = await load_preview(pool, site, site.edges[0])
    plan = preview.plan(Direction.TO_SLAVE)

    async def hook(event: EdgeEvent) -> None:
        if isinstance(event, StepStarted) and event.step is EdgeStep.UP:
            await lab.power_off(EDGE)

    outcome = await apply_switch(pool, site.edges[0], plan, on_event=hook, wait=FAST)
    await lab.power_on(EDGE)
    assert outcome.failed_step is EdgeStep.UP
    assert outcome.state is NodeState.WRITTEN
    assert "new .env written and verified" in outcome.message
    assert "still run with the old settings" in outcome.message
    assert outcome.rollback_offered
    assert env_file(lab).read_bytes() == plan.new_text.encode()
    assert sent(lab) == []
    nginx = containers.container(lab.world, EDGE, "nginx")
    assert nginx is not None and nginx["env"]["XIVO_HOST"] == "10.50.0.11"


@pytest.mark.parametrize("after", [False, True], ids=["before-rename", "after-rename"])
async def test_connection_dropped_inside_the_write(
    lab: Lab, site: Site, pool: Pool, monkeypatch: pytest.MonkeyPatch, after: bool
) -> None:
    """The link dies right around the rename of the new file over the old one."""
    old = env_file(lab).read_bytes()
    preview = await load_preview(pool, site, site.edges[0])
    plan = preview.plan(Direction.TO_SLAVE)
    original_rename = asyncssh.SFTPClient.posix_rename

    async def rename_then_drop(self: asyncssh.SFTPClient, src: str, dst: str) -> None:
        if dst == ENV and after:
            await original_rename(self, src, dst)
            await lab.drop_connections(EDGE)
            return
        if dst == ENV:
            await lab.drop_connections(EDGE)
        await original_rename(self, src, dst)

    monkeypatch.setattr(asyncssh.SFTPClient, "posix_rename", rename_then_drop)
    outcome = await apply_switch(pool, site.edges[0], plan, wait=FAST)
    monkeypatch.undo()
    assert not outcome.ok and outcome.failed_step is EdgeStep.WRITE
    if after:
        # The rename happened, its answer was lost: the probe after reconnecting tells.
        assert env_file(lab).read_bytes() == plan.new_text.encode()
        assert outcome.state is NodeState.WRITTEN
        assert "the new content is in place" in outcome.message
        assert "edge-dcomp up -d was NOT run" in outcome.message
        assert outcome.rollback_offered
        done = await rollback(pool, site.edges[0], wait=FAST)
        assert done.ok, done.message
        assert env_file(lab).read_bytes() == old
    else:
        assert env_file(lab).read_bytes() == old
        assert outcome.state is NodeState.UNCHANGED
        assert "nothing was changed" in outcome.message
        assert not outcome.rollback_offered
        # The dead link kept the sftp layer from removing its temp file; the target is
        # intact, which is what matters (the leftover is reported, not asserted away).
    # Only the rollback's up -d: the failed apply never ran it.
    ups = [argv for argv in sent(lab) if argv[1:2] == ["up"]]
    assert ups == ([["edge-dcomp", "up", "-d"]] if after else [])


async def test_up_failure_says_containers_keep_old_settings(
    lab: Lab, site: Site, pool: Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_run = pool.run

    async def failing_up(node, command, **kw):  # type: ignore[no-untyped-def]
        if command.name == "edge_up":
            return Result(node.id, command, 1, "", "Error response from daemon: no space\n", 0.1)
        return await real_run(node, command, **kw)

    monkeypatch.setattr(pool, "run", failing_up)
    preview = await load_preview(pool, site, site.edges[0])
    outcome = await apply_switch(pool, site.edges[0], preview.plan(Direction.TO_SLAVE), wait=FAST)
    assert outcome.state is NodeState.WRITTEN and outcome.failed_step is EdgeStep.UP
    assert "edge-dcomp up -d failed (exit 1: Error response from daemon: no space)" in (
        outcome.message
    )
    assert "the containers still run with the old settings" in outcome.message
    assert outcome.rollback_offered and outcome.backup is not None
    assert b"XIVO_HOST=10.50.0.12" in env_file(lab).read_bytes()


async def test_containers_not_up_in_time(
    lab: Lab, site: Site, pool: Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_run = pool.run
    restarting = (
        "NAME            IMAGE         COMMAND   SERVICE   CREATED   STATUS       PORTS\n"
        'edge-nginx-1    edge-nginx    "nginx"   nginx     1s ago    Restarting   \n'
    )

    async def stuck_ps(node, command, **kw):  # type: ignore[no-untyped-def]
        if command == cat.edge_ps():
            return Result(node.id, command, 0, restarting, "", 0.01)
        return await real_run(node, command, **kw)

    monkeypatch.setattr(pool, "run", stuck_ps)
    record = Recorder()
    preview = await load_preview(pool, site, site.edges[0])
    outcome = await apply_switch(
        pool,
        site.edges[0],
        preview.plan(Direction.TO_SLAVE),  # type: ignore[arg-type]
        on_event=record,
        wait=ContainerWait(timeout=0.3, interval=0.05),
    )
    assert outcome.state is NodeState.APPLIED and not outcome.ok
    assert outcome.failed_step is EdgeStep.WAIT
    assert "not all up after 0.3s" in outcome.message and "nginx restarting" in outcome.message
    polls = [e for e in record.events if isinstance(e, ContainersPolled)]
    assert len(polls) >= 2 and not any(p.all_up for p in polls)


async def test_rollback_restores_chosen_and_newest_backup(
    lab: Lab, site: Site, pool: Pool, tmp_path: Path
) -> None:
    node = site.edges[0]
    assert node is not None
    original = env_file(lab).read_bytes()
    first = await load_preview(pool, site, site.edges[0])
    assert (await apply_switch(pool, node, first.plan(Direction.TO_SLAVE), wait=FAST)).ok
    on_slave = env_file(lab).read_bytes()
    second = await load_preview(pool, site, site.edges[0])
    assert (await apply_switch(pool, node, second.plan(Direction.TO_MASTER), wait=FAST)).ok
    assert env_file(lab).read_bytes() == original

    backups = await list_edge_backups(pool, node)
    assert [lab.world.resolve(EDGE, b.path).read_bytes() for b in backups] == [on_slave, original]

    # An explicit backup, by file name: the slave version comes back.
    chosen = backups[0].path.rsplit("/", 1)[-1]
    record = Recorder()
    outcome = await rollback(pool, node, backup=chosen, on_event=record, wait=FAST)
    assert outcome.ok, outcome.message
    assert record.finished()[0] == (EdgeStep.FIND, True)
    assert env_file(lab).read_bytes() == on_slave
    nginx = containers.container(lab.world, EDGE, "nginx")
    assert nginx is not None and nginx["env"]["XIVO_HOST"] == "10.50.0.12"
    assert outcome.restored_from == backups[0].path

    # Default: the newest backup, i.e. what the rollback just replaced.
    outcome = await rollback(pool, node, wait=FAST)
    assert outcome.ok, outcome.message
    assert env_file(lab).read_bytes() == original
    steps = {r["step"] for r in AuditLog(tmp_path / "audit.jsonl").read() if r["kind"] == "write"}
    assert f"edge rollback to {chosen}" in steps

    missing = await rollback(pool, node, backup="nope.bak", wait=FAST)
    assert not missing.ok and missing.failed_step is EdgeStep.FIND
    assert "no backup named 'nope.bak'" in missing.message
    assert env_file(lab).read_bytes() == original


async def test_rollback_refuses_a_file_changed_since_seen(lab: Lab, site: Site, pool: Pool) -> None:
    node = site.edges[0]
    assert node is not None
    preview = await load_preview(pool, site, site.edges[0])
    assert (await apply_switch(pool, node, preview.plan(Direction.TO_SLAVE), wait=FAST)).ok
    seen = sha(env_file(lab).read_bytes())
    env_file(lab).write_bytes(b"XIVO_HOST=10.50.0.12\n")
    outcome = await rollback(pool, node, expected_sha256=seen, wait=FAST)
    assert outcome.state is NodeState.UNCHANGED and outcome.failed_step is EdgeStep.CHECK
    assert env_file(lab).read_bytes() == b"XIVO_HOST=10.50.0.12\n"


async def test_read_only_refuses_with_nothing_sent(lab: Lab, site: Site, tmp_path: Path) -> None:
    before = env_file(lab).read_bytes()
    async with Pool(read_only=True, audit=tmp_path / "ro-audit.jsonl") as ro:
        preview = await load_preview(ro, site, site.edges[0])  # reading is allowed
        plan = preview.plan(Direction.TO_SLAVE)
        record = Recorder()
        outcome = await apply_switch(ro, site.edges[0], plan, on_event=record, wait=FAST)
        assert outcome.refused_read_only and outcome.state is NodeState.UNCHANGED
        assert "read-only mode" in outcome.message and "nothing was sent" in outcome.message
        assert record.events == []  # refused before the first step
        back = await rollback(ro, site.edges[0], wait=FAST)
        assert back.refused_read_only
    assert env_file(lab).read_bytes() == before
    assert sent(lab) == [] and sftp_changes(lab) == []
    assert AuditLog(tmp_path / "ro-audit.jsonl").read() == []


def test_edge_without_cc_pair_is_refused(site: Site) -> None:
    no_cc = dataclasses.replace(site, cc_slave=None)
    with pytest.raises(EdgeSetupError, match=r"no CC node .*cc\.slave.*XIVOCC_HOST"):
        edge_addresses(no_cc)
    with pytest.raises(EdgeSetupError, match="no Edge"):
        edge_addresses(dataclasses.replace(site, edges=()))
    addresses = edge_addresses(site)
    assert str(addresses.cc_slave) == "10.50.0.22" and str(addresses.xivo_slave) == "10.50.0.12"


async def test_a_rollback_over_a_file_that_is_gone_says_how_to_put_it_back(
    lab: Lab, site: Site, pool: Pool
) -> None:
    node = site.edges[0]
    switched = await apply_switch(
        pool, node, (await load_preview(pool, site, node)).plan(Direction.TO_SLAVE), wait=FAST
    )
    assert switched.ok and switched.backup
    lab.world.resolve(node.id, ENV).unlink()  # lost since the switch
    done = await rollback(pool, node, wait=FAST)
    assert not done.ok and done.state is NodeState.UNCHANGED
    assert f"{ENV} is not there: nothing written" in done.message
    assert f"cp -p {switched.backup} {ENV}" in done.message, done.message
    assert not lab.world.resolve(node.id, ENV).exists()
