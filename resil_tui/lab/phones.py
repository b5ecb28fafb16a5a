"""A site's SIP phones and calls: registrations that follow the active XiVO, calls over time.

The population is derived from the lab seed (SiteSpec.phones phones, AOR 1001, 1002...);
only what changes is stored, in sites/<site>.json. Like the container logs, the state is
caught up lazily ("settled") to now whenever it is read, and *before* anything that changes
what phones can reach (Asterisk started or stopped, a node powered, a phone fault): between
two such changes the world is constant, so a catch-up over any interval is exact and no
background task is needed (the sshd-tier dispatcher processes see the same phones).

Rules (the lab's model of real phones, documented so tests can rely on them):

* Phone i has a registration expiry E_i drawn in [phone_expiry_min, phone_expiry_max]
  (LabTiming) and re-registers every 3/4 E_i, at a seeded phase. The registrar keeps the
  contact until E_i after the last successful REGISTER (Asterisk keeps contacts in its
  astdb, so they also outlive an Asterisk restart until they expire).
* At each REGISTER a phone tries its current registrar, then its primary (the XiVO
  master), then its backup (the slave, as provisioned with HA), and stays with the first
  that answers: powered, Asterisk running, and reachable from the phone. So a phone moves
  only when its registrar stops answering, at its next refresh: after a failover within
  its expiry, and after a failback once the slave has stopped Asterisk. None answers: the
  phone is unregistered until one does.
* A contact is `Avail` while the phone can reach that registrar (phones answer OPTIONS
  whoever asks) and `Unavail` while it cannot (`phones-cut`), until it expires.
* Split brain: `cut-link` cuts only the master <-> slave link, phones still reach both and
  stay where they are (all on the master). `phones-cut NODE N` cuts the N highest-numbered
  phones (the far end of the phone LAN) from NODE: with the link cut too, they move to the
  other node at their next refresh and the phones are split N / rest.
* `phones-stuck NODE on`: every phone tries NODE only (no backup registrar provisioned):
  after a failover away from NODE, its phones stay unregistered instead of moving.
* Calls arrive at `call_rate` per second per site (seeded, Poisson), last an exponential
  `call_duration` on average, and are placed on the caller's registrar; one in five is a
  one-channel call (voicemail), the others two channels. A call ends early when its node's
  Asterisk stops (counted as dropped). `calls N NODE` holds exactly N calls open on NODE
  until `calls 0 NODE` / `hangup-all` (or for SECONDS); phones moving elsewhere keep them.
"""

from __future__ import annotations

import hashlib
import math
import random
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from resil_tui.lab.spec import MASTER, SLAVE, XIVO, SiteSpec

if TYPE_CHECKING:
    from resil_tui.lab.world import LabWorld

REFRESH_RATIO = 0.75  # a phone re-registers at 3/4 of its expiry
VOICEMAIL_SHARE = 0.2  # one-channel calls
CALL_HORIZON = 3600.0  # a catch-up longer than this only generates the last hour's calls
_MAX_DURATION = 20.0  # calls longer than 20 x the mean are cut to it


@dataclass(frozen=True)
class Phone:
    index: int
    aor: str  # the PJSIP AOR / chan_sip peer name: "1001"
    ip: str  # data only, never connected to
    port: int
    uri: str  # the Contact URI it registers
    expiry: float  # s
    refresh: float  # s between two REGISTERs
    phase: float  # s after the origin of its first REGISTER
    rtt_ms: float


@dataclass(frozen=True)
class ContactView:
    phone: Phone
    status: str  # "Avail" | "Unavail"
    rtt_ms: float | None
    expires: float


@dataclass(frozen=True)
class CallView:
    id: int
    phone: Phone | None  # None: a call without a registered phone (a held trunk call)
    start: float
    end: float | None  # None: held until hung up
    channels: int
    held: bool  # started by `calls N NODE` (a fault), not by the call generator


# --- the population (derived, never stored) -----------------------------------------------
@lru_cache(maxsize=256)
def _population(
    seed: int, site: str, count: int, master_ip: str, exp_min: float, exp_max: float
) -> tuple[Phone, ...]:
    a, b, c, _ = (int(x) for x in master_ip.split("."))
    lo, hi = min(exp_min, exp_max), max(exp_min, exp_max)
    out = []
    for i in range(count):
        rng = random.Random(f"{seed}:{site}:phone:{i}")
        aor = str(1001 + i)
        ip = f"{a}.{b}.{(c + 100 + i // 200) % 256}.{10 + i % 200}"
        port = rng.choice((5060, 5060, 5060, 5060, 5062, 5064))
        tail = rng.choice(("", ";transport=udp", ";transport=udp", "line"))
        if tail == "line":  # Snom style: long enough to be cut by Asterisk's column
            line = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(8))
            tail = f";transport=tcp;line={line}"
        expiry = rng.uniform(lo, hi)
        refresh = expiry * REFRESH_RATIO
        out.append(
            Phone(
                index=i,
                aor=aor,
                ip=ip,
                port=port,
                uri=f"sip:{aor}@{ip}:{port}{tail}",
                expiry=expiry,
                refresh=refresh,
                phase=rng.uniform(0, refresh),
                rtt_ms=rng.uniform(3.0, 40.0),
            )
        )
    return tuple(out)


def population(world: LabWorld, site: SiteSpec) -> tuple[Phone, ...]:
    master = site.node(XIVO, MASTER)
    if master is None:
        return ()
    t = world.timing
    return _population(
        world.spec.seed,
        site.name,
        site.phones,
        master.ip,
        t.phone_expiry_min,
        t.phone_expiry_max,
    )


def registrars(site: SiteSpec) -> tuple[str, ...]:
    """Primary then backup registrar (node ids): the XiVO master, then the slave."""
    return tuple(n.id for n in (site.node(XIVO, MASTER), site.node(XIVO, SLAVE)) if n)


def contact_hash(phone: Phone) -> str:
    """What Asterisk names the contact after (`<aor>;@<md5 of the URI>`)."""
    return hashlib.md5(phone.uri.encode()).hexdigest()


# --- state ----------------------------------------------------------------------------------
def initial_state(world: LabWorld, site: SiteSpec, now: float) -> dict[str, Any]:
    """Every phone registered to the node running telephony at `now` (the master)."""
    regs = registrars(site)
    active = next((nid for nid in regs if asterisk_up(world, nid)), None)
    phones = []
    for p in population(world, site):
        entry: dict[str, Any] = {"cur": active, "regs": {}, "since": now}
        if active is not None:
            # Its last REGISTER was one refresh before the first one after `now`.
            entry["regs"][active] = now + p.phase - p.refresh + p.expiry
        phones.append(entry)
    return {
        "origin": now,
        "last": now,
        "phones": phones,
        "calls": [],
        "next_call": 1,
        "nodes": {
            nid: {"up": asterisk_up(world, nid), "processed": 0, "dropped": 0, "started": now}
            for nid in regs
        },
        "stuck": None,
        "cut": {},
        "moves": 0,
    }


def asterisk_up(world: LabWorld, node_id: str) -> bool:
    """Asterisk answers on the node: powered and its `asterisk` service running."""
    if not world.is_powered(node_id):
        return False
    services = world.read_state(node_id).get("services", [])
    return any(s.get("name") == "asterisk" and s.get("state") == "running" for s in services)


def _cut_from(st: dict[str, Any], node_id: str, index: int, count: int) -> bool:
    n = int(st.get("cut", {}).get(node_id, 0))
    return n > 0 and index >= count - n


def settle(
    world: LabWorld, site_name: str, now: float | None = None, *, look: bool = False
) -> dict[str, Any]:
    """Catch the site's phones and calls up to `now`; return the state (to read only).

    `look`: for a command that only reads (the Asterisk CLI). When nothing happened since
    the last settle (no REGISTER changed anything, no call came or ended, no node went up
    or down), the file is left as it was, `last` included: the next settle then covers
    the longer span, which gives the same result, since what phones depend on (power,
    Asterisk, cuts) changes only after a settle of its own (`before_change`, which
    writes). A poll's two Asterisk reads of a node then cost no write most of the time.
    """
    now = time.time() if now is None else now
    site = world.spec.site(site_name)
    with world.edit_site_state(site_name, ("last",) if look else ()) as st:
        if "phones" not in st:  # a lab directory from before phones existed
            st.update(initial_state(world, site, now))
        _advance(world, site, st, now)
    # Read back from the file under the lock, the document is ours alone: no copy (every
    # caller only reads it).
    return st


def before_change(world: LabWorld, node_id: str) -> None:
    """Call before changing anything phones depend on (services, power) on a XiVO node."""
    node = world.node(node_id)
    if node.kind == XIVO:
        settle(world, node.site)


def _advance(world: LabWorld, site: SiteSpec, st: dict[str, Any], now: float) -> None:
    last = float(st["last"])
    if now <= last:
        return
    pop = population(world, site)
    count = len(pop)
    regs = registrars(site)
    up = {nid: asterisk_up(world, nid) for nid in regs}
    stuck = st.get("stuck")

    def works(index: int, node_id: str | None) -> bool:
        # `up` holds only powered nodes (asterisk_up): lab.json is read once per settle,
        # not once per phone.
        return (
            node_id is not None
            and up.get(node_id, False)
            and not _cut_from(st, node_id, index, count)
        )

    # Nodes: what is down now has been down since `last` (changes settle first).
    for nid in regs:
        ns = st["nodes"].setdefault(
            nid, {"up": False, "processed": 0, "dropped": 0, "started": last}
        )
        if not up[nid]:
            if ns["up"]:
                cut = [c for c in st["calls"] if c["node"] == nid]
                ns["dropped"] += len(cut)
                st["calls"] = [c for c in st["calls"] if c["node"] != nid]
            ns["up"] = False
        elif not ns["up"]:
            ns.update(up=True, processed=0, started=last)

    # Phones: the first REGISTER in (last, now] decides; later ones only refresh.
    origin = float(st["origin"])
    while len(st["phones"]) < count:
        st["phones"].append({"cur": None, "regs": {}, "since": last})
    first: dict[int, tuple[float, str | None, str | None]] = {}
    for p in pop:
        ph = st["phones"][p.index]
        k0 = max(0, math.floor((last - origin - p.phase) / p.refresh) + 1)
        k1 = math.floor((now - origin - p.phase) / p.refresh)
        if k1 < k0:
            continue
        t_first = origin + p.phase + k0 * p.refresh
        t_last = origin + p.phase + k1 * p.refresh
        old = ph["cur"]
        candidates = [stuck] if stuck else [old, *regs]
        new = next((nid for nid in candidates if works(p.index, nid)), None)
        first[p.index] = (t_first, old, new)
        if new != old:
            ph["cur"], ph["since"] = new, t_first
            if new is not None:
                st["moves"] = int(st.get("moves", 0)) + 1
        if new is not None:
            ph["regs"][new] = t_last + p.expiry

    _arrivals(world, site, st, pop, last, now, first, works)
    st["calls"] = [c for c in st["calls"] if c["end"] is None or c["end"] > now]
    for ph in st["phones"]:
        ph["regs"] = {nid: exp for nid, exp in ph["regs"].items() if exp > now}
    st["last"] = now


def _poisson(rng: random.Random, lam: float) -> int:
    limit, k, p = math.exp(-lam), 0, 1.0
    while k < 1000:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1
    return k


def _arrivals(
    world: LabWorld,
    site: SiteSpec,
    st: dict[str, Any],
    pop: tuple[Phone, ...],
    last: float,
    now: float,
    first: dict[int, tuple[float, str | None, str | None]],
    works: Callable[[int, str | None], bool],
) -> None:
    timing = world.timing
    rate, mean = timing.call_rate, max(timing.call_duration, 0.01)
    if rate <= 0 or not pop:
        return
    b1 = math.floor(now)
    b0 = max(math.floor(last), b1 - int(CALL_HORIZON))
    for b in range(b0, b1 + 1):
        rng = random.Random(f"{world.spec.seed}:{site.name}:calls:{b}")
        for _ in range(_poisson(rng, rate)):
            t = b + rng.random()
            index = rng.randrange(len(pop))
            duration = min(rng.expovariate(1.0 / mean), _MAX_DURATION * mean)
            channels = 1 if rng.random() < VOICEMAIL_SHARE else 2
            if not last < t <= now:
                continue
            if index in first:
                t_first, old, new = first[index]
                cur = new if t >= t_first else old
            else:
                cur = st["phones"][index]["cur"]
            if cur is None or not works(index, cur):
                continue  # the INVITE goes nowhere: no call
            _start_call(st, cur, index, t, t + duration, held=False, channels=channels)


def _start_call(
    st: dict[str, Any],
    node_id: str,
    phone: int | None,
    start: float,
    end: float | None,
    *,
    held: bool,
    channels: int = 2,
) -> None:
    call_id = int(st.get("next_call", 1))
    st["next_call"] = call_id + 1
    st["calls"].append(
        {
            "id": call_id,
            "node": node_id,
            "phone": phone,
            "start": start,
            "end": end,
            "held": held,
            "channels": channels,
        }
    )
    st["nodes"][node_id]["processed"] += 1


# --- what the emulated Asterisk CLI shows ---------------------------------------------------
def _site_of(world: LabWorld, node_id: str) -> SiteSpec | None:
    node = world.node(node_id)
    return world.spec.site(node.site) if node.kind == XIVO else None


def contacts_on(world: LabWorld, node_id: str, now: float | None = None) -> list[ContactView]:
    """The contacts the node's registrar holds now, in Asterisk's order (by contact id)."""
    now = time.time() if now is None else now
    site = _site_of(world, node_id)
    if site is None:
        return []
    st = settle(world, site.name, now, look=True)
    pop = population(world, site)
    powered = world.is_powered(node_id)  # read once, not once per phone
    out = []
    for p in pop:
        expires = st["phones"][p.index]["regs"].get(node_id)
        if expires is None or expires <= now:
            continue
        if powered and not _cut_from(st, node_id, p.index, len(pop)):
            # The RTT of the last qualify (one per refresh period), a little jitter.
            # A CRC of the seed rather than a Random per phone and poll: the same jitter
            # for the same qualify, at a fraction of the cost (16,000 per poll at scale).
            key = f"{world.spec.seed}:{p.aor}:{math.floor(now / p.refresh)}"
            q = zlib.crc32(key.encode()) / 0xFFFFFFFF
            out.append(ContactView(p, "Avail", p.rtt_ms * (0.8 + 0.4 * q), expires))
        else:
            out.append(ContactView(p, "Unavail", None, expires))
    out.sort(key=lambda c: f"{c.phone.aor};@{contact_hash(c.phone)}")
    return out


def node_calls(
    world: LabWorld, node_id: str, now: float | None = None
) -> tuple[list[CallView], int]:
    """The node's calls in progress, and the calls it processed since Asterisk started."""
    site = _site_of(world, node_id)
    if site is None:
        return [], 0
    st = settle(world, site.name, now, look=True)
    pop = population(world, site)
    out = []
    for c in st["calls"]:
        if c["node"] != node_id:
            continue
        phone = pop[c["phone"]] if c["phone"] is not None and c["phone"] < len(pop) else None
        out.append(CallView(c["id"], phone, c["start"], c["end"], c["channels"], c["held"]))
    processed = int(st["nodes"].get(node_id, {}).get("processed", 0))
    return sorted(out, key=lambda c: c.id), processed


def dropped_on(world: LabWorld, node_id: str) -> int:
    """Calls cut because the node's Asterisk stopped (or the node went down) under them."""
    site = _site_of(world, node_id)
    if site is None:
        return 0
    return int(settle(world, site.name)["nodes"].get(node_id, {}).get("dropped", 0))


def registered_on(world: LabWorld, site_name: str) -> dict[str | None, int]:
    """Phones per current registrar (None: unregistered)."""
    st = settle(world, site_name)
    out: dict[str | None, int] = {}
    for ph in st["phones"][: world.spec.site(site_name).phones]:
        out[ph["cur"]] = out.get(ph["cur"], 0) + 1
    return out


def summary(world: LabWorld, site_name: str) -> str:
    site = world.spec.site(site_name)
    if not site.phones:
        return f"{site_name}: no phones"
    where = registered_on(world, site_name)
    st = world.read_site_state(site_name)
    parts = [f"{where.get(nid, 0)} on {world.node(nid).name}" for nid in registrars(site)] + [
        f"{where.get(None, 0)} unregistered"
    ]
    calls = [
        f"{sum(1 for c in st.get('calls', []) if c['node'] == nid)} on {world.node(nid).name}"
        for nid in registrars(site)
    ]
    marks = []
    if st.get("stuck"):
        marks.append(f"stuck on {world.node(st['stuck']).name}")
    marks += [f"{n} cut from {world.node(nid).name}" for nid, n in st.get("cut", {}).items() if n]
    extra = f" ({', '.join(marks)})" if marks else ""
    return f"{site_name}: phones {', '.join(parts)}{extra}; calls {', '.join(calls)}"


# --- faults ---------------------------------------------------------------------------------
def set_stuck(world: LabWorld, node_id: str | None, site_name: str) -> None:
    """Phones register to `node_id` only (None: back to current / primary / backup)."""
    if node_id is not None and world.node(node_id).kind != XIVO:
        raise ValueError(f"{node_id} is not a XiVO node")
    settle(world, site_name)
    with world.edit_site_state(site_name) as st:
        st["stuck"] = node_id


def set_cut(world: LabWorld, node_id: str, count: int) -> None:
    """The `count` highest-numbered phones of the site cannot reach `node_id` (0: none)."""
    node = world.node(node_id)
    if node.kind != XIVO:
        raise ValueError(f"{node_id} is not a XiVO node")
    if count < 0:
        raise ValueError("the number of phones must be 0 or more")
    settle(world, node.site)
    with world.edit_site_state(node.site) as st:
        cut = dict(st.get("cut", {}))
        if count:
            cut[node_id] = count
        else:
            cut.pop(node_id, None)
        st["cut"] = cut


def hold_calls(world: LabWorld, node_id: str, count: int, seconds: float | None = None) -> int:
    """Exactly `count` held calls on the node: start or hang up held calls; return the change.

    New calls go to phones registered on the node (round robin), else have no phone.
    Raises ValueError when calls must start and the node's Asterisk is not running.
    """
    node = world.node(node_id)
    if node.kind != XIVO:
        raise ValueError(f"{node_id} is not a XiVO node")
    if count < 0:
        raise ValueError("the number of calls must be 0 or more")
    now = time.time()
    settle(world, node.site, now)
    with world.edit_site_state(node.site) as st:
        held = [c for c in st["calls"] if c["node"] == node_id and c["held"]]
        if len(held) >= count:
            gone = {c["id"] for c in held[count:]}
            st["calls"] = [c for c in st["calls"] if c["id"] not in gone]
            return -len(gone)
        if not asterisk_up(world, node_id):
            raise ValueError(f"Asterisk is not running on {node_id}: no call can start there")
        here = [i for i, ph in enumerate(st["phones"]) if ph["cur"] == node_id]
        end = now + seconds if seconds is not None and seconds > 0 else None
        for k in range(count - len(held)):
            phone = here[k % len(here)] if here else None
            _start_call(st, node_id, phone, now, end, held=True)
        return count - len(held)


def hangup_all(world: LabWorld, site_name: str, node_id: str | None = None) -> int:
    """End every call (held or not) of the site, or of one node; return how many."""
    settle(world, site_name)
    with world.edit_site_state(site_name) as st:
        gone = [c for c in st["calls"] if node_id is None or c["node"] == node_id]
        st["calls"] = [c for c in st["calls"] if c not in gone]
        return len(gone)
