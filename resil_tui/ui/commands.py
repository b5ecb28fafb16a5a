"""Command palette providers: namespaced, state-aware commands ("pane: Status", "site: lyon").

The list is rebuilt from the app's state on every search, so it always says which site and
theme are current and what read-only mode refuses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

from resil_tui.core.records import record

if TYPE_CHECKING:
    from resil_tui.ui.app import ResilApp


@record
class PaletteCommand:
    """One entry of the command palette: what it says and what it does."""

    title: str
    callback: Callable[[], object]
    help: str


def _key_hint(app: ResilApp, binding_id: str) -> str:
    keys = app.keys_for(binding_id)
    return f" (key {keys})" if keys else ""


def palette_commands(app: ResilApp) -> list[PaletteCommand]:
    """Every command the palette offers right now, in display order."""
    commands: list[PaletteCommand] = []
    active = app.active_pane_id
    for spec in app.pane_specs():
        state = " (showing)" if active == spec.pane_id else ""
        commands.append(
            PaletteCommand(
                f"pane: {spec.title}",
                partial(app.action_show_pane, spec.pane_id),
                f"Show the {spec.title} pane{state}" + _key_hint(app, f"pane.{spec.pane_id}"),
            )
        )
    pane = app.active_pane
    if pane is not None and pane.can_apply():
        refused = " (refused: READ-ONLY mode)" if app.read_only else ""
        commands.append(
            PaletteCommand(
                "pane: apply",
                app.action_apply,
                f"Apply the {pane.TITLE} pane's change, after confirmation{refused}",
            )
        )
    for name, site in app.inventory.sites.items():
        state = " (current)" if name == app.site_name else ""
        description = site.description or f"{len(site.nodes())} nodes"
        commands.append(
            PaletteCommand(
                f"site: {name}",
                partial(app.action_switch_site, name),
                f"{description}{state}",
            )
        )
    for name in app.resil_theme_names:
        state = " (current)" if name == app.theme else ""
        description = app.theme_description(name) or "theme"
        commands.append(
            PaletteCommand(
                f"theme: {name}", partial(app.action_set_theme, name), f"{description}{state}"
            )
        )
    commands.extend(settings_commands(app))
    commands.extend(lab_commands(app))
    commands.extend(
        [
            PaletteCommand(
                "app: help",
                app.action_help,
                "Keys, binding ids, safety model, log paths" + _key_hint(app, "app.help"),
            ),
            PaletteCommand(
                "app: refresh",
                app.action_refresh,
                "Refresh the current pane" + _key_hint(app, "app.refresh"),
            ),
            PaletteCommand("app: quit", app.action_quit, "Quit" + _key_hint(app, "app.quit")),
        ]
    )
    return commands


# --- settings: saved to the preferences file -----------------------------------------------

REFRESH_CHOICES = (5.0, 10.0, 30.0, 60.0)
LOG_BUFFER_CHOICES = (10_000, 50_000, 200_000, 1_000_000)


def set_refresh(app: ResilApp, seconds: float) -> None:
    app.status_refresh_interval = seconds
    saved = app.remember(refresh_interval=seconds)
    app.notify(
        f"Status refresh every {seconds:g} s (from the next poll)" + (", saved" if saved else ""),
        markup=False,
    )


def set_log_buffer(app: ResilApp, lines: int) -> None:
    app.log_buffer_lines = lines
    saved = app.remember(log_buffer=lines)
    app.notify(
        f"Log buffer {lines:,} lines for the streams opened from now on"
        + (", saved" if saved else ""),
        markup=False,
    )


def set_default_site(app: ResilApp, name: str) -> None:
    saved = app.remember(site=name)
    app.notify(
        f"The console will open on site {name}" + ("" if saved else " (not saved)"), markup=False
    )


def show_preferences(app: ResilApp) -> None:
    where = app.preferences_path or "(not saved in this session)"
    app.notify(
        f"Preferences file: {where}. Precedence: command-line flag > RESIL_TUI_THEME, "
        "RESIL_TUI_REFRESH, RESIL_TUI_LOG_BUFFER, RESIL_TUI_SITE > preferences > defaults; "
        "the inventory's [keys] wins over the preferences' [keys].",
        title="Preferences",
        timeout=20,
        markup=False,
    )


def rebind_key(app: ResilApp, binding_id: str) -> None:
    from resil_tui.ui.screens.key_capture import KeyCaptureScreen

    info = next((i for i in app.binding_infos() if i.id == binding_id), None)
    if info is None:
        return

    def done(key: str | None) -> None:
        if not key:
            return
        app.preference_keys[binding_id] = key
        app.apply_keymap(app.merged_keys())
        saved = app.remember(keys=app.preference_keys)
        if binding_id in app.inventory.keys:
            app.notify(
                f"{binding_id}: saved, but the inventory's [keys] sets it to "
                f"{app.inventory.keys[binding_id]!r} and wins",
                severity="warning",
                markup=False,
            )
        else:
            app.notify(
                f"{binding_id} is now {app.keys_for(binding_id)}" + (", saved" if saved else ""),
                markup=False,
            )

    app.push_screen(KeyCaptureScreen(binding_id, info.description, app.keys_for(binding_id)), done)


def reset_keys(app: ResilApp) -> None:
    app.preference_keys.clear()
    app.apply_keymap(app.merged_keys())
    app.remember(keys=None)
    app.notify("Key bindings from your preferences removed", markup=False)


def settings_commands(app: ResilApp) -> list[PaletteCommand]:
    """Refresh interval, log buffer, start site and key bindings, saved when chosen."""
    commands: list[PaletteCommand] = []
    for seconds in REFRESH_CHOICES:
        state = " (current)" if app.status_refresh_interval == seconds else ""
        commands.append(
            PaletteCommand(
                f"settings: refresh every {seconds:g} s",
                partial(set_refresh, app, seconds),
                f"Seconds between two Status polls{state}",
            )
        )
    for lines in LOG_BUFFER_CHOICES:
        state = " (current)" if app.log_buffer_lines == lines else ""
        commands.append(
            PaletteCommand(
                f"settings: log buffer {lines:,} lines",
                partial(set_log_buffer, app, lines),
                f"Lines kept per followed log stream{state}",
            )
        )
    if len(app.inventory.sites) > 1:
        for name in app.inventory.sites:
            commands.append(
                PaletteCommand(
                    f"settings: open on site {name}",
                    partial(set_default_site, app, name),
                    "The site shown when the console starts",
                )
            )
    commands.append(
        PaletteCommand(
            "settings: preferences file",
            partial(show_preferences, app),
            "Where settings are saved, and which source wins",
        )
    )
    for info in app.binding_infos():
        if info.context != "global" and not info.context.endswith(" pane"):
            continue
        commands.append(
            PaletteCommand(
                f"keys: rebind {info.id}",
                partial(rebind_key, app, info.id),
                f"{info.description} (now {app.keys_for(info.id) or 'no key'}); press the new key",
            )
        )
    if app.preference_keys:
        commands.append(
            PaletteCommand(
                "keys: reset my bindings",
                partial(reset_keys, app),
                "Forget the key bindings saved in your preferences",
            )
        )
    return commands


# --- demo: lab faults -----------------------------------------------------------------------
# Only offered when the app runs on the in-process lab (--demo). A fault changes the
# simulated world, never a real node, so read-only mode does not refuse it.


def run_lab_fault(app: ResilApp, words: Sequence[str]) -> None:
    """Apply a lab fault in a worker, say what it did, then poll the site again at once."""
    app.run_worker(
        _apply_lab_fault(app, words),
        name=f"lab: {' '.join(words)}",
        group="lab-fault",
        exit_on_error=False,
    )


async def _apply_lab_fault(app: ResilApp, words: Sequence[str]) -> None:
    lab = app.lab
    if lab is None:
        return
    try:
        text = await lab.apply_fault(words)
    except (ValueError, LookupError, OSError) as exc:
        message = exc.args[0] if exc.args else str(exc)
        app.notify(f"lab: {message}", severity="error", markup=False)
        return
    if text:
        app.notify(text, title="lab", markup=False, timeout=10)
    # The simulated world changed behind the console's back: every node of the site may
    # look different now, and every pane follows this poll.
    app.repoll([n.id for n in app.current_site.nodes()])


def lab_commands(app: ResilApp) -> list[PaletteCommand]:
    """The lab's faults for the current site's nodes, worded for the state they are in."""
    lab = app.lab
    if lab is None:
        return []
    site = app.current_site
    return [
        PaletteCommand(
            f"lab: {fault.title}",
            partial(run_lab_fault, app, fault.words),
            f"{fault.help}; then polls the site again",
        )
        for fault in lab.fault_menu(site.name, [n.id for n in site.nodes()])
    ]


class ShellCommands(Provider):
    """Panes, sites, themes and app commands of ResilApp."""

    def _commands(self) -> list[PaletteCommand]:
        from resil_tui.ui.app import ResilApp

        app = self.app
        if not isinstance(app, ResilApp):
            return []
        return palette_commands(app)

    async def discover(self) -> Hits:
        for command in self._commands():
            yield DiscoveryHit(command.title, command.callback, help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self._commands():
            score = matcher.match(command.title)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(command.title),
                    command.callback,
                    text=command.title,
                    help=command.help,
                )
