"""The HA mode form: validation before anything is sent, and the preview of a change.

Pure: takes what the inventory says and what was read from the node, returns dataclasses.
Used by the HA pane and by `resil-tui ha set`, so both refuse and warn the same way.

Also here: what the HA scripts' output and the node's state say afterwards (check-master
decision, new xivo-sync log lines), the split-brain guard of a role change, and the
split-brain warning before starting the slave's services. What the web UI's HA save does
besides sysconfd (SIP expiry, backup registrar) is in core/ha_webui.py.
"""

from __future__ import annotations

import re
from enum import StrEnum
from ipaddress import AddressValueError, IPv4Address, IPv4Network
from typing import Any

from resil_tui.core.ha import (
    HaConfig,
    HaCron,
    HaMode,
    render_ha_config,
)
from resil_tui.core.ha_mode import mode_word
from resil_tui.core.ha_webui import SEED_HA_ON, SipExpiryTriple, web_ui_preview_lines
from resil_tui.core.records import field, record
from resil_tui.core.roles import CLASSIC_WORDS, RoleWords
from resil_tui.core.sync_log import SyncOutcome, SyncResult, last_sync_result

# --- validation -------------------------------------------------------------------------------


class IssueLevel(StrEnum):
    ERROR = "error"  # blocks the change
    WARNING = "warning"  # shown, the admin may go on


@record
class FormIssue:
    level: IssueLevel
    field: str  # "mode" | "peer"
    message: str


@record
class FormValidation:
    mode: HaMode | None
    peer: IPv4Address | None
    issues: list[FormIssue] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        return [i.message for i in self.issues if i.level is IssueLevel.ERROR]

    @property
    def warnings(self) -> list[str]:
        return [i.message for i in self.issues if i.level is IssueLevel.WARNING]

    @property
    def ok(self) -> bool:
        return self.mode is not None and not self.errors


def parse_mode(value: str | HaMode | None) -> HaMode | None:
    """A writable HA mode from form or CLI text ("Master", "slave"...); None when invalid."""
    if isinstance(value, HaMode):
        return value if value is not HaMode.UNKNOWN else None
    text = mode_word(value or "")  # "Main" / "Standby" (next LTS) too
    try:
        mode = HaMode(text)
    except ValueError:
        return None
    return mode if mode is not HaMode.UNKNOWN else None


def validate_ha_form(
    mode_value: str | HaMode | None,
    peer_text: str | None,
    *,
    own_ip: IPv4Address | None,
    expected_peer: IPv4Address | None,
    subnet: IPv4Network | None = None,
    node_label: str = "this node",
) -> FormValidation:
    """Check the form the way the admin must be told before anything is sent.

    Errors: no mode; a Master/Slave without a valid IPv4 peer; the node's own VoIP IP; an
    address no host can have (0.0.0.0, broadcast, multicast, loopback).
    Warnings: the peer is not the other node of the pair in the inventory; the peer is
    outside the nodes' subnet (only when the subnet is known: XiVO HA needs one subnet).
    """
    issues: list[FormIssue] = []
    mode = parse_mode(mode_value)
    if mode is None:
        issues.append(
            FormIssue(
                IssueLevel.ERROR,
                "mode",
                f"unknown HA mode {mode_value!r}: choose disabled, master or slave",
            )
        )
        return FormValidation(None, None, issues)
    text = (peer_text or "").strip()
    if mode is HaMode.DISABLED:
        # sysconfd writes "" for a disabled node; a typed peer is ignored, not an error.
        if text:
            issues.append(
                FormIssue(
                    IssueLevel.WARNING,
                    "peer",
                    f"the peer {text!r} is ignored: a disabled node has no peer",
                )
            )
        return FormValidation(mode, None, issues)

    role = "slave" if mode is HaMode.MASTER else "master"
    if not text:
        issues.append(
            FormIssue(
                IssueLevel.ERROR,
                "peer",
                f"mode {mode.value} needs the VoIP IP of the {role} node",
            )
        )
        return FormValidation(mode, None, issues)
    try:
        peer = IPv4Address(text)
    except (AddressValueError, ValueError):
        issues.append(FormIssue(IssueLevel.ERROR, "peer", f"{text!r} is not a valid IPv4 address"))
        return FormValidation(mode, None, issues)
    bad_kind = _unusable(peer)
    if bad_kind:
        issues.append(FormIssue(IssueLevel.ERROR, "peer", f"{peer} is {bad_kind}"))
        return FormValidation(mode, None, issues)
    if own_ip is not None and peer == own_ip:
        issues.append(
            FormIssue(
                IssueLevel.ERROR,
                "peer",
                f"{peer} is {node_label}'s own VoIP IP: the peer is the other node",
            )
        )
        return FormValidation(mode, None, issues)
    if expected_peer is not None and peer != expected_peer:
        issues.append(
            FormIssue(
                IssueLevel.WARNING,
                "peer",
                f"{peer} is not the {role} of this pair in the inventory ({expected_peer})",
            )
        )
    if subnet is not None and peer not in subnet:
        issues.append(
            FormIssue(
                IssueLevel.WARNING,
                "peer",
                f"{peer} is outside the subnet {subnet}: HA nodes must share one subnet",
            )
        )
    return FormValidation(mode, peer, issues)


def _unusable(ip: IPv4Address) -> str:
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_loopback:
        return "a loopback address (the peer must be reached over the VoIP network)"
    if ip.is_multicast:
        return "a multicast address"
    if ip == IPv4Address("255.255.255.255"):
        return "the broadcast address"
    return ""


# --- warnings -----------------------------------------------------------------------------

DISABLE_WARNING = (
    "Disabling an HA node in production breaks the HA configuration and restarts "
    "services (seed: 'You should not disable an HA node in production')."
)
PHONES_REMINDER = (
    "Phones only take the new registrar/proxy and SIP expiry settings after a "
    "resynchronisation or a reboot: resync or reboot them."
)


@record
class PeerNow:
    """The other node of the pair as the last poll saw it (for the split-brain guard)."""

    label: str
    reachable: bool
    telephony: bool | None  # Asterisk running; None: not read


def telephony_after(
    node_label: str, mode: HaMode, telephony_now: bool | None, peer: PeerNow | None
) -> tuple[bool | None, bool | None]:
    """Who runs telephony once the change settled: (this node, the other node).

    sysconfd starts telephony on a master or a disabled node; a slave's cron
    (xivo-check-master-status, every minute) stops it while the master answers pings and
    starts it when it does not. The other node is left as it is. None: cannot tell.
    """
    if mode in (HaMode.MASTER, HaMode.DISABLED):
        mine: bool | None = True
    elif mode is HaMode.SLAVE:
        mine = None if peer is None or not peer.reachable else False
    else:
        mine = telephony_now
    other = peer.telephony if peer is not None and peer.reachable else None
    return mine, other


def split_brain_risk(
    node_label: str, mode: HaMode, telephony_now: bool | None, peer: PeerNow | None
) -> str | None:
    """The preview's first line when the change leaves two nodes, or none, running
    telephony (naming them), or this node running it beside a peer whose telephony is not
    known; None when it does not, or when this node's own cannot be told."""
    if peer is None:
        return None
    mine, other = telephony_after(node_label, mode, telephony_now, peer)
    if mine is True and other is True:
        return (
            f"SPLIT BRAIN: after this change both {node_label} and {peer.label} run "
            "telephony (XiVO HA has no fencing: phones and calls split between them)"
        )
    if mine is True and other is None:
        why = "unreachable from here" if not peer.reachable else "its state not read"
        return (
            f"SPLIT BRAIN NOT RULED OUT: after this change {node_label} runs telephony, and "
            f"whether {peer.label} does is not known ({why}): if it does, phones and calls "
            "split between them"
        )
    if mine is False and other is False:
        return (
            f"NO TELEPHONY: after this change neither {node_label} nor {peer.label} runs "
            "telephony (each standby waits for a master that answers)"
        )
    return None


# --- the preview ------------------------------------------------------------------------------


def cron_lines_for(mode: HaMode, peer: IPv4Address | None) -> list[str]:
    """What the role's cron file makes the node run (sysconfd writes it; XIVO.md)."""
    if mode is HaMode.MASTER and peer is not None:
        return [
            f"0 * * * * root xivo-master-slave-db-replication {peer}  (hourly, minute 0)",
            "0 * * * * root xivo-sync  (hourly, minute 0)",
        ]
    if mode is HaMode.SLAVE and peer is not None:
        return [f"* * * * * root xivo-check-master-status {peer}  (every minute)"]
    return []


@record
class HaPreview:
    node_id: str
    mode: HaMode
    peer: IPv4Address | None
    conf_before: str  # ha.conf as read ("" when the file does not exist)
    conf_before_present: bool
    conf_after: str  # the JSON sent to sysconfd, which it writes to ha.conf
    cron_path: str | None  # the file sysconfd writes for the new role
    cron_lines: list[str]
    cron_removed: list[str]  # HA cron files that exist now and will be removed
    cron_before: list[str]  # active job lines found now
    restarts_postgresql: bool = True
    restart_required: bool = False  # master / disabled: `xivo-service restart` afterwards
    web_ui: list[str] = field(default_factory=list)  # what the web UI's save also does
    risk: str | None = None  # split brain / no telephony after the change: said first
    warnings: list[str] = field(default_factory=list)
    unchanged: bool = False
    mode_label: str = ""  # the mode in the site's words (Main/Standby in next-LTS modes)

    @property
    def typed_confirmation(self) -> bool:
        """Disabling a node, or a change that risks split brain or no telephony, asks for
        the node id to be typed."""
        return self.mode is HaMode.DISABLED or self.risk is not None

    def lines(self) -> list[str]:
        """The preview as plain text lines (pane and CLI show the same thing)."""
        out = [f"⚠ {self.risk}"] if self.risk else []
        out.append(
            f"Change on {self.node_id}: HA mode → {self.mode_label or self.mode.value}"
            + (f", peer {self.peer}" if self.peer else "")
        )
        out.append("What sysconfd's update_ha_config does:")
        if self.unchanged:
            out.append("  (ha.conf already says this: sysconfd will rewrite it all the same)")
        before = self.conf_before.strip() if self.conf_before_present else "(no file: disabled)"
        out.append(f"  ha.conf before: {before}")
        out.append(f"  ha.conf after:  {self.conf_after}")
        out.append(f"  cron now: {'; '.join(self.cron_before) or 'no active HA job'}")
        if self.cron_path:
            out.append(f"  cron: {self.cron_path}")
            out.extend(f"    {line}" for line in self.cron_lines)
        else:
            out.append("  cron: no HA cron file (HA disabled)")
        for path in self.cron_removed:
            out.append(f"  cron: {path} removed")
        if self.mode is HaMode.SLAVE:
            out.append(
                "  PostgreSQL: lets the peer into the database (pg_hba) and listens on all "
                "addresses"
            )
        out.append("  restarts PostgreSQL on the node (calls using the database pause)")
        if self.mode in (HaMode.MASTER, HaMode.DISABLED):
            out.append("  services: starts the telephony services")
        else:
            out.append(
                "  services: none started; the new cron stops or starts telephony "
                "within a minute (ping of the peer)"
            )
        out.extend(self.web_ui)
        if self.restart_required:
            out.append("  ⚠ then all services must be restarted: xivo-service restart")
        out.extend(f"  ⚠ {w}" for w in self.warnings)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node_id,
            "mode": self.mode.value,
            "peer": str(self.peer) if self.peer else None,
            "ha_conf_before": self.conf_before if self.conf_before_present else None,
            "ha_conf_after": self.conf_after,
            "cron_file": self.cron_path,
            "cron_lines": list(self.cron_lines),
            "cron_removed": list(self.cron_removed),
            "restarts_postgresql": self.restarts_postgresql,
            "restart_required": self.restart_required,
            "web_ui_also": list(self.web_ui),
            "risk": self.risk,
            "typed_confirmation": self.typed_confirmation,
            "warnings": list(self.warnings),
        }


def build_preview(
    node_id: str,
    current: HaConfig | None,
    cron: HaCron | None,
    validation: FormValidation,
    *,
    cron_master_path: str = "/etc/cron.d/xivo-ha-master",
    cron_slave_path: str = "/etc/cron.d/xivo-ha-slave",
    ha_on: SipExpiryTriple = SEED_HA_ON,
    telephony_now: bool | None = None,
    peer_now: PeerNow | None = None,
    words: RoleWords = CLASSIC_WORDS,
) -> HaPreview:
    """The preview of a validated change. Raises ValueError when the form has errors.

    `telephony_now` (this node) and `peer_now` (the other node) feed the split-brain
    guard; `words` says master/slave or Main/Standby."""
    if not validation.ok or validation.mode is None:
        raise ValueError("; ".join(validation.errors) or "no HA mode chosen")
    mode, peer = validation.mode, validation.peer
    after = render_ha_config(mode, peer)
    cron_path = {HaMode.MASTER: cron_master_path, HaMode.SLAVE: cron_slave_path}.get(mode)
    removed: list[str] = []
    before_jobs: list[str] = []
    if cron is not None:
        if cron.master.present and cron_path != cron_master_path:
            removed.append(cron_master_path)
        if cron.slave.present and cron_path != cron_slave_path:
            removed.append(cron_slave_path)
        before_jobs = [e.raw.strip() for f in (cron.master, cron.slave) for e in f.active_entries]
    warnings = list(validation.warnings)
    if mode is HaMode.DISABLED:
        warnings.insert(0, DISABLE_WARNING)
    unchanged = current is not None and current.mode is mode and current.peer == peer
    return HaPreview(
        node_id=node_id,
        mode=mode,
        peer=peer,
        conf_before=current.raw if current is not None else "",
        conf_before_present=current.present if current is not None else False,
        conf_after=after,
        cron_path=cron_path,
        cron_lines=cron_lines_for(mode, peer),
        cron_removed=removed,
        cron_before=before_jobs,
        restart_required=mode in (HaMode.MASTER, HaMode.DISABLED),
        web_ui=web_ui_preview_lines(mode, peer, ha_on),
        risk=split_brain_risk(node_id, mode, telephony_now, peer_now),
        warnings=warnings,
        unchanged=unchanged,
        mode_label=words.mode(mode.value),
    )


def verify_applied(
    mode: HaMode, peer: IPv4Address | None, after: HaConfig, cron: HaCron
) -> list[str]:
    """What does not match the change once ha.conf and the cron files were re-read."""
    problems: list[str] = []
    if after.mode is not mode:
        problems.append(f"ha.conf says {after.mode.value}, expected {mode.value}")
    elif mode is not HaMode.DISABLED and after.peer != peer:
        problems.append(f"ha.conf names {after.peer or 'no peer'}, expected {peer}")
    problems.extend(after.problems)
    problems.extend(cron.problems(mode, peer))
    return problems


# --- the scripts' results ---------------------------------------------------------------------


class CheckDecision(StrEnum):
    STOP = "stop"  # master answered: the slave's services are stopped (standby)
    START = "start"  # master silent: the slave takes over
    UNKNOWN = "unknown"


@record
class CheckMasterResult:
    master_reachable: bool | None
    decision: CheckDecision
    ping_lines: list[str]
    evidence: str  # where the decision was read from

    def describe(self) -> str:
        ping = {
            True: "master answered ping",
            False: "master did not answer ping",
            None: "ping result not printed",
        }[self.master_reachable]
        what = {
            CheckDecision.STOP: "slave services stopped (standby)",
            CheckDecision.START: "slave services STARTED (the slave took over)",
            CheckDecision.UNKNOWN: "decision unknown",
        }[self.decision]
        seen = f" [{self.ping_lines[-1]}]" if self.ping_lines else ""
        return f"{ping}{seen}; {what} ({self.evidence})"


_RECEIVED = re.compile(r"(\d+)\s+(?:packets\s+)?received", re.I)
_LOSS_ALL = re.compile(r"100(?:\.0+)?%\s+packet\s+loss", re.I)
_DECIDE = re.compile(r"manage-slave-services\s+(start|stop)\b", re.I)
_ENABLED = re.compile(r"slave services (enabled|disabled)", re.I)


def parse_check_master(
    text: str, disabled_flag_after: bool | None = None, telephony_after: bool | None = None
) -> CheckMasterResult:
    """Read the ping result and the decision from the output; the format of the real
    script's output is not documented, so the node's state afterwards (disabled flag,
    telephony services) decides when the output does not say."""
    pings = [ln.strip() for ln in text.splitlines() if "ping" in ln.lower() or _RECEIVED.search(ln)]
    reachable: bool | None = None
    for line in pings:
        m = _RECEIVED.search(line)
        if m and int(m.group(1)) > 0:
            reachable = True
            break
        if (m and int(m.group(1)) == 0) or _LOSS_ALL.search(line):
            reachable = False
    decision = CheckDecision.UNKNOWN
    evidence = "output"
    found = _DECIDE.findall(text)
    if found:
        decision = CheckDecision(found[-1].lower())
    else:
        enabled = _ENABLED.findall(text)
        if enabled:
            decision = (
                CheckDecision.START if enabled[-1].lower() == "enabled" else (CheckDecision.STOP)
            )
    if decision is CheckDecision.UNKNOWN:
        evidence = "node state afterwards"
        if disabled_flag_after is True and telephony_after is not True:
            decision = CheckDecision.STOP
        elif disabled_flag_after is False and telephony_after is True:
            decision = CheckDecision.START
        else:
            evidence = "neither output nor node state"
    # A decision read from the node's state says what the script did, not that a ping was
    # seen: the ping's result stays "not printed" (None) then.
    return CheckMasterResult(reachable, decision, pings, evidence)


def new_log_lines(before: str, after: str) -> list[str]:
    """The lines `after` holds past the end of `before` (two tails of the same log).

    The last line read before is looked for in the new tail; when it is gone (rotation,
    a tail too short), every line of the new tail counts as new.
    """
    old = [ln for ln in before.splitlines() if ln.strip()]
    new = [ln for ln in after.splitlines() if ln.strip()]
    if not old:
        return new
    marker = old[-1]
    for i in range(len(new) - 1, -1, -1):
        if new[i] == marker:
            # Records carry a time to the millisecond and a pid: a repeat is not expected.
            return new[i + 1 :]
    return new


@record
class SyncRunCheck:
    ok: bool
    outcome: SyncOutcome
    message: str
    silent_noop: bool  # exited 0 but copied nothing (key missing, or no log line at all)


def judge_sync_run(exit_status: int | None, new_lines: list[str]) -> SyncRunCheck:
    result: SyncResult = last_sync_result("\n".join(new_lines))
    if result.outcome is SyncOutcome.KEY_MISSING:
        return SyncRunCheck(
            False,
            result.outcome,
            f"SILENT NO-OP: {result.message} — xivo-sync exited {exit_status} and copied "
            "nothing; run 'xivo-sync -i' on the master",
            True,
        )
    if exit_status not in (0, None) or result.outcome is SyncOutcome.ERROR:
        why = result.message if result.outcome is SyncOutcome.ERROR else "see the output"
        return SyncRunCheck(
            False, SyncOutcome.ERROR, f"xivo-sync failed (exit {exit_status}): {why}", False
        )
    if result.outcome is SyncOutcome.SUCCESS:
        return SyncRunCheck(True, result.outcome, result.message, False)
    if not new_lines:
        return SyncRunCheck(
            False,
            SyncOutcome.UNKNOWN,
            "xivo-sync exited 0 but wrote nothing to its log: nothing proves"
            " a synchronisation happened",
            True,
        )
    return SyncRunCheck(
        False,
        result.outcome,
        f"xivo-sync logged no success: {result.message}",
        "not synchronizing" in result.message.lower(),
    )


def slave_start_warnings(
    master_label: str, master_state: str, master_telephony: bool | None
) -> list[str]:
    """Why `xivo-manage-slave-services start` may make split brain, from the live status.

    `master_state` is the cluster XivoState value of the master ("active", "standby",
    "stopped", "unreachable", "unknown").
    """
    if master_state == "active" or master_telephony is True:
        return [
            f"SPLIT BRAIN: the master ({master_label}) is ACTIVE — it runs telephony now. "
            "Starting the slave's services makes both nodes serve phones."
        ]
    if master_state in ("unreachable", "unknown"):
        return [
            f"The master ({master_label}) is {master_state} from here: if phones still "
            "reach it, starting the slave makes split brain."
        ]
    return [f"The master ({master_label}) does not run telephony ({master_state})."]
