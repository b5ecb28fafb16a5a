"""What each kind of node is asked in one status poll, and how each answer fills in its
status (the collector, ops/status.py, sends the reads and keeps the results).

What is read on a node of each kind is a list of `Read(name, command, parse)`
(XIVO_READS, EDGE_READS, MDS_READS below; a CC node's reads are ops/cc_status.py's parts,
judged together). The reads of a node go out together as one read-only catalog command
(`remote.commands.batch`: the parts delimited by markers with a fresh nonce, each part's
exit status and stderr kept), the output is split back per part (`core.batch`), and each
part's output is handed to its parser, which returns the kind's status with its own
fields filled in.

Adding a read is one more line in the kind's list, e.g. the calls in progress:

    Read("calls", lambda n: cat.asterisk_rx("core show channels count"), _read_calls),

with `_read_calls(part, status)` returning `replace(status, channels=...)` parsed from
`part.out` (stdout, stderr, exit_status), after adding the catalog entry and the status
field. Nothing else changes: the read rides in the same execution as the others. A
read's command may depend on the site (`site_command`: the phones' registrations are
`pjsip show contacts`, or `sip show peers` on a site whose inventory says
`sip = "chan_sip"`).

The parsers are imported here, not by the collector: the console's first screen builds a
collector but polls nothing before it is painted (the collector loads this module at
its first poll).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, Generic, TypeVar

from resil_tui.core.asterisk import (
    AsteriskResult,
    Outcome,
    parse_channels_count,
    parse_pjsip_contacts,
    parse_sip_peers,
)
from resil_tui.core.batch import PartOutput
from resil_tui.core.compose import ComposePs, parse_compose_ps
from resil_tui.core.edge_side import PairAddresses, edge_targets
from resil_tui.core.ha import HaCron, parse_cron_file, parse_ha_conf
from resil_tui.core.ha_webui import parse_sip_expiry, read_provd_file
from resil_tui.core.multifile import split_multi_tail
from resil_tui.core.node_status import EdgeStatus, MdsStatus, NodeSnapshot, XivoStatus
from resil_tui.core.records import record
from resil_tui.core.services import ServicesStatus, parse_xivo_service_status
from resil_tui.core.sync_log import last_sync_result
from resil_tui.inventory_model import Node, NodeKind, SipStack, Site
from resil_tui.ops import replication_record
from resil_tui.ops.cc_status import cc_parts
from resil_tui.remote import commands as cat
from resil_tui.remote.commands import Command

# How many sync log lines tell the last run's outcome (a run logs a handful of lines).
SYNC_LOG_LINES = 60


@record
class PartResult:
    """What a parser gets: one part's output, the node and site it came from, and the
    poll's error list, where it says what it could not read."""

    node: Node
    site: Site
    out: PartOutput
    errors: list[str]


S = TypeVar("S")


@record
class Read(Generic[S]):
    """One read of a poll: a name, its catalog command, and how its output updates the
    kind's status (a parser returns the status with its own fields filled in)."""

    name: str
    command: Callable[[Node], Command]
    parse: Callable[[PartResult, S], S]
    # When the command depends on the site's settings: used instead of `command`.
    site_command: Callable[[Node, Site], Command] | None = None

    def build(self, node: Node, site: Site | None) -> Command:
        if self.site_command is not None and site is not None:
            return self.site_command(node, site)
        return self.command(node)


@record
class KindReads(Generic[S]):
    """Every read a poll makes on one kind of node, and the status they fill in."""

    slot: str  # the NodeSnapshot field the status goes to
    blank: S  # the status with every field unknown: what parsers fill in
    start: Callable[[Node], S]  # the status before any read (what no part says)
    reads: tuple[Read[S], ...]


def _xivo_files(node: Node) -> list[str]:
    p = node.paths
    return [p.ha_conf, p.cron_master, p.cron_slave, p.disabled_flag, p.sync_log, p.provd_default]


def _read_xivo_files(part: PartResult, status: XivoStatus) -> XivoStatus:
    p = part.node.paths
    texts = split_multi_tail(part.out.stdout, part.out.stderr, _xivo_files(part.node))
    for path, why in texts.problems.items():
        part.errors.append(f"{path}: {why}")
    sync_text = texts.text(p.sync_log)
    provd, provd_error = read_provd_file(
        p.provd_default, texts.text(p.provd_default), texts.problems.get(p.provd_default)
    )
    return replace(
        status,
        ha=parse_ha_conf(texts.text(p.ha_conf)),
        disabled_flag=None
        if p.disabled_flag in texts.problems
        else texts.text(p.disabled_flag) is not None,
        cron=HaCron(
            master=parse_cron_file(texts.text(p.cron_master)),
            slave=parse_cron_file(texts.text(p.cron_slave)),
        ),
        sync=last_sync_result(sync_text) if sync_text is not None else None,
        provd_default=provd,
        provd_error=provd_error,
    )


def _read_services(part: PartResult) -> ServicesStatus:
    return parse_xivo_service_status(part.out.stdout, part.out.exit_status)


def _exists(part: PartResult, path: str) -> bool | None:
    if part.out.exit_status in (0, 1):
        return part.out.exit_status == 0
    part.errors.append(f"test -e {path}: {part.out.ended}")
    return None


def _read_sip_expiry(part: PartResult, status: XivoStatus) -> XivoStatus:
    out = part.out
    if out.exit_status == 0:
        return replace(status, sip_expiry=parse_sip_expiry(out.stdout))
    lines = [x for x in f"psql: {out.stderr or out.stdout}".strip().splitlines() if x.strip()]
    return replace(status, sip_error=lines[0] if lines else out.ended)


def _read_edge_env(part: PartResult, status: EdgeStatus) -> EdgeStatus:
    path = part.node.paths.edge_env
    if part.out.exit_status != 0:
        if "No such file" not in part.out.stderr:
            why = part.out.stderr.strip() or part.out.ended
            part.errors.append(f"cat {path}: {why}")
        part.errors.append(f"{path}: not found")
        return status
    # The one rule for the side an Edge .env points to (core/edge_side.py).
    targets = edge_targets(part.out.stdout, pair_addresses(part.site))
    values = {v.name: v.value for v in targets.variables if v.value is not None}
    return replace(status, values=values, targets=targets, env_text=part.out.stdout)


def pair_addresses(site: Site) -> PairAddresses:
    return PairAddresses(
        site.xivo_master.ip,
        site.xivo_slave.ip,
        site.cc_master.ip if site.cc_master else None,
        site.cc_slave.ip if site.cc_slave else None,
    )


def _containers(part: PartResult) -> ComposePs | None:
    return parse_compose_ps(part.out.stdout) if part.out.exit_status == 0 else None


PJSIP_CONTACTS = "pjsip show contacts"
SIP_PEERS = "sip show peers"
CHANNELS_COUNT = "core show channels count"


def _registrations_cli(site: Site) -> str:
    return SIP_PEERS if site.sip is SipStack.CHAN_SIP else PJSIP_CONTACTS


def _asterisk_problem(part: PartResult, cli: str, result: AsteriskResult[Any]) -> None:
    """A standby's stopped Asterisk is no problem; anything else unread is said."""
    if result.outcome is Outcome.NO_SUCH_COMMAND:
        hint = (
            ' (a chan_sip site? say sip = "chan_sip" for it in the inventory)'
            if cli == PJSIP_CONTACTS
            else ' (a PJSIP site? remove sip = "chan_sip" from the inventory)'
            if cli == SIP_PEERS
            else ""
        )
        part.errors.append(f"asterisk -rx {cli!r}: {result.reason}{hint}")
    elif result.outcome is Outcome.UNPARSABLE:
        part.errors.append(f"asterisk -rx {cli!r}: {result.reason}")


def _read_registrations(part: PartResult, status: XivoStatus) -> XivoStatus:
    out = part.out
    if part.site.sip is SipStack.CHAN_SIP:
        peers = parse_sip_peers(out.stdout, out.stderr, out.exit_status)
        _asterisk_problem(part, SIP_PEERS, peers)
        return replace(status, sip_peers=peers)
    contacts = parse_pjsip_contacts(out.stdout, out.stderr, out.exit_status)
    _asterisk_problem(part, PJSIP_CONTACTS, contacts)
    return replace(status, contacts=contacts)


def _read_calls(part: PartResult, status: XivoStatus) -> XivoStatus:
    out = part.out
    channels = parse_channels_count(out.stdout, out.stderr, out.exit_status)
    _asterisk_problem(part, CHANNELS_COUNT, channels)
    return replace(status, channels=channels)


# Each kind's reads, sent together as one remote execution per node and poll. A new read
# is one more line here (see the module docstring).
XIVO_READS: tuple[Read[XivoStatus], ...] = (
    Read(
        "files",  # ha.conf, both cron files, the disabled flag, the sync log's tail
        lambda n: cat.tail_files(_xivo_files(n), SYNC_LOG_LINES),
        _read_xivo_files,
    ),
    Read(
        "services",
        lambda n: cat.xivo_service_status(all=True),
        lambda part, x: replace(x, services=_read_services(part)),
    ),
    Read(
        "sync_key",  # only tested, never read: it is a secret
        lambda n: cat.test_exists(n.paths.sync_key),
        lambda part, x: replace(x, sync_key_present=_exists(part, part.node.paths.sync_key)),
    ),
    Read("sip_expiry", lambda n: cat.sip_expiry_query(), _read_sip_expiry),
    Read(
        "registrations",  # the phones: PJSIP contacts, or chan_sip peers (site.sip)
        lambda n: cat.asterisk_rx(PJSIP_CONTACTS),
        _read_registrations,
        site_command=lambda n, s: cat.asterisk_rx(_registrations_cli(s)),
    ),
    Read("calls", lambda n: cat.asterisk_rx(CHANNELS_COUNT), _read_calls),
)
EDGE_READS: tuple[Read[EdgeStatus], ...] = (
    Read("env", lambda n: cat.cat(n.paths.edge_env), _read_edge_env),
    Read(
        "containers",
        lambda n: cat.edge_ps(),
        lambda part, e: replace(e, containers=_containers(part)),
    ),
)
MDS_READS: tuple[Read[MdsStatus], ...] = (
    Read(
        "services",
        lambda n: cat.xivo_service_status(all=True),
        lambda part, m: replace(m, services=_read_services(part)),
    ),
)

# A CC node's reads are ops/cc_status.py's parts (they depend on the last poll).
KINDS: dict[NodeKind, KindReads[Any]] = {
    NodeKind.XIVO: KindReads(
        "xivo",
        XivoStatus(),
        lambda n: XivoStatus(replication=replication_record.last(n.id)),
        XIVO_READS,
    ),
    NodeKind.EDGE: KindReads("edge", EdgeStatus(), lambda n: EdgeStatus(), EDGE_READS),
    NodeKind.MDS: KindReads("mds", MdsStatus(), lambda n: MdsStatus(), MDS_READS),
}


def node_commands(
    node: Node, previous: NodeSnapshot | None = None, site: Site | None = None
) -> list[Command]:
    """The read commands of one poll of the node, in the order of its parts (what the
    batch joins)."""
    if node.kind is NodeKind.CC:
        return [p.command for p in cc_parts(node, previous.cc if previous else None)]
    return [read.build(node, site) for read in KINDS[node.kind].reads]
