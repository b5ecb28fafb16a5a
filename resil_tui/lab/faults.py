"""The lab's fault prompt language, shared by `resil-tui lab` and the TUI demo palette."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from resil_tui.lab import phones, xivo
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
  webui-ha-save NODE          save the web UI's HA page of a XiVO node as it stands: SIP
                              expiry, backup registrar, then sysconfd (what sysconfd alone
                              does not do)
  sysconfd-ha-gone NODE on|off sysconfd answers 404 to update_ha_config (the next LTS's
                              "HA depreciation": the endpoint may be gone)
  xuc-never-ready NODE on|off the next xuc start never logs its readiness line
  xuc-ready-delay NODE SECONDS|default
                              seconds from an xuc start to its readiness line
  xuc-logs-plain NODE on|off  `xivocc-dcomp logs` drops -t and --since (no times, all history)
  xuc-healthcheck NODE on|off|default
                              a compose health check on xuc: ps shows (health: starting)
  phones-stuck NODE on|off    phones register to NODE only (no backup registrar)
  phones-cut NODE N           the N highest-numbered phones cannot reach NODE (0: all can)
  calls N NODE [SECONDS]      hold exactly N calls open on a XiVO node (0 hangs them up)
  hangup-all [NODE|SITE]      end every call
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


def _seconds(word: str) -> float:
    try:
        value = float(word)
    except ValueError:
        raise ValueError(f"not a number of seconds: {word!r}") from None
    if not value >= 0 or value > 86400:
        raise ValueError(f"seconds must be between 0 and 86400, not {word!r}")
    return value


def _count(word: str, what: str) -> int:
    if not word.isdigit() or int(word) > 10000:
        raise ValueError(f"the number of {what} must be a whole number from 0 to 10000")
    return int(word)


def _cc_node(lab: Lab, name: str) -> str:
    nid = lab.resolve_node(name)
    if lab.world.node(nid).kind != CC:
        raise ValueError(f"{nid} is not a CC node")
    return nid


def _xivo_node(lab: Lab, name: str) -> str:
    nid = lab.resolve_node(name)
    if lab.world.node(nid).kind != XIVO:
        raise ValueError(f"{nid} is not a XiVO node")
    return nid


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
        if f.get("xuc_logs_plain"):
            marks.append("xuc logs plain")
        if f.get("xuc_healthcheck") is not None:
            marks.append(f"xuc healthcheck {'on' if f['xuc_healthcheck'] else 'off'}")
        if f.get("xuc_ready_delay") is not None:
            marks.append(f"xuc ready after {f['xuc_ready_delay']:g}s")
        if f.get("words_only"):
            marks.append("words only (no shell)")
        if node.kind == XIVO:
            ha = xivo.read_ha(lab.world, nid)
            tel = xivo.service_state(lab.world, nid, "asterisk")
            marks.append(f"ha={ha['node_type']} asterisk={tel}")
        lines.append(f"  {nid:<24} port {lab.port(nid):<6} {node.ip:<14} {' '.join(marks)}")
    cuts = state.get("cut_links", [])
    faults = [k for k, v in state.get("faults", {}).items() if v]
    lines += [phones.summary(lab.world, site.name) for site in lab.world.spec.sites]
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
    if cmd == "webui-ha-save":
        need(1, "webui-ha-save NODE")
        nid = _xivo_node(lab, args[0])
        ha = await lab.web_ui_ha_save(nid)
        peer = f", peer {ha['remote_address']}" if ha["remote_address"] else ""
        return (
            f"{nid}: web UI HA page saved ({ha['node_type']}{peer}): SIP expiry and "
            "provisioning written, then sysconfd"
        )
    if cmd == "sysconfd-ha-gone":
        need(2, "sysconfd-ha-gone NODE on|off")
        nid = _xivo_node(lab, args[0])
        on = _on_off(args[1])
        lab.world.set_node_flag(nid, "sysconfd_ha_gone", on)
        return f"{nid}: sysconfd's update_ha_config {'answers 404' if on else 'is back'}"
    if cmd == "xuc-never-ready":
        need(2, "xuc-never-ready NODE on|off")
        nid = lab.resolve_node(args[0])
        if lab.world.node(nid).kind != CC:
            raise ValueError(f"{nid} is not a CC node")
        on = _on_off(args[1])
        await lab.xuc_never_ready(nid, on)
        return f"{nid}: xuc {'will never become' if on else 'becomes'} ready"
    if cmd in ("xuc-logs-plain", "xuc-healthcheck"):
        need(2, f"{cmd} NODE on|off" + ("|default" if cmd == "xuc-healthcheck" else ""))
        nid = _cc_node(lab, args[0])
        if cmd == "xuc-logs-plain":
            on = _on_off(args[1])
            await lab.xuc_logs_plain(nid, on)
            return f"{nid}: xivocc-dcomp logs {'ignores' if on else 'passes'} -t and --since"
        state = None if args[1].lower() == "default" else _on_off(args[1])
        await lab.xuc_healthcheck(nid, state)
        word = {None: "as the lab spec says", True: "on", False: "off"}[state]
        return f"{nid}: xuc health check {word}"
    if cmd == "xuc-ready-delay":
        need(2, "xuc-ready-delay NODE SECONDS|default")
        nid = _cc_node(lab, args[0])
        delay = None if args[1].lower() == "default" else _seconds(args[1])
        await lab.xuc_ready_delay(nid, delay)
        if delay is None:
            return f"{nid}: xuc readiness delay back to the lab's default"
        return f"{nid}: xuc logs its readiness line {delay:g} s after each start"
    if cmd in ("phones-stuck", "phones-cut"):
        need(2, f"{cmd} NODE {'on|off' if cmd == 'phones-stuck' else 'N'}")
        nid = _xivo_node(lab, args[0])
        if cmd == "phones-stuck":
            on = _on_off(args[1])
            await lab.phones_stuck(nid, on)
            return f"phones {'register to ' + nid + ' only' if on else 'use their backup again'}"
        count = _count(args[1], "phones")
        await lab.phones_cut(nid, count)
        return f"{count} phone(s) cannot reach {nid}" if count else f"every phone reaches {nid}"
    if cmd == "calls":
        if len(args) not in (2, 3):
            raise ValueError("usage: calls N NODE [SECONDS]")
        count = _count(args[0], "calls")
        nid = _xivo_node(lab, args[1])
        duration = _seconds(args[2]) if len(args) == 3 else None
        change = await lab.hold_calls(nid, count, duration)
        how = f" for {duration:g} s" if duration else " until `calls 0` / `hangup-all`"
        if change < 0:
            return f"{nid}: {-change} held call(s) hung up, {count} left"
        return f"{nid}: {change} call(s) started, {count} held{how}"
    if cmd == "hangup-all":
        if len(args) > 1:
            raise ValueError("usage: hangup-all [NODE|SITE]")
        target = None
        if args:
            sites = {s.name for s in lab.world.spec.sites}
            target = args[0] if args[0] in sites else _xivo_node(lab, args[0])
        n = await lab.hangup_all(target)
        return f"{n} call(s) hung up"
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


@dataclass(frozen=True)
class FaultOption:
    """A fault the demo palette offers, worded for the state the lab is in now."""

    title: str
    words: tuple[str, ...]
    help: str


def fault_menu(lab: Lab, site: str, node_ids: Sequence[str]) -> list[FaultOption]:
    """The faults that make sense now for these nodes of a site (the demo palette's list)."""
    known = set(lab.node_ids())
    options: list[FaultOption] = []

    def add(title: str, words: list[str], help_text: str) -> None:
        options.append(FaultOption(title, tuple(words), help_text))

    pairs = [(m.id, s.id) for m, s in lab.xivo_pairs(site)]
    for master, slave in pairs:
        if master not in known or slave not in known:
            continue
        if lab.world.link_cut(master, slave):
            add(
                "heal master/slave link",
                ["heal-link", site],
                "XiVO master and slave see each other again",
            )
        else:
            add(
                "cut master/slave link",
                ["cut-link", site],
                "Only the XiVO master <-> slave link; phones reach both: split brain",
            )
        add(
            "remove sync key",
            ["remove-sync-key", site],
            "Delete /root/.ssh/xivo_id_rsa on the master",
        )
    if lab.world.fault("fail_replication"):
        add("replication works again", ["fail-replication", "off"], "DB replication succeeds")
    else:
        add("replication fails", ["fail-replication", "on"], "DB replication runs fail")
    for nid in node_ids:
        if nid not in known:
            continue
        kind = lab.world.node(nid).kind
        flags = lab.world.node_flags(nid)
        if lab.world.is_powered(nid):
            add(f"power off {nid}", ["power-off", nid], "The node goes away: SSH refused")
        else:
            add(f"power on {nid}", ["power-on", nid], "The node boots again")
        if flags.get("hung"):
            add(f"unhang {nid}", ["unhang", nid], "The node answers again")
        else:
            add(f"hang {nid}", ["hang", nid], "Accepts TCP, never answers: the poll times out")
        if flags.get("slow"):
            add(f"not slow {nid}", ["slow", nid, "0"], "No added latency")
        else:
            add(f"slow {nid} (+3 s per command)", ["slow", nid, "3"], "The other rows do not wait")
        add(f"new host key on {nid}", ["rekey", nid], "known_hosts keeps the old key: refused")
        if kind == XIVO:
            add(f"crash asterisk on {nid}", ["crash", nid, "asterisk"], "asterisk in failed state")
            add(
                f"web UI HA save on {nid}",
                ["webui-ha-save", nid],
                "Save the HA page in the web UI: SIP expiry and backup registrar, then sysconfd",
            )
            add(
                f"phones stuck on {nid}",
                ["phones-stuck", nid, "on"],
                "Phones register to this node only (no backup registrar)",
            )
            add(
                f"phones free again ({nid})",
                ["phones-stuck", nid, "off"],
                "Phones use their backup registrar again",
            )
            add(f"hold 3 calls on {nid}", ["calls", "3", nid], "Three calls stay open")
            add(f"hang up the calls of {nid}", ["calls", "0", nid], "Held calls end")
        if kind == CC:
            if flags.get("xuc_never_ready"):
                add(
                    f"xuc ready again on {nid}",
                    ["xuc-never-ready", nid, "off"],
                    "xuc starts normally",
                )
            else:
                add(
                    f"xuc never ready on {nid}",
                    ["xuc-never-ready", nid, "on"],
                    "The next xuc start never logs its readiness line",
                )
            add(f"stop xuc on {nid}", ["stop-container", nid, "xuc"], "docker stop of xuc")
            add(f"start xuc on {nid}", ["start-container", nid, "xuc"], "xuc starts again")
            if flags.get("xuc_logs_plain"):
                add(
                    f"xuc logs with times again on {nid}",
                    ["xuc-logs-plain", nid, "off"],
                    "xivocc-dcomp logs passes -t and --since to docker",
                )
            else:
                add(
                    f"xuc logs without times on {nid}",
                    ["xuc-logs-plain", nid, "on"],
                    "xivocc-dcomp logs drops -t and --since (a wrapper that ignores them)",
                )
    add("status", ["status"], "What the lab simulates: nodes, ports, power, faults")
    return options
