"""Read-only: a full Pilot walk through every pane, every key and every palette command in
read-only mode, against the lab (which records every exec request and every SFTP change it
receives): zero mutating commands reach any node.

What counts as mutating is decided here from the received argv, independently of the
product's catalog flags, so a command mis-flagged as read-only in the catalog is caught.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from labkit import console, lab_inventory, short_timeouts
from textual.screen import ModalScreen
from textual.worker import WorkerState

from resil_tui.lab.server import Lab
from resil_tui.ops.session import make_pool
from resil_tui.remote import commands as cat
from resil_tui.ui.app import ResilApp
from resil_tui.ui.commands import palette_commands
from resil_tui.ui.panes.catalog import PANES
from resil_tui.ui.screens.confirm import ConfirmScreen, TypedConfirmScreen

SIZE = (140, 45)

SAFE_SUBCOMMANDS = {
    "xivo-service": {"status"},
    "xivocc-dcomp": {"ps", "logs"},
    "edge-dcomp": {"ps", "logs"},
    "docker": {"inspect"},  # anything else docker does can change a container
}
ALWAYS_MUTATING = {
    "xivo-master-slave-db-replication",
    "xivo-manage-slave-services",
    "xivo-check-master-status",
    "xivo-sync",
    "systemctl",
    "service",
    "rm",
    "mv",
    "cp",
    "tee",
    "sed",
    "chmod",
    "chown",
    "reboot",
    "shutdown",
    "kill",
    "ssh-copy-id",
    "touch",
    "truncate",
    "ln",
}


def is_mutating(argv: list[str]) -> bool:
    """A second opinion on the received argv: anything not known to only read."""
    if not argv:
        return False
    prog = argv[0].rsplit("/", 1)[-1]
    if prog in ALWAYS_MUTATING:
        return True
    if prog in SAFE_SUBCOMMANDS:
        return len(argv) < 2 or argv[1] not in SAFE_SUBCOMMANDS[prog]
    if prog == "curl":
        return any(m in argv for m in ("POST", "PUT", "DELETE", "PATCH")) or any(
            "update_ha_config" in a for a in argv
        )
    if prog == "asterisk":  # `-rx` runs any CLI command: only `... show ...` reads
        words = argv[2].split() if len(argv) > 2 and argv[1] in ("-rx", "-x") else []
        return len(words) < 2 or words[1] != "show"
    if prog == "psql":
        sql = " ".join(argv).upper()
        return any(w in sql for w in ("UPDATE ", "INSERT ", "DELETE ", "ALTER ", "DROP "))
    return any(op in argv for op in ("&&", "||", ";", ">", ">>"))


def test_classifier_agrees_with_the_catalog() -> None:
    # The independent classifier must at least flag every catalog entry that mutates.
    for command in cat.mutating_entries():
        assert is_mutating(list(command.argv)), command.line
    for command in cat.read_only_entries():
        assert not is_mutating(list(command.argv)), command.line


class WalkApp(ResilApp):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.notes: list[tuple[str, str]] = []
        super().__init__(*args, **kwargs)

    def notify(self, message: str, **kwargs: Any) -> None:
        self.notes.append((str(kwargs.get("severity", "information")), message))
        super().notify(message, **kwargs)


async def settle(pilot: Any, app: ResilApp) -> None:
    """Answer whatever modal is up: YES to confirmations (the remote layer must still
    refuse), escape for everything else."""
    for _ in range(6):
        await pilot.pause()
        screen = app.screen
        if isinstance(screen, TypedConfirmScreen):
            # Type what it asks for, then confirm: the worst case for the read-only guard.
            expected = getattr(screen, "expected", None) or getattr(screen, "word", "")
            if expected:
                await pilot.press(*list(str(expected)))
            await pilot.press("enter")
        elif isinstance(screen, ConfirmScreen):
            await pilot.press("y")
        elif isinstance(screen, ModalScreen) or app.screen_stack[-1] is not app.screen_stack[0]:
            await pilot.press("escape")
        else:
            return


def received(lab: Lab) -> dict[str, list[dict[str, Any]]]:
    return {nid: lab.commands(nid) for nid in lab.node_ids()}


# About a minute alone (six panes, every key, ~75 palette commands); on a loaded 2-core
# machine with the rest of the suite, more than the default 120 s.
@pytest.mark.timeout(360)
async def test_read_only_walk_sends_nothing_mutating(lab: Lab, tmp_path: Path) -> None:
    inv, _ = lab_inventory(
        lab, tmp_path, edit=lambda t: short_timeouts(t, 2.0, 4.0), read_only=True
    )
    audit = tmp_path / "audit.jsonl"
    pool = make_pool(inv, audit_path=audit)
    app = console(
        inv,
        read_only=True,
        pool=pool,
        lab=lab,
        status_refresh_interval=10.0,
        app_class=WalkApp,
    )
    pressed = 0
    palette_run: list[str] = []
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.5)
        for number, spec in enumerate(PANES, start=1):
            await pilot.press(str(number))
            await pilot.pause(0.3)
            keys: list[str] = []
            for binding in [*spec.bindings, *ResilApp.BINDINGS]:
                key = getattr(binding, "key", None) or binding[0]  # type: ignore[index]
                action = getattr(binding, "action", "")
                if action in ("quit", "command_palette", "next_theme") or str(action).startswith(
                    "show_pane"
                ):
                    continue
                keys.extend(k.strip() for k in key.split(","))
            rounds = 2 if spec.pane_id == "wizard" else 1  # the wizard needs a start first
            for _round in range(rounds):
                for key in keys:
                    await pilot.press(key)
                    pressed += 1
                    await settle(pilot, app)
            # The pane's buttons too (HA form, scripts, Edge apply / rollback, wizard).
            pane = app.active_pane
            if pane is not None:
                for button in list(pane.query("Button")):
                    if button.display and not button.disabled:
                        button.press()
                        pressed += 1
                        await settle(pilot, app)
        # Every palette command, as offered at the start, re-resolved as the state moves on.
        titles = [c.title for c in palette_commands(app) if c.title != "app: quit"]
        # `keys: rebind ID` (one per binding, ~45) only edits the local preferences file and
        # each opens a key-capture modal: two of them are walked, not all (time budget).
        rebinds = [t for t in titles if t.startswith("keys: rebind")]
        titles = [t for t in titles if t not in rebinds[2:]]
        for title in titles:
            current = {c.title: c for c in palette_commands(app)}
            if title not in current:
                continue
            current[title].callback()
            palette_run.append(title)
            await asyncio.sleep(0.05)
            if len(app.screen_stack) > 1:
                await settle(pilot, app)
            app.action_apply()  # apply under the new state, on whatever pane is shown
            if len(app.screen_stack) > 1:
                await settle(pilot, app)
        # Then every pane once more under the final (faulted) state.
        for number in range(1, len(PANES) + 1):
            await pilot.press(str(number), "a", "r")
            await settle(pilot, app)
        await pilot.pause(1.0)
        errors = [w for w in app.workers if w.state is WorkerState.ERROR]
        assert errors == [], [(w.name, w.error) for w in errors]
    await pool.close()

    assert pressed > 40 and len(palette_run) > 20, (pressed, palette_run)
    got = received(lab)
    assert sum(len(v) for v in got.values()) > 0, "the walk never reached a node"
    bad = {
        nid: [
            c
            for c in cmds
            if c.get("kind") == "sftp"
            or (c.get("kind") == "exec" and any(is_mutating(a) for a in c["commands"]))
        ]
        for nid, cmds in got.items()
    }
    assert {n: b for n, b in bad.items() if b} == {}
    records = (
        [json.loads(line) for line in audit.read_text().splitlines()] if audit.exists() else []
    )
    assert [r for r in records if r.get("kind") in ("command", "write")] == []
    # The refusals were said, not silent.
    assert any("READ-ONLY" in text or "read-only" in text for _, text in app.notes)
