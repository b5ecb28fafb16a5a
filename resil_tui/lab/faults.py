"""The lab's fault prompt language, shared by `resil-tui lab` and the TUI demo palette."""

from __future__ import annotations

from typing import TYPE_CHECKING

from resil_tui.lab import xivo
from resil_tui.lab.spec import CC, XIVO

if TYPE_CHECKING:
    from resil_tui.lab.server import Lab

HELP = """\
Faults and commands:
  status                      nodes, ports, power and faults
  power-off NODE / power-on NODE
  cut-link / heal-link        the XiVO master <-> slave link only (split brain)
  hang NODE / unhang NODE     accept TCP, never answer
  slow NODE SECONDS           added latency per command (0 to clear)
  words-only NODE on|off      the node's SSH server runs no shell: it splits lines into words
  drop NODE                   abort every open connection of the node
  rekey NODE                  new host key, same port (known_hosts keeps the old one)
  fail-replication on|off     xivo-master-slave-db-replication fails
  remove-sync-key             delete /root/.ssh/xivo_id_rsa on the XiVO master(s)
  xuc-never-ready NODE on|off the next xuc start never logs its readiness line
  crash NODE SERVICE          put a service in `failed` state
  stop-container NODE SERVICE / start-container NODE SERVICE
                              docker stop / start of one container (e.g. xuc)
  help, quit
NODE is a node id or an unambiguous suffix: xivo.master, cc.slave, edge, mds1."""


def _on_off(word: str) -> bool:
    if word.lower() in ("on", "true", "yes", "1"):
        return True
    if word.lower() in ("off", "false", "no", "0"):
        return False
    raise ValueError(f"expected on or off, got {word!r}")


def status_text(lab: Lab) -> str:
    state = lab.world.lab_state()
    lines = [f"lab {lab.lab_dir}", f"inventory {lab.inventory_path}"]
    for nid in lab.node_ids():
        f = state["nodes"].get(nid, {})
        node = lab.world.node(nid)
        marks = []
        if not f.get("powered", True):
            marks.append("POWERED OFF")
        if f.get("hung"):
            marks.append("hung")
        if f.get("slow"):
            marks.append(f"slow {f['slow']}s")
        if f.get("xuc_never_ready"):
            marks.append("xuc never ready")
        if f.get("words_only"):
            marks.append("words only (no shell)")
        if node.kind == XIVO:
            ha = xivo.read_ha(lab.world, nid)
            tel = xivo.service_state(lab.world, nid, "asterisk")
            marks.append(f"ha={ha['node_type']} asterisk={tel}")
        lines.append(f"  {nid:<24} port {lab.port(nid):<6} {node.ip:<14} {' '.join(marks)}")
    cuts = state.get("cut_links", [])
    faults = [k for k, v in state.get("faults", {}).items() if v]
    lines.append(f"cut links: {', '.join('<->'.join(p) for p in cuts) or 'none'}")
    lines.append(f"faults: {', '.join(faults) or 'none'}")
    return "\n".join(lines)


async def apply_fault(lab: Lab, words: list[str]) -> str:
    """Apply one prompt command (`["power-off", "xivo.master"]`); return what to show.

    Raises ValueError (bad usage) or KeyError (unknown node) with a readable message.
    """
    if not words:
        return ""
    cmd, args = words[0].lower(), words[1:]

    def need(n: int, usage: str) -> None:
        if len(args) != n:
            raise ValueError(f"usage: {usage}")

    if cmd in ("help", "?"):
        return HELP
    if cmd == "status":
        return status_text(lab)
    if cmd in ("power-off", "power-on", "hang", "unhang", "drop", "rekey"):
        need(1, f"{cmd} NODE")
        nid = lab.resolve_node(args[0])
        if cmd == "power-off":
            await lab.power_off(nid)
            return f"{nid} powered off (SSH refused)"
        if cmd == "power-on":
            await lab.power_on(nid)
            return f"{nid} powered on (port {lab.port(nid)})"
        if cmd == "hang":
            await lab.hang(nid, True)
            return f"{nid} hangs (accepts TCP, never answers)"
        if cmd == "unhang":
            await lab.hang(nid, False)
            return f"{nid} answers again"
        if cmd == "drop":
            n = await lab.drop_connections(nid)
            return f"{nid}: {n} connection(s) aborted"
        await lab.change_host_key(nid)
        return f"{nid} has a new host key (known_hosts still holds the old one)"
    if cmd in ("cut-link", "heal-link"):
        if len(args) > 1:
            raise ValueError(f"usage: {cmd} [SITE]")
        site = args[0] if args else None
        if cmd == "cut-link":
            await lab.cut_link(site)
            return "master <-> slave link cut (phones still reach both): expect split brain"
        await lab.heal_link(site)
        return "master <-> slave link restored"
    if cmd == "slow":
        need(2, "slow NODE SECONDS")
        nid = lab.resolve_node(args[0])
        try:
            seconds = float(args[1])
        except ValueError:
            raise ValueError(f"not a number of seconds: {args[1]!r}") from None
        await lab.slow(nid, seconds)
        return f"{nid}: {seconds:g} s added to every command"
    if cmd == "fail-replication":
        need(1, "fail-replication on|off")
        on = _on_off(args[0])
        await lab.fail_replication(on)
        return f"DB replication will {'fail' if on else 'succeed'}"
    if cmd == "remove-sync-key":
        removed = await lab.remove_sync_key(args[0] if args else None)
        return f"sync key removed on: {', '.join(removed) or 'nothing (already missing)'}"
    if cmd == "words-only":
        need(2, "words-only NODE on|off")
        nid = lab.resolve_node(args[0])
        on = _on_off(args[1])
        await lab.words_only(nid, on)
        return f"{nid}: {'no shell, lines split into words' if on else 'lines run by a shell'}"
    if cmd == "xuc-never-ready":
        need(2, "xuc-never-ready NODE on|off")
        nid = lab.resolve_node(args[0])
        if lab.world.node(nid).kind != CC:
            raise ValueError(f"{nid} is not a CC node")
        on = _on_off(args[1])
        await lab.xuc_never_ready(nid, on)
        return f"{nid}: xuc {'will never become' if on else 'becomes'} ready"
    if cmd in ("stop-container", "start-container"):
        need(2, f"{cmd} NODE SERVICE")
        nid = lab.resolve_node(args[0])
        await lab.stop_container(nid, args[1], running=cmd == "start-container")
        return f"{nid}: container {args[1]} {'started' if cmd == 'start-container' else 'stopped'}"
    if cmd == "crash":
        need(2, "crash NODE SERVICE")
        nid = lab.resolve_node(args[0])
        await lab.crash_service(nid, args[1])
        return f"{nid}: {args[1]} failed"
    raise ValueError(f"unknown command {cmd!r} (try: help)")
