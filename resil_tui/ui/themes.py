"""Turn theme files (resil_tui.theme_files) into Textual themes and register them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.app import App
from textual.color import Color, ColorParseError
from textual.theme import Theme

from resil_tui.theme_files import DEFAULT_THEME, ThemeSpec, load_themes

# Used when no theme file could be loaded at all: the app must still start.
FALLBACK_THEME = "textual-dark"


def to_textual_theme(spec: ThemeSpec) -> Theme:
    """Build a Textual Theme; raises ValueError if Textual cannot parse a colour."""
    for key, value in spec.colours().items():
        try:
            Color.parse(value)
        except ColorParseError as exc:
            raise ValueError(f"{spec.source}: {key} = {value!r}: {exc}") from None
    defaults = Theme(name="defaults", primary="#000000")
    return Theme(
        name=spec.name,
        dark=spec.dark,
        primary=spec.primary,
        secondary=spec.secondary,
        accent=spec.accent,
        foreground=spec.foreground,
        background=spec.background,
        surface=spec.surface,
        panel=spec.panel,
        warning=spec.warning,
        error=spec.error,
        success=spec.success,
        boost=spec.boost,
        luminosity_spread=(
            defaults.luminosity_spread if spec.luminosity_spread is None else spec.luminosity_spread
        ),
        text_alpha=defaults.text_alpha if spec.text_alpha is None else spec.text_alpha,
        variables=dict(spec.variables),
    )


@dataclass(frozen=True)
class RegisteredThemes:
    """The themes registered with the app, and what was wrong with the theme files."""

    names: tuple[str, ...]
    descriptions: dict[str, str]
    problems: tuple[str, ...]  # shown to the user once the app runs

    @property
    def default(self) -> str:
        if DEFAULT_THEME in self.names:
            return DEFAULT_THEME
        return self.names[0] if self.names else FALLBACK_THEME


def register_themes(app: App[Any]) -> RegisteredThemes:
    """Register every usable theme file with `app`; broken files become `problems`."""
    catalog = load_themes()
    problems = list(catalog.errors) + list(catalog.warnings)
    names: list[str] = []
    descriptions: dict[str, str] = {}
    for name, spec in sorted(catalog.themes.items()):
        try:
            theme = to_textual_theme(spec)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        app.register_theme(theme)
        names.append(name)
        descriptions[name] = spec.description
    return RegisteredThemes(tuple(names), descriptions, tuple(problems))
