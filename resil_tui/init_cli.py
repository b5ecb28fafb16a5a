"""`resil-tui init [FILE]` and the first run: create an inventory with a form, test it live.

Everything here but `cmd_init` / `first_run` is free of Textual, so the form's logic
(values -> TOML text -> the loader's verdict mapped back to fields, the live SSH probe,
the write with backup) is testable without a screen:

- the draft is turned into a TOML document and validated by `parse_inventory` itself:
  the form accepts exactly what the loader accepts, and each located error is mapped
  back to the field it came from;
- the live probe connects through a `Pool` built for the draft (read-only: it only runs
  `which` and `test -f`), and never trusts a host key by itself;
- the file is written once, with `tomli-w` and a header comment; an existing file is
  never replaced unless asked (`--force`), and then a dated backup is kept next to it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import tomli_w

from resil_tui import paths as xdg
from resil_tui.core import validators
from resil_tui.inventory import InventoryError, InventoryNotFound, find_inventory, parse_inventory
from resil_tui.inventory_model import Inventory, Node, NodeKind
from resil_tui.localfiles import write_atomic
from resil_tui.preferences import backup_name

DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"
DEFAULT_EDGE_ENV = "/etc/docker/edge/.env"


def default_target() -> Path:
    """Where `init` writes without FILE: last in the lookup order, found from any directory."""
    return xdg.config_dir() / "hosts.toml"


# --- the form's values -----------------------------------------------------------------------

# Field ids, in form order. Node fields are "<node>-<attr>" with node in NODE_FIELDS.
NODE_FIELDS: dict[str, tuple[str, ...]] = {
    "xivo-master": ("ssh", "ip"),
    "xivo-slave": ("ssh", "ip"),
    "cc-master": ("ssh", "ip", "fqdn"),
    "cc-slave": ("ssh", "ip", "fqdn"),
    "edge": ("ssh", "fqdn", "env"),
    "mds1": ("name", "ssh", "ip"),
    "mds2": ("name", "ssh", "ip"),
}
SSH_FIELDS = ("user", "identity", "known-hosts", "jump")
ALL_FIELDS: tuple[str, ...] = (
    "site",
    *SSH_FIELDS,
    *(f"{node}-{attr}" for node, attrs in NODE_FIELDS.items() for attr in attrs),
)


@dataclass
class Draft:
    """What the admin typed: field id -> text (stripped), plus the ssh-config switch."""

    values: dict[str, str] = field(default_factory=dict)
    use_ssh_config: bool = True

    def get(self, field_id: str) -> str:
        return self.values.get(field_id, "").strip()

    def any_of(self, node: str) -> bool:
        return any(self.get(f"{node}-{attr}") for attr in NODE_FIELDS[node])


@dataclass(frozen=True)
class Checked:
    """The loader's verdict on a draft, by field; `inventory` only when all is valid."""

    text: str
    field_errors: dict[str, list[str]]
    other_errors: list[str]
    inventory: Inventory | None

    @property
    def ok(self) -> bool:
        return self.inventory is not None and not self.field_errors and not self.other_errors


def split_target(text: str) -> tuple[str, int | None]:
    """`user@host[:port]` (IPv6: `user@[addr]:port`) -> ("user@host", port), with the
    inventory's own parser (core/validators.ssh_target): what the form accepts loads.

    Raises ValueError with a message for the field when the target is not one.
    """
    target = validators.ssh_target(text)
    prefix = f"{target.user}@" if target.user else ""
    return prefix + target.host, target.port


def build_document(draft: Draft) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The TOML document of a draft, and the errors found before the loader (ports)."""
    errors: dict[str, list[str]] = {}
    ssh: dict[str, Any] = {}
    if draft.get("user"):
        ssh["user"] = draft.get("user")
    if draft.get("identity"):
        ssh["identity_file"] = draft.get("identity")
    ssh["known_hosts"] = draft.get("known-hosts") or DEFAULT_KNOWN_HOSTS
    if draft.get("jump"):
        ssh["jump"] = draft.get("jump")
    if not draft.use_ssh_config:
        ssh["use_ssh_config"] = False

    def node(prefix: str, ip_key: str | None) -> dict[str, Any]:
        entry: dict[str, Any] = {}
        if draft.get(f"{prefix}-name"):
            entry["name"] = draft.get(f"{prefix}-name")
        target = draft.get(f"{prefix}-ssh")
        if target:
            try:
                host, port = split_target(target)
            except ValueError as exc:
                errors.setdefault(f"{prefix}-ssh", []).append(str(exc))
                host, port = target, None
            entry["ssh"] = host
            if port is not None:
                entry["port"] = port
        if ip_key and draft.get(f"{prefix}-ip"):
            entry[ip_key] = draft.get(f"{prefix}-ip")
        if draft.get(f"{prefix}-fqdn"):
            entry["fqdn"] = draft.get(f"{prefix}-fqdn")
        if draft.get(f"{prefix}-env"):
            entry["env_path"] = draft.get(f"{prefix}-env")
        return entry

    site: dict[str, Any] = {
        "xivo": {"master": node("xivo-master", "voip_ip"), "slave": node("xivo-slave", "voip_ip")}
    }
    if draft.any_of("cc-master") or draft.any_of("cc-slave"):
        # Both sides as soon as one is filled: the loader then names the missing fields.
        site["cc"] = {"master": node("cc-master", "ip"), "slave": node("cc-slave", "ip")}
    if draft.any_of("edge"):
        site["edge"] = node("edge", None)
    mds = [node(m, "ip") for m in ("mds1", "mds2") if draft.any_of(m)]
    if mds:
        site["mds"] = mds
    # Without a name yet, a stand-in one lets the loader check the nodes all the same.
    doc = {"read_only": False, "ssh": ssh, "site": {draft.get("site") or "site": site}}
    return doc, errors


def header(now: datetime | None = None) -> str:
    stamp = (now or datetime.now()).strftime("%Y-%m-%d %H:%M")
    return (
        f"# resil-tui inventory, written by `resil-tui init` on {stamp}.\n"
        "#\n"
        "# One file, one or more sites: [site.NAME.xivo.master] / [...slave] (ssh, voip_ip),\n"
        "# optional [site.NAME.cc.master] / [...slave] (ssh, ip, fqdn), [site.NAME.edge]\n"
        "# (ssh, fqdn, env_path) and [[site.NAME.mds]] (name, ssh, ip). `ssh` is what you\n"
        "# would type after `ssh`; `port` sits next to it. [ssh] holds defaults for every\n"
        "# node (user, identity_file, known_hosts, jump, timeouts). VoIP and service IPs\n"
        "# are data: resil-tui never connects to them. Every key is explained in\n"
        "# hosts.example.toml and the README.\n"
        "#\n"
        "# This file is yours: edit it by hand. resil-tui never rewrites it (it would lose\n"
        "# your comments); `resil-tui init --force` replaces it only after keeping a backup.\n"
        "# Check it with: resil-tui check-config FILE\n\n"
    )


def render(doc: Mapping[str, Any], now: datetime | None = None) -> str:
    return header(now) + tomli_w.dumps(dict(doc))


def field_for(key: str, site: str) -> str | None:
    """The form field a loader key path ("site.paris.cc.slave.fqdn") comes from."""
    if key.startswith("ssh."):
        return {
            "ssh.user": "user",
            "ssh.identity_file": "identity",
            "ssh.known_hosts": "known-hosts",
            "ssh.jump": "jump",
        }.get(key)
    prefix = f"site.{site}"
    if key in ("site", prefix):
        return "site"
    if not key.startswith(prefix + "."):
        return None
    parts = key[len(prefix) + 1 :].split(".")
    head = parts[0]
    if head in ("xivo", "cc"):
        if len(parts) < 2 or parts[1] not in ("master", "slave"):
            return f"{head}-master-ssh"
        node, attr = f"{head}-{parts[1]}", parts[2] if len(parts) > 2 else ""
    elif head == "edge":
        node, attr = "edge", parts[1] if len(parts) > 1 else ""
    elif head.startswith("mds[") and head.endswith("]") and head[4:-1].isdigit():
        node, attr = f"mds{int(head[4:-1]) + 1}", parts[1] if len(parts) > 1 else ""
    else:
        return None
    names = {
        "voip_ip": "ip",
        "ip": "ip",
        "fqdn": "fqdn",
        "env_path": "env",
        "paths": "env",
        "name": "name",
    }
    wanted = f"{node}-{names.get(attr, 'ssh')}"
    return wanted if wanted in ALL_FIELDS else f"{node}-ssh"


def check_draft(draft: Draft, now: datetime | None = None) -> Checked:
    """Validate a draft with the inventory loader; errors come back per form field."""
    doc, early = build_document(draft)
    text = render(doc, now)
    field_errors = {k: list(v) for k, v in early.items()}
    other: list[str] = []
    site = draft.get("site")
    if not site:
        field_errors.setdefault("site", []).append("is required (a short name such as paris)")
    identity = draft.get("identity")
    if identity and not Path(identity).expanduser().is_file():
        field_errors.setdefault("identity", []).append(f"no such file: {identity}")
    inventory: Inventory | None = None
    try:
        inventory = parse_inventory(text, file="(form)")
    except InventoryError as exc:
        for error in exc.errors:
            target = field_for(error.key, site or "site")
            if target == "site" and not site:
                continue  # already said: the name is missing
            if target is None:
                other.append(str(error))
            elif target not in field_errors or error.message not in field_errors[target]:
                field_errors.setdefault(target, []).append(error.message)
    if field_errors or other:
        inventory = None
    return Checked(text, field_errors, other, inventory)


# --- writing -------------------------------------------------------------------------------


class TargetExists(Exception):
    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(
            f"{path} already exists: resil-tui never rewrites an inventory (your comments "
            "would be lost). Choose another FILE, or run `resil-tui init --force` to replace "
            "it (the old file is kept as a dated .bak next to it)."
        )


@dataclass(frozen=True)
class Written:
    path: Path
    backup: Path | None
    inventory: Inventory


def write_inventory(path: Path, text: str, *, force: bool = False) -> Written:
    """Write `text` to `path` atomically; re-load it to be sure it reads back.

    An existing file raises TargetExists unless `force`, and is then copied to a dated
    backup first. The text is validated again before anything is touched.
    """
    parse_inventory(text, file=str(path))
    backup: Path | None = None
    if path.exists():
        if not force:
            raise TargetExists(path)
        backup = backup_name(path)
        shutil.copy2(path, backup)
    write_atomic(path, text)
    from resil_tui.inventory import load_inventory

    return Written(path, backup, load_inventory(path))


# --- the live probe --------------------------------------------------------------------------


class Outcome(StrEnum):
    OK = "ok"
    WARNING = "warning"  # reachable, but something the console needs is missing
    FAILED = "failed"  # not reachable, refused, auth, key...
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


# Asked when a host key is unknown: (node, key info) -> trust it?
TrustAsk = Callable[[Node, Any], Any]


async def probe_node(pool: Any, node: Node, ask_trust: TrustAsk | None) -> Probe:
    """Reachable, host key known (or trusted on yes), auth, expected commands present."""
    from resil_tui.remote import commands as C
    from resil_tui.remote.errors import ErrorKind, RemoteError

    probe = Probe(node, describe_target(node))
    for _attempt in (1, 2):
        try:
            await pool.connection(node)
            break
        except RemoteError as exc:
            if exc.kind is ErrorKind.HOST_KEY_UNKNOWN and ask_trust is not None and _attempt == 1:
                try:
                    info = await pool.fetch_host_key(node, jump=exc.via_jump)
                except (RemoteError, ValueError, OSError) as fetch_error:
                    probe.outcome = Outcome.FAILED
                    probe.checks.append((False, f"host key unknown and unreadable: {fetch_error}"))
                    return probe
                if not await ask_trust(node, info):
                    probe.outcome = Outcome.UNTRUSTED
                    probe.checks.append((False, f"host key {info.fingerprint} not trusted"))
                    probe.advice = "check the fingerprint on the node, then test again"
                    return probe
                pool.trust_host_key(node, info, step="init: trust host key")
                probe.checks.append((True, f"host key {info.fingerprint} trusted"))
                continue
            probe.outcome = Outcome.FAILED
            probe.checks.append((False, exc.message))
            probe.advice = {
                ErrorKind.REFUSED: "check the host, the port and that sshd runs",
                ErrorKind.DNS: "check the host name, or use an IP or a ~/.ssh/config alias",
                ErrorKind.TIMEOUT: "check the address, firewalls, or set a jump host",
                ErrorKind.AUTH: "check the user and identity file (ssh-copy-id to the node)",
                ErrorKind.HOST_KEY_UNKNOWN: "trust the key after checking its fingerprint",
                ErrorKind.HOST_KEY_CHANGED: "see the known_hosts line named above",
            }.get(exc.kind, "see the debug log for the details")
            return probe
    probe.checks.append((True, "reachable, host key known, auth OK"))
    for program in expected_programs(node):
        result = await pool.run(node, C.command_exists(program))
        if result.ok:
            probe.checks.append((True, f"{program} found"))
        else:
            probe.outcome = Outcome.WARNING
            probe.checks.append((False, f"{program} not found"))
            probe.advice = f"is this the right node? `{program}` is expected on a {node.kind} node"
    if node.kind is NodeKind.EDGE:
        env = node.paths.edge_env
        result = await pool.run(node, C.test_exists(env, regular_file=True))
        if result.ok:
            probe.checks.append((True, f"{env} present"))
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
    from resil_tui.remote.pool import Pool

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


# --- command line ----------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace) -> int:
    target = Path(args.file).expanduser() if args.file else default_target()
    if target.exists() and not args.force:
        print(f"resil-tui: {TargetExists(target)}", file=sys.stderr)
        return 2
    if target.exists() and target.is_dir():
        print(f"resil-tui: {target} is a directory; give a file name", file=sys.stderr)
        return 2
    from resil_tui.ui.init_app import InitApp

    result = InitApp(target, force=args.force).run()
    if result is None or result.written is None:
        print("resil-tui: nothing written", file=sys.stderr)
        return 1
    _print_written(result.written)
    return 0


def _print_written(written: Written) -> None:
    print(f"wrote {written.path}")
    if written.backup is not None:
        print(f"the previous file is kept as {written.backup}")
    try:
        found = find_inventory(None)
    except InventoryNotFound:
        found = None
    if found is not None and found.resolve() == written.path.resolve():
        print("open the console with: resil-tui")
    else:
        print(f"open the console with: resil-tui --hosts {written.path}")


def first_run(args: argparse.Namespace) -> int | None:
    """No inventory in the lookup order: offer init or the demo. None: go on (args updated).

    Without a terminal (a script, a pipe) there is nobody to ask: the caller prints where
    it looked, as before.
    """
    try:
        find_inventory(args.hosts)
        return None
    except InventoryNotFound as exc:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            raise
        looked_in = exc.looked_in
    from resil_tui.ui.init_app import InitApp

    result = InitApp(default_target(), looked_in=looked_in).run()
    if result is None or result.action == "quit":
        print(
            "resil-tui: no inventory; nothing started (resil-tui init creates one)", file=sys.stderr
        )
        return 2
    if result.action == "demo":
        args.demo = True
        return None
    if result.written is None:
        return 1
    _print_written(result.written)
    args.hosts = str(result.written.path)
    return None


def elapsed(since: float) -> str:
    return f"{time.monotonic() - since:.1f} s"


__all__ = [
    "ALL_FIELDS",
    "Checked",
    "Draft",
    "Outcome",
    "Probe",
    "TargetExists",
    "Written",
    "build_document",
    "check_draft",
    "cmd_init",
    "default_target",
    "field_for",
    "first_run",
    "probe_inventory",
    "probe_node",
    "render",
    "split_target",
    "write_inventory",
]
