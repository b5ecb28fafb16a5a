"""core/records.py: a record behaves as the frozen dataclass of the same source."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resil_tui.core import records
from resil_tui.inventory_model import Inventory, Node, RemotePaths, SshSettings

VALUES = st.one_of(
    st.integers(),
    st.text(max_size=5),
    st.none(),
    st.tuples(st.integers()),
    st.floats(allow_nan=True),
)


@st.composite
def layouts(draw: st.DrawFn) -> list[tuple[str, str]]:
    """Fields as (name, kind): required ones first, then plain defaults and factories."""
    required = draw(st.integers(0, 3))
    optional = draw(st.lists(st.sampled_from(["default", "factory"]), max_size=4))
    kinds = ["required"] * required + optional
    return [(f"f{i}", kind) for i, kind in enumerate(kinds)]


# Methods a class may define itself, which both keep (a __hash__ of its own too, not the
# None that defining __eq__ leaves).
OWN = {
    "repr": "    def __repr__(self):\n        return 'mine'",
    "eq": "    def __eq__(self, other):\n        return True",
    "hash": "    def __hash__(self):\n        return 7",
}


def _source(decorator: str, layout: list[tuple[str, str]], own: frozenset[str]) -> str:
    lines = [decorator, "class Thing:"]
    for name, kind in layout:
        if kind == "required":
            lines.append(f"    {name}: object")
        elif kind == "default":
            lines.append(f"    {name}: object = {name!r} + '!'")
        else:
            lines.append(f"    {name}: object = field(default_factory=lambda: [{name!r}])")
    lines.extend(OWN[name] for name in sorted(own))
    if not layout and not own:
        lines.append("    pass")
    return "\n".join(lines) + "\n"


def _pair(layout: list[tuple[str, str]], own: frozenset[str]) -> tuple[Any, Any]:
    made: list[Any] = []
    for decorator, field in (
        ("@dataclass(frozen=True)", dataclasses.field),
        ("@record", records.field),
    ):
        ns: dict[str, Any] = {
            "dataclass": dataclasses.dataclass,
            "record": records.record,
            "field": field,
        }
        exec(_source(decorator, layout, own), ns)
        made.append(ns["Thing"])
    return made[0], made[1]


def _outcome(call: Any, *args: Any, **kwargs: Any) -> tuple[str, str]:
    """What a call gives: its value's repr, or its exception's type and message."""
    try:
        return "value", repr(call(*args, **kwargs))
    except Exception as e:
        return type(e).__name__, str(e)


@settings(max_examples=150, deadline=None)
@given(layouts(), st.frozensets(st.sampled_from(sorted(OWN))), st.data())
def test_a_record_behaves_as_the_frozen_dataclass(
    layout: list[tuple[str, str]], own: frozenset[str], data: st.DataObject
) -> None:
    real, rec = _pair(layout, own)
    names = [n for n, _ in layout]
    required = [n for n, kind in layout if kind == "required"]
    # Arguments as a caller might give them: positional, keyword, missing, one too many,
    # an unknown keyword, a value given twice.
    positional = data.draw(st.lists(VALUES, max_size=len(names) + 1))
    keywords = data.draw(
        st.dictionaries(st.sampled_from([*names, "nope"]) if names else st.just("nope"), VALUES)
    )
    for args, kwargs in ((positional, keywords), (positional, {}), ([], keywords)):
        assert _outcome(rec, *args, **kwargs) == _outcome(real, *args, **kwargs)

    values = data.draw(st.lists(VALUES, min_size=len(required), max_size=len(names)))
    a, b = real(*values), rec(*values)
    assert repr(a) == repr(b)
    assert b == rec(*values) and (a == real(*values)) == (b == rec(*values))
    # Equal records hash alike; a list made by a factory is unhashable in both.
    assert _outcome(hash, b)[0] == _outcome(hash, a)[0]
    assert _outcome(hash, b) == _outcome(hash, rec(*values))
    if "hash" in own:
        assert hash(a) == hash(b) == 7
    assert (b == a, b == tuple(values)) == (a == b, a == tuple(values))
    assert [f.name for f in dataclasses.fields(b)] == names == list(records.field_names(rec))
    assert dataclasses.asdict(b) == dataclasses.asdict(a)
    assert rec.__match_args__ == real.__match_args__
    assert dataclasses.is_dataclass(b) and dataclasses.is_dataclass(rec)
    if names:
        change = {names[-1]: data.draw(VALUES)}
        assert repr(records.replace(b, **change)) == repr(dataclasses.replace(a, **change))
        assert repr(dataclasses.replace(b, **change)) == repr(dataclasses.replace(a, **change))
        for obj in (a, b):
            with pytest.raises(AttributeError, match=f"cannot assign to field '{names[0]}'"):
                setattr(obj, names[0], 1)
        with pytest.raises(AttributeError):
            delattr(b, names[0])
    for name, kind in layout:
        if kind == "factory":
            assert not hasattr(rec, name)  # no class attribute, as dataclasses
            if not required:  # each record gets a list of its own
                first, second = getattr(rec(), name), getattr(rec(), name)
                assert first == [name] and first is not second
        elif kind == "default":
            assert getattr(rec, name) == f"{name}!"


def test_what_records_refuse() -> None:
    cases = {
        "mutable": "class A:\n    x: list[int] = []\n",
        "order": "class A:\n    x: int = 1\n    y: int\n",
        "classvar": "class A:\n    x: ClassVar[int] = 1\n",
        "reserved": "class A:\n    self: int\n",
        "unhashable": "class A:\n    x: bytearray = bytearray()\n",
        "from a dataclass": "class A(Plain):\n    y: int = 0\n",
        "inherited post_init": "class A(Hook):\n    x: int = 0\n",
        "post_init": "class A:\n    x: int\n    def __post_init__(self):\n        pass\n",
    }
    for name, body in cases.items():
        with pytest.raises((TypeError, ValueError)):
            exec(
                "from __future__ import annotations\n@record\n" + body,
                {"record": records.record, "Plain": Plain, "Hook": Hook},
            )
        assert name  # each case is its own refusal
    base = records.record(type("Base", (), {"__annotations__": {"x": "int"}}))
    with pytest.raises(TypeError, match="cannot be subclassed"):
        type("Sub", (base,), {})  # a subclass would inherit the frozen __setattr__ only


@dataclasses.dataclass(frozen=True)
class Plain:
    x: int = 0


class Hook:
    def __post_init__(self) -> None:
        raise AssertionError("never run")


def test_a_record_inside_itself_reads_as_a_dataclass_does() -> None:
    for make in (dataclasses.dataclass(frozen=True), records.record):
        box = make(type("Box", (), {"__annotations__": {"items": "list[object]"}}))
        outer = box([])
        outer.items.append(outer)
        assert repr(outer) == "Box(items=[...])"
    assert records.replace(box([1]), items=[2]) == box([2])
    assert box([1]).__replace__(items=[3]) == box([3])  # copy.replace on Python 3.13


def test_the_model_is_records_and_the_stdlib_still_works_on_it() -> None:
    node = Node("x.xivo.master", "x", "xivo", None, SshSettings("h"))  # type: ignore[arg-type]
    assert records.field_names(RemotePaths)[0] == "ha_conf"
    moved = records.replace(node, ssh=SshSettings("other"))
    assert moved.ssh.host == "other" and moved.paths == node.paths
    assert dataclasses.replace(node, name="n").name == "n"
    inv = Inventory(None, {})
    assert dataclasses.asdict(inv)["keys"] == {} and inv.keys is not Inventory(None, {}).keys
    with pytest.raises(dataclasses.FrozenInstanceError.__mro__[1]):  # AttributeError
        node.site = "y"  # type: ignore[misc]
