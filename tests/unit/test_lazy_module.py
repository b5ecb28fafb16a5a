"""resil_tui.lazy: a module registered lazily loads at its first attribute read, and is
found the ways an imported submodule is (on its package, by `import pkg.mod`); every
lazy_module("name") of the product has its TYPE_CHECKING import, the dependency the
import contracts (pyproject) and the type checker see."""

from __future__ import annotations

import ast
import importlib
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from labkit import ROOT

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


def _type_checking_imports(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for stmt in node.body:
                if isinstance(stmt, ast.ImportFrom) and stmt.module:
                    names.add(stmt.module)
                    names.update(f"{stmt.module}.{a.name}" for a in stmt.names)
                elif isinstance(stmt, ast.Import):
                    names.update(a.name for a in stmt.names)
    return names


def test_every_lazy_module_is_imported_for_the_type_checker_too() -> None:
    calls = 0
    for path in sorted((ROOT / "resil_tui").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        imported = _type_checking_imports(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "lazy_module"
            ):
                assert isinstance(node.args[0], ast.Constant), f"{path}:{node.lineno}"
                name = node.args[0].value
                calls += 1
                assert name in imported, f"{path}:{node.lineno}: {name} has no TYPE_CHECKING import"
    assert calls >= 10  # the CLI's handlers and the console's parsers
