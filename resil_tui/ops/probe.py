"""The live probe of `resil-tui init`: is each SSH target reachable, its host key (and its
jump host's) known, the login accepted, and are the programs the console needs there?

Host keys go through the one trust flow (ops/trust.py): an unknown key is offered to the
admin (`ask_trust`) with its fingerprint and written only on yes; a changed or revoked key
is a failure, never offered. The pool is read-only: the probe only runs `which` and `test`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum

from resil_tui import paths as xdg
from resil_tui.inventory_model import Inventory, Node, NodeKind
from resil_tui.ops import trust
from resil_tui.ops.trust import TrustOffer, TrustState
from resil_tui.remote import commands as cat
from resil_tui.remote.errors import ErrorKind
from resil_tui.remote.pool import Pool

# A hop's unknown key, then the node's: a few offers at most before giving up.
MAX_OFFERS = 4


class Outcome(StrEnum):
    OK = "ok"
    WARNING = "warning"  # reachable, but something the console needs is missing
    FAILED = "failed"  # not reachable, refused, auth, key changed or revoked...
    UNTRUSTED = "untrusted"  # unknown host key, and the admin said no (or was not asked)


@dataclass
class Probe:
    node: Node
    target: str
    outcome: Outcome = Outcome.OK
    checks: list[tuple[bool, str]] = field(default_factory=list)
    advice: str = ""

    def line(self) -> str:
        mark = {
            Outcome.OK: "✓ OK",
            Outcome.WARNING: "⚠ WARNING",
            Outcome.FAILED: "✗ FAILED",
            Outcome.UNTRUSTED: "✗ NOT TRUSTED",
        }[self.outcome]
        done = "; ".join(text for _, text in self.checks)
        tail = f" → {self.advice}" if self.advice else ""
        return f"{mark}  {self.node.id} ({self.target}): {done}{tail}"


def describe_target(node: Node) -> str:
    s = node.ssh
    user = f"{s.user}@" if s.user else ""
    port = f":{s.port}" if s.port else ""
    via = f" via {s.jump}" if s.jump else ""
    return f"{user}{s.host}{port}{via}"


def expected_programs(node: Node) -> tuple[str, ...]:
    return {
        NodeKind.XIVO: ("xivo-service",),
        NodeKind.CC: ("xivocc-dcomp",),
        NodeKind.EDGE: ("edge-dcomp",),
    }.get(node.kind, ())


# Asked when a host key is unknown: trust this offer?
TrustAsk = Callable[[TrustOffer], Awaitable[bool]]

_ADVICE = {
    ErrorKind.REFUSED: "check the host, the port and that sshd runs",
    ErrorKind.DNS: "check the host name, or use an IP or a ~/.ssh/config alias",
    ErrorKind.TIMEOUT: "check the address, firewalls, or set a jump host",
    ErrorKind.AUTH: "check the user and identity file (ssh-copy-id to the node)",
}


async def probe_node(pool: Pool, node: Node, ask_trust: TrustAsk | None) -> Probe:
    """Reachable, host keys known (or trusted on yes), auth, expected commands present."""
    probe = Probe(node, describe_target(node))
    for _ in range(MAX_OFFERS):
        found = await trust.check(pool, node)
        if found.state is TrustState.TRUSTED:
            break
        if found.state is TrustState.UNKNOWN and found.offer is not None:
            offer = found.offer
            if ask_trust is None or not await ask_trust(offer):
                probe.outcome = Outcome.UNTRUSTED
                probe.checks.append(
                    (False, f"host key of {offer.label} {offer.info.fingerprint} not trusted")
                )
                probe.advice = "check the fingerprint on that host, then test again"
                return probe
            trust.accept(pool, offer, step="init: trust host key")
            probe.checks.append(
                (True, f"host key of {offer.label} {offer.info.fingerprint} trusted")
            )
            continue
        probe.outcome = Outcome.FAILED
        probe.checks.append((False, found.message))
        if found.state in (TrustState.CHANGED, TrustState.REVOKED):
            probe.advice = "see the known_hosts line named above"
        else:
            kind = found.error.kind if found.error is not None else ErrorKind.ERROR
            probe.advice = _ADVICE.get(kind, "see the debug log for the details")
        return probe
    else:
        probe.outcome = Outcome.FAILED
        probe.checks.append((False, f"still not connected after {MAX_OFFERS} host keys"))
        return probe
    probe.checks.append((True, "reachable, host key known, auth OK"))
    for program in expected_programs(node):
        result = await pool.run(node, cat.command_exists(program))
        if result.ok:
            probe.checks.append((True, f"{program} found"))
        elif result.incomplete:  # no answer is not "not found"
            probe.outcome = Outcome.WARNING
            probe.checks.append((False, f"{program}: not checked ({result.summary()})"))
        else:
            probe.outcome = Outcome.WARNING
            probe.checks.append((False, f"{program} not found"))
            probe.advice = f"is this the right node? `{program}` is expected on a {node.kind} node"
    if node.kind is NodeKind.EDGE:
        env = node.paths.edge_env
        result = await pool.run(node, cat.test_exists(env, regular_file=True))
        if result.ok:
            probe.checks.append((True, f"{env} present"))
        elif result.incomplete:
            probe.outcome = Outcome.WARNING
            probe.checks.append((False, f"{env}: not checked ({result.summary()})"))
        else:
            probe.outcome = Outcome.WARNING
            probe.checks.append((False, f"{env} missing"))
            probe.advice = "set the Edge .env path (env_path) to where the Edge keeps it"
    return probe


async def probe_inventory(
    inventory: Inventory,
    ask_trust: TrustAsk | None,
    *,
    on_start: Callable[[Node], None] | None = None,
    on_done: Callable[[Probe], None] | None = None,
) -> list[Probe]:
    """Probe every node, one at a time (host key questions come one by one, in order)."""
    results: list[Probe] = []
    async with Pool(read_only=True, audit=xdg.audit_log_path(), connect_attempts=1) as pool:
        for node in inventory.nodes():
            if on_start is not None:
                on_start(node)
            probe = await probe_node(pool, node, ask_trust)
            results.append(probe)
            if on_done is not None:
                on_done(probe)
    return results
