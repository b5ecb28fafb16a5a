"""resil_tui.lazy: a module registered lazily loads at its first attribute read, and is
found the ways an imported submodule is (on its package, by `import pkg.mod`)."""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from resil_tui.lazy import lazy_module


@pytest.fixture
def package(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "lazypkg_probe"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "rules.py").write_text("LOADS = []\nLOADS.append(1)\nANSWER = 42\n")
    sys.path.insert(0, str(tmp_path))
    try:
        yield "lazypkg_probe"
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n.split(".")[0] == "lazypkg_probe"]:
            del sys.modules[name]


def test_loaded_at_the_first_attribute_read_only(package: str) -> None:
    rules = lazy_module(f"{package}.rules")
    assert type(rules) is not types.ModuleType  # registered, not executed
    assert rules.ANSWER == 42
    assert type(rules) is types.ModuleType
    assert rules.LOADS == [1]  # executed once
    assert lazy_module(f"{package}.rules") is rules


def test_found_on_its_package_like_an_imported_submodule(package: str) -> None:
    rules = lazy_module(f"{package}.rules")
    # What `import lazypkg_probe.rules` then `lazypkg_probe.rules.ANSWER` does.
    assert importlib.import_module(f"{package}.rules") is rules
    assert sys.modules[package].rules is rules
    assert sys.modules[package].rules.ANSWER == 42
