"""Switch the Edge `.env` to the other side, or roll it back, one checked step at a time.

Apply: re-read the file and refuse if it is not what the admin previewed; back it up,
write the new content atomically and read it back (`remote.sftp.replace_file`); run
`edge-dcomp up -d`; then watch `edge-dcomp ps` until the containers are up. Rollback puts
a backup back the same way. Every failure says what state the node was left in: before
the rename the old file is untouched; after it, the message says so and offers rollback.

Progress is reported as typed events through a callback (the UI posts them as messages,
the CLI prints them); the callback may be async, which is also the tests' seam to break
the connection between steps. No Textual here.

Every apply and rollback runs under the Edge node's change lock (remote/lock.py): the
compare-and-swap of the `.env`, the write and `edge-dcomp up -d` cannot interleave with a
second console's; that console is told who holds the lock. `up -d` has its own, longer
timeout; when it timed out or the link dropped, compose may still be running, so no
rollback is offered until the admin has checked.

A site with several Edge nodes (a 3-server Edge, each with its own `.env`) is one switch:
`load_previews` reads every node or refuses, `apply_switches` locks and re-checks every node
before the first write, and its `SiteEdgeOutcome` says per node what was written where and
which nodes to roll back (`rollback_all`). `apply_switch` is the one-node case of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import logging
import posixpath
import shlex
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum

from resil_tui.core.compose import ComposePs, all_up, parse_compose_ps
from resil_tui.core.edge_env import (
    Direction,
    EdgeAddresses,
    EdgeSwitchPlan,
    plan_edge_switch,
    sha256_text,
    unified_diff,
    unset_on_every_node,
)
from resil_tui.core.edge_side import EDGE_VARIABLES, EdgeSide, EdgeTargets, VarSide, edge_targets
from resil_tui.core.node_status import NodeSnapshot
from resil_tui.core.records import record
from resil_tui.core.sanitize import clean
from resil_tui.inventory_model import Node, Site
from resil_tui.remote import commands as cat
from resil_tui.remote import sftp
from resil_tui.remote.errors import ErrorKind, RemoteError
from resil_tui.remote.lock import node_lock
from resil_tui.remote.pool import Pool, Result, shown_text
from resil_tui.remote.sftp import BackupInfo as BackupInfo

# `edge-dcomp up -d` may pull images and recreate every container: minutes, not the
# generic command timeout.
UP_TIMEOUT = 300.0

log = logging.getLogger(__name__)


class EdgeSetupError(ValueError):
    """The inventory cannot support an Edge switch (no Edge, no CC pair, no addresses)."""


# --- inventory -> planner inputs ---------------------------------------------------------


def edge_nodes(site: Site) -> tuple[Node, ...]:
    """The site's Edge nodes (several for a 3-server Edge): they are switched together."""
    if not site.edges:
        raise EdgeSetupError(f"site {site.name} has no Edge in the inventory: nothing to switch")
    return site.edges


def edge_addresses(site: Site) -> EdgeAddresses:
    """The two address pairs the planner switches between, from the inventory.

    XIVOCC_HOST needs the CC pair: an Edge without one is refused rather than guessed."""
    edge_nodes(site)
    if site.cc_master is None or site.cc_slave is None:
        missing = " and ".join(
            f"[site.{site.name}.cc.{side}]"
            for side, node in (("master", site.cc_master), ("slave", site.cc_slave))
            if node is None
        )
        raise EdgeSetupError(
            f"site {site.name} has an Edge but no CC {'pair' if ' and ' in missing else 'node'} "
            f"in the inventory ({missing} missing): XIVOCC_HOST must switch between the CC "
            "master and slave addresses; add them with their `ip`, then retry"
        )
    for node, what in (
        (site.xivo_master, "voip_ip"),
        (site.xivo_slave, "voip_ip"),
        (site.cc_master, "ip"),
        (site.cc_slave, "ip"),
    ):
        if node.ip is None:
            raise EdgeSetupError(
                f"{node.id} has no `{what}` in the inventory: the Edge switch needs it"
            )
    assert site.xivo_master.ip and site.xivo_slave.ip and site.cc_master.ip and site.cc_slave.ip
    return EdgeAddresses(
        xivo_master=site.xivo_master.ip,
        xivo_slave=site.xivo_slave.ip,
        cc_master=site.cc_master.ip,
        cc_slave=site.cc_slave.ip,
    )


def decode_env(data: bytes) -> str:
    # surrogateescape: an odd byte survives the round trip and the hash stays the file's.
    return data.decode("utf-8", "surrogateescape")


def encode_env(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def default_direction(targets: EdgeTargets) -> Direction:
    """The opposite of where the Edge points now; when it is mixed, away from the majority."""
    if targets.overall is EdgeSide.MASTER:
        return Direction.TO_SLAVE
    if targets.overall is EdgeSide.SLAVE:
        return Direction.TO_MASTER
    sides = targets.sides().values()
    on_slave = sum(1 for s in sides if s is VarSide.SLAVE)
    on_master = sum(1 for s in sides if s is VarSide.MASTER)
    return Direction.TO_MASTER if on_slave > on_master else Direction.TO_SLAVE


# The CLI's --to: the classic words, and the next LTS's Main/Standby as their aliases
# (accepted for every site: the same two sides whatever the site calls them).
TO_WORDS: dict[str, Direction] = {
    "slave": Direction.TO_SLAVE,
    "master": Direction.TO_MASTER,
    "standby": Direction.TO_SLAVE,
    "main": Direction.TO_MASTER,
}


def direction_of(word: str) -> Direction:
    """`slave` / `master` (or `standby` / `main`: the CLI's --to) -> Direction."""
    try:
        return TO_WORDS[word.strip().lower()]
    except KeyError:
        raise ValueError(f"--to takes {', '.join(TO_WORDS)}, not {word!r}") from None


def step_label(direction: Direction) -> str:
    """The audit log's step text for a switch."""
    return f"edge switch to {direction.target.value}"


# --- preview -----------------------------------------------------------------------------


@record
class EdgePreview:
    """The Edge `.env` as read (by the status poll or just now), and what the planner makes
    of it. `as_of` is when it was read."""

    site: str
    node: Node
    path: str
    text: str
    addresses: EdgeAddresses
    as_of: float
    # One node of several (a 3-server Edge): a variable it does not set is not used there.
    one_of_several: bool = False

    @property
    def sha256(self) -> str:
        return sha256_hex(encode_env(self.text))

    @property
    def shown_sha256(self) -> str:
        """The digest of the file as the screens show it (decoded and sanitized as a poll's
        answer is): a poll's copy and a fresh read of the same file agree on it (a CRLF or
        a latin-1 file too); a poll's copy is that already (shown_text is idempotent)."""
        return sha256_text(shown_text(encode_env(self.text)))

    @property
    def targets(self) -> EdgeTargets:
        return edge_targets(self.text, self.addresses.as_pair)

    @property
    def sides(self) -> dict[str, VarSide]:
        return self.targets.sides()

    @property
    def overall(self) -> EdgeSide:
        return self.targets.overall

    def values(self) -> dict[str, str | None]:
        """The effective value of each managed variable (None: not set), as display text:
        remote text, sanitized (what is written back comes from `text`, never these)."""
        found: dict[str, str | None] = dict.fromkeys(EDGE_VARIABLES)
        for variable in self.targets.variables:
            value = variable.value
            found[variable.name] = clean(value, one_line=True) if value is not None else None
        return found

    def plan(self, direction: Direction) -> EdgeSwitchPlan:
        return plan_edge_switch(
            self.text, self.addresses, direction, missing_ok=self.one_of_several
        )


def preview_from_snapshot(
    site: Site, node: Node, snapshot: NodeSnapshot | None
) -> EdgePreview | None:
    """The preview of what the last status poll read on an Edge node (None: nothing read)."""
    if snapshot is None or snapshot.edge is None or snapshot.edge.env_text is None:
        return None
    read_at = snapshot.last_success_at
    if read_at is None:
        return None
    return EdgePreview(
        site.name,
        node,
        node.paths.edge_env,
        snapshot.edge.env_text,
        edge_addresses(site),
        read_at,
        len(site.edges) > 1,
    )


async def _read(pool: Pool, node: Node, path: str) -> bytes | None:
    """read_file, once more on a transient failure: a read is always safe to repeat, and a
    connection found dead at use is reopened by the second attempt."""
    try:
        return await sftp.read_file(pool, node, path)
    except RemoteError as err:
        if not err.transient:
            raise
        log.info("re-reading %s on %s after: %s", path, node.id, err.message)
        return await sftp.read_file(pool, node, path)


async def load_preview(pool: Pool, site: Site, node: Node) -> EdgePreview:
    """Read one Edge node's `.env`. Raises EdgeSetupError (inventory) or RemoteError."""
    addresses = edge_addresses(site)
    path = node.paths.edge_env
    data = await _read(pool, node, path)
    if data is None:
        raise RemoteError(ErrorKind.ERROR, node.id, f"{path} does not exist on {node.id}")
    return EdgePreview(
        site.name, node, path, decode_env(data), addresses, time.time(), len(site.edges) > 1
    )


async def load_previews(pool: Pool, site: Site) -> tuple[EdgePreview, ...]:
    """Read every Edge node's `.env` of the site, in inventory order.

    All or nothing: when one Edge node cannot be read, RemoteError names it and no preview
    is returned, so nothing can be switched until every Edge answers (a 3-server Edge half
    switched sends the web and the SIP proxy to different sides)."""
    nodes = edge_nodes(site)
    edge_addresses(site)
    found = await asyncio.gather(
        *(load_preview(pool, site, node) for node in nodes), return_exceptions=True
    )
    previews: list[EdgePreview] = []
    for node, item in zip(nodes, found, strict=True):
        if isinstance(item, EdgePreview):
            previews.append(item)
        elif isinstance(item, RemoteError):
            if len(nodes) == 1:
                raise item
            others = ", ".join(n.id for n in nodes if n is not node)
            raise RemoteError(
                item.kind,
                item.node_id,
                f"{item.message}; the site's Edge nodes switch together ({others} too): "
                "nothing is written until every one answers",
            ) from item
        else:
            raise item
    return tuple(previews)


def plan_notes(plan: EdgeSwitchPlan) -> list[str]:
    """What the admin must read before applying: warnings, then what sed would change."""
    notes = [clean(issue.message) for issue in plan.warnings]
    for line in plan.sed_only:
        notes.append(
            clean(
                f"the seed's sed would also change line {line.line}: "
                f"{line.before!r} -> {line.after!r}"
            )
        )
    return notes


# --- steps and events ----------------------------------------------------------------------


class EdgeStep(StrEnum):
    FIND = "find"  # rollback: pick the backup
    CHECK = "check"  # re-read, compare with the preview
    WRITE = "write"  # backup, atomic write, read back
    UP = "up"  # edge-dcomp up -d
    WAIT = "wait"  # edge-dcomp ps until the containers are up


APPLY_STEPS: tuple[EdgeStep, ...] = (EdgeStep.CHECK, EdgeStep.WRITE, EdgeStep.UP, EdgeStep.WAIT)
ROLLBACK_STEPS: tuple[EdgeStep, ...] = (EdgeStep.FIND, *APPLY_STEPS)


def step_text(step: EdgeStep, path: str) -> str:
    return {
        EdgeStep.FIND: f"find the backup of {path} to restore",
        EdgeStep.CHECK: f"re-read {path} and compare it with the preview",
        EdgeStep.WRITE: "back it up, write the new content atomically, read it back",
        EdgeStep.UP: "run edge-dcomp up -d",
        EdgeStep.WAIT: "watch edge-dcomp ps until the containers are up",
    }[step]


@record
class StepStarted:
    step: EdgeStep
    index: int  # 1-based
    total: int
    text: str
    node_id: str = ""  # the Edge node the step runs on (a site may have several)


@record
class StepFinished:
    step: EdgeStep
    index: int
    total: int
    ok: bool
    detail: str
    elapsed: float
    node_id: str = ""


@record
class ContainersPolled:
    attempt: int
    all_up: bool
    ps: ComposePs | None  # None when the poll itself failed
    error: str | None = None
    node_id: str = ""


EdgeEvent = StepStarted | StepFinished | ContainersPolled
EventCallback = Callable[[EdgeEvent], Awaitable[None] | None]


@record
class ContainerWait:
    """How long to watch the containers come back after `edge-dcomp up -d`."""

    timeout: float = 60.0
    interval: float = 2.0


class NodeState(StrEnum):
    UNCHANGED = "unchanged"  # the previous .env is in place; containers untouched
    WRITTEN = "written"  # the new .env is in place; containers not (known to be) updated
    APPLIED = "applied"  # the new .env is in place and `edge-dcomp up -d` succeeded
    UNKNOWN = "unknown"  # could not tell which content the file holds


@dataclass(frozen=True)
class EdgeOutcome:
    action: str  # "apply" | "rollback"
    node_id: str
    path: str
    label: str  # the audit step text: "edge switch to slave"
    ok: bool
    state: NodeState
    message: str  # says where it stopped and what the node holds now
    failed_step: EdgeStep | None = None
    error: RemoteError | None = None
    backup: str | None = None  # backup written by this run: what a rollback restores
    restored_from: str | None = None  # rollback: the backup put back
    before_sha256: str | None = None
    after_sha256: str | None = None
    up_output: str = ""
    containers: ComposePs | None = None
    steps: tuple[StepFinished, ...] = field(default=())
    # `up -d` timed out or its connection dropped: compose may still be recreating the
    # containers, and a rollback now would race it.
    compose_may_run: bool = False
    warnings: tuple[str, ...] = ()  # e.g. the owner could not be restored (audited too)

    @property
    def rollback_offered(self) -> bool:
        """The file may differ from before and the run did not end well (and compose is
        not possibly still running: check first, then roll back)."""
        return not self.ok and self.state is not NodeState.UNCHANGED and not self.compose_may_run

    @property
    def refused_read_only(self) -> bool:
        return self.error is not None and self.error.kind is ErrorKind.READ_ONLY


class _Run:
    """Numbers the steps, times them and reports them; a broken callback is logged, not
    allowed to stop a half-done change."""

    def __init__(
        self,
        steps: tuple[EdgeStep, ...],
        path: str,
        on_event: EventCallback | None,
        node_id: str = "",
    ):
        self.steps = steps
        self.path = path
        self.node_id = node_id
        self.on_event = on_event
        self.started: dict[EdgeStep, float] = {}
        self.finished: list[StepFinished] = []

    async def emit(self, event: EdgeEvent) -> None:
        if self.on_event is None:
            return
        try:
            result = self.on_event(event)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("edge progress callback failed on %r", event)

    def index(self, step: EdgeStep) -> int:
        return self.steps.index(step) + 1

    async def start(self, step: EdgeStep) -> None:
        self.started[step] = time.monotonic()
        await self.emit(
            StepStarted(
                step, self.index(step), len(self.steps), step_text(step, self.path), self.node_id
            )
        )

    async def finish(self, step: EdgeStep, ok: bool, detail: str) -> None:
        elapsed = time.monotonic() - self.started.get(step, time.monotonic())
        event = StepFinished(
            step, self.index(step), len(self.steps), ok, detail, elapsed, self.node_id
        )
        self.finished.append(event)
        await self.emit(event)

    def where(self, step: EdgeStep) -> str:
        return f"step {self.index(step)}/{len(self.steps)} ({step.value})"


def _short(sha: str | None) -> str:
    return f"{sha[:12]}…" if sha else "nothing"


def _result_text(result: Result) -> str:
    text = (result.stderr + result.stdout).strip()
    return text.splitlines()[-1] if text else result.summary()


def _describe(ps: ComposePs) -> str:
    return (
        ", ".join(
            f"{c.service} {c.state.value}{f' ({c.health})' if c.health else ''}"
            for c in ps.containers
        )
        or "no containers listed"
    )


# --- the shared tail: write, up -d, wait -------------------------------------------------


@dataclass
class _Switch:
    """One replace-then-restart run (apply or rollback)."""

    pool: Pool
    node: Node
    path: str
    action: str
    label: str
    run: _Run
    wait: ContainerWait
    old: bytes | None = None  # content before the run (None until read)
    new: bytes | None = None
    backup: str | None = None
    restored_from: str | None = None
    done_text: str = ""  # success message's first part
    up_timeout: float = UP_TIMEOUT
    compose_may_run: bool = False
    warnings: list[str] = field(default_factory=list)
    written: bool = False  # the new content is in place (the write step succeeded)

    def outcome(
        self,
        ok: bool,
        state: NodeState,
        message: str,
        *,
        failed_step: EdgeStep | None = None,
        error: RemoteError | None = None,
        up_output: str = "",
        containers: ComposePs | None = None,
    ) -> EdgeOutcome:
        return EdgeOutcome(
            action=self.action,
            node_id=self.node.id,
            path=self.path,
            label=self.label,
            ok=ok,
            state=state,
            message=message,
            backup=self.backup,
            restored_from=self.restored_from,
            before_sha256=sha256_hex(self.old) if self.old is not None else None,
            after_sha256=sha256_hex(self.new) if self.new is not None else None,
            steps=tuple(self.run.finished),
            failed_step=failed_step,
            error=error,
            up_output=up_output,
            containers=containers,
            compose_may_run=self.compose_may_run,
            warnings=tuple(self.warnings),
        )

    async def fail(
        self,
        step: EdgeStep,
        state: NodeState,
        message: str,
        error: RemoteError | None = None,
        *,
        up_output: str = "",
        containers: ComposePs | None = None,
    ) -> EdgeOutcome:
        await self.run.finish(step, False, message)
        text = f"{self.label} on {self.node.id} stopped at {self.run.where(step)}: {message}"
        return self.outcome(
            False,
            state,
            text,
            failed_step=step,
            error=error,
            up_output=up_output,
            containers=containers,
        )

    async def check(self, expected_sha256: str) -> EdgeOutcome | None:
        """Re-read the file; refuse (nothing written) unless it still hashes as previewed."""
        await self.run.start(EdgeStep.CHECK)
        try:
            current = await _read(self.pool, self.node, self.path)
        except RemoteError as err:
            return await self.fail(
                EdgeStep.CHECK,
                NodeState.UNCHANGED,
                f"could not re-read {self.path} ({err.message}); nothing was written",
                err,
            )
        found = sha256_hex(current) if current is not None else None
        if found != expected_sha256.lower():
            what = "is gone" if current is None else "changed"
            conflict = RemoteError(
                ErrorKind.CONFLICT,
                self.node.id,
                f"{self.path} {what} since the preview (expected sha256 "
                f"{_short(expected_sha256)}, found {_short(found)})",
            )
            return await self.fail(
                EdgeStep.CHECK,
                NodeState.UNCHANGED,
                f"{conflict.message}: nothing was written; reload and review the change again",
                conflict,
            )
        self.old = current
        await self.run.finish(
            EdgeStep.CHECK, True, f"unchanged since the preview (sha256 {_short(found)})"
        )
        return None

    async def write(self, data: bytes, restore_from: str | None = None) -> EdgeOutcome | None:
        """Backup + atomic replace + read back. On failure, find out what the file holds."""
        assert self.old is not None
        self.new = data
        await self.run.start(EdgeStep.WRITE)
        if data == self.old:
            await self.run.finish(
                EdgeStep.WRITE, True, "the file already holds this content: nothing to write"
            )
            return None
        try:
            if restore_from is not None:
                result = await sftp.restore_backup(
                    self.pool,
                    self.node,
                    self.path,
                    restore_from,
                    expected_sha256=sha256_hex(self.old),
                    step=self.label,
                )
            else:
                result = await sftp.replace_file(
                    self.pool,
                    self.node,
                    self.path,
                    data,
                    backup=True,
                    expected_sha256=sha256_hex(self.old),
                    step=self.label,
                )
        except RemoteError as err:
            state, found = await self._probe(err)
            return await self.fail(
                EdgeStep.WRITE, state, self._write_failure(err, state, found), err
            )
        self.backup = result.backup
        self.warnings.extend(result.warnings)
        if result.after_sha256 != sha256_hex(data):
            # restore_backup re-read the backup itself: it changed under us.
            state = NodeState.UNKNOWN
            return await self.fail(
                EdgeStep.WRITE,
                state,
                f"the content written (sha256 {_short(result.after_sha256)}) is not the one "
                f"reviewed (sha256 {_short(sha256_hex(data))}); backup of the previous file: "
                f"{result.backup or 'none'}",
            )
        sync = "" if result.fsynced else " (the server does not support fsync)"
        via = f" at its link target {result.target}" if result.target not in ("", self.path) else ""
        warned = "".join(f"; WARNING: {w}" for w in result.warnings)
        await self.run.finish(
            EdgeStep.WRITE,
            True,
            f"backup {result.backup or 'not needed'}; written{via} and read back "
            f"(sha256 {_short(result.after_sha256)}){sync}{warned}",
        )
        self.written = True
        return None

    async def _probe(self, err: RemoteError) -> tuple[NodeState, str]:
        """After a failed write: which content does the file hold now?"""
        if err.kind in (ErrorKind.CONFLICT, ErrorKind.READ_ONLY):
            return NodeState.UNCHANGED, ""  # refused before anything was written
        try:
            now = await _read(self.pool, self.node, self.path)
        except RemoteError as probe_err:
            return NodeState.UNKNOWN, f"could not read it back to tell ({probe_err.message})"
        if now == self.new:
            return NodeState.WRITTEN, "read back afterwards: the new content is in place"
        if now == self.old:
            return NodeState.UNCHANGED, "read back afterwards: the file is unchanged"
        found = sha256_hex(now) if now is not None else None
        return NodeState.UNKNOWN, (
            f"read back afterwards: it holds neither the previous nor the new content "
            f"(sha256 {_short(found)})"
        )

    def _write_failure(self, err: RemoteError, state: NodeState, found: str) -> str:
        if state is NodeState.UNCHANGED:
            tail = f"; {found}" if found else ""
            return (
                f"writing {self.path} failed ({err.message}){tail}: nothing was changed, "
                "the containers keep running with the current settings"
            )
        if state is NodeState.WRITTEN:
            return (
                f"writing {self.path} did not complete normally ({err.message}); {found}. "
                "edge-dcomp up -d was NOT run: the containers still run with the old "
                "settings. Roll back, or run edge-dcomp up -d on the node"
            )
        return (
            f"writing {self.path} failed ({err.message}); {found}. The file's state is "
            "unknown: check it on the node, and roll back if needed"
        )

    async def up_and_wait(self) -> EdgeOutcome:
        await self.run.start(EdgeStep.UP)
        written = f"new .env written and verified ({self.path}, backup {self.backup or 'none'})"
        timeout = max(self.up_timeout, self.node.ssh.command_timeout)
        try:
            result = await self.pool.run(self.node, cat.edge_up(), step=self.label, timeout=timeout)
        except RemoteError as err:
            doubt = "may not have been sent" if err.kind is ErrorKind.DROPPED else "was not run"
            return await self.fail(
                EdgeStep.UP,
                NodeState.WRITTEN,
                f"{written}, but edge-dcomp up -d {doubt} ({err.message}): the containers "
                "still run with the old settings. Roll back, or run edge-dcomp up -d again",
                err,
            )
        output = (result.stderr + result.stdout).strip()
        if not result.ok:
            if result.incomplete:
                if result.lost:
                    how = "lost the connection while it ran"
                elif result.timed_out:
                    how = f"did not finish within {timeout:g}s ({result.note})"
                else:
                    how = f"was stopped ({result.note})"
                # Without a PTY, compose outlives the channel: it may be recreating the
                # containers right now, and a rollback would race it.
                self.compose_may_run = True
                return await self.fail(
                    EdgeStep.UP,
                    NodeState.WRITTEN,
                    f"{written}, but edge-dcomp up -d {how}: compose may still be running: "
                    "check before rolling back (edge-dcomp ps on the node; wait until no "
                    "container is being created), then roll back or run edge-dcomp up -d again",
                    result.error,
                    up_output=output,
                )
            how = f"failed ({result.summary()}: {_result_text(result)})"
            return await self.fail(
                EdgeStep.UP,
                NodeState.WRITTEN,
                f"{written}, but edge-dcomp up -d {how}: the containers still run with the "
                "old settings. Roll back, or run edge-dcomp up -d again",
                result.error,
                up_output=output,
            )
        recreated = sum(1 for line in output.splitlines() if line.rstrip().endswith("Recreated"))
        await self.run.finish(
            EdgeStep.UP,
            True,
            f"done ({recreated} container(s) recreated)" if recreated else "done",
        )
        return await self._wait(output)

    async def _wait(self, up_output: str) -> EdgeOutcome:
        await self.run.start(EdgeStep.WAIT)
        deadline = time.monotonic() + self.wait.timeout
        attempt = 0
        last: ComposePs | None = None
        last_error = ""
        while True:
            attempt += 1
            try:
                result = await self.pool.run(self.node, cat.edge_ps())
                if result.ok:
                    last, last_error = parse_compose_ps(result.stdout), ""
                else:
                    last_error = f"edge-dcomp ps {result.summary()}: {_result_text(result)}"
            except RemoteError as err:
                last_error = err.message
            up = last is not None and not last_error and all_up(last)
            await self.run.emit(
                ContainersPolled(
                    attempt,
                    up,
                    last if not last_error else None,
                    last_error or None,
                    self.node.id,
                )
            )
            if up and last is not None:
                names = ", ".join(c.service for c in last.containers)
                await self.run.finish(EdgeStep.WAIT, True, f"all up: {names}")
                return self.outcome(
                    True,
                    NodeState.APPLIED,
                    f"{self.done_text}; edge-dcomp up -d done; containers up ({names})",
                    up_output=up_output,
                    containers=last,
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            await asyncio.sleep(min(self.wait.interval, remaining))
        seen = _describe(last) if last is not None else "never listed"
        why = f"; last error: {last_error}" if last_error else ""
        return await self.fail(
            EdgeStep.WAIT,
            NodeState.APPLIED,
            f"new .env written and verified and edge-dcomp up -d done, but the containers "
            f"are not all up after {self.wait.timeout:g}s ({seen}{why}). Check "
            "edge-dcomp ps / logs on the node; roll back if they do not come up",
            up_output=up_output,
            containers=last,
        )


async def _refused(switch: _Switch, what: str) -> EdgeOutcome | None:
    try:
        switch.pool.require_writable(switch.node, what)
    except RemoteError as err:
        return switch.outcome(False, NodeState.UNCHANGED, err.message, error=err)
    return None


# --- apply -------------------------------------------------------------------------------


@record
class EdgeChange:
    """One Edge node's part of a switch: the file the plan was made from, and the plan."""

    node: Node
    plan: EdgeSwitchPlan
    path: str | None = None  # default: the node's edge_env

    @classmethod
    def of(cls, preview: EdgePreview, direction: Direction) -> EdgeChange:
        return cls(preview.node, preview.plan(direction), preview.path)


@record
class SiteEdgeOutcome:
    """A switch (or rollback) of a site's Edge nodes: one outcome per node, in order."""

    action: str
    outcomes: tuple[EdgeOutcome, ...]

    @property
    def ok(self) -> bool:
        return bool(self.outcomes) and all(o.ok for o in self.outcomes)

    @property
    def message(self) -> str:
        if len(self.outcomes) == 1:
            return self.outcomes[0].message
        # One line per node: a node's own text (a step's detail) cannot start another.
        return "\n".join(
            f"{'✔' if o.ok else '✖'} {o.node_id} ({o.path}): {clean(o.message, one_line=True)}"
            for o in self.outcomes
        )

    @property
    def rollback_nodes(self) -> tuple[str, ...]:
        """The nodes to roll back after a run that did not end well: every one whose file
        changed, including those switched before another node failed (not while compose
        may still run there)."""
        if self.ok:
            return ()
        return tuple(
            o.node_id
            for o in self.outcomes
            if o.state is not NodeState.UNCHANGED and not o.compose_may_run
        )

    @property
    def compose_may_run(self) -> bool:
        return any(o.compose_may_run for o in self.outcomes)

    @property
    def refused_read_only(self) -> bool:
        return any(o.refused_read_only for o in self.outcomes)

    @property
    def stale_lock_nodes(self) -> tuple[str, ...]:
        """Nodes refused because of a stale lock (the admin may break it and retry)."""
        return tuple(
            o.node_id
            for o in self.outcomes
            if o.error is not None and o.error.kind is ErrorKind.STALE_LOCK
        )


async def apply_switch(
    pool: Pool,
    node: Node,
    plan: EdgeSwitchPlan,
    *,
    path: str | None = None,
    on_event: EventCallback | None = None,
    wait: ContainerWait | None = None,
    step: str | None = None,
    force: bool = False,
    up_timeout: float = UP_TIMEOUT,
) -> EdgeOutcome:
    """One Edge node's switch (`apply_switches` with one change)."""
    done = await apply_switches(
        pool,
        [EdgeChange(node, plan, path)],
        on_event=on_event,
        wait=wait,
        step=step,
        break_stale=frozenset({node.id}) if force else frozenset(),
        up_timeout=up_timeout,
    )
    return done.outcomes[0]


async def apply_switches(
    pool: Pool,
    changes: list[EdgeChange],
    *,
    on_event: EventCallback | None = None,
    wait: ContainerWait | None = None,
    step: str | None = None,
    break_stale: frozenset[str] = frozenset(),
    up_timeout: float = UP_TIMEOUT,
) -> SiteEdgeOutcome:
    """Write each plan's `new_text` over the Edge `.env` it was made from, then `up -d`:
    every Edge node of a site with one confirmation.

    The run goes step by step across the nodes: take every node's lock, re-check every
    file, write every file, then `edge-dcomp up -d` and wait on each in turn. So nothing is
    written unless every node is locked and still holds what was previewed, and a write
    that fails on one node leaves every container on its old settings. The first failure
    stops the run: each node's outcome says what it holds (written or not, applied or not).

    `step` is the audit log's step text (default "edge switch to slave|master"); the wizard
    passes its own so the audit says which run and step did the switch. Never raises for
    remote failures. Refuses (nothing sent) in read-only mode, when a plan is not
    applicable, or when another change holds a node's lock (`break_stale` names the nodes
    whose *stale* lock may be broken)."""
    switches = [
        _Switch(
            pool,
            change.node,
            change.path or change.node.paths.edge_env,
            "apply",
            step or step_label(change.plan.direction),
            _Run(APPLY_STEPS, change.path or change.node.paths.edge_env, on_event, change.node.id),
            wait or ContainerWait(),
            up_timeout=up_timeout,
        )
        for change in changes
    ]
    plans = [change.plan for change in changes]
    todo = [(switch, plan) for switch, plan in zip(switches, plans, strict=True) if plan.applicable]
    broken = [s.node.id for s, plan in zip(switches, plans, strict=True) if plan.errors]
    unset = () if broken else unset_on_every_node(plans)  # a plan's own errors first
    if unset:
        why = (
            f"nothing to apply: {', '.join(unset)} is set on none of the site's Edge nodes "
            "(a 3-server Edge's files hold each variable on one node at least): nothing written"
        )
        return SiteEdgeOutcome(
            "apply", tuple(s.outcome(False, NodeState.UNCHANGED, why) for s in switches)
        )
    if broken or not todo:
        return SiteEdgeOutcome(
            "apply",
            tuple(
                _not_applicable(s, plan, broken) for s, plan in zip(switches, plans, strict=True)
            ),
        )
    for switch, plan in todo:
        refused = await _refused(switch, f"switch {switch.path} ({switch.label})")
        if refused is not None:
            return _stopped(switches, plans, refused)
        switch.done_text = (
            f"Edge {switch.node.id} switched to {plan.direction.target.value}: "
            f"{switch.path} written"
        )
    async with contextlib.AsyncExitStack() as stack:
        for switch, _plan in todo:
            try:
                await stack.enter_async_context(
                    node_lock(
                        pool,
                        switch.node,
                        "edge apply",
                        force=switch.node.id in break_stale,
                        step=switch.label,
                    )
                )
            except RemoteError as err:
                return _stopped(switches, plans, await _lock_refused(switch, EdgeStep.CHECK, err))
        for switch, plan in todo:
            failed = await switch.check(sha256_hex(encode_env(plan.old_text)))
            if failed is not None:
                return _stopped(switches, plans, failed)
        for switch, plan in todo:
            failed = await switch.write(encode_env(plan.new_text))
            if failed is not None:
                return _stopped(switches, plans, failed)
            switch.done_text += f" (backup {switch.backup or 'none'})"
        done: dict[str, EdgeOutcome] = {}
        for switch, _plan in todo:
            outcome = await switch.up_and_wait()
            done[switch.node.id] = outcome
            if not outcome.ok:
                return _stopped(switches, plans, outcome, done)
        return SiteEdgeOutcome(
            "apply",
            tuple(
                done.get(s.node.id) or _already(s, plan)
                for s, plan in zip(switches, plans, strict=True)
            ),
        )


def _not_applicable(switch: _Switch, plan: EdgeSwitchPlan, broken: list[str]) -> EdgeOutcome:
    why = "; ".join(e.message for e in plan.errors) or (
        f"already on the {plan.direction.target.value} side"
    )
    if not plan.errors and broken:
        why = f"the switch of {', '.join(broken)} cannot be planned: nothing written anywhere"
    return switch.outcome(False, NodeState.UNCHANGED, f"nothing to apply: {why}")


def _already(switch: _Switch, plan: EdgeSwitchPlan) -> EdgeOutcome:
    target = plan.direction.target.value
    return switch.outcome(
        True,
        NodeState.UNCHANGED,
        f"{switch.path} on {switch.node.id} already points to the {target}: nothing written",
    )


def _stopped(
    switches: list[_Switch],
    plans: list[EdgeSwitchPlan],
    failed: EdgeOutcome,
    done: dict[str, EdgeOutcome] | None = None,
) -> SiteEdgeOutcome:
    """The outcomes of a run stopped by `failed` on one node: what every other node holds."""
    done = done or {}
    out: list[EdgeOutcome] = []
    where = (
        f"{failed.node_id} failed ({failed.failed_step.value if failed.failed_step else 'refused'})"
    )
    for switch, plan in zip(switches, plans, strict=True):
        node_id = switch.node.id
        if node_id == failed.node_id:
            out.append(failed)
        elif node_id in done:
            out.append(done[node_id])
        elif not plan.applicable:
            out.append(_already(switch, plan))
        elif switch.written:
            out.append(
                switch.outcome(
                    False,
                    NodeState.WRITTEN,
                    f"{switch.path} written (backup {switch.backup or 'none'}), but edge-dcomp "
                    f"up -d was NOT run: the run stopped because {where}. Its containers "
                    "still run with the old settings: roll back, or run edge-dcomp up -d",
                )
            )
        else:
            out.append(
                switch.outcome(
                    False,
                    NodeState.UNCHANGED,
                    f"nothing written: the run stopped because {where}",
                )
            )
    return SiteEdgeOutcome(failed.action, tuple(out))


async def _lock_refused(switch: _Switch, first: EdgeStep, err: RemoteError) -> EdgeOutcome:
    """Taking the lock belongs to the first step (the compare-and-swap happens under it):
    a refusal stops the run there, nothing written."""
    await switch.run.start(first)
    return await switch.fail(
        first,
        NodeState.UNCHANGED,
        f"could not take the node's change lock ({err.message}); nothing was written",
        err,
    )


async def _locked(
    switch: _Switch,
    action: str,
    force: bool,
    first: EdgeStep,
    body: Callable[[], Awaitable[EdgeOutcome]],
) -> EdgeOutcome:
    """Run `body` under the Edge node's lock. Taking it belongs to the first step (the
    compare-and-swap happens under it): a refusal stops the run there, nothing written."""
    entered = False
    try:
        async with node_lock(switch.pool, switch.node, action, force=force, step=switch.label):
            entered = True
            return await body()
    except RemoteError as err:
        if entered:
            raise
        return await _lock_refused(switch, first, err)


# --- rollback ----------------------------------------------------------------------------


async def list_edge_backups(
    pool: Pool, node: Node, path: str | None = None
) -> list[sftp.BackupInfo]:
    """Backups of the Edge `.env` next to it, newest first."""
    path = path or node.paths.edge_env
    try:
        found = await sftp.list_backups(pool, node, path)
    except RemoteError as err:
        if not err.transient:
            raise
        found = await sftp.list_backups(pool, node, path)
    # The naming rule (and so the order) is sftp's: microsecond times, older "-N" names.
    return sorted(found, key=lambda info: info.sort_key, reverse=True)


def find_backup(backups: list[sftp.BackupInfo], name: str) -> sftp.BackupInfo | None:
    """A backup by full path or file name."""
    for info in backups:
        if name in (info.path, posixpath.basename(info.path)):
            return info
    return None


class NoBackupError(LookupError):
    """No backup (or none with the requested name) next to the Edge `.env`."""


@record
class RollbackPreview:
    """What a rollback would put back, for the admin to review before confirming."""

    node: Node
    path: str
    backup: sftp.BackupInfo
    current: bytes | None
    content: bytes
    others: tuple[sftp.BackupInfo, ...] = ()  # every backup, newest first

    @property
    def name(self) -> str:
        return posixpath.basename(self.backup.path)

    @property
    def current_sha256(self) -> str | None:
        return sha256_hex(self.current) if self.current is not None else None

    @property
    def identical(self) -> bool:
        return self.current == self.content

    def diff(self) -> str:
        """From the current file to the backup's content (display text: sanitized)."""
        return clean(
            unified_diff(decode_env(self.current or b""), decode_env(self.content), self.path)
        )


async def load_rollback_preview(
    pool: Pool, node: Node, backup: str | None = None, path: str | None = None
) -> RollbackPreview:
    """The backup a rollback would restore (default: the newest) and the current file.
    Raises NoBackupError or RemoteError."""
    path = path or node.paths.edge_env
    backups = await list_edge_backups(pool, node, path)
    chosen = (
        find_backup(backups, backup) if backup is not None else (backups[0] if backups else None)
    )
    if chosen is None:
        names = ", ".join(posixpath.basename(b.path) for b in backups[:5]) or "none"
        what = f"no backup named {backup!r}" if backup is not None else "no backup"
        raise NoBackupError(f"{what} next to {path} on {node.id} (available: {names})")
    content = await _read(pool, node, chosen.path)
    if content is None:
        raise NoBackupError(f"{chosen.path} disappeared from {node.id}")
    current = await _read(pool, node, path)
    return RollbackPreview(node, path, chosen, current, content, tuple(backups))


async def rollback(
    pool: Pool,
    node: Node,
    *,
    backup: str | None = None,
    expected_sha256: str | None = None,
    path: str | None = None,
    on_event: EventCallback | None = None,
    wait: ContainerWait | None = None,
    force: bool = False,
    up_timeout: float = UP_TIMEOUT,
) -> EdgeOutcome:
    """Restore a backup of the Edge `.env` (default: the newest) the same safe way (the
    current file is backed up too), then `edge-dcomp up -d`, under the node's lock.

    `expected_sha256`: the current file as the admin saw it; when given, a file changed
    since is refused. Never raises for remote failures."""
    path = path or node.paths.edge_env
    run = _Run(ROLLBACK_STEPS, path, on_event, node.id)
    switch = _Switch(pool, node, path, "rollback", "edge rollback", run, wait or ContainerWait())
    switch.up_timeout = up_timeout
    refused = await _refused(switch, f"restore a backup of {path}")
    if refused is not None:
        return refused

    async def body() -> EdgeOutcome:
        return await _rollback(switch, backup, expected_sha256)

    return await _locked(switch, "edge rollback", force, EdgeStep.FIND, body)


async def rollback_all(
    pool: Pool,
    previews: list[RollbackPreview],
    *,
    on_event: EventCallback | None = None,
    wait: ContainerWait | None = None,
    break_stale: frozenset[str] = frozenset(),
    up_timeout: float = UP_TIMEOUT,
) -> SiteEdgeOutcome:
    """Put back the reviewed backup on each node in turn (each under its own lock, each
    refused if its file changed since the preview). The first failure stops the run: the
    nodes after it are left as they are, and say so."""
    outcomes: list[EdgeOutcome] = []
    failed: EdgeOutcome | None = None
    for preview in previews:
        node = preview.node
        if failed is not None:
            outcomes.append(
                EdgeOutcome(
                    "rollback",
                    node.id,
                    preview.path,
                    "edge rollback",
                    False,
                    NodeState.UNCHANGED,
                    f"not rolled back: the run stopped because {failed.node_id} failed",
                )
            )
            continue
        outcome = await rollback(
            pool,
            node,
            backup=preview.backup.path,
            expected_sha256=preview.current_sha256,
            path=preview.path,
            on_event=on_event,
            wait=wait,
            force=node.id in break_stale,
            up_timeout=up_timeout,
        )
        outcomes.append(outcome)
        if not outcome.ok:
            failed = outcome
    return SiteEdgeOutcome("rollback", tuple(outcomes))


async def _rollback(
    switch: _Switch, backup: str | None, expected_sha256: str | None
) -> EdgeOutcome:
    pool, node, path, run = switch.pool, switch.node, switch.path, switch.run
    await run.start(EdgeStep.FIND)
    try:
        preview = await load_rollback_preview(pool, node, backup, path)
    except NoBackupError as exc:
        return await switch.fail(EdgeStep.FIND, NodeState.UNCHANGED, str(exc))
    except RemoteError as err:
        return await switch.fail(
            EdgeStep.FIND, NodeState.UNCHANGED, f"could not read the backups ({err.message})", err
        )
    chosen = preview.backup
    switch.label = f"edge rollback to {preview.name}"
    switch.restored_from = chosen.path
    await run.finish(
        EdgeStep.FIND,
        True,
        f"{preview.name} (taken {chosen.taken:%Y-%m-%d %H:%M:%S} UTC, sha256 "
        f"{_short(sha256_hex(preview.content))})",
    )
    if preview.current is None:
        # A replace keeps the file's mode and owner and checks what it replaces: with no
        # file there is neither, so the backup is not written blind.
        return await switch.fail(
            EdgeStep.CHECK,
            NodeState.UNCHANGED,
            f"{path} is not there: nothing written; put the backup back by hand, with the "
            f"mode and owner it needs: cp -p {shlex.quote(chosen.path)} {shlex.quote(path)}",
        )
    # Nothing previewed: compare with what was there a moment ago (replace_file checks
    # again right before writing).
    expected = expected_sha256 or preview.current_sha256 or ""
    failed = await switch.check(expected)
    if failed is None:
        failed = await switch.write(preview.content, restore_from=chosen.path)
    if failed is not None:
        return failed
    switch.done_text = (
        f"{path} on {node.id} restored from {preview.name}"
        f" (previous content backed up to {switch.backup or 'nowhere: identical'})"
    )
    return await switch.up_and_wait()
