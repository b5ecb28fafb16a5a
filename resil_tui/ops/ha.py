"""HA operations on a XiVO pair: read the HA state, change a node's mode through sysconfd,
restart services, and run the four HA scripts with their output live.

Shared by the HA pane and `resil-tui ha`; never imports Textual. Every action:
* refuses in read-only mode before reading or sending anything (`Pool.require_writable`,
  and the pool refuses the mutating command again);
* streams its output line by line to `on_line` and keeps it all in an `ActionRecord`;
* is audited by the pool (the mutating command, its exit status, the step name);
* runs under the node's change lock (remote/lock.py): a second console gets a refused
  record naming who holds it, and nothing of its own is sent (`force` breaks a stale
  lock only).

Passwords (`xivo-sync -i`) go from the `ask_password` callback straight to the PTY; they
are masked in the record by the PTY session and in the audit log, and never stored here.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from ipaddress import IPv4Address
from typing import Any

from resil_tui.core.cluster import SiteVerdicts, XivoState
from resil_tui.core.ha import HaConfig, HaCron, HaMode, parse_cron_file, parse_ha_conf
from resil_tui.core.ha_form import (
    CheckMasterResult,
    FormValidation,
    HaPreview,
    PeerNow,
    SyncRunCheck,
    build_preview,
    judge_sync_run,
    new_log_lines,
    parse_check_master,
    slave_start_warnings,
    validate_ha_form,
    verify_applied,
)
from resil_tui.core.ha_webui import (
    HA_OFF,
    SEED_HA_ON,
    CheckState,
    SipExpiry,
    SipExpiryTriple,
    WebUiCheck,
    check_web_ui_effects,
    parse_sip_expiry,
    provd_update_body,
    read_provd_file,
    site_sip_expiry,
)
from resil_tui.core.multifile import MultiFile, split_multi_tail
from resil_tui.core.node_status import NodeSnapshot, XivoStatus
from resil_tui.core.records import record
from resil_tui.core.replication import ReplicationResult, parse_replication_output
from resil_tui.core.roles import role_words
from resil_tui.core.services import ServicesStatus, parse_xivo_service_status
from resil_tui.inventory_model import Node, NodeKind, Site
from resil_tui.ops import replication_record
from resil_tui.ops.status import StatusCollector
from resil_tui.ops.status_events import SiteReport
from resil_tui.remote import commands as cat
from resil_tui.remote.commands import Command, ServiceAction
from resil_tui.remote.commands import SlaveAction as SlaveAction
from resil_tui.remote.errors import ErrorKind, RemoteError
from resil_tui.remote.lock import node_lock
from resil_tui.remote.pool import Pool

LineSink = Callable[[str], None]
PasswordAsk = Callable[[str], Awaitable[str | None]]

SYNC_LOG_TAIL = 200
# The slave's root password prompt of ssh-copy-id ("root@10.0.0.2's password: ").
PASSWORD_PROMPT = re.compile(r"password[^\n:]*:\s*$", re.IGNORECASE)


def _ignore(_line: str) -> None:
    return None


# --- reading ----------------------------------------------------------------------------------


@record
class HaNodeState:
    node: Node
    snapshot: NodeSnapshot
    ha_on: SipExpiryTriple = SEED_HA_ON  # the site's expected SIP expiry while HA is on

    @property
    def sip(self) -> SipExpiry | None:
        return self.snapshot.xivo.sip_expiry if self.snapshot.xivo else None

    @property
    def sip_error(self) -> str | None:
        if not self.reachable:
            return "node unreachable"
        return self.snapshot.xivo.sip_error if self.snapshot.xivo else "not read"

    @property
    def reachable(self) -> bool:
        return self.snapshot.reachability.ok

    @property
    def ha(self) -> HaConfig | None:
        return self.snapshot.xivo.ha if self.snapshot.xivo else None

    @property
    def cron(self) -> HaCron | None:
        return self.snapshot.xivo.cron if self.snapshot.xivo else None

    @property
    def services(self) -> ServicesStatus | None:
        return self.snapshot.xivo.services if self.snapshot.xivo else None

    @property
    def mode(self) -> HaMode:
        return self.ha.mode if self.ha is not None else HaMode.UNKNOWN

    def web_ui_check(self) -> WebUiCheck:
        """SIP expiry and backup registrar against this node's ha.conf (what the web UI's
        HA save writes and sysconfd does not); nothing reads ok from an unreachable node."""
        xivo = self.snapshot.xivo if self.reachable else None
        if xivo is None:
            why = "node unreachable" if not self.reachable else "not read"
            xivo = XivoStatus(ha=self.ha, sip_error=why, provd_error=why)
        return xivo.web_ui_check(self.node.id, self.ha_on)

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node.id,
            "reachable": self.reachable,
            "error": self.snapshot.reachability.message or None,
            "ha": self.ha.to_dict() if self.ha else None,
            "cron": self.cron.to_dict() if self.cron else None,
            "cron_problems": self.cron.problems(self.mode, self.ha.peer)
            if self.cron and self.ha
            else [],
            "web_ui_part": self.web_ui_check().to_dict(),
        }


@record
class HaSiteState:
    site: Site
    nodes: dict[str, HaNodeState]  # the XiVO master and slave, by node id
    verdicts: SiteVerdicts
    read_at: float

    def node(self, node_id: str) -> HaNodeState | None:
        return self.nodes.get(node_id)

    def xivo_state(self, node_id: str) -> XivoState:
        return self.verdicts.xivo_states.get(node_id, XivoState.UNKNOWN)

    def configured(self, mode: HaMode) -> list[HaNodeState]:
        """The nodes whose ha.conf says `mode` (replication runs where ha.conf says master)."""
        return [s for s in self.nodes.values() if s.reachable and s.mode is mode]

    def ha_findings(self) -> list[str]:
        return [
            f"{f.severity.value.upper()}: {f.title}"
            for f in self.verdicts.findings[1:]
            if f.code.value
            in (
                "ha_misconfigured",
                "split_brain",
                "standby_broken",
                "sync_key_missing",
                "sync_failing",
                "node_unreachable",
            )
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "site": self.site.name,
            "verdict": self.verdicts.primary.code.value,
            "verdict_title": self.verdicts.primary.title,
            "severity": self.verdicts.severity.value,
            "xivo_states": {k: v.value for k, v in self.verdicts.xivo_states.items()},
            "findings": [f.to_dict() for f in self.verdicts.findings],
            "nodes": {k: v.to_dict() for k, v in self.nodes.items()},
        }


def xivo_nodes(site: Site) -> tuple[Node, Node]:
    return site.xivo_master, site.xivo_slave


def peer_node(site: Site, node: Node) -> Node:
    return site.xivo_slave if node.id == site.xivo_master.id else site.xivo_master


def ha_site_state(site: Site, report: SiteReport) -> HaSiteState:
    """The XiVO pair as a status poll saw it (verdicts, ha.conf, cron, SIP expiry)."""
    ha_on = site_sip_expiry(site)
    nodes = {
        n.id: HaNodeState(n, report.snapshot.node(n.id) or NodeSnapshot(n.id, n.kind.value), ha_on)
        for n in xivo_nodes(site)
    }
    return HaSiteState(site, nodes, report.verdicts, report.verdicts.evaluated_at)


def preview_for(
    site: Site, node: Node, state: HaSiteState, validation: FormValidation
) -> HaPreview:
    """The preview of a change on `node` from the last poll of the pair (pane and CLI):
    sysconfd's part, the web UI's part left undone, and the split-brain guard."""
    current = state.node(node.id)
    other = state.node(peer_node(site, node).id)
    services = current.services if current is not None else None
    peer_now = None
    if other is not None:
        tel = other.services.telephony_running if other.services is not None else None
        peer_now = PeerNow(other.node.id, other.reachable, tel)
    return build_preview(
        node.id,
        current.ha if current is not None else None,
        current.cron if current is not None else None,
        validation,
        cron_master_path=node.paths.cron_master,
        cron_slave_path=node.paths.cron_slave,
        ha_on=site_sip_expiry(site),
        telephony_now=services.telephony_running if services is not None else None,
        peer_now=peer_now,
        words=role_words(site.resilience),
    )


async def read_ha_site(collector: StatusCollector, site: Site) -> HaSiteState:
    """Poll the XiVO pair now (through the shared collector) and read its HA state."""
    report = await collector.poll_nodes(site, [n.id for n in xivo_nodes(site)])
    return ha_site_state(site, report)


def validate_for_node(
    site: Site, node: Node, mode: str | HaMode | None, peer_text: str | None
) -> FormValidation:
    """The form's validation with the pair from the inventory (subnet: not in the inventory)."""
    other = peer_node(site, node)
    return validate_ha_form(
        mode, peer_text, own_ip=node.ip, expected_peer=other.ip, subnet=None, node_label=node.id
    )


# --- action records ---------------------------------------------------------------------------


@dataclass(kw_only=True)
class ActionRecord:
    """One action on one node: what ran, everything it printed, and what it meant."""

    action: str  # "set-mode", "restart", "replicate", "sync", "sync-init", "check", ...
    node_id: str
    command: str
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    lines: list[str] = field(default_factory=list)
    ok: bool = False
    exit_status: int | None = None
    summary: str = ""
    refused: bool = False
    stale_lock: bool = False  # refused by the node's stale lock: may be broken and retried
    restart_required: bool = False
    verify_problems: list[str] = field(default_factory=list)
    replication: ReplicationResult | None = None
    sync: SyncRunCheck | None = None
    check: CheckMasterResult | None = None
    status_after: ServicesStatus | None = None
    web_ui: WebUiCheck | None = None  # set-mode: SIP expiry and backup registrar read back
    _sink: LineSink = field(default=_ignore, repr=False)

    def emit(self, line: str) -> None:
        self.lines.append(line)
        self._sink(line)

    def finish(self, ok: bool, summary: str) -> ActionRecord:
        self.ok, self.summary = ok, summary
        self.finished_at = time.time()
        self.emit(("✔ " if ok else "✖ ") + summary)
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "node": self.node_id,
            "command": self.command,
            "ok": self.ok,
            "exit_status": self.exit_status,
            "summary": self.summary,
            "restart_required": self.restart_required,
            "verify_problems": list(self.verify_problems),
            "web_ui_part": self.web_ui.to_dict() if self.web_ui is not None else None,
            "lines": list(self.lines),
        }


async def _under_lock(
    pool: Pool,
    node: Node,
    rec: ActionRecord,
    what: str,
    step: str,
    force: bool,
    body: Callable[[], Awaitable[ActionRecord]],
) -> ActionRecord:
    """Run `body` under the node's change lock. Taking the lock failed (held, stale, the
    audit log unwritable): a refused record, nothing sent. Read-only still raises."""
    entered = False
    try:
        async with node_lock(pool, node, what, force=force, step=step):
            entered = True
            return await body()
    except RemoteError as exc:
        if entered or exc.kind is ErrorKind.READ_ONLY:
            raise
        rec.refused = True
        rec.stale_lock = exc.kind is ErrorKind.STALE_LOCK
        return rec.finish(False, f"refused: {exc.message}")


async def _stream(
    pool: Pool,
    node: Node,
    command: Command,
    rec: ActionRecord,
    step: str,
    timeout: float | None = None,
) -> int | None:
    """Run `command`, each output line to the record as it comes; the exit status."""
    rec.emit(f"$ {command.line}")
    try:
        async with asyncio.timeout(timeout), pool.stream(node, command, step=step) as lines:
            async for line in lines:
                rec.emit(line)
            status = lines.exit_status
    except RemoteError as exc:
        if exc.kind is ErrorKind.READ_ONLY:
            raise
        rec.emit(f"[{exc.kind.value}] {exc.message}")
        return None
    except TimeoutError:
        rec.emit(f"[timeout] no end after {timeout:g}s: the channel was closed")
        return None
    rec.exit_status = status
    return status


async def _read_files(pool: Pool, node: Node, paths: list[str]) -> MultiFile:
    """The files' texts; RemoteError when no whole answer came (half a file is none)."""
    result = await pool.run(node, cat.tail_files(paths, 500))
    if result.incomplete:
        error = result.error
        assert error is not None
        raise error
    return split_multi_tail(result.stdout, result.stderr, paths)


async def _read_web_ui_part(
    pool: Pool,
    node: Node,
    mode: HaMode,
    peer: IPv4Address | None,
    files: MultiFile,
    ha_on: SipExpiryTriple,
) -> WebUiCheck:
    """SIP expiry (psql, read-only) and provd's default config (from the files just read)
    against the new mode: what the web UI's HA save writes and sysconfd does not."""
    path = node.paths.provd_default
    provd, provd_error = read_provd_file(path, files.text(path), files.problems.get(path))
    sip: SipExpiry | None = None
    sip_error: str | None = None
    try:
        result = await pool.run(node, cat.sip_expiry_query())
    except RemoteError as exc:
        if exc.kind is ErrorKind.READ_ONLY:
            raise
        sip_error = f"psql not run: {exc.message}"
    else:
        if result.ok:
            sip = parse_sip_expiry(result.stdout)
        else:
            first = (
                result.stderr.strip() or result.stdout.strip() or result.summary()
            ).splitlines()
            sip_error = f"psql: {first[0] if first else result.summary()}"
    return check_web_ui_effects(
        node.id,
        mode,
        peer,
        sip=sip,
        sip_error=sip_error,
        provd=provd,
        provd_error=provd_error,
        ha_on=ha_on,
    )


def _left_to_do(check: WebUiCheck | None) -> str:
    if check is None or check.all_ok:
        return ""
    left = [
        f"{c.name} {c.state.value}"
        for c in check.checks
        if c.state in (CheckState.DIFFERS, CheckState.UNREADABLE)
    ]
    return f"; LEFT TO DO (the web UI's HA save): {', '.join(left)}"


async def _status_all(pool: Pool, node: Node, rec: ActionRecord) -> ServicesStatus | None:
    command = cat.xivo_service_status(all=True)
    rec.emit(f"$ {command.line}")
    try:
        result = await pool.run(node, command)
    except RemoteError as exc:
        rec.emit(f"[{exc.kind.value}] {exc.message}")
        return None
    for line in (result.stdout + result.stderr).splitlines():
        rec.emit(line)
    if result.incomplete:  # a cut list could lack the services still running
        rec.emit(f"[{result.summary()}] {result.note}")
        return None
    return parse_xivo_service_status(result.stdout, result.exit_status)


async def _flag_and_status(
    pool: Pool, node: Node, rec: ActionRecord
) -> tuple[bool | None, ServicesStatus | None]:
    status = await _status_all(pool, node, rec)
    try:
        flag = await pool.run(node, cat.test_exists(node.paths.disabled_flag))
        present = flag.exit_status == 0 if flag.exit_status in (0, 1) else None
    except RemoteError:
        present = None
    if present is not None:
        rec.emit(f"{node.paths.disabled_flag}: {'present' if present else 'absent'}")
    return present, status


# --- actions: what a confirmation shows is what runs ----------------------------------------


class HaActionKind(StrEnum):
    SET_MODE = "set-mode"
    RESTART = "restart"
    REPLICATE = "replicate"
    SYNC = "sync"
    SYNC_INIT = "sync-init"
    CHECK = "check"
    SLAVE_START = "slave-start"
    SLAVE_STOP = "slave-stop"


@record
class HaAction:
    """One HA change, planned: the exact catalog command it sends is `command`, built once.
    The HA pane's confirmation shows `command.line`; `run_action` sends that same object."""

    kind: HaActionKind
    node: Node
    command: Command
    validation: FormValidation | None = None  # set-mode
    peer: str | None = None  # replicate: the slave's IP; check: the master's IP
    ha_on: SipExpiryTriple = SEED_HA_ON  # set-mode: the SIP expiry read back is compared to

    @property
    def line(self) -> str:
        return self.command.line


def plan_set_mode(
    node: Node, validation: FormValidation, ha_on: SipExpiryTriple = SEED_HA_ON
) -> HaAction:
    if not validation.ok or validation.mode is None:
        raise ValueError("; ".join(validation.errors) or "invalid HA form")
    command = cat.sysconfd_update_ha_config(validation.mode.value, validation.peer)
    return HaAction(HaActionKind.SET_MODE, node, command, validation=validation, ha_on=ha_on)


def plan_restart(node: Node) -> HaAction:
    return HaAction(HaActionKind.RESTART, node, cat.xivo_service(ServiceAction.RESTART))


def plan_replication(master: Node, slave_ip: IPv4Address | str) -> HaAction:
    command = cat.db_replication(slave_ip)
    return HaAction(HaActionKind.REPLICATE, master, command, peer=str(slave_ip))


def plan_sync(master: Node) -> HaAction:
    return HaAction(HaActionKind.SYNC, master, cat.xivo_sync())


def plan_sync_init(master: Node) -> HaAction:
    return HaAction(HaActionKind.SYNC_INIT, master, cat.xivo_sync_init())


def plan_check_master(slave: Node, master_ip: IPv4Address | str) -> HaAction:
    command = cat.check_master_status(master_ip)
    return HaAction(HaActionKind.CHECK, slave, command, peer=str(master_ip))


def plan_manage_slave(slave: Node, action: SlaveAction | str) -> HaAction:
    act = SlaveAction(action)
    kind = HaActionKind.SLAVE_START if act is SlaveAction.START else HaActionKind.SLAVE_STOP
    return HaAction(kind, slave, cat.manage_slave_services(act))


async def run_action(
    pool: Pool,
    action: HaAction,
    *,
    on_line: LineSink = _ignore,
    ask_password: PasswordAsk | None = None,
    force: bool = False,
) -> ActionRecord:
    """Run a planned HA action: the very command it holds. `force` breaks the node's lock
    when it is stale (the admin confirmed it after a refusal that said so)."""
    kind, node = action.kind, action.node
    if kind is HaActionKind.SET_MODE:
        assert action.validation is not None
        return await apply_ha_mode(
            pool, node, action.validation, on_line=on_line, action=action, force=force
        )
    if kind is HaActionKind.RESTART:
        return await restart_services(pool, node, on_line=on_line, action=action, force=force)
    if kind is HaActionKind.REPLICATE:
        assert action.peer is not None
        return await run_replication(
            pool, node, action.peer, on_line=on_line, action=action, force=force
        )
    if kind is HaActionKind.SYNC:
        return await run_sync(pool, node, on_line=on_line, action=action, force=force)
    if kind is HaActionKind.SYNC_INIT:
        if ask_password is None:
            raise ValueError("xivo-sync -i needs a way to ask for the slave's password")
        return await run_sync_init(
            pool, node, ask_password, on_line=on_line, action=action, force=force
        )
    if kind is HaActionKind.CHECK:
        assert action.peer is not None
        return await run_check_master(
            pool, node, action.peer, on_line=on_line, action=action, force=force
        )
    act = SlaveAction.START if kind is HaActionKind.SLAVE_START else SlaveAction.STOP
    return await run_manage_slave(pool, node, act, on_line=on_line, action=action, force=force)


# --- mode change ------------------------------------------------------------------------------


async def apply_ha_mode(
    pool: Pool,
    node: Node,
    validation: FormValidation,
    *,
    on_line: LineSink = _ignore,
    step: str = "HA mode change",
    action: HaAction | None = None,
    force: bool = False,
) -> ActionRecord:
    """POST /update_ha_config through sysconfd on the node, then re-read ha.conf and the
    cron files to verify. Raises ValueError for an invalid form, RemoteError(READ_ONLY)."""
    action = action or plan_set_mode(node, validation)
    mode, peer = validation.mode, validation.peer
    ha_on = action.ha_on
    assert mode is not None
    command = action.command
    pool.require_writable(node, f"set HA mode {mode.value}")
    rec = ActionRecord(action="set-mode", node_id=node.id, command=command.line, _sink=on_line)

    async def body() -> ActionRecord:
        rec.emit(f"$ {command.line}")
        try:
            # sysconfd restarts PostgreSQL before answering: give it more than a status read.
            result = await pool.run(
                node, command, timeout=max(node.ssh.command_timeout, 90.0), step=step
            )
        except RemoteError as exc:
            if exc.kind is ErrorKind.READ_ONLY:
                raise
            if exc.kind is ErrorKind.AUDIT:
                rec.refused = True
                return rec.finish(False, f"refused: {exc.message}")
            return rec.finish(False, f"sysconfd not reached: {exc.message}")
        rec.exit_status = result.exit_status
        for line in (result.stdout + result.stderr).splitlines():
            rec.emit(line)
        answer_problem = _sysconfd_problem(result.exit_status, result.stdout, result.stderr)
        if result.incomplete:
            answer_problem = result.note or result.summary()
        if answer_problem:
            rec.emit(f"sysconfd: {answer_problem}")

        # Verify from the node's files, whatever sysconfd answered.
        provd_path = node.paths.provd_default
        paths = [node.paths.ha_conf, node.paths.cron_master, node.paths.cron_slave, provd_path]
        try:
            texts = await _read_files(pool, node, paths)
        except RemoteError as exc:
            return rec.finish(False, f"could not re-read ha.conf to verify: {exc.message}")
        # A file that could not be read is not a file that is not there (disabled, no cron).
        unread = [
            f"{path}: {texts.problems[path]}"
            for path in (node.paths.ha_conf, node.paths.cron_master, node.paths.cron_slave)
            if path in texts.problems
        ]
        if unread:
            for line in unread:
                rec.emit(f"verify: could not read {line}")
            why = answer_problem or f"could not read {'; '.join(unread)}"
            return rec.finish(False, f"HA mode {mode.value} not confirmed on {node.id}: {why}")
        after = parse_ha_conf(texts.text(node.paths.ha_conf))
        cron = HaCron(
            master=parse_cron_file(texts.text(node.paths.cron_master)),
            slave=parse_cron_file(texts.text(node.paths.cron_slave)),
        )
        rec.emit(f"ha.conf now: {after.raw.strip() if after.present else '(no file)'}")
        rec.emit(f"cron now: {cron.state.value}")
        for job in (e.raw.strip() for f in (cron.master, cron.slave) for e in f.active_entries):
            rec.emit(f"  {job}")
        rec.verify_problems = verify_applied(mode, peer, after, cron)
        for problem in rec.verify_problems:
            rec.emit(f"verify: {problem}")
        rec.restart_required = mode in (HaMode.MASTER, HaMode.DISABLED)
        rec.web_ui = await _read_web_ui_part(pool, node, mode, peer, texts, ha_on)
        rec.emit("--- what the web UI's HA save does, read back (sysconfd does not do it) ---")
        for line in rec.web_ui.lines():
            rec.emit(line)
        if answer_problem or rec.verify_problems:
            why = answer_problem or "; ".join(rec.verify_problems)
            return rec.finish(False, f"HA mode {mode.value} not confirmed on {node.id}: {why}")
        tail = " — restart pending: xivo-service restart" if rec.restart_required else ""
        peer_text = f" (peer {peer})" if peer else ""
        left = _left_to_do(rec.web_ui)
        return rec.finish(
            True,
            f"{node.id} is now HA {mode.value}{peer_text}, sysconfd's part verified{tail}{left}",
        )

    return await _under_lock(pool, node, rec, f"HA set-mode {mode.value}", step, force, body)


def _sysconfd_problem(exit_status: int | None, stdout: str, stderr: str) -> str:
    """Why sysconfd's answer is a failure ("" when it is not). Without curl --fail an
    HTTP error still exits 0, so the body is looked at too."""
    if exit_status not in (0, None):
        first = (stderr.strip() or stdout.strip() or "no output").splitlines()[0]
        return f"curl exit {exit_status}: {first}"
    body = stdout.strip()
    if not body:
        return ""
    if body.startswith("<"):
        return f"unexpected HTML answer: {body[:120]}"
    try:
        data = json.loads(body)
    except ValueError:
        # Plain text acknowledgements are judged by the re-read, but an HTTP error's own
        # page ("404 Not Found", "Not Found") is an answer too: the endpoint did nothing.
        first = body.splitlines()[0][:120]
        return f"sysconfd answered: {first}" if _HTTP_ERROR.search(first) else ""
    if isinstance(data, dict) and "error" in data:
        return f"sysconfd refused: {data['error']}"
    detail = data.get("detail") if isinstance(data, dict) else None
    if isinstance(detail, list) or (isinstance(detail, str) and _HTTP_ERROR.search(detail)):
        # FastAPI's error answers (wazo-sysconfd): {"detail": "Not Found"} for a 404, a
        # list of what was wrong for a 422.
        return f"sysconfd answered: {str(detail)[:120]}"
    return ""


# An HTTP error page's first line, whatever the server (sysconfd's HA endpoint may be gone:
# the documentation's "HA depreciation", XIVO.md).
_HTTP_ERROR = re.compile(
    r"^(?:HTTP/\S+\s+)?[45][0-9]{2}\b"
    r"|\b(?:not found|method not allowed|internal server error|bad request)\b",
    re.I,
)


async def restart_services(
    pool: Pool,
    node: Node,
    *,
    on_line: LineSink = _ignore,
    step: str = "restart services",
    timeout: float | None = 600.0,
    action: HaAction | None = None,
    force: bool = False,
) -> ActionRecord:
    """`xivo-service restart` with its output live, then `xivo-service status all`."""
    command = (action or plan_restart(node)).command
    pool.require_writable(node, "restart services")
    rec = ActionRecord(action="restart", node_id=node.id, command=command.line, _sink=on_line)

    async def body() -> ActionRecord:
        status = await _stream(pool, node, command, rec, step, timeout)
        rec.status_after = await _status_all(pool, node, rec)
        after = rec.status_after
        not_running = after.not_running if after is not None else []
        if status != 0:
            return rec.finish(False, f"xivo-service restart failed (exit {status})")
        if after is None:
            return rec.finish(False, "restarted, but xivo-service status all could not be read")
        if not_running:
            return rec.finish(
                False, f"restarted; not running: {', '.join(not_running)} (see status above)"
            )
        return rec.finish(True, f"all services running on {node.id}")

    return await _under_lock(pool, node, rec, "restart services", step, force, body)


# --- the four scripts -------------------------------------------------------------------------


async def run_replication(
    pool: Pool,
    master: Node,
    slave_ip: IPv4Address | str,
    *,
    on_line: LineSink = _ignore,
    step: str = "DB replication",
    timeout: float | None = 3600.0,
    action: HaAction | None = None,
    force: bool = False,
) -> ActionRecord:
    command = (action or plan_replication(master, slave_ip)).command
    pool.require_writable(master, "run the DB replication")
    rec = ActionRecord(action="replicate", node_id=master.id, command=command.line, _sink=on_line)

    async def body() -> ActionRecord:
        first = len(rec.lines) + 1
        status = await _stream(pool, master, command, rec, step, timeout)
        result = parse_replication_output("\n".join(rec.lines[first:]), status)
        rec.replication = result
        replication_record.remember(master.id, result)
        if result.ok:
            return rec.finish(True, "replication completed successfully")
        return rec.finish(False, f"replication {result.outcome.value}: {result.reason}")

    return await _under_lock(pool, master, rec, "DB replication", step, force, body)


async def run_sync(
    pool: Pool,
    master: Node,
    *,
    on_line: LineSink = _ignore,
    step: str = "xivo-sync",
    timeout: float | None = 3600.0,
    action: HaAction | None = None,
    force: bool = False,
) -> ActionRecord:
    """xivo-sync, then the lines it added to its log; flags the silent no-op."""
    command = (action or plan_sync(master)).command
    pool.require_writable(master, "run xivo-sync")
    rec = ActionRecord(action="sync", node_id=master.id, command=command.line, _sink=on_line)

    async def body() -> ActionRecord:
        log_path = master.paths.sync_log
        before = await _tail(pool, master, log_path)
        status = await _stream(pool, master, command, rec, step, timeout)
        after = await _tail(pool, master, log_path)
        fresh = new_log_lines(before, after)
        rec.emit(f"--- new lines of {log_path} ({len(fresh)}) ---")
        for line in fresh:
            rec.emit(line)
        check = judge_sync_run(status, fresh)
        rec.sync = check
        return rec.finish(check.ok, check.message)

    return await _under_lock(pool, master, rec, "xivo-sync", step, force, body)


async def _tail(pool: Pool, node: Node, path: str) -> str:
    try:
        result = await pool.run(node, cat.tail(path, SYNC_LOG_TAIL))
    except RemoteError:
        return ""
    return result.stdout if result.ok else ""


async def run_sync_init(
    pool: Pool,
    master: Node,
    ask_password: PasswordAsk,
    *,
    on_line: LineSink = _ignore,
    step: str = "xivo-sync -i",
    timeout: float = 120.0,
    action: HaAction | None = None,
    force: bool = False,
) -> ActionRecord:
    """`xivo-sync -i` on a PTY; each password prompt is answered through `ask_password`
    (None cancels). Output is masked: the secret never reaches the record or the audit."""
    command = (action or plan_sync_init(master)).command
    pool.require_writable(master, "run xivo-sync -i")
    rec = ActionRecord(action="sync-init", node_id=master.id, command=command.line, _sink=on_line)

    async def body() -> ActionRecord:
        rec.emit(f"$ {command.line}")
        deadline = time.monotonic() + timeout
        cancelled = False
        try:
            async with pool.open_pty(master, command, step=step) as session:
                partial = ""
                while True:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        rec.emit(f"[timeout] still running after {timeout:g}s: closed")
                        break
                    try:
                        chunk = await session.read(remaining)
                    except TimeoutError:
                        continue
                    if not chunk:
                        break
                    partial += chunk
                    *complete, partial = partial.split("\n")
                    for line in complete:
                        rec.emit(line.rstrip("\r"))
                    if PASSWORD_PROMPT.search(partial):
                        prompt, partial = partial.strip(), ""
                        rec.emit(prompt)
                        secret = await ask_password(prompt)
                        if secret is None:
                            cancelled = True
                            rec.emit("[cancelled] no password given: the session was closed")
                            break
                        session.send_secret(secret)
                        secret = None
                        rec.emit("(password sent, not shown)")
                if partial.strip():
                    rec.emit(partial.rstrip())
                status = (
                    None if cancelled else await session.wait(max(1.0, deadline - time.monotonic()))
                )
                rec.exit_status = status
        except RemoteError as exc:
            if exc.kind is ErrorKind.READ_ONLY:
                raise
            return rec.finish(False, f"xivo-sync -i: {exc.message}")
        if cancelled:
            return rec.finish(False, "xivo-sync -i cancelled: no password given")
        text = "\n".join(rec.lines)
        if rec.exit_status == 0:
            added = re.search(r"Number of key\(s\) added:\s*(\d+)", text)
            what = f"{added.group(1)} key(s) added on the slave" if added else "key installed"
            return rec.finish(True, f"xivo-sync -i done: {what}")
        reason = _last_meaningful(rec.lines[1:]) or "no output"
        return rec.finish(False, f"xivo-sync -i failed (exit {rec.exit_status}): {reason}")

    return await _under_lock(pool, master, rec, "xivo-sync -i", step, force, body)


def _last_meaningful(lines: list[str]) -> str:
    for line in reversed(lines):
        text = line.strip()
        if text and not text.startswith("(password sent") and not text.endswith("password:"):
            return text
    return ""


async def run_check_master(
    pool: Pool,
    slave: Node,
    master_ip: IPv4Address | str,
    *,
    on_line: LineSink = _ignore,
    step: str = "check master status",
    timeout: float | None = 300.0,
    action: HaAction | None = None,
    force: bool = False,
) -> ActionRecord:
    """`xivo-check-master-status MASTER_IP` on the slave: the ping result and the decision."""
    command = (action or plan_check_master(slave, master_ip)).command
    pool.require_writable(slave, "run xivo-check-master-status")
    rec = ActionRecord(action="check", node_id=slave.id, command=command.line, _sink=on_line)

    async def body() -> ActionRecord:
        first = len(rec.lines) + 1
        status = await _stream(pool, slave, command, rec, step, timeout)
        output = "\n".join(rec.lines[first:])
        flag, services = await _flag_and_status(pool, slave, rec)
        rec.status_after = services
        result = parse_check_master(output, flag, services.telephony_running if services else None)
        rec.check = result
        if status != 0:
            return rec.finish(
                False, f"xivo-check-master-status failed (exit {status}); " + result.describe()
            )
        return rec.finish(result.decision.value != "unknown", result.describe())

    return await _under_lock(pool, slave, rec, "xivo-check-master-status", step, force, body)


async def run_manage_slave(
    pool: Pool,
    slave: Node,
    what: SlaveAction | str,
    *,
    on_line: LineSink = _ignore,
    step: str = "manage slave services",
    timeout: float | None = 600.0,
    action: HaAction | None = None,
    force: bool = False,
) -> ActionRecord:
    act = SlaveAction(what)
    command = (action or plan_manage_slave(slave, act)).command
    pool.require_writable(slave, f"{act.value} the slave's services")
    rec = ActionRecord(
        action=f"slave-{act.value}", node_id=slave.id, command=command.line, _sink=on_line
    )

    async def body() -> ActionRecord:
        status = await _stream(pool, slave, command, rec, step, timeout)
        flag, services = await _flag_and_status(pool, slave, rec)
        rec.status_after = services
        tel = services.telephony_running if services else None
        if status != 0:
            return rec.finish(
                False, f"xivo-manage-slave-services {act.value} failed (exit {status})"
            )
        if act is SlaveAction.START:
            ok = tel is True
            said = "telephony running on the slave" if ok else "telephony NOT running after start"
        else:
            ok = tel is False and flag is True
            said = (
                "slave on standby (telephony stopped, disabled flag present)"
                if ok
                else f"standby not confirmed (telephony running: {tel}, flag: {flag})"
            )
        return rec.finish(ok, said)

    return await _under_lock(pool, slave, rec, f"slave services {act.value}", step, force, body)


def slave_start_risk(state: HaSiteState | None, site: Site) -> list[str]:
    """Split-brain warning before `manage-slave-services start`, from the live status."""
    master = site.xivo_master
    if state is None:
        return [
            f"The master's state ({master.id}) has not been read: if it is active, "
            "starting the slave makes split brain."
        ]
    node_state = state.node(master.id)
    tel = node_state.services.telephony_running if node_state and node_state.services else None
    return slave_start_warnings(master.id, state.xivo_state(master.id).value, tel)


def is_xivo(node: Node) -> bool:
    return node.kind is NodeKind.XIVO


# --- the web UI's part, applied by resil-tui (optional, unverified) -----------------------


_SHOWN_BODY = '{"config": {}}'  # the PUT's line does not depend on its body (stdin)


@record
class WebUiApplyPlan:
    """What `ha set --with-sip-and-provisioning` sends after sysconfd: the staticsip update
    and, unless the node is a slave (the web UI leaves its provisioning as it is), a GET
    then PUT of provd's default config. The confirmation shows `lines()`; the same command
    objects are sent."""

    node: Node
    mode: HaMode
    peer: IPv4Address | None
    sip: Command
    provd_get: Command | None
    backup: str | None  # what registrar_backup / proxy_backup are set to; None: untouched
    ha_on: SipExpiryTriple

    def lines(self) -> list[str]:
        out = [f"$ {self.sip.line}"]
        if self.provd_get is not None:
            out.append(f"$ {self.provd_get.line}")
            put = cat.provd_put_default(_SHOWN_BODY).line
            backup = self.backup or "blank"
            out.append(
                f"$ {put}  (the config read above, registrar_backup and proxy_backup = {backup})"
            )
        else:
            out.append("(provisioning: a slave's is left unchanged, as the web UI does)")
        return out


def plan_web_ui_part(
    node: Node, mode: HaMode, peer: IPv4Address | None, ha_on: SipExpiryTriple = SEED_HA_ON
) -> WebUiApplyPlan:
    if mode is HaMode.UNKNOWN:
        raise ValueError("the HA mode is unknown: nothing to apply")
    triple = ha_on if mode is not HaMode.DISABLED else HA_OFF
    sip = cat.sip_expiry_update(triple.minimum, triple.maximum, triple.default)
    if mode is HaMode.SLAVE:
        return WebUiApplyPlan(node, mode, peer, sip, None, None, ha_on)
    backup = str(peer) if mode is HaMode.MASTER and peer is not None else ""
    return WebUiApplyPlan(node, mode, peer, sip, cat.provd_get_default(), backup, ha_on)


async def apply_web_ui_part(
    pool: Pool,
    plan: WebUiApplyPlan,
    *,
    on_line: LineSink = _ignore,
    step: str = "HA web UI part",
    force: bool = False,
) -> ActionRecord:
    """Write what the web UI's HA save writes (SIP expiry through `psql -X`, the backup
    registrar through provd's REST API), under the node's lock, then read both back."""
    node = plan.node
    pool.require_writable(node, "write SIP expiry and provisioning")
    rec = ActionRecord(action="web-ui-part", node_id=node.id, command=plan.sip.line, _sink=on_line)

    async def body() -> ActionRecord:
        failures: list[str] = []
        rec.emit(f"$ {plan.sip.line}")
        result = await pool.run(node, plan.sip, step=step)
        for line in (result.stdout + result.stderr).splitlines():
            rec.emit(line)
        if not result.ok:
            failures.append(f"psql update failed ({result.summary()})")
        elif "UPDATE 0" in result.stdout:
            rec.emit("no staticsip row was updated (PJSIP sites may have none)")
        if plan.provd_get is not None and plan.backup is not None:
            failures += await _put_provd(pool, node, plan.provd_get, plan.backup, rec, step)
        try:
            texts = await _read_files(pool, node, [node.paths.provd_default])
        except RemoteError as exc:
            if exc.kind is ErrorKind.READ_ONLY:
                raise
            failures.append(f"written, but not read back: {exc.message}")
            return rec.finish(False, "; ".join(failures))
        rec.web_ui = await _read_web_ui_part(pool, node, plan.mode, plan.peer, texts, plan.ha_on)
        rec.emit("--- read back ---")
        for line in rec.web_ui.lines():
            rec.emit(line)
        if failures:
            return rec.finish(False, "; ".join(failures))
        if not rec.web_ui.all_ok:
            return rec.finish(
                False, "written, but the read-back does not match" + _left_to_do(rec.web_ui)
            )
        return rec.finish(True, "SIP expiry and backup registrar written and read back ok")

    return await _under_lock(pool, node, rec, "HA web UI part", step, force, body)


async def _put_provd(
    pool: Pool, node: Node, get: Command, backup: str, rec: ActionRecord, step: str
) -> list[str]:
    rec.emit(f"$ {get.line}")
    answer = await pool.run(node, get, step=step)
    if not answer.ok:
        why = (answer.stderr.strip() or answer.stdout.strip() or answer.summary())[:200]
        rec.emit(why)
        return [
            f"provd not reached ({why}): provd runs on an active node only, and its REST "
            "API may want credentials; save the HA page in the web UI instead"
        ]
    try:
        put = cat.provd_put_default(provd_update_body(answer.stdout, backup))
    except (ValueError, cat.CommandError) as exc:
        return [f"provd answer not understood: {exc}"]
    rec.emit(f"$ {put.line}  (registrar_backup and proxy_backup = {backup or 'blank'})")
    result = await pool.run(node, put, step=step)
    for line in (result.stdout + result.stderr).splitlines():
        rec.emit(line)
    if not result.ok:
        return [f"provd refused the update ({result.summary()})"]
    return []
