"""Theme files: discovery order, parsing, validation; all without Textual."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from resil_tui import theme_files
from resil_tui.theme_files import (
    COLOUR_KEYS,
    DEFAULT_THEME,
    REQUIRED_KEYS,
    ThemeFileError,
    load_themes,
    parse_theme,
    theme_names,
    validate_theme_name,
)

REPO_THEMES = Path(__file__).resolve().parents[2] / "themes"

VALID = """
name = "{name}"
dark = true
primary = "#112233"
secondary = "#445566"
accent = "#778899"
foreground = "#ffffff"
background = "#000"
surface = "#111111"
panel = "#222222"
warning = "#ffff00"
error = "#ff0000"
success = "#00ff00"
"""


def write_theme(directory: Path, stem: str, name: str, extra: str = "") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{stem}.toml"
    path.write_text(VALID.format(name=name) + extra, encoding="utf-8")
    return path


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    packaged = tmp_path / "pkg" / "_themes"
    checkout = tmp_path / "checkout" / "themes"
    monkeypatch.setattr(theme_files, "PACKAGED_THEMES_DIR", packaged)
    monkeypatch.setattr(theme_files, "CHECKOUT_THEMES_DIR", checkout)
    return packaged, checkout


def test_shipped_theme_names() -> None:
    names = theme_names()
    assert {"dark", "light", "incident"} <= set(names)
    assert DEFAULT_THEME in names
    assert names == sorted(names)


def test_unknown_name_lists_available_themes() -> None:
    assert validate_theme_name("incident") == "incident"
    with pytest.raises(ValueError) as excinfo:
        validate_theme_name("solarized-nope")
    message = str(excinfo.value)
    assert "solarized-nope" in message
    for name in ("dark", "light", "incident"):
        assert name in message


@pytest.mark.parametrize("path", sorted(REPO_THEMES.glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_theme_parses_with_required_keys(path: Path) -> None:
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    for key in REQUIRED_KEYS:
        assert key in raw, f"{path.name} lacks {key}"
    spec = theme_files.load_theme_file(path)
    assert spec.name == path.stem  # one file per theme, named after it
    assert spec.warnings == ()
    assert spec.description
    # The format is documented at the top of every file.
    assert path.read_text(encoding="utf-8").startswith("# resil-tui theme.")


def test_shipped_themes_cover_dark_light_and_high_contrast() -> None:
    themes = load_themes().themes
    assert themes["dark"].dark is True
    assert themes["light"].dark is False
    incident = themes["incident"]
    assert (incident.background, incident.foreground) == ("#000000", "#ffffff")


def test_packaged_dir_is_tried_first(dirs: tuple[Path, Path]) -> None:
    packaged, checkout = dirs
    write_theme(packaged, "dark", "dark")
    write_theme(checkout, "dark", "dark")
    write_theme(checkout, "extra", "extra")
    assert theme_files.theme_dirs() == [packaged, checkout]
    catalog = load_themes()
    assert catalog.themes["dark"].source == packaged / "dark.toml"
    assert catalog.themes["extra"].source == checkout / "extra.toml"
    assert any("already defined" in w for w in catalog.warnings)


def test_checkout_dir_used_when_not_installed(dirs: tuple[Path, Path]) -> None:
    _, checkout = dirs
    write_theme(checkout, "only", "only")
    assert theme_files.theme_dirs() == [checkout]
    assert theme_names() == ["only"]


def test_no_theme_dir_at_all(dirs: tuple[Path, Path]) -> None:
    assert theme_names() == []
    with pytest.raises(ValueError, match="no theme files found"):
        validate_theme_name("dark")


def test_broken_file_is_reported_not_raised(dirs: tuple[Path, Path]) -> None:
    packaged, _ = dirs
    write_theme(packaged, "good", "good")
    (packaged / "bad.toml").write_text('name = "bad"\ndark = \n', encoding="utf-8")
    catalog = load_themes()
    assert list(catalog.themes) == ["good"]
    assert len(catalog.errors) == 1
    assert "bad.toml" in catalog.errors[0] and "line 2" in catalog.errors[0]


def test_missing_keys_are_named() -> None:
    with pytest.raises(ThemeFileError) as excinfo:
        parse_theme('name = "x"\ndark = true\nprimary = "#000000"\n', Path("x.toml"))
    message = str(excinfo.value)
    assert message.startswith("x.toml: missing key(s)")
    assert "secondary" in message and "success" in message


@pytest.mark.parametrize(
    ("extra_or_override", "expected"),
    [
        ('primary = "blue"', "primary = 'blue' is not a hex colour"),
        ('primary = "#12345"', "is not a hex colour"),
        ("dark = 1", "dark = 1 must be true or false"),
        ('name = "two words"', "no spaces or commas"),
        ('name = "a,b"', "no spaces or commas"),
        ("variables = 3", "variables must be a table"),
        ('text_alpha = "x"', "text_alpha = 'x' must be a number"),
    ],
)
def test_invalid_values_are_explained(extra_or_override: str, expected: str) -> None:
    key = extra_or_override.split("=")[0].strip()
    lines = [line for line in VALID.format(name="t").splitlines() if not line.startswith(key)]
    text = "\n".join([*lines, extra_or_override]) + "\n"
    with pytest.raises(ThemeFileError, match=expected.replace("(", r"\(")):
        parse_theme(text, Path("t.toml"))


def test_optional_keys_and_unknown_keys(tmp_path: Path) -> None:
    extra = (
        'description = "d"\nluminosity_spread = 0.2\nshiny = true\n[variables]\n"a-b" = "#fff"\n'
    )
    spec = parse_theme(VALID.format(name="t") + extra, tmp_path / "t.toml")
    assert spec.description == "d"
    assert spec.luminosity_spread == 0.2
    assert spec.variables == {"a-b": "#fff"}
    assert len(spec.warnings) == 1 and "shiny" in spec.warnings[0]
    assert set(spec.colours()) == set(COLOUR_KEYS)


def test_theme_files_does_not_import_textual() -> None:
    code = (
        "import sys, resil_tui.theme_files as t; t.theme_names(); "
        "sys.exit(1 if 'textual' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
