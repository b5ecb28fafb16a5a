"""Kept shells (remote/read_shell.py) against real OpenSSH and a real /bin/sh (dash).

The tier's sshd run the lab's dispatcher as their ForceCommand; here, a fresh tier's
ForceCommand is replaced by `/bin/sh -c "$SSH_ORIGINAL_COMMAND"`, what sshd does for a
user whose login shell is sh: the reads run on this machine's files, as the tier's login
user, through dash. One node (the XiVO slave) also loses its stderr at login
(`exec 2>/dev/null` in a profile or a wrapper): a shell there must never be kept, since
every read would wait for a stderr marker that cannot come. A third (the CC master) runs
its `sh` as a shell whose `false` ends 0 (a login shell's function or alias of the name):
the kept shell's `$?` check must refuse it, since every status read through it would be
in doubt.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sshd_fixture import SshdLab, SshdLabFactory

from resil_tui.inventory import load_inventory
from resil_tui.inventory_model import Inventory
from resil_tui.remote import commands as cat
from resil_tui.remote import pool as pool_module
from resil_tui.remote.commands import Command
from resil_tui.remote.errors import ErrorKind
from resil_tui.remote.pool import Pool, Result
from tests.labkit import open_pool, shell_kept

REAL, NO_STDERR, FALSE_IS_TRUE = "demo.xivo.master", "demo.xivo.slave", "demo.cc.master"

WRAPPER = """#!/bin/sh
# Replaced by tests/sshd/test_sshd_real_shell.py: the command through a real sh.
case "$1" in
  *xivo.slave) exec 2>/dev/null ;;
  *cc.master)
    if [ "$SSH_ORIGINAL_COMMAND" = sh ]; then
      exec /bin/sh -c 'false() { return 0; }; while IFS= read -r l; do eval "$l"; done'
    fi ;;
esac
exec /bin/sh -c "$SSH_ORIGINAL_COMMAND"
"""


@pytest.fixture(autouse=True)
def _xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    # The readiness check of the node without stderr gives up sooner.
    monkeypatch.setattr(pool_module, "SHELL_READY_TIMEOUT", 1.0)


@pytest.fixture(scope="module")
def real_sh(sshd_lab_factory: SshdLabFactory) -> SshdLab:
    lab = sshd_lab_factory()
    # sshd runs its ForceCommand afresh for every session: the next login gets this one.
    (lab.base_dir / "force-command.sh").write_text(WRAPPER)
    return lab


@pytest.fixture
def inv(real_sh: SshdLab) -> Inventory:
    return load_inventory(real_sh.inventory_path)


@pytest.fixture
async def kept(inv: Inventory, tmp_path: Path) -> AsyncIterator[Pool]:
    async with open_pool(inv, tmp_path / "audit.jsonl", keep_shells=True) as pool:
        yield pool


@pytest.fixture
async def plain(inv: Inventory, tmp_path: Path) -> AsyncIterator[Pool]:
    async with open_pool(inv, tmp_path / "audit-plain.jsonl") as pool:
        yield pool


def read(name: str, *argv: str) -> Command:
    return Command(name, argv, mutates=False)


def shown(r: Result) -> tuple[int | None, str, str, bool, bool]:
    return r.exit_status, r.stdout, r.stderr, r.lost, r.timed_out


async def test_reads_through_a_real_kept_shell_are_what_an_execution_gives(
    inv: Inventory, kept: Pool, plain: Pool
) -> None:
    node = inv.node(REAL)
    await shell_kept(kept, node)
    reads = [
        cat.cat("/etc/hostname"),
        cat.test_exists("/nonexistent"),
        cat.tail("/nonexistent", 5),  # stderr, exit 1
        read("no-newline", "printf", "%s", "no newline"),
        read("both", "sh", "-c", "printf out; printf err >&2; exit 7"),
        read("stdin", "cat"),  # reads stdin: /dev/null, never the next read
        read("hostile", "printf", "\\033]0;title\\007\\033[2J%s\\n", "ok"),
    ]
    for command in reads:
        through_shell = await kept.run(node, command)
        assert kept.kept_shell(node.id), command.line
        assert shown(through_shell) == shown(await plain.run(node, command)), command.line
    # Remote control bytes are made visible, through the kept shell as through an execution.
    hostile = await kept.run(node, reads[-1])
    assert "\x1b" not in hostile.stdout and "\x07" not in hostile.stdout


async def test_output_left_behind_by_a_read_never_counts_as_the_next_one(
    inv: Inventory, kept: Pool
) -> None:
    node = inv.node(REAL)
    await shell_kept(kept, node)
    behind = await kept.run(node, read("bg", "sh", "-c", "(sleep 0.3; echo LATE) &"))
    assert behind.ok and behind.stdout == ""
    await asyncio.sleep(0.6)  # LATE is written to the kept shell's stdout meanwhile
    after = await kept.run(node, read("next", "echo", "next"))
    assert shown(after) == (0, "next\n", "", False, False)
    await shell_kept(kept, node)  # a new shell, clean
    assert (await kept.run(node, read("again", "echo", "again"))).stdout == "again\n"


async def test_a_node_without_stderr_is_read_one_execution_per_read(
    inv: Inventory, kept: Pool
) -> None:
    node = inv.node(NO_STDERR)
    for _ in range(12):
        result = await kept.run(node, cat.cat("/etc/hostname"))
        assert result.ok and result.stdout and not result.timed_out
        await asyncio.sleep(0.3)
    assert not kept.kept_shell(node.id)


async def test_a_shell_whose_status_check_fails_is_never_kept(inv: Inventory, kept: Pool) -> None:
    node = inv.node(FALSE_IS_TRUE)
    for _ in range(8):
        result = await kept.run(node, cat.test_exists("/nonexistent"))
        # Read as an execution of its own: its status is the node's real one.
        assert (result.exit_status, result.timed_out) == (1, False)
        await asyncio.sleep(0.2)
    assert not kept.kept_shell(node.id)


async def test_a_read_that_writes_without_end_is_stopped_at_the_cap(
    inv: Inventory, kept: Pool, plain: Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `yes` never ends: before the cap, an execution's answer grew in memory until the
    # command timeout (gigabytes), a kept shell's up to the cap then again as an execution.
    monkeypatch.setattr(cat, "MAX_ANSWER_BYTES", 1 << 20)
    node = inv.node(REAL)
    # Through a kept shell, the read is not sent again on its own: it would only overflow
    # once more.
    ways = ((kept, "closed the shell it was sent to"), (plain, "stopped it and closed the channel"))
    for pool, how in ways:
        for stream, argv in (("stdout", ["yes"]), ("stderr", ["sh", "-c", "yes >&2"])):
            if pool is kept:
                await shell_kept(kept, node)
            flood = await pool.run(node, read("flood", *argv))
            assert flood.overflowed and not flood.ok and flood.incomplete, (stream, flood)
            assert (flood.stdout, flood.stderr, flood.exit_status) == ("", "", None)
            assert f"more than 1 MiB on {stream}: {how}" in flood.note
            assert flood.error is not None and flood.error.kind is ErrorKind.ERROR
            assert flood.summary() == "too much output"
        after = await pool.run(node, read("after", "echo", "after"))
        assert shown(after) == (0, "after\n", "", False, False)
    # Up to the cap, every byte, on both streams at once.
    exact = "head -c 1048576 /dev/zero | tr '\\0' x; head -c 1048576 /dev/zero | tr '\\0' y >&2"
    whole = await plain.run(node, read("whole", "sh", "-c", exact))
    assert whole.ok and not whole.overflowed
    assert whole.stdout == "x" * (1 << 20) and whole.stderr == "y" * (1 << 20)
