"""The inventory draft behind `resil-tui init`: what the form's fields become, checked by
the loader itself, and the write with backup. Pure of Textual and SSH (the live probe is
ops/probe.py, the form ui/screens/init_form.py):

- the draft is turned into a TOML document and validated by `parse_inventory` itself:
  the form accepts exactly what the loader accepts, and each located error is mapped
  back to the field it came from;
- the file is written once, with `tomli-w` and a header comment; an existing file is
  never replaced unless asked (`--force`), and then a dated backup is kept next to it.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import tomli_w

from resil_tui import paths as xdg
from resil_tui.core import validators
from resil_tui.core.records import record
from resil_tui.inventory import InventoryError, parse_inventory
from resil_tui.inventory_model import Inventory
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


@record
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
