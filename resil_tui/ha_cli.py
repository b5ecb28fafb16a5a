"""`resil-tui ha show|set|replicate|sync|check`: the HA pane's reads and actions, scripted.

Safety is the pane's: the form is validated before anything is read or sent, the preview is
printed, and every change is confirmed. Without --yes the confirmation is asked on the
terminal; when stdin is not a terminal the command refuses (exit 2) rather than guess.

Disabling a node (`ha set NODE --mode disabled`) asks the admin to type the node id. With
--yes the typed confirmation is waived: --yes is the explicit acceptance, meant for
scripts, and the command prints that it took it as such. Read-only mode refuses every
change (exit 2) after showing the preview: nothing is sent.

Exit codes: 0 success; 1 the node was reached and the change or script failed (or could
not be verified); 2 validation error, refusal (read-only, no confirmation), bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TextIO

from resil_tui.core.ha import HaMode
from resil_tui.core.ha_form import PHONES_REMINDER, build_preview
from resil_tui.inventory_model import Inventory, Node, Site
from resil_tui.ops.ha import (
    ActionRecord,
    HaNodeState,
    HaSiteState,
    apply_ha_mode,
    is_xivo,
    peer_node,
    read_ha_site,
    restart_services,
    run_check_master,
    run_replication,
    run_sync,
    validate_for_node,
)
from resil_tui.ops.session import open_pool
from resil_tui.remote.errors import ErrorKind, RemoteError
from resil_tui.remote.pool import Pool

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_REFUSED = 2


class _Refused(Exception):
    """Validation error or refusal: message for stderr, exit 2."""


class _Io:
    def __init__(self, out: TextIO, err: TextIO, stdin: TextIO) -> None:
        self.out, self.err, self.stdin = out, err, stdin

    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def warn(self, text: str) -> None:
        self.err.write(text + "\n")
        self.err.flush()

    @property
    def interactive(self) -> bool:
        try:
            return bool(self.stdin.isatty())
        except (AttributeError, ValueError):
            return False

    async def ask(self, prompt: str) -> str:
        self.err.write(prompt)
        self.err.flush()
        line = await asyncio.to_thread(self.stdin.readline)
        return line.strip()

    async def confirm(self, question: str, yes: bool) -> None:
        """Return when confirmed; raise _Refused otherwise."""
        if yes:
            return
        if not self.interactive:
            raise _Refused(f"{question}: refused, stdin is not a terminal (pass --yes to confirm)")
        answer = await self.ask(f"{question} [y/N] ")
        if answer.lower() not in ("y", "yes"):
            raise _Refused("not confirmed: nothing was sent")

    async def typed_confirm(self, word: str, yes: bool) -> None:
        if yes:
            self.say(f"--yes given: taken as the typed confirmation ({word}).")
            return
        if not self.interactive:
            raise _Refused(
                f"typing {word} is required to confirm and stdin is not a terminal "
                "(--yes waives it)"
            )
        answer = await self.ask(f"Type {word} to confirm: ")
        if answer != word:
            raise _Refused(f"typed {answer!r}, not {word!r}: nothing was sent")


async def run_ha(
    inventory: Inventory,
    args: argparse.Namespace,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    stdin: TextIO = sys.stdin,
) -> int:
    io = _Io(out, err, stdin)
    try:
        async with open_pool(inventory) as pool:
            command = args.ha_command
            if command == "show":
                return await _show(inventory, args, io, pool)
            if command == "set":
                return await _set(inventory, args, io, pool)
            if command in ("replicate", "sync", "check"):
                return await _script(inventory, args, io, pool, command)
            raise _Refused(f"unknown ha action {command!r}")
    except _Refused as exc:
        io.warn(f"resil-tui ha: {exc}")
        return EXIT_REFUSED
    except LookupError as exc:
        io.warn(f"resil-tui ha: {str(exc).strip(chr(34) + chr(39))}")
        return EXIT_REFUSED
    except RemoteError as exc:
        if exc.kind is ErrorKind.READ_ONLY:
            io.warn(f"resil-tui ha: {exc.message}")
            return EXIT_REFUSED
        io.warn(f"resil-tui ha: {exc}")
        return EXIT_FAILED


def _sites(inventory: Inventory, name: str | None) -> list[Site]:
    return [inventory.site(name)] if name else list(inventory.sites.values())


# --- show -------------------------------------------------------------------------------------


def render_state(state: HaSiteState) -> list[str]:
    v = state.verdicts
    lines = [f"Site {state.site.name}: {v.primary.title}"]
    for finding in state.ha_findings():
        lines.append(f"  {finding}")
    for node_state in state.nodes.values():
        lines.extend(render_node(node_state, state))
    return lines


def render_node(ns: HaNodeState, state: HaSiteState) -> list[str]:
    node = ns.node
    lines = [f"  {node.id} (VoIP {node.ip or '?'}) — {state.xivo_state(node.id).value}"]
    if not ns.reachable:
        lines.append(f"    unreachable: {ns.snapshot.reachability.message}")
        return lines
    ha = ns.ha
    if ha is not None:
        peer = f", peer {ha.peer}" if ha.peer else ""
        absent = "" if ha.present else " (no ha.conf)"
        lines.append(f"    HA mode: {ha.mode.value}{peer}{absent}")
        for problem in ha.problems:
            lines.append(f"    ⚠ {problem}")
    cron = ns.cron
    if cron is not None:
        lines.append(f"    cron: {cron.state.value}")
        for entry in (e for f in (cron.master, cron.slave) for e in f.active_entries):
            lines.append(f"      {entry.raw.strip()}")
        if ha is not None:
            for problem in cron.problems(ha.mode, ha.peer):
                lines.append(f"    ⚠ cron: {problem}")
    if ns.sip is not None:
        for check in ns.expiry_checks():
            lines.append(f"    SIP {check.describe()}")
    else:
        lines.append(f"    SIP expiry: not read ({ns.sip_error})")
    lines.append(f"    {ns.registrar_line()}")
    return lines


async def _show(inventory: Inventory, args: argparse.Namespace, io: _Io, pool: Pool) -> int:
    states = await asyncio.gather(
        *(read_ha_site(pool, inventory, site) for site in _sites(inventory, args.site))
    )
    for state in states:
        for line in render_state(state):
            io.say(line)
        io.say()
    unreachable = any(not n.reachable for s in states for n in s.nodes.values())
    return EXIT_FAILED if unreachable else EXIT_OK


# --- set --------------------------------------------------------------------------------------


async def _set(inventory: Inventory, args: argparse.Namespace, io: _Io, pool: Pool) -> int:
    node = inventory.node(args.node)
    if not is_xivo(node):
        raise _Refused(f"{node.id} is not a XiVO node: HA modes exist on XiVO nodes only")
    site = inventory.site(node.site)
    validation = validate_for_node(site, node, args.mode, args.peer)
    for warning in validation.warnings:
        io.warn(f"warning: {warning}")
    if not validation.ok:
        raise _Refused("; ".join(validation.errors))
    state = await read_ha_site(pool, inventory, site)
    current = state.node(node.id)
    if current is None or not current.reachable:
        why = current.snapshot.reachability.message if current else "not read"
        io.warn(f"resil-tui ha: {node.id} unreachable, nothing sent: {why}")
        return EXIT_FAILED
    preview = build_preview(
        node.id,
        current.ha,
        current.cron,
        validation,
        cron_master_path=node.paths.cron_master,
        cron_slave_path=node.paths.cron_slave,
    )
    for line in preview.lines():
        io.say(line)
    if inventory.read_only or pool.read_only:
        raise _Refused("read-only mode: the change is refused; nothing was sent")
    if validation.mode is HaMode.DISABLED:
        await io.typed_confirm(node.id, args.yes)
    else:
        await io.confirm(f"Set {node.id} to HA {validation.mode}?", args.yes)

    rec = await apply_ha_mode(pool, node, validation, on_line=lambda s: io.say(f"  {s}"))
    if not rec.ok:
        return EXIT_FAILED
    if not rec.restart_required:
        return EXIT_OK
    restart = args.restart
    if not restart and not args.yes and io.interactive:
        answer = await io.ask("Restart all services now (xivo-service restart)? [y/N] ")
        restart = answer.lower() in ("y", "yes")
    if not restart:
        io.say(
            f"RESTART PENDING on {node.id}: the seed requires `xivo-service restart` "
            "after configuring a master or disabling a node (rerun with --restart)."
        )
        io.say(PHONES_REMINDER)
        return EXIT_OK
    rec = await restart_services(pool, node, on_line=lambda s: io.say(f"  {s}"))
    io.say(PHONES_REMINDER)
    return EXIT_OK if rec.ok else EXIT_FAILED


# --- scripts ----------------------------------------------------------------------------------


def _single(state: HaSiteState, mode: HaMode) -> HaNodeState:
    found = state.configured(mode)
    if len(found) != 1:
        names = ", ".join(n.node.id for n in found) or "none"
        raise _Refused(
            f"site {state.site.name}: exactly one XiVO node must be configured {mode.value} "
            f"in ha.conf to run this (found: {names})"
        )
    return found[0]


async def _script(
    inventory: Inventory, args: argparse.Namespace, io: _Io, pool: Pool, what: str
) -> int:
    site = inventory.site(args.site)
    if inventory.read_only or pool.read_only:
        raise _Refused(f"read-only mode: `ha {what}` would change a node; nothing was sent")
    state = await read_ha_site(pool, inventory, site)
    role = HaMode.SLAVE if what == "check" else HaMode.MASTER
    target = _single(state, role)
    node = target.node
    peer = target.ha.peer if target.ha else None
    expected: Node = peer_node(site, node)
    if what in ("replicate", "check") and peer is None:
        raise _Refused(f"{node.id}: ha.conf names no peer")
    if peer is not None and expected.ip is not None and peer != expected.ip:
        io.warn(
            f"warning: {node.id}'s ha.conf names {peer}, the inventory's other node "
            f"is {expected.ip}"
        )

    def sink(line: str) -> None:
        io.say(f"  {line}")

    rec: ActionRecord
    if what == "replicate":
        assert peer is not None
        await io.confirm(f"Run xivo-master-slave-db-replication {peer} on {node.id}?", args.yes)
        rec = await run_replication(pool, node, peer, on_line=sink)
    elif what == "sync":
        await io.confirm(f"Run xivo-sync on {node.id}?", args.yes)
        rec = await run_sync(pool, node, on_line=sink)
    else:
        assert peer is not None
        await io.confirm(
            f"Run xivo-check-master-status {peer} on {node.id}? It starts or stops the "
            "slave's telephony services depending on the ping",
            args.yes,
        )
        rec = await run_check_master(pool, node, peer, on_line=sink)
    return EXIT_OK if rec.ok else EXIT_FAILED
