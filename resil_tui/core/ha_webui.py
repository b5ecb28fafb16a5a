"""What the web UI's HA save does besides sysconfd, and whether a node shows it done.

XIVO.md ("Corrections and additions"): the web UI's HA page saves, in this order, the SIP
registration expiry (`staticsip` rows `minexpiry`, `maxexpiry`, `defaultexpiry` of the
`asterisk` database), the provisioning "default" config's `registrar_backup` and
`proxy_backup`, and only then posts to sysconfd's `/update_ha_config`. sysconfd itself
does neither of the first two. resil-tui changes roles through sysconfd, so it must say
what is left undone, read both back, and tell the admin what to do.

Expected values:
* SIP expiry with HA on: a per-site triple (default the seed's 1 / 5 / 2 min; XiVO 2016
  code used 180 / 300 / 240 s); HA off (disabled): XiVO's defaults 1 min / 1 h / 2 min.
  Under PJSIP the rows may be absent: "not applicable" is then an answer, not an error.
* Provisioning: master -> backup registrar and proxy = the peer (the slave); disabled ->
  blank; slave -> left unchanged (the web UI does not touch it).

provd keeps its configs as JSON documents (one file per id, compact JSON). The layout of
the "default" registrar config on XiVO.solutions is *unverified*: the backup addresses
are looked for at the top level (`registrar_backup`, `proxy_backup`), inside a REST-style
`{"config": {...}}` wrapper, and as `raw_config.sip_backup_registrar_ip` /
`sip_backup_proxy_ip` (what provd hands the phone plugins).

Pure: text in, dataclasses out.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from ipaddress import IPv4Address
from typing import Any

from resil_tui.core.ha_mode import HaMode
from resil_tui.core.records import field, record
from resil_tui.core.sanitize import clean

# The triple and the site's expected one in a module of their own (the first screen's
# node detail names them before anything is polled); they are this module's too.
from resil_tui.core.sip_expiry import SEED_HA_ON as SEED_HA_ON
from resil_tui.core.sip_expiry import SipExpiryTriple as SipExpiryTriple
from resil_tui.core.sip_expiry import site_sip_expiry as site_sip_expiry

SIP_EXPIRY_NAMES = ("minexpiry", "maxexpiry", "defaultexpiry")


# HA off (XiVO's own defaults): 1 min / 1 h / 2 min.
HA_OFF = SipExpiryTriple(60, 3600, 120)


def expected_sip_expiry(
    mode: HaMode, ha_on: SipExpiryTriple = SEED_HA_ON
) -> SipExpiryTriple | None:
    if mode in (HaMode.MASTER, HaMode.SLAVE):
        return ha_on
    if mode is HaMode.DISABLED:
        return HA_OFF
    return None


class Unchanged:
    """The web UI leaves a slave's provisioning as it was: there is nothing to expect."""

    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED = Unchanged()


def expected_backup(mode: HaMode, peer: IPv4Address | None) -> str | Unchanged | None:
    """registrar_backup / proxy_backup after the web UI's save: the peer for a master,
    blank for a disabled node, UNCHANGED for a slave, None when the mode is unknown."""
    if mode is HaMode.MASTER:
        return str(peer) if peer is not None else None
    if mode is HaMode.DISABLED:
        return ""
    if mode is HaMode.SLAVE:
        return UNCHANGED
    return None


# --- reading -----------------------------------------------------------------------------


@record
class SipExpiry:
    """The registration expiry rows (`staticsip`) of a node's asterisk database, as read."""

    values: dict[str, str]  # as printed, by name
    unparsed: list[str] = field(default_factory=list)

    def seconds(self, name: str) -> int | None:
        try:
            return int(self.values[name].strip())
        except (KeyError, ValueError):
            return None

    def to_dict(self) -> dict[str, Any]:
        return {"values": dict(self.values), "unparsed": list(self.unparsed)}


def parse_sip_expiry(text: str) -> SipExpiry:
    """Rows of `psql -At -F '|'`: ``name|value``; other lines are kept as unparsed."""
    values: dict[str, str] = {}
    unparsed: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        name, sep, value = line.partition("|")
        if sep and name.strip() in SIP_EXPIRY_NAMES:
            values[name.strip()] = value.strip()
        else:
            unparsed.append(raw)
    return SipExpiry(values, unparsed)


@record
class ProvdDefault:
    """The backup registrar and proxy of provd's "default" config, as found in its JSON."""

    registrar_backup: str | None  # None: not in the document
    proxy_backup: str | None
    registrar_main: str | None = None
    problems: tuple[str, ...] = ()

    @property
    def readable(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "registrar_backup": self.registrar_backup,
            "proxy_backup": self.proxy_backup,
            "registrar_main": self.registrar_main,
            "problems": list(self.problems),
        }


# Where each value may be, first match wins: provd's registrar config keys, then what
# provd passes to the phone plugins (raw_config).
_KEYS = {
    "registrar_backup": ("registrar_backup", "sip_backup_registrar_ip"),
    "proxy_backup": ("proxy_backup", "sip_backup_proxy_ip"),
    "registrar_main": ("registrar_main", "sip_registrar_ip"),
}


def _text(value: Any) -> str | None:
    if value is None:
        return ""  # JSON null: provd's "not set"
    if isinstance(value, str):
        # A JSON \u escape can carry a control character the pool's sanitizer never saw.
        return clean(value.strip())
    return None


def parse_provd_default(text: str) -> ProvdDefault:
    """provd's "default" config document (jsondb file or REST answer), read leniently."""
    body = text.lstrip("\ufeff").strip()
    if not body:
        return ProvdDefault(None, None, problems=("the provd config file is empty",))
    try:
        data = json.loads(body)
    except ValueError as exc:
        return ProvdDefault(None, None, problems=(f"not valid JSON: {exc}",))
    if isinstance(data, dict) and isinstance(data.get("config"), dict):
        data = data["config"]  # GET /provd/cfg_mgr/configs/default wraps the document
    if not isinstance(data, dict):
        return ProvdDefault(None, None, problems=("not a JSON object",))
    raw = data.get("raw_config")
    scopes: list[dict[str, Any]] = [data]
    if isinstance(raw, dict):
        scopes.append(raw)
    found: dict[str, str | None] = {}
    problems: list[str] = []
    for name, keys in _KEYS.items():
        found[name] = None
        for scope in scopes:
            hit = next((k for k in keys if k in scope), None)
            if hit is None:
                continue
            value = _text(scope[hit])
            if value is None:
                problems.append(f"{hit} is not a string: {clean(repr(scope[hit]))[:80]}")
            found[name] = value
            break
    if found["registrar_backup"] is None and found["proxy_backup"] is None and not problems:
        problems.append("no registrar_backup / proxy_backup in the document (unknown layout)")
    return ProvdDefault(
        found["registrar_backup"],
        found["proxy_backup"],
        found["registrar_main"],
        tuple(problems),
    )


def read_provd_file(
    path: str, text: str | None, problem: str | None
) -> tuple[ProvdDefault | None, str | None]:
    """The provd file as the poll read it: the parsed config, or why there is none."""
    if problem:
        return None, f"{path}: {problem}"
    if text is None:
        return None, f"{path}: not found (provd path configurable: [paths] provd_default)"
    return parse_provd_default(text), None


# --- comparing ---------------------------------------------------------------------------


class CheckState(StrEnum):
    OK = "ok"
    DIFFERS = "differs"
    UNREADABLE = "unreadable"
    NOT_APPLICABLE = "not applicable"


@record
class AutoCheck:
    """One thing the web UI's HA save writes and sysconfd does not, checked on a node."""

    name: str  # "SIP expiry" | "backup registrar"
    state: CheckState
    detail: str

    def line(self) -> str:
        return f"{self.name}: {self.state.value} — {self.detail}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "state": self.state.value, "detail": self.detail}


WEB_UI_PAGE = "Configuration → High Availability"  # menu path unverified on XiVO.solutions


def instruction(node_label: str) -> list[str]:
    """What the admin must do when the web UI's part is not done (or not readable)."""
    return [
        f"To do: in the web UI of {node_label}, open the HA page ({WEB_UI_PAGE}) and save "
        "it with the same mode and peer: the web UI writes the SIP expiry and the phones' "
        "backup registrar, which sysconfd does not.",
        "Then resynchronise the phones (or reboot them): they only read the new registrar "
        "and expiry settings at a resync.",
    ]


@record
class WebUiCheck:
    """SIP expiry and backup registrar of one node against its HA mode."""

    node_label: str
    mode: HaMode
    sip: AutoCheck
    registrar: AutoCheck
    read_at: float | None = None  # when the node was read (epoch), where the caller knows

    @property
    def checks(self) -> tuple[AutoCheck, AutoCheck]:
        return (self.sip, self.registrar)

    @property
    def differs(self) -> bool:
        return any(c.state is CheckState.DIFFERS for c in self.checks)

    @property
    def unreadable(self) -> bool:
        return any(c.state is CheckState.UNREADABLE for c in self.checks)

    @property
    def all_ok(self) -> bool:
        return all(c.state in (CheckState.OK, CheckState.NOT_APPLICABLE) for c in self.checks)

    def lines(self) -> list[str]:
        out = [c.line() for c in self.checks]
        if self.differs:
            out += instruction(self.node_label)
        elif self.unreadable:
            out.append(
                "Could not be read back: check the HA page of the web UI, and save it if "
                "the values are not the ones above."
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "sip_expiry": self.sip.to_dict(),
            "backup_registrar": self.registrar.to_dict(),
            "differs": self.differs,
            "instruction": instruction(self.node_label) if self.differs else [],
        }


def check_sip(
    mode: HaMode, sip: SipExpiry | None, error: str | None, ha_on: SipExpiryTriple = SEED_HA_ON
) -> AutoCheck:
    name = "SIP expiry"
    if sip is None:
        return AutoCheck(name, CheckState.UNREADABLE, error or "not read")
    if not sip.values:
        return AutoCheck(
            name,
            CheckState.NOT_APPLICABLE,
            "no minexpiry/maxexpiry/defaultexpiry rows in staticsip (PJSIP does not use them)",
        )
    expected = expected_sip_expiry(mode, ha_on)
    actual = ", ".join(f"{n[:-6]} {sip.values.get(n, 'missing')}" for n in SIP_EXPIRY_NAMES)
    if expected is None:
        return AutoCheck(name, CheckState.UNREADABLE, f"HA mode unknown; staticsip: {actual}")
    off = mode is HaMode.DISABLED
    # The seed: disabling HA resets these values "to blank" (Asterisk's defaults, the
    # HA-off values); a blank row of a disabled node is as right as the number itself.
    blank = [n for n in SIP_EXPIRY_NAMES if off and sip.values.get(n) == ""]
    wrong = [
        f"{n[:-6]} {sip.values.get(n, 'missing') or 'blank'} (expected {v})"
        for n, v in expected.as_dict().items()
        if sip.seconds(n) != v and n not in blank
    ]
    what = "HA off" if off else "HA on"
    if wrong:
        return AutoCheck(name, CheckState.DIFFERS, f"{'; '.join(wrong)} for {what}")
    if blank:
        shown = ", ".join(f"{n[:-6]} {sip.values[n] or 'blank'}" for n in SIP_EXPIRY_NAMES)
        return AutoCheck(name, CheckState.OK, f"{shown} ({what}: blank is the default)")
    return AutoCheck(name, CheckState.OK, f"{expected.text()} ({what})")


def check_registrar(
    mode: HaMode, peer: IPv4Address | None, provd: ProvdDefault | None, error: str | None
) -> AutoCheck:
    name = "backup registrar"
    if provd is None:
        return AutoCheck(name, CheckState.UNREADABLE, error or "provd's default config not read")
    if not provd.readable:
        return AutoCheck(name, CheckState.UNREADABLE, "; ".join(provd.problems))
    registrar, proxy = provd.registrar_backup, provd.proxy_backup
    shown = f"registrar_backup {registrar or 'blank'}, proxy_backup {proxy or 'blank'}"
    expected = expected_backup(mode, peer)
    if expected is None:
        return AutoCheck(name, CheckState.UNREADABLE, f"HA mode unknown; {shown}")
    if isinstance(expected, Unchanged):
        return AutoCheck(name, CheckState.OK, f"{shown} (a slave's is left unchanged)")
    want = expected or "blank"
    wrong = [
        f"{key} {value or 'blank'}"
        for key, value in (("registrar_backup", registrar), ("proxy_backup", proxy))
        if (value or "") != expected
    ]
    if wrong:
        return AutoCheck(name, CheckState.DIFFERS, f"{', '.join(wrong)} (expected {want})")
    return AutoCheck(name, CheckState.OK, f"registrar_backup and proxy_backup {want}")


def check_web_ui_effects(
    node_label: str,
    mode: HaMode,
    peer: IPv4Address | None,
    *,
    sip: SipExpiry | None,
    sip_error: str | None,
    provd: ProvdDefault | None,
    provd_error: str | None,
    ha_on: SipExpiryTriple = SEED_HA_ON,
) -> WebUiCheck:
    return WebUiCheck(
        node_label,
        mode,
        check_sip(mode, sip, sip_error, ha_on),
        check_registrar(mode, peer, provd, provd_error),
    )


def provd_update_body(answer: str, backup: str) -> str:
    """The body of provd's `PUT /provd/cfg_mgr/configs/default`: the config provd answered
    to GET, every field kept, with `registrar_backup` and `proxy_backup` set (and the
    raw_config's sip_backup_*_ip when it holds them). Raises ValueError when the answer
    is not a config document."""
    body = answer.lstrip("\ufeff").strip()
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise ValueError(f"provd's answer is not JSON: {exc}") from None
    config = data.get("config") if isinstance(data, dict) else None
    if not isinstance(config, dict):
        raise ValueError("provd's answer holds no config object")
    config["registrar_backup"] = backup
    config["proxy_backup"] = backup
    raw = config.get("raw_config")
    if isinstance(raw, dict):
        for key in ("sip_backup_registrar_ip", "sip_backup_proxy_ip"):
            if key in raw:
                raw[key] = backup or None
    return json.dumps({"config": config})


# --- the wizard record's section (kept here so the record's owner calls one function) ---


def record_section(checks: Sequence[WebUiCheck]) -> list[str]:
    """Markdown lines for the wizard record: each XiVO node's SIP expiry and backup
    registrar as last read, and what is left to do. Empty when nothing was read."""
    if not checks:
        return []
    out = ["## What the web UI's HA save writes (sysconfd does not)", ""]
    for check in checks:
        read = (
            f", read {datetime.fromtimestamp(check.read_at, UTC):%Y-%m-%d %H:%M:%S UTC}"
            if check.read_at is not None
            else ", when read not known"
        )
        out.append(f"- {check.node_label} ({check.mode.value}{read}):")
        out += [f"  - {c.line()}" for c in check.checks]
    todo = [c for c in checks if c.differs]
    if todo:
        out.append("")
        for check in todo:
            out += [f"- {line}" for line in instruction(check.node_label)]
    out.append("")
    return out


# --- the preview's second half -------------------------------------------------------------


def web_ui_preview_lines(
    mode: HaMode, peer: IPv4Address | None, ha_on: SipExpiryTriple = SEED_HA_ON
) -> list[str]:
    """What the web UI's HA save would also do: NOT done by this change."""
    sip = expected_sip_expiry(mode, ha_on)
    backup = expected_backup(mode, peer)
    if isinstance(backup, Unchanged):
        provd = "left unchanged on a slave"
    elif backup is None:
        provd = "unknown"
    else:
        provd = f"registrar_backup and proxy_backup = {backup or 'blank'}"
    return [
        "What the web UI's HA save also does — sysconfd does NOT, so this change leaves them:",
        f"  SIP expiry (staticsip): {sip.text() if sip else 'unknown'}"
        + (" (HA on)" if mode is not HaMode.DISABLED else " (HA off)"),
        f"  provisioning default config: {provd}",
        "  resil-tui reads both back afterwards and says what is left to do "
        "(save the HA page in the web UI, then resynchronise the phones).",
    ]
