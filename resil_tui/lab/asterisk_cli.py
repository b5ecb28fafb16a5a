"""`asterisk -rx "..."` on XiVO (and MDS) nodes: the remote console's one-shot commands.

Written from the Asterisk 20 source, not from resil-tui's parsers:

* main/asterisk.c: `-x CMD` implies `-r`; with no daemon to connect to it prints
  `Unable to connect to remote asterisk (does /var/run/asterisk/asterisk.ctl exist?)` on
  stderr and exits 1; connected, it prints the command's output and exits 0, whatever the
  command said (even "No such command").
* main/cli.c: `No such command '<cmd>' (type 'core show help <best>' for other possible
  commands)`, where <best> is what find_best() keeps (the words up to the first one no
  command matches); `core show channels [count]` (handle_chanlist).
* res/res_pjsip/pjsip_cli.c and location.c: `pjsip show contacts`.
* channels/chan_sip.c: `sip show peers` (only on a site whose spec says chan_sip; on a
  PJSIP site, as on Asterisk 20 where chan_sip is not loaded, it is "No such command").
"""

from __future__ import annotations

import time

from resil_tui.lab import phones
from resil_tui.lab.base import CommandFailed, Ctx
from resil_tui.lab.spec import CHAN_SIP, XIVO

SOCKET = "/var/run/asterisk/asterisk.ctl"
NOT_RUNNING = f"Unable to connect to remote asterisk (does {SOCKET} exist?)"

# A few of Asterisk 20's CLI entries, as word lists (find_best needs the single-word ones).
_ENTRIES = (
    ("!",),
    ("ulimit",),
    ("core", "show", "channels", "[concise|verbose|count]"),
    ("core", "show", "help"),
    ("core", "show", "version"),
    ("core", "show", "uptime", "[seconds]"),
    ("core", "restart", "now"),
    ("pjsip", "show", "contacts"),
    ("pjsip", "show", "endpoints"),
    ("pjsip", "show", "aors"),
    ("sip", "show", "peers", "[like]"),
    ("sip", "show", "registry"),
)


def _word_match(word: str, entry: str) -> bool:
    if entry.startswith("[") and entry.endswith("]"):
        return word.lower() in entry[1:-1].lower().split("|")
    return word.lower() == entry.lower()


def _find_cli(words: list[str], entries: tuple[tuple[str, ...], ...]) -> bool:
    """find_cli(cmds, -1) != NULL: an entry matches, allowing a mismatch on the last word."""
    for entry in entries:
        n = len(words)
        if len(entry) < n:
            continue
        head_ok = all(_word_match(w, e) for w, e in zip(words[:-1], entry[: n - 1], strict=False))
        if not head_ok:
            continue
        if len(entry) == n or _word_match(words[-1], entry[n - 1]):
            return True
    return False


def find_best(words: list[str], entries: tuple[tuple[str, ...], ...]) -> str:
    best: list[str] = []
    for w in words:
        best.append(w)
        if not _find_cli(best, entries):
            break
    return " ".join(best)


def _entries(chan_sip: bool) -> tuple[tuple[str, ...], ...]:
    skip = "pjsip" if chan_sip else "sip"
    return tuple(e for e in _ENTRIES if e[0] != skip)


def _ess(n: int) -> str:
    return "" if n == 1 else "s"


# --- the commands -----------------------------------------------------------------------------
def pjsip_show_contacts(ctx: Ctx) -> str:
    contacts = phones.contacts_on(ctx.world, ctx.node.id)
    if not contacts:
        return "No objects found.\n\n"
    indent = 9  # CLI_INDENT_TO_SPACES(0)
    filler = 62 - indent - 23  # CLI_LAST_TABSTOP - indent - 23
    header = (
        f"{'Contact':>{indent}}:  <Aor/ContactUri{'.' * filler}> <Hash....> <Status> <RTT(ms)..>"
    )
    out = ["\n", header + "\n", "=" * 90 + "\n\n"]
    for c in contacts:
        aor, uri = c.phone.aor, c.phone.uri
        flex = 62 - indent - 9 - len(aor) + 1
        shown = uri[:flex].ljust(flex) if flex >= 0 else uri  # %-*.*s
        rtt = f"{c.rtt_ms:11.3f}" if c.rtt_ms is not None else f"{'nan':>11}"
        digest = phones.contact_hash(c.phone)[:10]
        out.append(f"{'Contact':>{indent}}:  {aor}/{shown} {digest:<10} {c.status:<7.7} {rtt}\n")
    out.append(f"\nObjects found: {len(contacts)}\n\n")
    return "".join(out)


def _counts(ctx: Ctx, calls: list[phones.CallView], done: int) -> str:
    channels = sum(c.channels for c in calls)
    site = ctx.world.spec.site(ctx.node.site)
    lines = [f"{channels} active channel{_ess(channels)}\n"]
    n = len(calls)
    if site.max_calls:
        pct = n / site.max_calls * 100.0
        lines.append(
            f"{n} of {site.max_calls} max active call{_ess(n)} ({pct:5.2f}% of capacity)\n"
        )
    else:
        lines.append(f"{n} active call{_ess(n)}\n")
    lines.append(f"{done} call{_ess(done)} processed\n")
    return "".join(lines)


def core_show_channels(ctx: Ctx) -> str:
    fmt = "{:<64.64} {:<32.32} {:<7.7} {:<30.30}\n"  # FORMAT_STRING
    out = [fmt.format("Channel", "Location", "State", "Application(Data)")]
    calls, done = phones.node_calls(ctx.world, ctx.node.id)
    for c in calls:
        who = c.phone.aor if c.phone else "trunk"
        if c.channels == 1:
            out.append(
                fmt.format(f"PJSIP/{who}-{c.id:08x}", "*98@default:3", "Up", "VoiceMailMain()")
            )
            continue
        out.append(
            fmt.format(f"PJSIP/{who}-{2 * c.id:08x}", "(None)", "Up", "AppDial((Outgoing Line))")
        )
        out.append(
            fmt.format(
                f"PJSIP/trunk-{2 * c.id + 1:08x}", f"{who}@from-extern:7", "Up", "Dial(PJSIP/trunk)"
            )
        )
    return "".join(out) + _counts(ctx, calls, done)


def sip_show_peers(ctx: Ctx) -> str:
    fmt = "{:<25.25} {:<39.39} {:<3.3} {:<10.10} {:<10.10} {:<3.3} {:<8} {:<11} {:<32.32} {}\n"
    columns = ("Name/username", "Host", "Dyn", "Forcerport", "Comedia", "ACL", "Port", "Status")
    out = [fmt.format(*columns, "Description", "")]
    site = ctx.world.spec.site(ctx.node.site)
    now = time.time()
    held = {c.phone.index: c for c in phones.contacts_on(ctx.world, ctx.node.id, now)}
    online = offline = 0
    for p in sorted(phones.population(ctx.world, site), key=lambda p: p.aor):
        c = held.get(p.index)
        if c is None:
            host, port, status = "(Unspecified)", "0", "UNKNOWN"
            offline += 1
        elif c.rtt_ms is None:
            host, port, status = p.ip, str(p.port), "UNREACHABLE"
            offline += 1
        else:
            host, port, status = p.ip, str(p.port), f"OK ({max(1, round(c.rtt_ms))} ms)"
            online += 1
        name = f"{p.aor}/{p.aor}"
        out.append(
            fmt.format(name, host, " D ", "Auto (No)", "Auto (No)", "   ", port, status, "", "")
        )
    total = online + offline
    out.append(
        f"{total} sip peers [Monitored: {online} online, {offline} offline "
        "Unmonitored: 0 online, 0 offline]\n"
    )
    return "".join(out)


def _cli(ctx: Ctx, line: str) -> str:
    words = line.split()
    if not words:
        return ""
    chan_sip = ctx.node.kind == XIVO and ctx.world.spec.site(ctx.node.site).sip == CHAN_SIP
    key = " ".join(w.lower() for w in words)
    if key == "pjsip show contacts" and not chan_sip:
        return pjsip_show_contacts(ctx) if ctx.node.kind == XIVO else "No objects found.\n\n"
    if key == "core show channels count":
        return _counts(ctx, *phones.node_calls(ctx.world, ctx.node.id))
    if key == "core show channels":
        return core_show_channels(ctx)
    if key == "sip show peers" and chan_sip:
        return sip_show_peers(ctx)
    best = find_best(words, _entries(chan_sip))
    return (
        f"No such command '{' '.join(words)}' (type 'core show help {best}' for other "
        "possible commands)\n"
    )


async def asterisk(ctx: Ctx, args: list[str]) -> int:
    remote = False
    command: str | None = None
    it = iter(args)
    for a in it:
        if a in ("-x", "--exec") or (a.startswith("-") and not a.startswith("--") and "x" in a):
            # getopt: `-rx CMD`, `-rvx CMD`, `-x CMD`; `-xCMD` also works.
            tail = a[a.index("x") + 1 :] if a.startswith("-") and a != "--exec" else ""
            remote = True  # -x implies -r
            command = tail or next(it, None)
            if command is None:
                raise CommandFailed("asterisk: option requires an argument -- 'x'", 1)
        elif a.startswith("-") and not a.startswith("--") and set(a[1:]) <= set("rRvdnqgcTtWp"):
            remote = remote or "r" in a or "R" in a
        elif a in ("-C", "-U", "-G", "-s", "-e", "-M", "-L"):
            next(it, None)  # options with a value that do not change what runs here
        else:
            raise CommandFailed(f"asterisk: invalid option -- '{a.lstrip('-')[:1]}'", 1)
    if not phones.asterisk_up(ctx.world, ctx.node.id):
        if remote or command is not None:
            ctx.err(NOT_RUNNING + "\n")
            return 1
        raise CommandFailed("lab: starting Asterisk by hand is not emulated (use xivo-service)", 1)
    if command is None:
        if remote:
            raise CommandFailed(
                "lab: the interactive Asterisk console is not emulated (use -rx)", 1
            )
        ctx.err(f"Asterisk already running on {SOCKET}.  Use 'asterisk -r' to connect.\n")
        return 1
    ctx.out(_cli(ctx, command))
    return 0
