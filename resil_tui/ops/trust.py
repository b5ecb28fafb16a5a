"""The one host-key trust flow, used by `resil-tui init`, `resil-tui trust` and the Status pane.

A node is reached through zero or more jump hosts (the inventory's `jump`, or ProxyJump in
~/.ssh/config). The flow connects; when a host key stops it, it finds out which hop it is,
fetches the key that hop presents and judges it against every known_hosts file (the
user's and the global one):

* unknown (no entry for that host): offered for trust, with its SHA256 fingerprint; the
  nearest untrusted hop comes first, since nothing behind it can be reached before;
* changed (entries exist, none holds this key) or revoked (a `@revoked` line holds it):
  refused with the file and line to look at; never offered.

Nothing is written until `accept()` is called for an offer the admin agreed to.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from resil_tui.core.records import record
from resil_tui.inventory_model import Node
from resil_tui.lazy import lazy_module
from resil_tui.remote.errors import ErrorKind, RemoteError
from resil_tui.remote.pool import Pool

if TYPE_CHECKING:
    from resil_tui.remote import hostkeys
else:
    # known_hosts is read at the first connection, after the console's first screen.
    hostkeys = lazy_module("resil_tui.remote.hostkeys")

_HOST_KEY_KINDS = (
    ErrorKind.HOST_KEY_UNKNOWN,
    ErrorKind.HOST_KEY_CHANGED,
    ErrorKind.HOST_KEY_REVOKED,
)


class TrustState(StrEnum):
    TRUSTED = "trusted"  # every hop's key is known: the node connects
    UNKNOWN = "unknown"  # a hop presents a key nobody listed: see `offer`
    CHANGED = "changed"  # a hop's key differs from the listed one: refused
    REVOKED = "revoked"  # a hop's key is marked @revoked: refused
    FAILED = "failed"  # something else stopped the connection (refused, auth...)


@record
class TrustOffer:
    """A key the admin may trust: which hop presents it, and where it would be written."""

    node: Node
    hop: str | None  # the jump spec, None for the node itself
    info: hostkeys.HostKeyInfo
    known_hosts: Path

    @property
    def label(self) -> str:
        return f"jump host {self.hop} of {self.node.id}" if self.hop else self.node.id

    @property
    def line(self) -> str:
        return f"{self.info.host_pattern} {self.info.key_type} {self.info.fingerprint}"

    def advice(self) -> str:
        return (
            f"Accept only if {self.info.fingerprint} is the key {self.label} really has (on "
            "that host: ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub). Nothing on any node "
            f"changes; only {self.known_hosts} does."
        )


@record
class TrustCheck:
    """Whether host keys let a node be reached and, when not, which hop stops it and what to do."""

    node: Node
    state: TrustState
    message: str  # one line for the admin: what stops the connection, and what to do
    hop: str | None = None  # the hop concerned (None: the node itself)
    offer: TrustOffer | None = None  # set when state is UNKNOWN
    error: RemoteError | None = None

    @property
    def who(self) -> str:
        return f"jump host {self.hop}" if self.hop else self.node.id


async def check(pool: Pool, node: Node) -> TrustCheck:
    """Connect to the node; when a host key stops it, say which hop and why."""
    for attempt in (1, 2):
        try:
            await pool.connection(node)
        except RemoteError as err:
            if err.kind not in _HOST_KEY_KINDS:
                return TrustCheck(node, TrustState.FAILED, err.message, err.hop, error=err)
            found = await _judge(pool, node, err)
            if found is not None or attempt == 2:
                return found or TrustCheck(node, TrustState.FAILED, err.message, err.hop, error=err)
            # The key is in known_hosts by now (trusted meanwhile): connect once more.
            pool.reset(node)
            continue
        break
    return TrustCheck(node, TrustState.TRUSTED, f"{node.id}: host keys trusted")


async def _judge(pool: Pool, node: Node, err: RemoteError) -> TrustCheck | None:
    """None when the presented key turns out to be trusted already."""
    hop = err.hop
    if err.kind is ErrorKind.HOST_KEY_REVOKED:
        return TrustCheck(node, TrustState.REVOKED, err.message, hop, error=err)
    if err.kind is ErrorKind.HOST_KEY_CHANGED:
        return TrustCheck(node, TrustState.CHANGED, err.message, hop, error=err)
    try:
        info = await pool.fetch_host_key(node, hop=hop)
    except (RemoteError, ValueError, OSError) as exc:
        why = exc.message if isinstance(exc, RemoteError) else str(exc)
        who = f"jump host {hop}" if hop else node.id
        return TrustCheck(
            node,
            TrustState.FAILED,
            f"the host key of {who} is unknown and could not be read: {why}",
            hop,
            error=err,
        )
    # Judge the presented key ourselves too: a revoked key is never offered, whatever
    # the connection attempt said.
    target = pool.hop_target(node, hop)
    verdict = hostkeys.judge_key(
        hostkeys.lookup_all(hostkeys.known_hosts_paths(node.ssh), target), info
    )
    who = f"jump host {hop}" if hop else node.id
    if verdict.status is hostkeys.KeyStatus.REVOKED:
        assert verdict.entry is not None
        return TrustCheck(
            node,
            TrustState.REVOKED,
            f"the host key of {who} ({info.fingerprint}) is REVOKED in {verdict.entry.where}: "
            "refused, and never offered for trust",
            hop,
            error=err,
        )
    if verdict.status is hostkeys.KeyStatus.CHANGED:
        assert verdict.entry is not None
        return TrustCheck(
            node,
            TrustState.CHANGED,
            f"the host key of {who} CHANGED: {info.fingerprint} is not the key of "
            f"{verdict.entry.where}; verify it with the host's administrator "
            f"({hostkeys.removal_hint(verdict.entry.path, target)} once it is expected)",
            hop,
            error=err,
        )
    if verdict.status is hostkeys.KeyStatus.TRUSTED:
        return None
    offer = TrustOffer(node, hop, info, hostkeys.known_hosts_path(node.ssh))
    return TrustCheck(
        node,
        TrustState.UNKNOWN,
        f"unknown host key of {who}: {info.key_type} {info.fingerprint}",
        hop,
        offer=offer,
        error=err,
    )


def accept(pool: Pool, offer: TrustOffer, *, step: str) -> str:
    """Write the accepted key to known_hosts (audited). Returns the line written."""
    return pool.trust_host_key(offer.node, offer.info, step=step)
