"""The failover / failback runbook as data: ordered, typed steps built from the inventory.

Source: the seed procedure (seed/resilience-administration.txt) and its summary table in
XIVO.md. Per deployment part and direction:

=======  =====================================  ======================================
part     failover to the slave                  failback to the master
=======  =====================================  ======================================
XiVO     nothing to do: phones follow           nothing to do: the slave stops itself
CC       CC slave: ``xivocc-dcomp restart xuc``  CC master: ``xivocc-dcomp restart xuc``
         users open the CC slave FQDN           users open the CC master FQDN
XDS      nothing                                nothing
Edge     4 ``.env`` variables to slave IPs,     the reverse, ``edge-dcomp up -d``
         ``edge-dcomp up -d``
=======  =====================================  ======================================

and always: wait until the target XiVO runs its services, wait until the restarted xuc is
ready, then users refresh their browsers before reconnecting to UC / CCAgent / Switchboard.

"Nothing to do" is still verified here (checks and waits), never skipped. Each step is a
frozen dataclass: the ops layer maps ``Step.command`` (an :class:`ActionSpec`) to the remote
catalog and ``Step.condition`` (a :class:`Condition`) to a probe; ``Step.shell`` is only for
display (the wizard, ``resil-tui plan``). Pure: no I/O, nothing from ``remote/``.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from ipaddress import IPv4Address
from types import MappingProxyType
from typing import Any

from resil_tui.core import edge_env, edge_side
from resil_tui.core.cluster import Severity, Verdict
from resil_tui.core.records import record
from resil_tui.core.roles import CLASSIC_WORDS, RoleWords, role_words
from resil_tui.inventory_model import ManualServices, Node, Resilience, Side, SipStack, Site

# --- vocabulary ---------------------------------------------------------------------------


class Direction(StrEnum):
    FAILOVER = "failover"  # telephony moved (or moves) to the slave: CC and Edge follow it
    FAILBACK = "failback"  # the master is back: CC and Edge return to it

    @property
    def target(self) -> Side:
        return Side.SLAVE if self is Direction.FAILOVER else Side.MASTER

    @property
    def source(self) -> Side:
        return Side.MASTER if self is Direction.FAILOVER else Side.SLAVE

    @property
    def edge_direction(self) -> edge_env.Direction:
        """The matching direction of the Edge ``.env`` switch planner."""
        if self is Direction.FAILOVER:
            return edge_env.Direction.TO_SLAVE
        return edge_env.Direction.TO_MASTER


class Part(StrEnum):
    """Deployment parts of the seed. XDS is the set of media servers (MDS nodes)."""

    XIVO = "xivo"
    CC = "cc"
    XDS = "xds"
    EDGE = "edge"

    @property
    def label(self) -> str:
        return _PART_LABELS[self]


_PART_LABELS = {Part.XIVO: "XiVO", Part.CC: "CC", Part.XDS: "XDS", Part.EDGE: "Edge"}
ALL_PARTS: frozenset[Part] = frozenset(Part)
# Order of the parts in a runbook: XiVO first (it is what moves), XDS follows it, then the
# seed's own order, CC before Edge.
PART_ORDER: tuple[Part, ...] = (Part.XIVO, Part.XDS, Part.CC, Part.EDGE)


def parse_parts(text: str | Iterable[str]) -> frozenset[Part]:
    """``"cc,edge"`` or ``["cc", "edge"]`` -> parts; ``mds`` is accepted for XDS."""
    items = text.replace(",", " ").split() if isinstance(text, str) else list(text)
    found: set[Part] = set()
    for raw in items:
        word = raw.strip().lower()
        if not word:
            continue
        if word == "mds":
            word = Part.XDS.value
        try:
            found.add(Part(word))
        except ValueError:
            known = ", ".join(p.value for p in PART_ORDER)
            raise ValueError(f"unknown part {raw!r} (known: {known})") from None
    return frozenset(found)


class StepKind(StrEnum):
    CHECK = "check"  # read-only: what must be true now
    ACTION = "action"  # a catalog command on a named node
    WAIT = "wait"  # poll until a condition holds, or the timeout
    MANUAL = "manual"  # what a person must do; the engine asks them to confirm it is done


class OnFail(StrEnum):
    """What the engine does when a check's condition does not hold."""

    STOP = "stop"  # abort the run before anything else happens
    CONFIRM = "confirm"  # go on only after the admin types Step.confirm_word
    WARN = "warn"  # say so, then go on (the next steps handle it)


class ActionName(StrEnum):
    """Names the ops layer maps to the remote catalog (``remote/commands.py``) or to an op."""

    XIVOCC_RESTART = "xivocc_restart"  # catalog: xivocc-dcomp restart SERVICE
    MANAGE_SERVICES = "manage_services"  # catalog: xivo-manage-slave-services start|stop
    EDGE_SWITCH = "edge_switch"  # ops: plan with core.edge_env, write the .env over SFTP
    EDGE_UP = "edge_up"  # catalog: edge-dcomp up -d


class ConditionKind(StrEnum):
    XIVO_REACHABLE = "xivo_reachable"  # an SSH command on the node succeeds
    NOT_SPLIT_BRAIN = "not_split_brain"  # not both XiVO running telephony
    MASTER_NOT_ACTIVE = "master_not_active"  # master unreachable, or telephony stopped
    XIVO_SERVICES_HEALTHY = "xivo_services_healthy"  # database OK and no service failed
    XIVO_TELEPHONY_RUNNING = "xivo_telephony_running"  # `xivo-service status all`: asterisk up
    XIVO_TELEPHONY_STOPPED = "xivo_telephony_stopped"  # telephony stopped (standby)
    MDS_OK = "mds_ok"  # reachable and every service running
    XUC_READY = "xuc_ready"  # a log line matching `pattern` after the restart
    EDGE_POINTS_TO = "edge_points_to"  # the four .env variables name `side`
    EDGE_CONTAINERS_UP = "edge_containers_up"  # `edge-dcomp ps`: every container up
    CLUSTER_VERDICT = "cluster_verdict"  # cluster.evaluate: primary `verdict`, no worse
    CALLS_BELOW = "calls_below"  # `core show channels count`: fewer calls than `below`
    PHONES_REGISTERED = "phones_registered"  # `percent` % of the phones before the move


def _frozen(values: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(values))


@dataclass(frozen=True)
class ActionSpec:
    """A typed description of an action; ``remote/`` and ``ops/`` decide how it runs."""

    name: ActionName
    args: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", ActionName(self.name))
        object.__setattr__(self, "args", _frozen(self.args))

    def __str__(self) -> str:
        return _call(self.name.value, None, self.args)


@dataclass(frozen=True)
class Condition:
    """A typed condition id, the node it is about (if one) and its parameters."""

    kind: ConditionKind
    node_id: str | None = None
    params: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", ConditionKind(self.kind))
        object.__setattr__(self, "params", _frozen(self.params))

    def __str__(self) -> str:
        return _call(self.kind.value, self.node_id, self.params)


def _call(name: str, node_id: str | None, params: Mapping[str, str]) -> str:
    args = ([f"node={node_id}"] if node_id else []) + [f"{k}={v}" for k, v in params.items()]
    return f"{name}({', '.join(args)})"


@record
class EnvChange:
    """One Edge ``.env`` variable the switch changes (display; core.edge_env does the work)."""

    variable: str
    old: IPv4Address
    new: IPv4Address
    whole_value: bool  # True: the value is the address; False: the address inside the value

    def __str__(self) -> str:
        if self.whole_value:
            return f"{self.variable}: {self.old} -> {self.new}"
        return f"{self.variable}: {self.old} -> {self.new} inside the value"


@record
class NodeRef:
    """What a reader needs to recognise a node; no SSH settings."""

    id: str
    label: str
    host: str
    ip: IPv4Address | None = None
    fqdn: str | None = None

    @classmethod
    def of(cls, node: Node) -> NodeRef:
        return cls(node.id, node.label, node.ssh.host, node.ip, node.fqdn)

    def describe(self) -> str:
        extra = [self.host] + ([str(self.ip)] if self.ip is not None else [])
        if self.fqdn and self.fqdn != self.host:
            extra.append(self.fqdn)
        return f"{self.label} ({', '.join(extra)})"


@dataclass(frozen=True)
class Step:
    id: str  # stable: "cc.restart_xuc"
    kind: StepKind
    title: str  # imperative, short
    detail: str  # one or two sentences with the real names filled in
    part: Part | None  # None: the whole site (guards, final steps)
    node_id: str | None = None
    command: ActionSpec | None = None  # actions only
    condition: Condition | None = None  # checks and waits
    timeout_seconds: float | None = None  # waits only
    shell: str | None = None  # what an admin would type on the node (display only)
    shell_local: bool = False  # the shell line runs on the admin's workstation, not a node
    guard: bool = False  # a safety check before the first action
    on_fail: OnFail = OnFail.STOP  # checks: what a false condition does
    confirm_word: str | None = None  # OnFail.CONFIRM: the word to type
    env_changes: tuple[EnvChange, ...] = ()  # edge_switch: the variables that change
    # Earlier waits whose success this step relies on: when one was skipped, the admin
    # acknowledges that before this step runs (e.g. sending users to a CC whose xuc wait
    # was skipped).
    depends_on: tuple[str, ...] = ()
    # A CONFIRM check that may, instead of the typed word, wait up to this long for its
    # condition to hold (calls in progress that end), with a countdown.
    wait_seconds: float | None = None
    # The other nodes the action changes with `node_id` (a 3-server Edge's one switch).
    also_node_ids: tuple[str, ...] = ()

    @property
    def node_ids(self) -> tuple[str, ...]:
        """Every node the step acts on or looks at, `node_id` first."""
        return ((self.node_id,) if self.node_id is not None else ()) + self.also_node_ids

    def __post_init__(self) -> None:
        # Broken steps are programming errors of this module: fail loudly at build time.
        problems: list[str] = []
        if self.kind is StepKind.ACTION and (self.command is None or self.node_id is None):
            problems.append("an action needs a command and a node")
        if self.kind is not StepKind.ACTION and self.command is not None:
            problems.append("only actions carry a command")
        if self.kind in (StepKind.CHECK, StepKind.WAIT) and self.condition is None:
            problems.append("checks and waits need a condition")
        if self.kind in (StepKind.ACTION, StepKind.MANUAL) and self.condition is not None:
            problems.append("actions and manual steps carry no condition")
        if self.kind is StepKind.WAIT and not (self.timeout_seconds and self.timeout_seconds > 0):
            problems.append("a wait needs a positive timeout")
        if self.kind is not StepKind.WAIT and self.timeout_seconds is not None:
            problems.append("only waits have a timeout")
        if self.guard and self.kind is not StepKind.CHECK:
            problems.append("guards are checks")
        if (self.confirm_word is not None) != (self.on_fail is OnFail.CONFIRM):
            problems.append("confirm_word goes with on_fail=confirm")
        if self.on_fail is not OnFail.STOP and self.kind is not StepKind.CHECK:
            problems.append("only checks have an on_fail policy")
        if self.wait_seconds is not None and (
            self.on_fail is not OnFail.CONFIRM or not self.wait_seconds > 0
        ):
            problems.append("a check waits instead (wait_seconds > 0) only with on_fail=confirm")
        if problems:
            raise ValueError(f"step {self.id}: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "title": self.title,
            "detail": self.detail,
            "part": self.part.value if self.part else None,
            "node_id": self.node_id,
            "also_node_ids": list(self.also_node_ids),
            "command": (
                {"name": self.command.name.value, "args": dict(self.command.args)}
                if self.command
                else None
            ),
            "condition": (
                {
                    "kind": self.condition.kind.value,
                    "node_id": self.condition.node_id,
                    "params": dict(self.condition.params),
                }
                if self.condition
                else None
            ),
            "timeout_seconds": self.timeout_seconds,
            "shell": self.shell,
            "shell_local": self.shell_local,
            "guard": self.guard,
            "on_fail": self.on_fail.value,
            "confirm_word": self.confirm_word,
            "env_changes": [
                {
                    "variable": c.variable,
                    "old": str(c.old),
                    "new": str(c.new),
                    "whole_value": c.whole_value,
                }
                for c in self.env_changes
            ],
            "depends_on": list(self.depends_on),
            "wait_seconds": self.wait_seconds,
        }


@dataclass(frozen=True)
class RunbookOptions:
    telephony_timeout_seconds: float = 300.0  # target XiVO runs telephony
    standby_timeout_seconds: float = 300.0  # failback: the slave's cron stops its telephony
    xuc_ready_timeout_seconds: float = 180.0  # restarted xuc prints its readiness line
    edge_up_timeout_seconds: float = 120.0  # Edge containers up after `edge-dcomp up -d`
    xuc_service: str = "xuc"
    log_tail_lines: int = 50  # shown `logs -f` commands never dump the whole history
    # Phones are NOT resynchronised on a plain failover/failback: the HA provisioning
    # (registrar_backup / proxy_backup = the slave's IP) was pushed when HA was configured,
    # so phones already know both XiVO and move by themselves (the seed: "nothing to do").
    # A resync is needed only after HA settings changed (HA just configured, a peer IP
    # changed): then set this and the XiVO part gets a manual "Resynchronise phones" step.
    ha_settings_changed: bool = False
    # The phones wait and the calls guard's wait: None takes the site's `phones` settings.
    phones_timeout_seconds: float | None = None
    calls_wait_seconds: float | None = None

    def __post_init__(self) -> None:
        for name in (
            "telephony_timeout_seconds",
            "standby_timeout_seconds",
            "xuc_ready_timeout_seconds",
            "edge_up_timeout_seconds",
        ):
            if not getattr(self, name) > 0:
                raise ValueError(f"RunbookOptions.{name} must be positive")
        for name in ("phones_timeout_seconds", "calls_wait_seconds"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"RunbookOptions.{name} must be positive")
        if self.log_tail_lines < 0:
            raise ValueError("RunbookOptions.log_tail_lines must be >= 0")
        if not self.xuc_service or any(c.isspace() for c in self.xuc_service):
            raise ValueError("RunbookOptions.xuc_service must be a simple service name")


DEFAULT_OPTIONS = RunbookOptions()


@dataclass(frozen=True)
class Runbook:
    site: str
    direction: Direction
    steps: tuple[Step, ...]
    present: frozenset[Part]  # parts the site's inventory has
    selected: frozenset[Part]  # the `only` filter (every part when none was given)
    nodes: tuple[NodeRef, ...]  # every node a step names, for display
    source: NodeRef  # the XiVO telephony leaves
    target: NodeRef  # the XiVO telephony moves to
    notes: tuple[str, ...] = ()  # what was left out or kept, and why
    options: RunbookOptions = field(default_factory=RunbookOptions)
    resilience: Resilience = Resilience.CLASSIC
    words: RoleWords = CLASSIC_WORDS  # master/slave, or Main/Standby (next LTS)

    @property
    def parts(self) -> frozenset[Part]:
        """Parts that have at least one step."""
        return frozenset(s.part for s in self.steps if s.part is not None)

    def step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(f"no step {step_id!r} in the {self.direction.value} runbook")

    def node(self, node_id: str | None) -> NodeRef | None:
        return next((n for n in self.nodes if n.id == node_id), None)

    def nodes_text(self, step: Step) -> str | None:
        """The step's nodes as a reader recognises them ("id: label (host, ip)"; "; " between)."""
        said = []
        for node_id in step.node_ids:
            ref = self.node(node_id)
            said.append(f"{ref.id}: {ref.describe()}" if ref is not None else node_id)
        return "; ".join(said) or None

    def of_kind(self, kind: StepKind) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.kind is kind)

    @property
    def guards(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.guard)

    def to_dict(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "direction": self.direction.value,
            "present": sorted(p.value for p in self.present),
            "selected": sorted(p.value for p in self.selected),
            "resilience": self.resilience.value,
            "roles": {"master": self.words.master, "slave": self.words.slave},
            "source": self.source.id,
            "target": self.target.id,
            "notes": list(self.notes),
            "steps": [s.to_dict() for s in self.steps],
        }


# --- building -----------------------------------------------------------------------------


def present_parts(site: Site) -> frozenset[Part]:
    """Parts the inventory describes. CC counts when either CC node is declared."""
    found = {Part.XIVO}
    if site.cc_master is not None or site.cc_slave is not None:
        found.add(Part.CC)
    if site.mds:
        found.add(Part.XDS)
    if site.edges:
        found.add(Part.EDGE)
    return frozenset(found)


XIVO_STATUS_SHELL = shlex.join(["xivo-service", "status", "all"])
CALLS_SHELL = shlex.join(["asterisk", "-rx", "core show channels count"])
CUT_CALLS_WORD = "cut-calls"


def registrations_shell(site: Site) -> str:
    cli = "sip show peers" if site.sip is SipStack.CHAN_SIP else "pjsip show contacts"
    return shlex.join(["asterisk", "-rx", cli])


def _ssh_shell(node: Node) -> str:
    """What an admin types on their workstation to see whether the node answers."""
    argv = ["ssh"]
    if node.ssh.port is not None and node.ssh.port != 22:
        argv += ["-p", str(node.ssh.port)]
    target = f"{node.ssh.user}@{node.ssh.host}" if node.ssh.user else node.ssh.host
    return shlex.join([*argv, target, "true"])


def _role(node: Node, words: RoleWords = CLASSIC_WORDS) -> str:
    side = f" {words.of(node.side)}" if node.side is not None else ""
    kind = {"xivo": "XiVO", "cc": "CC", "edge": "Edge", "mds": "media server"}[node.kind.value]
    return f"the {kind}{side} {NodeRef.of(node).describe()}"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


class _Builder:
    def __init__(self, site: Site, direction: Direction, options: RunbookOptions) -> None:
        self.site = site
        self.direction = direction
        self.options = options
        self.target = site.xivo(direction.target)
        self.source = site.xivo(direction.source)
        self.mode = site.resilience
        self.w = role_words(site.resilience)
        self.steps: list[Step] = []
        self.notes: list[str] = []
        self.nodes: dict[str, NodeRef] = {}

    def add(self, step: Step) -> None:
        self.steps.append(step)

    def ref(self, node: Node) -> str:
        self.nodes.setdefault(node.id, NodeRef.of(node))
        return node.id

    # --- guards (always: they protect every action, and cost one read) ---

    def calls_guard(self) -> None:
        """Calls in progress on the XiVO telephony leaves are cut by what follows: the
        failback (the slave stops telephony), the Main's "Stop services" (manual mode), or
        the Edge's `up -d` (it recreates the SIP proxy the calls go through)."""
        source = self.source
        policy = self.site.phones
        below = policy.calls_below
        wait = self.options.calls_wait_seconds or policy.calls_wait_timeout
        cause = (
            "the failback stops telephony there"
            if self.direction is Direction.FAILBACK
            else "its services are stopped below"
            if self.mode is Resilience.MANUAL
            else "the Edge switch recreates the SIP proxy they go through"
        )
        allowed = "no call" if below == 1 else f"fewer than {below} calls"
        self.add(
            Step(
                id="guard.calls_in_progress",
                kind=StepKind.CHECK,
                title=f"Check {allowed} in progress on the XiVO {self.w.of(source.side)}",
                detail=(
                    f"Calls in progress on {_role(source, self.w)} are cut: {cause}. "
                    f"With {allowed} the run goes on; else type {CUT_CALLS_WORD} to cut "
                    f"them, or wait (up to {wait:g} s) for them to end."
                ),
                part=None,
                node_id=self.ref(source),
                condition=Condition(
                    ConditionKind.CALLS_BELOW,
                    source.id,
                    {
                        "below": str(below),
                        # Failover: a master that does not answer carries no call any more
                        # (that is why the run happens); failback: calls not counted stop.
                        "unreachable": "pass" if self.direction is Direction.FAILOVER else "ask",
                    },
                ),
                shell=CALLS_SHELL,
                guard=True,
                on_fail=OnFail.CONFIRM,
                confirm_word=CUT_CALLS_WORD,
                wait_seconds=wait,
            )
        )

    def guards(self, has_actions: bool, cuts_calls: bool = False) -> None:
        t = self.target
        master, slave = self.site.xivo_master, self.site.xivo_slave
        self.add(
            Step(
                id="guard.target_reachable",
                kind=StepKind.CHECK,
                title=f"Check the XiVO {self.w.of(self.direction.target)} is reachable",
                detail=(
                    f"Everything below moves users to {_role(t, self.w)}; stop here if it does "
                    "not answer over SSH."
                ),
                part=None,
                node_id=self.ref(t),
                condition=Condition(ConditionKind.XIVO_REACHABLE, t.id),
                shell=_ssh_shell(t),
                shell_local=True,
                guard=True,
            )
        )
        w = self.w
        if self.mode is Resilience.MANUAL:
            split_detail = (
                f"Manual mode: no heartbeat between {w.master} and {w.slave}; both running "
                "telephony is expected only between the start and the stop steps below. "
                "Outside them, phones and calls are split (no fencing)."
            )
        elif self.direction is Direction.FAILOVER:
            split_detail = (
                f"If both {master.label} and {slave.label} run Asterisk, phones and calls are "
                "split between them (XiVO HA has no fencing): this is said first, before the "
                f"{w.master} check below."
            )
        else:
            split_detail = (
                f"Both running telephony is expected for about 90 s after the master is back "
                f"(the slave's cron runs xivo-check-master-status {master.ip} "
                "every minute, 3 pings 10 s apart); if it lasts, the slave cannot ping the "
                "master."
            )
        self.add(
            Step(
                id="guard.split_brain",
                kind=StepKind.CHECK,
                title="Check that only one XiVO runs telephony",
                detail=split_detail,
                part=None,
                condition=Condition(
                    ConditionKind.NOT_SPLIT_BRAIN,
                    None,
                    {"master": self.ref(master), "slave": self.ref(slave)},
                ),
                shell=XIVO_STATUS_SHELL,
                guard=True,
                on_fail=OnFail.WARN,
            )
        )
        if self.mode is Resilience.MANUAL:
            # The Main is stopped on purpose below: no "master no longer active" guard.
            pass
        elif self.direction is Direction.FAILOVER:
            # A pingable master keeps telephony (no service-level check in the HA scripts):
            # moving CC and Edge users off a working master is what this guard prevents.
            confirm = has_actions
            self.add(
                Step(
                    id="guard.master_not_active",
                    kind=StepKind.CHECK,
                    title=f"Check the XiVO {w.master} no longer serves telephony",
                    detail=(
                        f"{_sentence(_role(master, self.w))} must be unreachable or have telephony "
                        "stopped. "
                        + (
                            f"If it still looks active, type {master.id} to move CC and "
                            f"Edge users to the {w.slave} anyway."
                            if confirm
                            else "This runbook has no action: a still-active master is "
                            "only reported."
                        )
                    ),
                    part=None,
                    node_id=self.ref(master),
                    condition=Condition(ConditionKind.MASTER_NOT_ACTIVE, master.id),
                    shell=XIVO_STATUS_SHELL,
                    guard=True,
                    on_fail=OnFail.CONFIRM if confirm else OnFail.WARN,
                    confirm_word=master.id if confirm else None,
                )
            )
        if cuts_calls:
            self.calls_guard()
        if self.direction is Direction.FAILBACK:
            self.add(
                Step(
                    id="guard.target_healthy",
                    kind=StepKind.CHECK,
                    title=f"Check the XiVO {w.master}'s services are healthy",
                    detail=(
                        "Before traffic moves back, `xivo-service status all` on "
                        f"{_role(t, self.w)} must show the database OK and no failed service."
                    ),
                    part=None,
                    node_id=self.ref(t),
                    condition=Condition(ConditionKind.XIVO_SERVICES_HEALTHY, t.id),
                    shell=XIVO_STATUS_SHELL,
                    guard=True,
                )
            )

    # --- XiVO: nothing to do, verified ---

    def wait_target_telephony(self) -> None:
        t = self.target
        self.add(
            Step(
                id="xivo.wait_target_telephony",
                kind=StepKind.WAIT,
                title=f"Wait until the XiVO {self.w.of(self.direction.target)} runs telephony",
                detail=(
                    f"`xivo-service status all` on {_role(t, self.w)} must show Asterisk "
                    "running, the database OK and no failed service; "
                    + (
                        "the services were started by hand in the step above."
                        if self.mode is Resilience.MANUAL
                        else f"the {self.w.slave}'s check-master-status cron starts it when the "
                        f"{self.w.master} stops answering pings. Phones then register to the "
                        f"{self.w.slave} by themselves."
                        if self.direction is Direction.FAILOVER
                        else f"phones then register to the {self.w.master} again by themselves."
                    )
                ),
                part=Part.XIVO,
                node_id=self.ref(t),
                condition=Condition(ConditionKind.XIVO_TELEPHONY_RUNNING, t.id),
                timeout_seconds=self.options.telephony_timeout_seconds,
                shell=XIVO_STATUS_SHELL,
            )
        )

    def wait_phones(self) -> None:
        """Phones follow the XiVO that serves within their registration expiry: the
        target must hold `wait_percent` % of the phones counted before the move."""
        t, source = self.target, self.source
        policy = self.site.phones
        expiry = self.site.ha_sip_expiry[1]
        self.add(
            Step(
                id="xivo.wait_phones_registered",
                kind=StepKind.WAIT,
                title=f"Wait until the phones are registered on the XiVO {self.w.of(t.side)}",
                detail=(
                    f"`{registrations_shell(self.site)}` on {_role(t, self.w)} must count at "
                    f"least {policy.wait_percent:g} % of the phones counted on the "
                    f"{self.w.of(source.side)} before the move; phones re-register within "
                    f"their expiry (at most {expiry} s with HA on). Skip it with a reason if "
                    "fewer phones are expected."
                ),
                part=Part.XIVO,
                node_id=self.ref(t),
                condition=Condition(
                    ConditionKind.PHONES_REGISTERED,
                    t.id,
                    {"percent": f"{policy.wait_percent:g}", "source": source.id},
                ),
                timeout_seconds=self.options.phones_timeout_seconds or policy.wait_timeout,
                shell=registrations_shell(self.site),
            )
        )

    def manual_services(self, node: Node, action: str) -> None:
        """Manual mode: "Start services" / "Stop services" on a node, run through
        `xivo-manage-slave-services` or done in the web UI (chosen per site)."""
        word = self.w.of(node.side)
        verb = "Start" if action == "start" else "Stop"
        title = f"{verb} services on the {word}"
        button = (
            f"In the web UI of {_role(node, self.w)}: Services → IPBX → Control → "
            f"Resilience management, press {verb} services"
        )
        if self.site.manual_services is ManualServices.WEB_UI:
            self.add(
                Step(
                    id=f"xivo.{action}_services.{node.side.value if node.side else 'node'}",
                    kind=StepKind.MANUAL,
                    title=title,
                    detail=f"{button}, then confirm here once the web UI says it is done.",
                    part=Part.XIVO,
                    node_id=self.ref(node),
                )
            )
            return
        argv = ["xivo-manage-slave-services", action]
        self.add(
            Step(
                id=f"xivo.{action}_services.{node.side.value if node.side else 'node'}",
                kind=StepKind.ACTION,
                title=title,
                detail=(
                    f"On {_role(node, self.w)}: `{shlex.join(argv)}`, what the web UI's "
                    f"{verb} services button is taken to run (unverified; set the site's "
                    'manual_services = "web-ui" to press the button instead).'
                ),
                part=Part.XIVO,
                node_id=self.ref(node),
                command=ActionSpec(ActionName.MANAGE_SERVICES, {"action": action}),
                shell=shlex.join(argv),
            )
        )

    def wait_source_stopped(self) -> None:
        source = self.source
        self.add(
            Step(
                id="xivo.wait_source_stopped",
                kind=StepKind.WAIT,
                title=f"Wait until the XiVO {self.w.of(source.side)} stops telephony",
                detail=f"`xivo-service status all` on {_role(source, self.w)} must show "
                "telephony stopped.",
                part=Part.XIVO,
                node_id=self.ref(source),
                condition=Condition(ConditionKind.XIVO_TELEPHONY_STOPPED, source.id),
                timeout_seconds=self.options.standby_timeout_seconds,
                shell=XIVO_STATUS_SHELL,
            )
        )

    def xivo(self) -> None:
        if self.mode is Resilience.MANUAL:
            # No heartbeat: start the target first (so phones always have one), then stop
            # the source. Failback is the same the other way round; never by itself.
            self.manual_services(self.target, "start")
            self.wait_target_telephony()
            self.manual_services(self.source, "stop")
            self.wait_source_stopped()
            self.wait_phones()
            self._resync_step()
            return
        self.wait_target_telephony()
        if self.direction is Direction.FAILOVER:
            self.wait_phones()
        if self.direction is Direction.FAILBACK:
            slave, master = self.site.xivo_slave, self.site.xivo_master
            self.add(
                Step(
                    id="xivo.wait_source_standby",
                    kind=StepKind.WAIT,
                    title=f"Wait until the XiVO {self.w.slave} stops telephony",
                    detail=(
                        f"On {_role(slave, self.w)} the check-master-status cron pings the "
                        f"{self.w.master} ({master.ip}) and runs "
                        "`xivo-manage-slave-services stop`: telephony "
                        "stopped, /var/lib/xivo/disabled present."
                    ),
                    part=Part.XIVO,
                    node_id=self.ref(slave),
                    condition=Condition(ConditionKind.XIVO_TELEPHONY_STOPPED, slave.id),
                    timeout_seconds=self.options.standby_timeout_seconds,
                    shell=XIVO_STATUS_SHELL,
                )
            )
            # Phones come back once the slave has stopped answering them.
            self.wait_phones()
        self._resync_step()

    def _resync_step(self) -> None:
        if self.options.ha_settings_changed:
            master, slave = self.site.xivo_master, self.site.xivo_slave
            self.add(
                Step(
                    id="xivo.resync_phones",
                    kind=StepKind.MANUAL,
                    title="Resynchronise phones",
                    detail=(
                        "HA settings changed: phones pick up the new registrar and proxy backup "
                        f"(the {self.w.slave} {slave.label}, {slave.ip}; {self.w.master} "
                        f"{master.ip}) only after "
                        "a resync from the provisioning server or a reboot."
                    ),
                    part=Part.XIVO,
                )
            )

    # --- XDS: nothing to do, verified ---

    def xds(self) -> None:
        used: set[str] = set()
        for node in self.site.mds:
            short = node.name.removeprefix("mds.") if node.name else node.id
            step_id = f"xds.mds_ok.{short}"
            n = 2
            while step_id in used:  # names are unique per site in a loaded inventory
                step_id, n = f"xds.mds_ok.{short}_{n}", n + 1
            used.add(step_id)
            self.add(
                Step(
                    id=step_id,
                    kind=StepKind.CHECK,
                    title=f"Check media server {node.label} is up",
                    detail=(
                        f"Nothing to do for XDS (the seed): {_role(node, self.w)} must be "
                        "reachable and `xivo-service status all` must show every service running."
                    ),
                    part=Part.XDS,
                    node_id=self.ref(node),
                    condition=Condition(ConditionKind.MDS_OK, node.id),
                    shell=XIVO_STATUS_SHELL,
                    # A media server down does not make moving CC and Edge users wrong.
                    on_fail=OnFail.WARN,
                )
            )

    # --- CC: restart xuc on the target side, users open its FQDN ---

    def cc(self) -> None:
        side = self.direction.target
        cc = self.site.cc(side)
        if cc is None:
            self.notes.append(
                f"CC: the inventory has no CC {self.w.of(side)}; its xuc restart and the users' "
                "new address are left out."
            )
            return
        service = self.options.xuc_service
        node_id = self.ref(cc)
        word = self.w.of(side)
        automatic = self.mode is Resilience.AUTOMATIC
        if automatic:
            self.notes.append(
                f"CC: automatic mode: the {word} CC starts its services itself when its XiVO "
                "becomes active, so xuc is not restarted by hand; the runbook waits for it."
            )
        else:
            self.add(
                Step(
                    id="cc.restart_xuc",
                    kind=StepKind.ACTION,
                    title=f"Restart {service} on the CC {word}",
                    detail=(
                        f"On {_role(cc, self.w)}: xuc reconnects to the XiVO now serving "
                        f"telephony ({self.target.ip})."
                    ),
                    part=Part.CC,
                    node_id=node_id,
                    command=ActionSpec(ActionName.XIVOCC_RESTART, {"service": service}),
                    shell=shlex.join(["xivocc-dcomp", "restart", service]),
                )
            )
        self._cc_wait_and_users(cc, service, node_id, word, automatic)

    def _cc_wait_and_users(
        self, cc: Node, service: str, node_id: str, word: str, automatic: bool
    ) -> None:
        self.add(
            Step(
                id="cc.wait_xuc_ready",
                kind=StepKind.WAIT,
                title=f"Wait until {service} is ready on the CC {word}",
                detail=(
                    f"The run of {service} on {cc.label} "
                    + (
                        f"that the CC started by itself once the {word} XiVO became active "
                        if automatic
                        else "started by the restart "
                    )
                    + f"must log a line matching {cc.readiness_pattern!r} (it proves its "
                    "HTTP server is up, not that it reached the XiVO); lines of its earlier "
                    "runs, still in the log, do not count."
                ),
                part=Part.CC,
                node_id=node_id,
                condition=Condition(
                    ConditionKind.XUC_READY,
                    cc.id,
                    {"service": service, "pattern": cc.readiness_pattern},
                ),
                timeout_seconds=self.options.xuc_ready_timeout_seconds,
                shell=shlex.join(
                    [
                        "xivocc-dcomp",
                        "logs",
                        "-f",
                        "--tail",
                        str(self.options.log_tail_lines),
                        service,
                    ]
                ),
            )
        )
        address = self._cc_url(cc)
        edge_fqdns = [f"https://{e.fqdn}" for e in self.site.edges if e.fqdn]
        via_edge = (
            f" Users who go through the Edge keep {' / '.join(edge_fqdns)}." if edge_fqdns else ""
        )
        self.add(
            Step(
                id="cc.users_open_fqdn",
                kind=StepKind.MANUAL,
                title=f"Users open {address}",
                detail=(
                    f"Tell CC users to reconnect by entering {address} (the CC {word}, "
                    f"{cc.label}) in their browser.{via_edge}"
                ),
                part=Part.CC,
                node_id=node_id,
            )
        )

    def _cc_url(self, cc: Node) -> str:
        if cc.fqdn:
            return f"https://{cc.fqdn}"
        self.notes.append(
            f"CC: {cc.id} has no fqdn in the inventory; its SSH host {cc.ssh.host} is shown "
            "as the users' address instead."
        )
        return f"https://{cc.ssh.host}"

    # --- Edge: switch the four variables, up -d, verify ---

    def env_changes(self) -> tuple[EnvChange, ...]:
        d = self.direction
        xivo = (self.site.xivo(d.source).ip, self.site.xivo(d.target).ip)
        cc_source, cc_target = self.site.cc(d.source), self.site.cc(d.target)
        cc = (cc_source.ip if cc_source else None, cc_target.ip if cc_target else None)
        changes: list[EnvChange] = []
        for variable in edge_side.EDGE_VARIABLES:
            old, new = cc if variable in edge_side.CC_VARIABLES else xivo
            if old is None or new is None:
                what = "CC" if variable in edge_side.CC_VARIABLES else "XiVO"
                self.notes.append(
                    f"Edge: {variable} is not switched: the inventory lacks a {what} "
                    f"{'IP' if what == 'CC' else 'VoIP IP'} on one side."
                )
                continue
            whole = variable in ("XIVO_HOST", "XIVOCC_HOST")
            changes.append(EnvChange(variable, old, new, whole_value=whole))
        return tuple(changes)

    def edge_suffix(self, edge: Node) -> str:
        """A step id's suffix for one Edge node: none on a 1-server Edge (the ids stay
        `edge.up`...), `.NAME` for each node of a 3-server one."""
        if len(self.site.edges) == 1:
            return ""
        return "." + edge.name.removeprefix("edge.")

    def edge(self) -> None:
        if self.mode is Resilience.AUTOMATIC:
            for edge in self.site.edges:
                self.edge_follows(edge)
            return
        edges = self.site.edges
        assert edges
        side = self.direction.target.value
        changes = self.env_changes()
        listed = "; ".join(str(c) for c in changes) or "nothing known to switch"
        where = ", ".join(f"{e.paths.edge_env} on {NodeRef.of(e).describe()}" for e in edges)
        together = (
            " Every Edge node of the site is switched with one preview and one confirmation; "
            "nothing is written unless every one answers."
            if len(edges) > 1
            else ""
        )
        first = edges[0]
        for edge in edges:
            self.ref(edge)
        self.add(
            Step(
                id="edge.switch_env",
                kind=StepKind.ACTION,
                title=f"Switch the Edge .env to the {self.w.of(side)}",
                detail=(
                    f"In {where}: {listed}. Only these variables change, whole "
                    f"addresses only; every other line stays as it is.{together}"
                ),
                part=Part.EDGE,
                node_id=first.id,
                also_node_ids=tuple(e.id for e in edges[1:]),
                command=ActionSpec(
                    ActionName.EDGE_SWITCH, {"to": side, "env_path": first.paths.edge_env}
                ),
                # No shell line on purpose: the seed's `sed -i s/IP/IP/g` also rewrites
                # 10.0.0.10 for 10.0.0.1 and comments (XIVO.md); the changes are listed.
                shell=None,
                env_changes=changes,
            )
        )
        for edge in edges:
            self.add(
                Step(
                    id=f"edge.up{self.edge_suffix(edge)}",
                    kind=StepKind.ACTION,
                    title="Apply the Edge settings"
                    + (f" on {edge.label}" if len(edges) > 1 else ""),
                    detail=f"On {edge.label}, recreate the Edge containers with the new .env.",
                    part=Part.EDGE,
                    node_id=edge.id,
                    command=ActionSpec(ActionName.EDGE_UP, {}),
                    shell=shlex.join(["edge-dcomp", "up", "-d"]),
                )
            )
        for edge in edges:
            self.edge_checks(edge, side)

    def edge_checks(self, edge: Node, side: str) -> None:
        suffix, path = self.edge_suffix(edge), edge.paths.edge_env
        on = f" on {edge.label}" if suffix else ""
        self.add(
            Step(
                id=f"edge.check_points_to{suffix}",
                kind=StepKind.CHECK,
                title=f"Check the Edge points to the {self.w.of(side)}{on}",
                detail=(
                    f"{', '.join(edge_side.EDGE_VARIABLES)} in {path} on {edge.label} must "
                    f"name the {self.w.of(side)}'s addresses only."
                ),
                part=Part.EDGE,
                node_id=edge.id,
                condition=Condition(
                    ConditionKind.EDGE_POINTS_TO, edge.id, {"side": side, "env_path": path}
                ),
                shell=shlex.join(["grep", "-E", "|".join(edge_side.EDGE_VARIABLES), path]),
            )
        )
        fqdn = f" Users keep https://{edge.fqdn}." if edge.fqdn else ""
        self.add(
            Step(
                id=f"edge.wait_containers_up{suffix}",
                kind=StepKind.WAIT,
                title=f"Wait until the Edge containers are up{on}",
                detail=f"`edge-dcomp ps` on {edge.label} must list every container up.{fqdn}",
                part=Part.EDGE,
                node_id=edge.id,
                condition=Condition(ConditionKind.EDGE_CONTAINERS_UP, edge.id),
                timeout_seconds=self.options.edge_up_timeout_seconds,
                shell=shlex.join(["edge-dcomp", "ps", "-a"]),
            )
        )

    def edge_follows(self, edge: Node) -> None:
        """Automatic mode: the Edge redirects itself; nothing is rewritten. What resil-tui
        can read (the .env) is checked, and a mismatch is a warning that offers the
        switch as a fallback."""
        side = self.direction.target
        word = self.w.of(side)
        path = edge.paths.edge_env
        node_id = self.ref(edge)
        suffix = self.edge_suffix(edge)
        fallback = shlex.join(
            ["resil-tui", "edge", "apply", "--site", self.site.name, "--to", side.value]
        )
        note = (
            f"Edge: automatic mode: the Edge redirects to the {word} by itself; its .env is "
            "not rewritten."
        )
        if note not in self.notes:
            self.notes.append(note)
        self.add(
            Step(
                id=f"edge.check_follows{suffix}",
                kind=StepKind.CHECK,
                title=f"Check the Edge relays to the {word}"
                + (f" on {edge.label}" if suffix else ""),
                detail=(
                    f"{', '.join(edge_side.EDGE_VARIABLES)} in {path} on {edge.label} should "
                    f"name the {word}'s addresses. If not, and users cannot reach the {word} "
                    f"through the Edge, switch it by hand as a fallback: {fallback}"
                ),
                part=Part.EDGE,
                node_id=node_id,
                condition=Condition(
                    ConditionKind.EDGE_POINTS_TO, edge.id, {"side": side.value, "env_path": path}
                ),
                shell=shlex.join(["grep", "-E", "|".join(edge_side.EDGE_VARIABLES), path]),
                on_fail=OnFail.WARN,
            )
        )

    # --- final ---

    def final(self) -> None:
        if any(s.part in (Part.CC, Part.EDGE) for s in self.steps):
            where: list[str] = []
            cc = self.site.cc(self.direction.target)
            if cc is not None and any(s.part is Part.CC for s in self.steps):
                where.append(f"https://{cc.fqdn or cc.ssh.host}")
            if any(s.part is Part.EDGE for s in self.steps):
                where += [f"https://{e.fqdn}" for e in self.site.edges if e.fqdn]
            addresses = f" ({' or '.join(where)})" if where else ""
            self.add(
                Step(
                    id="final.refresh_browsers",
                    kind=StepKind.MANUAL,
                    title=(
                        "Tell users to refresh their browser windows before reconnecting to "
                        "UC / CCAgent / Switchboard"
                    ),
                    detail=(
                        "Open UC apps still talk to the old side: a refresh loads them again "
                        f"from the side now serving{addresses}."
                    ),
                    part=None,
                )
            )
        expected = Verdict.FAILED_OVER if self.direction is Direction.FAILOVER else Verdict.NORMAL
        self.add(
            Step(
                id="final.cluster_verdict",
                kind=StepKind.CHECK,
                title="Check the site verdict",
                detail=(
                    f"Site {self.site.name} must read '{expected.value}' "
                    f"({self.target.label} serving) with no critical finding."
                ),
                part=None,
                condition=Condition(
                    ConditionKind.CLUSTER_VERDICT,
                    None,
                    {"verdict": expected.value, "max_severity": Severity.WARNING.value},
                ),
                shell=shlex.join(["resil-tui", "status", "--site", self.site.name]),
                shell_local=True,
            )
        )


# What each step relies on having succeeded before it (see Step.depends_on): users are
# sent to a CC, or the Edge to a side, only once its XiVO serves and its xuc is ready.
DEPENDS_ON: dict[str, tuple[str, ...]] = {
    "cc.restart_xuc": ("xivo.wait_target_telephony",),
    "cc.users_open_fqdn": ("xivo.wait_target_telephony", "cc.wait_xuc_ready"),
    "edge.switch_env": ("xivo.wait_target_telephony", "cc.wait_xuc_ready"),
    "final.refresh_browsers": ("cc.wait_xuc_ready", "edge.wait_containers_up"),
}


def build_runbook(
    site: Site,
    direction: Direction,
    only: frozenset[Part] | None = None,
    options: RunbookOptions = DEFAULT_OPTIONS,
) -> Runbook:
    """The ordered steps of ``direction`` for the parts present in ``site`` (and in ``only``).

    Order: guards, XiVO, XDS, CC, Edge, the users' browser refresh, the site verdict.
    Guards are always there (they protect every action). The wait for the target XiVO's
    telephony is kept even when ``only`` leaves XiVO out but selects CC or Edge: restarting
    xuc or switching the Edge before that XiVO serves points users at a dead PBX (the seed:
    "always" wait for it). A part selected but absent from the inventory is a note.
    """
    opts = options
    direction = Direction(direction)
    present = present_parts(site)
    selected = ALL_PARTS if only is None else frozenset(Part(p) for p in only)
    b = _Builder(site, direction, opts)
    b.ref(b.source)
    b.ref(b.target)
    for part in PART_ORDER:
        if part in selected and part not in present:
            b.notes.append(f"{part.label}: not in the inventory of site {site.name}.")
    wanted = [p for p in PART_ORDER if p in selected and p in present]

    body: list[Step] = []
    b.steps = body
    for part in wanted:
        if part is Part.XIVO:
            b.xivo()
        elif part is Part.XDS:
            b.xds()
        elif part is Part.CC:
            b.cc()
        else:
            b.edge()
    has_actions = any(s.kind is StepKind.ACTION for s in body)
    if has_actions and Part.XIVO not in wanted:
        b.steps = []
        b.wait_target_telephony()
        body = b.steps + body
        b.notes.append(
            "XiVO: the wait for the target XiVO's telephony is kept: CC and Edge must not "
            "move before it serves."
        )
    edge_switch = any(
        s.command is not None and s.command.name is ActionName.EDGE_SWITCH for s in body
    )
    manual_stop = any(s.id.startswith("xivo.stop_services") for s in body)
    b.steps = []
    b.guards(has_actions, direction is Direction.FAILBACK or edge_switch or manual_stop)
    b.steps += body
    b.final()

    ids = [s.id for s in b.steps]
    if len(set(ids)) != len(ids):  # a bug here, never an inventory problem
        raise AssertionError(f"duplicate step ids: {ids}")
    # A dependency on `edge.wait_containers_up` is on each Edge node's wait (`.NAME`).
    b.steps = [
        replace(
            s,
            depends_on=tuple(
                i for d in DEPENDS_ON.get(s.id, ()) for i in ids if i == d or i.startswith(d + ".")
            ),
        )
        for s in b.steps
    ]
    return Runbook(
        site=site.name,
        direction=direction,
        steps=tuple(b.steps),
        present=present,
        selected=selected,
        nodes=tuple(b.nodes.values()),
        source=NodeRef.of(b.source),
        target=NodeRef.of(b.target),
        notes=tuple(dict.fromkeys(b.notes)),
        options=opts,
        resilience=site.resilience,
        words=b.w,
    )
