"""The admin's preferences: a small TOML file the console writes when a setting changes.

`$XDG_CONFIG_HOME/resil-tui/preferences.toml` (see `paths.preferences_path()`):

    theme = "light"
    refresh_interval = 5.0        # seconds between two Status polls
    log_buffer = 100000           # lines kept per followed log stream
    site = "lyon"                 # the site the console opens on
    [keys]                        # binding id -> key, as the inventory's [keys]
    "app.refresh" = "f5"

Precedence, highest first: command-line flag, environment variable (`RESIL_TUI_THEME`,
`RESIL_TUI_REFRESH`, `RESIL_TUI_LOG_BUFFER`, `RESIL_TUI_SITE`), this file, the defaults.
Key bindings: this file's `[keys]` first, then the inventory's `[keys]` on top (a site's
inventory is shared by a team and wins over one admin's habits).

This file is the tool's own state, so rewriting it (tomli-w drops comments) is fine; a
user's inventory is never rewritten. Nothing here imports Textual. A broken preferences
file is reported and ignored, never a reason to keep an admin out of the console.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from resil_tui import paths as xdg
from resil_tui.core.records import field, record

ENV_THEME = "RESIL_TUI_THEME"
ENV_REFRESH = "RESIL_TUI_REFRESH"
ENV_LOG_BUFFER = "RESIL_TUI_LOG_BUFFER"
ENV_SITE = "RESIL_TUI_SITE"

DEFAULT_REFRESH = 10.0
DEFAULT_LOG_BUFFER = 50_000
REFRESH_RANGE = (1.0, 3600.0)
LOG_BUFFER_RANGE = (1_000, 5_000_000)

# Keys of the file, in the order they are written.
KNOWN_KEYS = ("theme", "refresh_interval", "log_buffer", "site", "keys")

HEADER = (
    "# resil-tui preferences, written by resil-tui when you change a setting in the console\n"
    "# (command palette: theme: ..., settings: ..., keys: ...). You may edit it; comments\n"
    "# are not kept. Precedence: command-line flag > RESIL_TUI_* environment > this file >\n"
    "# defaults. [keys] maps binding ids (listed in the help screen) to keys; the\n"
    "# inventory's [keys] wins over these.\n"
)


class PreferencesError(ValueError):
    """A value that cannot be used (from a flag, the environment or the file)."""


@record
class Preferences:
    """What the file says; None means "not set here"."""

    theme: str | None = None
    refresh_interval: float | None = None
    log_buffer: int | None = None
    site: str | None = None
    keys: dict[str, str] = field(default_factory=dict)


@record
class LoadedPreferences:
    """The preferences file as read: a broken one counts as empty, and says why."""

    preferences: Preferences
    problems: tuple[str, ...] = ()  # shown once the console runs; the values are ignored
    path: Path | None = None


# --- values ----------------------------------------------------------------------------------


def parse_refresh(value: object, where: str) -> float:
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise PreferencesError(f"{where}: {value!r} is not a number of seconds") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise PreferencesError(f"{where}: {value!r} is not a number of seconds")
    low, high = REFRESH_RANGE
    if not low <= value <= high:
        raise PreferencesError(f"{where}: {value:g} s must be between {low:g} and {high:g}")
    return float(value)


def parse_log_buffer(value: object, where: str) -> int:
    if isinstance(value, str):
        text = value.strip().replace("_", "").replace(",", "")
        if not text.isdigit():
            raise PreferencesError(f"{where}: {value!r} is not a number of lines")
        value = int(text)
    if isinstance(value, bool) or not isinstance(value, int):
        raise PreferencesError(f"{where}: {value!r} is not a number of lines")
    low, high = LOG_BUFFER_RANGE
    if not low <= value <= high:
        raise PreferencesError(f"{where}: {value:,} lines must be between {low:,} and {high:,}")
    return value


def _parse_name(value: object, where: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PreferencesError(f"{where}: must be a {what} name")
    return value.strip()


# --- the file --------------------------------------------------------------------------------


def parse_preferences(text: str, file: str = "preferences.toml") -> LoadedPreferences:
    """Lenient: every unusable value is a problem and is left out; never raises."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return LoadedPreferences(Preferences(), (f"{file}: not valid TOML ({exc}); ignored",))
    problems: list[str] = []
    values: dict[str, Any] = {}
    parsers: dict[str, Any] = {
        "theme": lambda v, w: _parse_name(v, w, "theme"),
        "refresh_interval": parse_refresh,
        "log_buffer": parse_log_buffer,
        "site": lambda v, w: _parse_name(v, w, "site"),
    }
    for key, parse in parsers.items():
        if key in data:
            try:
                values[key] = parse(data[key], f"{file}: {key}")
            except PreferencesError as exc:
                problems.append(f"{exc}; ignored")
    keys: dict[str, str] = {}
    raw_keys = data.get("keys", {})
    if isinstance(raw_keys, dict):
        for binding_id, key in raw_keys.items():
            if isinstance(key, str) and key.strip():
                keys[binding_id] = key.strip()
            else:
                problems.append(f"{file}: keys.{binding_id} = {key!r} is not a key; ignored")
    else:
        problems.append(f"{file}: keys must be a table ([keys]); ignored")
    for key in data:
        if key not in KNOWN_KEYS:
            problems.append(f"{file}: unknown key {key!r} ignored (known: {', '.join(KNOWN_KEYS)})")
    return LoadedPreferences(Preferences(keys=keys, **values), tuple(problems))


def load_preferences(path: Path | None = None) -> LoadedPreferences:
    """The preferences file, or empty preferences when there is none."""
    file = path if path is not None else xdg.preferences_path()
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return LoadedPreferences(Preferences(), (), file)
    except (OSError, UnicodeDecodeError) as exc:
        return LoadedPreferences(Preferences(), (f"{file}: cannot read ({exc}); ignored",), file)
    loaded = parse_preferences(text, str(file))
    return LoadedPreferences(loaded.preferences, loaded.problems, file)


def to_toml(preferences: Preferences) -> str:
    doc: dict[str, Any] = {}
    if preferences.theme is not None:
        doc["theme"] = preferences.theme
    if preferences.refresh_interval is not None:
        doc["refresh_interval"] = float(preferences.refresh_interval)
    if preferences.log_buffer is not None:
        doc["log_buffer"] = int(preferences.log_buffer)
    if preferences.site is not None:
        doc["site"] = preferences.site
    if preferences.keys:
        doc["keys"] = dict(sorted(preferences.keys.items()))
    # Imported here: every command reads the ranges above at start-up; only the console
    # writes the file.
    import tomli_w

    return HEADER + "\n" + tomli_w.dumps(doc)


def save_preferences(preferences: Preferences, path: Path | None = None) -> Path:
    from resil_tui.localfiles import write_atomic  # tempfile and shutil: writers only

    file = path if path is not None else xdg.preferences_path()
    write_atomic(file, to_toml(preferences))
    return file


_UNSET: Any = object()


def update_preferences(
    path: Path | None = None,
    *,
    theme: str | None = _UNSET,
    refresh_interval: float | None = _UNSET,
    log_buffer: int | None = _UNSET,
    site: str | None = _UNSET,
    keys: Mapping[str, str] | None = _UNSET,
) -> Preferences:
    """Read the file, change the given values (None removes one), write it back.

    Read again at every change: two consoles open at once each keep the other's changes.
    """
    current = load_preferences(path).preferences
    changes: dict[str, Any] = {}
    for name, value in (
        ("theme", theme),
        ("refresh_interval", refresh_interval),
        ("log_buffer", log_buffer),
        ("site", site),
    ):
        if value is not _UNSET:
            changes[name] = value
    new_keys = dict(current.keys)
    if keys is not _UNSET:
        new_keys = {} if keys is None else dict(keys)
    updated = Preferences(
        theme=changes.get("theme", current.theme),
        refresh_interval=changes.get("refresh_interval", current.refresh_interval),
        log_buffer=changes.get("log_buffer", current.log_buffer),
        site=changes.get("site", current.site),
        keys=new_keys,
    )
    save_preferences(updated, path)
    return updated


# --- precedence ------------------------------------------------------------------------------


@record
class Setting:
    """One setting as resolved: the value that won and the source it came from."""

    value: Any
    source: str  # "flag", "environment", "preferences", "default"


@record
class Settings:
    """The values the console runs with, and where each one came from."""

    theme: Setting
    refresh_interval: Setting
    log_buffer: Setting
    site: Setting
    keys: dict[str, str]
    problems: tuple[str, ...] = ()

    def describe(self) -> list[str]:
        return [
            f"{name}: {getattr(self, name).value!r} ({getattr(self, name).source})"
            for name in ("theme", "refresh_interval", "log_buffer", "site")
        ]


def resolve_settings(
    *,
    theme_flag: str | None = None,
    refresh_flag: float | None = None,
    log_buffer_flag: int | None = None,
    site_flag: str | None = None,
    environ: Mapping[str, str] | None = None,
    preferences: Preferences | None = None,
    default_theme: str | None = None,
) -> Settings:
    """Flag > environment > preferences > default, per setting.

    A bad flag or environment value raises PreferencesError (the admin just typed it and
    should hear about it); a bad preferences value was already dropped at load time.
    Names (theme, site) are checked by the caller, which knows the themes and sites.
    """
    env = os.environ if environ is None else environ
    prefs = preferences or Preferences()

    def pick(flag: Any, env_name: str, parse: Any, pref: Any, default: Any) -> Setting:
        if flag is not None:
            return Setting(parse(flag, "command line"), "flag")
        raw = env.get(env_name, "").strip()
        if raw:
            return Setting(parse(raw, f"${env_name}"), "environment")
        if pref is not None:
            return Setting(pref, "preferences")
        return Setting(default, "default")

    def name(kind: str) -> Any:
        return lambda v, w: _parse_name(v, w, kind)

    return Settings(
        theme=pick(theme_flag, ENV_THEME, name("theme"), prefs.theme, default_theme),
        refresh_interval=pick(
            refresh_flag, ENV_REFRESH, parse_refresh, prefs.refresh_interval, DEFAULT_REFRESH
        ),
        log_buffer=pick(
            log_buffer_flag, ENV_LOG_BUFFER, parse_log_buffer, prefs.log_buffer, DEFAULT_LOG_BUFFER
        ),
        site=pick(site_flag, ENV_SITE, name("site"), prefs.site, None),
        keys=dict(prefs.keys),
    )


def console_settings(
    *,
    theme_flag: str | None = None,
    refresh_flag: float | None = None,
    log_buffer_flag: int | None = None,
    sites: Sequence[str] = (),
    path: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """What the console starts with: the preferences file read, names checked.

    An unknown theme from $RESIL_TUI_THEME raises (the flag is checked by the CLI); one
    from the preferences file (a theme removed since) is a warning and the default is used.
    A preferred site absent from this inventory is ignored quietly: one admin may use
    several inventories (and the demo); one named in $RESIL_TUI_SITE is reported.
    """
    from resil_tui.theme_files import theme_names

    loaded = load_preferences(path)
    problems = list(loaded.problems)
    prefs = loaded.preferences
    # The theme files are read only to check a name given here or in the environment
    # (the console reads them again to register them): most starts name none.
    names: list[str] | None = None

    def installed() -> list[str]:
        nonlocal names
        if names is None:
            names = theme_names()
        return names

    if prefs.theme is not None and prefs.theme not in installed():
        problems.append(
            f"{loaded.path}: theme {prefs.theme!r} is not installed; ignored "
            f"(available: {', '.join(installed())})"
        )
        prefs = replace(prefs, theme=None)
    if prefs.site is not None and sites and prefs.site not in sites:
        prefs = replace(prefs, site=None)
    settings = resolve_settings(
        theme_flag=theme_flag,
        refresh_flag=refresh_flag,
        log_buffer_flag=log_buffer_flag,
        environ=environ,
        preferences=prefs,
    )
    if settings.theme.source == "environment" and settings.theme.value not in installed():
        raise PreferencesError(
            f"${ENV_THEME}: unknown theme {settings.theme.value!r}; "
            f"available themes: {', '.join(installed())}"
        )
    return replace(settings, problems=tuple(problems))


def backup_name(path: Path, now: datetime | None = None) -> Path:
    """`hosts.toml` -> `hosts.toml.20250101-120000.bak` next to it (never overwritten)."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    candidate = path.with_name(f"{path.name}.{stamp}.bak")
    n = 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.{stamp}-{n}.bak")
        n += 1
    return candidate
