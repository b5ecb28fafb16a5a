"""Preferences file: lenient load, atomic save, update keeps the rest, precedence."""

from __future__ import annotations

from pathlib import Path

import pytest

from resil_tui.preferences import (
    DEFAULT_LOG_BUFFER,
    DEFAULT_REFRESH,
    Preferences,
    PreferencesError,
    backup_name,
    console_settings,
    load_preferences,
    parse_preferences,
    resolve_settings,
    save_preferences,
    update_preferences,
)


def test_missing_file_is_empty_preferences(tmp_path: Path) -> None:
    loaded = load_preferences(tmp_path / "nope.toml")
    assert loaded.preferences == Preferences()
    assert loaded.problems == ()


def test_round_trip_and_header(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "preferences.toml"
    prefs = Preferences("light", 5.0, 100_000, "lyon", {"app.refresh": "f5"})
    save_preferences(prefs, path)
    text = path.read_text()
    assert text.startswith("# resil-tui preferences")
    assert load_preferences(path).preferences == prefs
    assert not list(path.parent.glob(".*.tmp"))


def test_bad_values_are_reported_and_ignored() -> None:
    loaded = parse_preferences(
        'theme = 3\nrefresh_interval = 0.01\nlog_buffer = "lots"\nsite = "lyon"\n'
        'colour = "x"\n[keys]\n"app.help" = ""\n"app.quit" = "ctrl+x"\n'
    )
    assert loaded.preferences == Preferences(site="lyon", keys={"app.quit": "ctrl+x"})
    text = "\n".join(loaded.problems)
    for expected in ("theme", "refresh_interval", "log_buffer", "'colour'", "keys.app.help"):
        assert expected in text


def test_broken_toml_is_one_problem_never_an_exception() -> None:
    loaded = parse_preferences("theme = [\n")
    assert loaded.preferences == Preferences()
    assert len(loaded.problems) == 1 and "not valid TOML" in loaded.problems[0]


def test_update_changes_only_what_is_given(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    save_preferences(Preferences(theme="light", keys={"app.help": "h"}), path)
    update_preferences(path, refresh_interval=30.0)
    assert load_preferences(path).preferences == Preferences(
        theme="light", refresh_interval=30.0, keys={"app.help": "h"}
    )
    update_preferences(path, theme=None, keys=None)
    assert load_preferences(path).preferences == Preferences(refresh_interval=30.0)


def test_precedence_flag_env_preferences_default() -> None:
    prefs = Preferences(theme="light", refresh_interval=20.0, log_buffer=20_000, site="lyon")
    env = {"RESIL_TUI_REFRESH": "7", "RESIL_TUI_SITE": "paris"}
    s = resolve_settings(theme_flag="incident", environ=env, preferences=prefs)
    assert (s.theme.value, s.theme.source) == ("incident", "flag")
    assert (s.refresh_interval.value, s.refresh_interval.source) == (7.0, "environment")
    assert (s.site.value, s.site.source) == ("paris", "environment")
    assert (s.log_buffer.value, s.log_buffer.source) == (20_000, "preferences")
    bare = resolve_settings(environ={}, preferences=Preferences())
    assert (bare.refresh_interval.value, bare.refresh_interval.source) == (
        DEFAULT_REFRESH,
        "default",
    )
    assert bare.log_buffer.value == DEFAULT_LOG_BUFFER
    assert bare.theme.value is None and bare.site.value is None


def test_bad_environment_value_is_an_error_naming_the_variable() -> None:
    with pytest.raises(PreferencesError, match=r"\$RESIL_TUI_LOG_BUFFER"):
        resolve_settings(environ={"RESIL_TUI_LOG_BUFFER": "12"})
    with pytest.raises(PreferencesError, match="command line"):
        resolve_settings(refresh_flag=-1, environ={})


def test_console_settings_checks_names(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    save_preferences(Preferences(theme="no-such-theme", site="elsewhere"), path)
    s = console_settings(sites=["paris"], path=path, environ={})
    assert s.theme.value is None  # the app's default theme
    assert s.site.value is None  # quietly: another inventory's site
    assert any("no-such-theme" in p for p in s.problems)
    with pytest.raises(PreferencesError, match="RESIL_TUI_THEME"):
        console_settings(path=path, environ={"RESIL_TUI_THEME": "nope"})
    s = console_settings(path=path, environ={"RESIL_TUI_THEME": "light"})
    assert (s.theme.value, s.theme.source) == ("light", "environment")


def test_backup_name_never_reuses_a_name(tmp_path: Path) -> None:
    target = tmp_path / "hosts.toml"
    first = backup_name(target)
    first.write_text("x")
    second = backup_name(target)
    assert first != second and first.name.startswith("hosts.toml.") and second.suffix == ".bak"
