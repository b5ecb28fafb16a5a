"""Turn theme files (resil_tui.theme_files) into Textual themes, register them, and start an
app in one of them."""

from __future__ import annotations

from typing import Any

from textual.app import App
from textual.color import Color, ColorParseError
from textual.theme import Theme

from resil_tui.core.records import record
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


@record
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


def start_in_theme(app: App[Any], name: str) -> None:
    """Make `name` the theme of `app` before it runs, as if it had been the default one.

    Setting `App.theme` runs `App._watch_theme`, which queues `refresh_css`: a full reparse
    of every stylesheet source (some 5 ms) ahead of the first screen, for CSS not parsed
    even once yet, which a Textual app in its default theme never pays. Before the app
    runs, the value is set without its watcher (`set_reactive`, as Textual's own docs show
    for `App.theme`) and what the watcher does is done here instead; the first parse then
    reads this theme's variables. Every later change goes through `app.theme = name`.
    Left out on purpose: `_invalidate_css` (its counter is read only by `switch_mode`; the
    console has no modes). A `watch_theme` of a subclass would not run at start either:
    none exists.
    """
    if app.is_running:
        raise RuntimeError("start_in_theme() is for an app that has not started yet")
    if name not in app.available_themes:
        raise ValueError(f"theme {name!r} is not registered")
    app.set_reactive(App.theme, name)
    theme = app.current_theme
    # The classes, as App._watch_theme sets them.
    classes = {c: False for c in app.classes if c.startswith("-theme-")}
    classes[f"-theme-{theme.name}"] = True
    classes["-dark-mode"] = theme.dark
    classes["-light-mode"] = not theme.dark
    app.update_classes(classes, update=False)
    # Private API (Textual 8.2.8 is pinned): App.__init__ built the ANSI-to-truecolour
    # filter for its default (dark) theme and this is the only way to rebuild it for
    # another's (a light theme maps ANSI colours with the light terminal theme).
    app._refresh_truecolor_filter(app.ansi_theme)
    # The variables ($primary...) every parse resolves; App.__init__ set the default's.
    app.stylesheet.set_variables(app.get_css_variables())
    # As the watcher does: whoever subscribed by the time the app runs hears it.
    app.call_next(app.theme_changed_signal.publish, theme)
