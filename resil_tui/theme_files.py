"""Find and parse resil-tui theme files (themes/*.toml), without importing Textual.

The CLI validates `--theme NAME` with `validate_theme_name()` before it decides whether the
TUI starts at all, so this module must stay free of Textual (and cheap to import).
The UI turns a `ThemeSpec` into a `textual.theme.Theme` in `resil_tui/ui/themes.py`.

Where themes are looked for, first match of a name wins:
1. `<package>/_themes/`: the wheel force-includes the top-level `themes/` there;
2. `<checkout>/themes/`: a source checkout or an editable install.

The file format is documented at the top of every shipped theme file.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from resil_tui.core.records import field, record

_PACKAGE_DIR = Path(__file__).resolve().parent

# Module attributes (read at call time) so tests can point them elsewhere.
PACKAGED_THEMES_DIR: Path = _PACKAGE_DIR / "_themes"
CHECKOUT_THEMES_DIR: Path = _PACKAGE_DIR.parent / "themes"

DEFAULT_THEME = "dark"

COLOUR_KEYS: tuple[str, ...] = (
    "primary",
    "secondary",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "warning",
    "error",
    "success",
)
REQUIRED_KEYS: tuple[str, ...] = ("name", "dark", *COLOUR_KEYS)
OPTIONAL_KEYS: tuple[str, ...] = (
    "description",
    "boost",
    "luminosity_spread",
    "text_alpha",
    "variables",
)

# Hex only: it is checkable here without Textual, and every terminal theme tool speaks it.
_HEX_COLOUR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")
# Textual's get_theme() splits names on commas; spaces would break `--theme NAME`.
_THEME_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class ThemeFileError(ValueError):
    """A theme file that cannot be used; str() names the file and the problem."""


@record
class ThemeSpec:
    """One parsed theme file; colours are '#rrggbb'-style strings."""

    name: str
    dark: bool
    primary: str
    secondary: str
    accent: str
    foreground: str
    background: str
    surface: str
    panel: str
    warning: str
    error: str
    success: str
    source: Path
    description: str = ""
    boost: str | None = None
    luminosity_spread: float | None = None
    text_alpha: float | None = None
    variables: dict[str, str] = field(default_factory=dict)
    # Non-fatal remarks (unknown keys...): shown by the UI, never a reason to refuse.
    warnings: tuple[str, ...] = ()

    def colours(self) -> dict[str, str]:
        return {key: getattr(self, key) for key in COLOUR_KEYS}


def theme_dirs() -> list[Path]:
    """The directories searched for theme files, in priority order, existing ones only."""
    found: list[Path] = []
    for candidate in (PACKAGED_THEMES_DIR, CHECKOUT_THEMES_DIR):
        if candidate.is_dir() and candidate not in found:
            found.append(candidate)
    return found


def _colour(data: dict[str, object], key: str, where: str) -> str:
    value = data[key]
    if not isinstance(value, str) or not _HEX_COLOUR.match(value.strip()):
        raise ThemeFileError(f'{where}: {key} = {value!r} is not a hex colour such as "#1e90ff"')
    return value.strip()


def _optional_float(data: dict[str, object], key: str, where: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ThemeFileError(f"{where}: {key} = {value!r} must be a number")
    return float(value)


def parse_theme(text: str, source: Path) -> ThemeSpec:
    """Parse the text of one theme file; raises ThemeFileError naming `source`."""
    where = str(source)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message already carries "(at line N, column M)".
        raise ThemeFileError(f"{where}: invalid TOML: {exc}") from None

    missing = [key for key in REQUIRED_KEYS if key not in data]
    if missing:
        raise ThemeFileError(
            f"{where}: missing key(s) {', '.join(missing)} "
            f"(a theme needs: {', '.join(REQUIRED_KEYS)})"
        )

    name = data["name"]
    if not isinstance(name, str) or not _THEME_NAME.match(name):
        raise ThemeFileError(
            f"{where}: name = {name!r} must be letters, digits, '.', '_' or '-' "
            "(no spaces or commas)"
        )
    dark = data["dark"]
    if not isinstance(dark, bool):
        raise ThemeFileError(f"{where}: dark = {dark!r} must be true or false")

    colours = {key: _colour(data, key, where) for key in COLOUR_KEYS}

    description = data.get("description", "")
    if not isinstance(description, str):
        raise ThemeFileError(f"{where}: description must be a string")
    boost = data.get("boost")
    if boost is not None:
        boost = _colour(data, "boost", where)

    raw_variables = data.get("variables", {})
    if not isinstance(raw_variables, dict):
        raise ThemeFileError(f"{where}: variables must be a table ([variables])")
    variables: dict[str, str] = {}
    for var_name, var_value in raw_variables.items():
        if not isinstance(var_value, str):
            raise ThemeFileError(f"{where}: variables.{var_name} = {var_value!r} must be a string")
        variables[var_name] = var_value

    unknown = sorted(set(data) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS))
    warnings = tuple(f"{where}: unknown key {key!r} ignored" for key in unknown)

    return ThemeSpec(
        name=name,
        dark=dark,
        source=source,
        description=description,
        boost=boost,
        luminosity_spread=_optional_float(data, "luminosity_spread", where),
        text_alpha=_optional_float(data, "text_alpha", where),
        variables=variables,
        warnings=warnings,
        **colours,
    )


def load_theme_file(path: Path) -> ThemeSpec:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ThemeFileError(f"{path}: cannot read theme file: {exc}") from None
    return parse_theme(text, path)


@record
class ThemeCatalog:
    """Every usable theme by name, plus why the unusable files were skipped."""

    themes: dict[str, ThemeSpec]
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def load_themes() -> ThemeCatalog:
    """Parse every theme file; a broken file is reported in `errors`, never raised."""
    themes: dict[str, ThemeSpec] = {}
    errors: list[str] = []
    warnings: list[str] = []
    for directory in theme_dirs():
        for path in sorted(directory.glob("*.toml")):
            try:
                spec = load_theme_file(path)
            except ThemeFileError as exc:
                errors.append(str(exc))
                continue
            warnings.extend(spec.warnings)
            if spec.name in themes:
                # Same name in a later directory: the earlier one (installed copy) wins.
                warnings.append(
                    f"{path}: theme {spec.name!r} already defined in "
                    f"{themes[spec.name].source}; this one is ignored"
                )
                continue
            themes[spec.name] = spec
    return ThemeCatalog(themes=themes, errors=tuple(errors), warnings=tuple(warnings))


def theme_names() -> list[str]:
    """Names of the usable themes, sorted."""
    return sorted(load_themes().themes)


def validate_theme_name(name: str) -> str:
    """Return `name` if such a theme exists; else ValueError listing the available ones."""
    names = theme_names()
    if name in names:
        return name
    if names:
        raise ValueError(f"unknown theme {name!r}; available themes: {', '.join(names)}")
    searched = ", ".join(str(d) for d in (PACKAGED_THEMES_DIR, CHECKOUT_THEMES_DIR))
    raise ValueError(f"unknown theme {name!r}; no theme files found (searched: {searched})")
