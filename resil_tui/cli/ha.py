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
from typing import TYPE_CHECKING

from resil_tui.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    Io,
    Refused,
    one_line,
    subparser,
)
from resil_tui.cli.context import Context
from resil_tui.core.freshness import clock
from resil_tui.core.records import record
from resil_tui.lazy import lazy_module

if TYPE_CHECKING:
    from resil_tui.core import ha as core_ha
    from resil_tui.core import ha_form as ha_form
    from resil_tui.core import ha_webui, roles
    from resil_tui.inventory_model import Inventory, Node, Site
    from resil_tui.ops import errors as ops_errors
    from resil_tui.ops import ha as ha_ops
    from resil_tui.ops.session import Session
else:
    core_ha = lazy_module("resil_tui.core.ha")
    ha_form = lazy_module("resil_tui.core.ha_form")
    ha_webui = lazy_module("resil_tui.core.ha_webui")
    roles = lazy_module("resil_tui.core.roles")
    ha_ops = lazy_module("resil_tui.ops.ha")
    ops_errors = lazy_module("resil_tui.ops.errors")

SCRIPTS = {
    "replicate": "run xivo-master-slave-db-replication on the master",
    "sync": "run xivo-sync on the master, then show its log",
    "check": "run xivo-check-master-status on the slave",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    ha = p.add_subparsers(dest="ha_command", metavar="ACTION", required=True)
    hp = subparser(ha, "show", "HA mode, peer, cron, SIP expiry of each XiVO node")
    hp.set_defaults(
        node=None,
        mode=None,
        peer=None,
        restart=False,
        yes=False,
        break_stale_lock=False,
        web_ui_part=False,
    )
    hp.add_argument("--site", metavar="NAME")
    hp = subparser(ha, "set", "set a XiVO node's HA mode through sysconfd")
    hp.set_defaults(site=None)
    hp.add_argument("node", metavar="NODE", help="node id, e.g. paris.xivo.master")
    hp.add_argument(
        "--mode",
        choices=("disabled", "master", "slave", "main", "standby"),
        required=True,
        help="main and standby (the next LTS's names) are master and slave",
    )
    hp.add_argument("--peer", metavar="IP", help="the other node's VoIP IP (master, slave)")
    hp.add_argument("--restart", action="store_true", help="then run xivo-service restart")
    hp.add_argument(
        "--with-sip-and-provisioning",
        action="store_true",
        dest="web_ui_part",
        help="also write what the web UI's HA save writes (SIP expiry, backup registrar); "
        "unverified, off by default",
    )
    hp.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    hp.add_argument(
        "--break-stale-lock",
        action="store_true",
        help="take over the node's change lock when it is stale (its console died)",
    )
    for name, text in SCRIPTS.items():
        hp = subparser(ha, name, text)
        hp.set_defaults(node=None, mode=None, peer=None, restart=False, web_ui_part=False)
        hp.add_argument("--site", metavar="NAME")
        hp.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        hp.add_argument(
            "--break-stale-lock",
            action="store_true",
            help="take over the node's change lock when it is stale (its console died)",
        )


@record
class HaArgs:
    action: str  # show | set | replicate | sync | check
    site: str | None = None
    node: str | None = None  # set
    mode: str | None = None  # set
    peer: str | None = None  # set
    restart: bool = False  # set
    web_ui_part: bool = False  # set: --with-sip-and-provisioning
    yes: bool = False
    break_stale_lock: bool = False  # changes: take over a stale lock

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace) -> HaArgs:
        return cls(
            action=ns.ha_command,
            site=ns.site,
            node=ns.node,
            mode=ns.mode,
            peer=ns.peer,
            restart=bool(ns.restart),
            web_ui_part=bool(ns.web_ui_part),
            yes=bool(ns.yes),
            break_stale_lock=bool(ns.break_stale_lock),
        )


async def run(ctx: Context, args: HaArgs) -> int:
    io = ctx.io
    try:
        async with ctx.session() as session:
            if args.action == "show":
                return await _show(session, args, io)
            if args.action == "set":
                return await _set(session, args, io)
            if args.action in SCRIPTS:
                return await _script(session, args, io)
            raise Refused(f"unknown ha action {args.action!r}")
    except ops_errors.RemoteError as exc:
        if exc.kind is ops_errors.ErrorKind.READ_ONLY:
            raise Refused(exc.message) from None
        io.note(f"resil-tui ha: {one_line(exc)}")
        return EXIT_FAILED


async def main(ctx: Context, ns: argparse.Namespace) -> int:
    return await run(ctx, HaArgs.from_namespace(ns))


def _sites(inventory: Inventory, name: str | None) -> list[Site]:
    return [inventory.site(name)] if name else list(inventory.sites.values())


# --- show -------------------------------------------------------------------------------------


def render_state(state: ha_ops.HaSiteState) -> list[str]:
    """`ha show`'s lines for one site, each on one line: a node's unreachable reason, its
    ha.conf problems and cron entries quote what it holds (`one_line`)."""
    v = state.verdicts
    lines = [f"Site {state.site.name}: {v.primary.title}  (as of {clock(state.read_at)})"]
    for finding in state.ha_findings():
        lines.append(f"  {finding}")
    for node_state in state.nodes.values():
        lines.extend(render_node(node_state, state))
    return [one_line(line) for line in lines]


def render_node(ns: ha_ops.HaNodeState, state: ha_ops.HaSiteState) -> list[str]:
    node = ns.node
    words = roles.role_words(state.site.resilience)
    lines = [
        f"  {node.id} ({words.of(node.side)}, VoIP {node.ip or '?'}) — "
        f"{state.xivo_state(node.id).value}"
    ]
    if not ns.reachable:
        lines.append(f"    unreachable: {ns.snapshot.reachability.message}")
        return lines
    ha = ns.ha
    if ha is not None:
        peer = f", peer {ha.peer}" if ha.peer else ""
        absent = "" if ha.present else " (no ha.conf)"
        lines.append(f"    HA mode: {words.mode(ha.mode.value)}{peer}{absent}")
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
    lines.extend(f"    {line}" for line in ns.web_ui_check().lines())
    return lines


async def _show(session: Session, args: HaArgs, io: Io) -> int:
    inventory = session.inventory
    states = [
        await ha_ops.read_ha_site(session.collector, site) for site in _sites(inventory, args.site)
    ]
    for state in states:
        for line in render_state(state):
            io.say(line)
        io.say()
    unreachable = any(not n.reachable for s in states for n in s.nodes.values())
    return EXIT_FAILED if unreachable else EXIT_OK


# --- set --------------------------------------------------------------------------------------


async def _set(session: Session, args: HaArgs, io: Io) -> int:
    inventory, pool = session.inventory, session.pool
    node = inventory.node(args.node or "")
    if not ha_ops.is_xivo(node):
        raise Refused(f"{node.id} is not a XiVO node: HA modes exist on XiVO nodes only")
    site = inventory.site(node.site)
    validation = ha_ops.validate_for_node(site, node, args.mode, args.peer)
    words = roles.role_words(site.resilience)
    for warning in validation.warnings:
        io.note(f"warning: {roles.reword(warning, words)}")
    if not validation.ok:
        raise Refused("; ".join(validation.errors))
    state = await ha_ops.read_ha_site(session.collector, site)
    current = state.node(node.id)
    if current is None or not current.reachable:
        why = current.snapshot.reachability.message if current else "not read"
        io.note(f"resil-tui ha: {node.id} unreachable, nothing sent: {one_line(why)}")
        return EXIT_FAILED
    preview = ha_ops.preview_for(site, node, state, validation)
    for line in preview.lines():
        io.say(one_line(line))
    if session.read_only:
        raise Refused("read-only mode: the change is refused; nothing was sent")
    if preview.typed_confirmation:
        await io.typed_confirm(node.id, yes=args.yes)
    else:
        await io.confirm(f"Set {node.id} to HA {preview.mode_label}?", yes=args.yes)

    action = ha_ops.plan_set_mode(node, validation, ha_webui.site_sip_expiry(site))
    rec = await ha_ops.apply_ha_mode(
        pool,
        node,
        validation,
        on_line=lambda s: io.say(f"  {one_line(s)}"),
        action=action,
        force=args.break_stale_lock,
    )
    code = await _after_set(session, node, rec, args, io)
    if args.web_ui_part and rec.ok and validation.mode is not None:
        web = await _web_ui_part(session, site, node, validation, args, io)
        return max(code, web)
    _say_web_ui_part(rec, io)
    return code


async def _web_ui_part(
    session: Session,
    site: Site,
    node: Node,
    validation: ha_form.FormValidation,
    args: HaArgs,
    io: Io,
) -> int:
    """--with-sip-and-provisioning: what the web UI's HA save writes, written by us
    (unverified on XiVO.solutions), after a typed confirmation."""
    assert validation.mode is not None
    plan = ha_ops.plan_web_ui_part(
        node, validation.mode, validation.peer, ha_webui.site_sip_expiry(site)
    )
    io.say("Also write what the web UI's HA save writes (unverified: check the result):")
    for line in plan.lines():
        io.say(f"  {one_line(line)}")
    await io.typed_confirm(node.id, yes=args.yes)
    rec = await ha_ops.apply_web_ui_part(
        session.pool,
        plan,
        on_line=lambda s: io.say(f"  {one_line(s)}"),
        force=args.break_stale_lock,
    )
    _say_web_ui_part(rec, io)
    return EXIT_OK if rec.ok else EXIT_FAILED


def _say_web_ui_part(rec: ha_ops.ActionRecord, io: Io) -> None:
    """The last words of `ha set`: what the web UI's HA save does, as read back."""
    if rec.web_ui is None:
        return
    io.say(f"Web UI part on {rec.node_id} (sysconfd does not do it):")
    for line in rec.web_ui.lines():
        io.say(f"  {one_line(line)}")


async def _after_set(
    session: Session, node: Node, rec: ha_ops.ActionRecord, args: HaArgs, io: Io
) -> int:
    pool = session.pool
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
        io.say(ha_form.PHONES_REMINDER)
        return EXIT_OK
    rec = await ha_ops.restart_services(
        pool, node, on_line=lambda s: io.say(f"  {one_line(s)}"), force=args.break_stale_lock
    )
    io.say(ha_form.PHONES_REMINDER)
    return EXIT_OK if rec.ok else EXIT_FAILED


# --- scripts ----------------------------------------------------------------------------------


def _single(state: ha_ops.HaSiteState, mode: core_ha.HaMode) -> ha_ops.HaNodeState:
    found = state.configured(mode)
    if len(found) != 1:
        names = ", ".join(n.node.id for n in found) or "none"
        raise Refused(
            f"site {state.site.name}: exactly one XiVO node must be configured {mode.value} "
            f"in ha.conf to run this (found: {names})"
        )
    return found[0]


async def _script(session: Session, args: HaArgs, io: Io) -> int:
    inventory, pool, what = session.inventory, session.pool, args.action
    site = inventory.site(args.site)
    if session.read_only:
        raise Refused(f"read-only mode: `ha {what}` would change a node; nothing was sent")
    state = await ha_ops.read_ha_site(session.collector, site)
    role = core_ha.HaMode.SLAVE if what == "check" else core_ha.HaMode.MASTER
    target = _single(state, role)
    node = target.node
    peer = target.ha.peer if target.ha else None
    expected: Node = ha_ops.peer_node(site, node)
    if what in ("replicate", "check") and peer is None:
        raise Refused(f"{node.id}: ha.conf names no peer")
    if peer is not None and expected.ip is not None and peer != expected.ip:
        io.note(
            f"warning: {node.id}'s ha.conf names {peer}, the inventory's other node "
            f"is {expected.ip}"
        )

    def sink(line: str) -> None:
        io.say(f"  {one_line(line)}")

    rec: ha_ops.ActionRecord
    if what == "replicate":
        assert peer is not None
        await io.confirm(f"Run xivo-master-slave-db-replication {peer} on {node.id}?", yes=args.yes)
        rec = await ha_ops.run_replication(
            pool, node, peer, on_line=sink, force=args.break_stale_lock
        )
    elif what == "sync":
        await io.confirm(f"Run xivo-sync on {node.id}?", yes=args.yes)
        rec = await ha_ops.run_sync(pool, node, on_line=sink, force=args.break_stale_lock)
    else:
        assert peer is not None
        await io.confirm(
            f"Run xivo-check-master-status {peer} on {node.id}? It starts or stops the "
            f"{roles.role_words(site.resilience).slave}'s telephony services depending on "
            "the ping",
            yes=args.yes,
        )
        rec = await ha_ops.run_check_master(
            pool, node, peer, on_line=sink, force=args.break_stale_lock
        )
    return EXIT_OK if rec.ok else EXIT_FAILED
