"""Frozen records: the product's frozen value types, made at a fraction of a dataclass's cost.

`resil-tui check-config`, `check` and `status` are run by monitoring every minute or so, and
each start creates the classes it loads. On Python 3.11 the `dataclasses` module costs about
15 ms to import (it imports `inspect`: ast, dis, tokenize) and each frozen dataclass 0.5 -
1.7 ms to create (its six methods compiled one `exec` at a time): 30 ms of `check-config`'s
70 - 100 ms, some 90 ms of `status --json`'s 600. A `@record` class is made from its
annotations without importing `dataclasses`: its `__init__` is the one method compiled (so
that Python binds and checks its arguments), the others are closures over the field names.
It behaves as `@dataclass(frozen=True)` (tests/unit/test_core_records.py compares them): the
same `__init__` (defaults, `field(default_factory=...)`, the same errors), `__repr__`,
`__eq__`, `__hash__`, `__match_args__`, the methods a class defines itself kept, and
assignment refused with `FrozenInstanceError`'s message.

Everything in `dataclasses` that takes an instance works on a record too (`replace`,
`fields`, `asdict`, `is_dataclass`): the first time one asks for `__dataclass_fields__`,
`dataclasses` is imported and the fields are described by the real thing. `records.replace`
is `dataclasses.replace` to the type checker (which checks the field names and types) and
does not import `dataclasses` at run time; use it on the start-up path.

Only what a plain frozen dataclass does is supported (the others stay dataclasses): no
options (`order`, `kw_only`, `slots`, ...), no inheritance (from or by a record, or from a
dataclass), no `ClassVar`, `InitVar` or `__post_init__`, no field options but
`default_factory`: each is refused when the class is made, never ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from reprlib import recursive_repr
from typing import TYPE_CHECKING, Any, TypeVar, cast, dataclass_transform

T = TypeVar("T")

_MISSING = object()  # a factory field not given to __init__
# The names the generated __init__ uses besides the fields.
_RESERVED = frozenset({"self", "_set", "_d", "_MISSING"})


class FrozenRecordError(AttributeError):
    """Assignment to a record's attribute (as `dataclasses.FrozenInstanceError`)."""


class _Factory:
    __slots__ = ("make",)

    def __init__(self, make: Callable[[], object]) -> None:
        self.make = make


def field(*, default_factory: Callable[[], T]) -> T:
    """A field whose default is made afresh for each record (`dataclasses.field`)."""
    return cast(T, _Factory(default_factory))


class _Shape:
    """A record class's fields: names in order, annotations, defaults (value or _Factory)."""

    __slots__ = ("annotations", "defaults", "names")

    def __init__(self, cls: type) -> None:
        if any("__dataclass_fields__" in base.__dict__ for base in cls.__mro__[1:]):
            raise TypeError(f"{cls.__name__}: a record cannot derive from a record or dataclass")
        if hasattr(cls, "__post_init__"):
            raise TypeError(f"{cls.__name__}: records have no __post_init__")
        # The class's own annotations, as dataclasses reads them; inspect.get_annotations
        # would import inspect, a third of what this module spares.
        own: dict[str, object] = cls.__dict__.get("__annotations__", {})  # noqa: RUF063
        self.annotations = dict(own)
        self.names: tuple[str, ...] = tuple(own)
        self.defaults: dict[str, object] = {}
        for name, annotation in own.items():
            if name in _RESERVED:
                raise TypeError(f"{cls.__name__}.{name}: a name __init__ needs for itself")
            text = (
                annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
            )
            if text.split("[", 1)[0].rsplit(".", 1)[-1] in ("ClassVar", "InitVar", "KW_ONLY"):
                raise TypeError(f"{cls.__name__}.{name}: {text} is not supported in a record")
            if name in cls.__dict__:
                default = cls.__dict__[name]
                if type(default).__module__ == "dataclasses":  # dataclasses.field(...)
                    raise TypeError(f"{cls.__name__}.{name}: records.field, not dataclasses'")
                # dataclasses' rule: an unhashable default (a list, a dict...) would be one
                # object shared by every instance.
                if type(default).__hash__ is None:
                    raise ValueError(
                        f"{cls.__name__}.{name}: mutable default {type(default).__name__}; "
                        "use field(default_factory=...)"
                    )
                self.defaults[name] = default
            elif self.defaults:
                raise TypeError(f"{cls.__name__}: non-default argument {name!r} follows default")

    def init_source(self) -> str:
        """`__init__`, the one method compiled: Python binds its arguments and says what is
        wrong with them (missing, unexpected, given twice) as it does for a dataclass."""
        params = ["self"]
        values = []
        for n in self.names:
            default = self.defaults.get(n, _MISSING)
            if default is _MISSING:
                params.append(n)
                values.append(f"{n!r}:{n}")
            elif isinstance(default, _Factory):
                params.append(f"{n}=_MISSING")
                values.append(f"{n!r}:_d[{n!r}].make() if {n} is _MISSING else {n}")
            else:
                params.append(f"{n}=_d[{n!r}]")
                values.append(f"{n!r}:{n}")
        return (
            f"def __init__({', '.join(params)}):\n _set(self,'__dict__',{{{','.join(values)}}})\n"
        )

    def methods(self) -> dict[str, Callable[..., Any]]:
        ns: dict[str, Any] = {"_set": object.__setattr__, "_d": self.defaults, "_MISSING": _MISSING}
        exec(compile(self.init_source(), "<record>", "exec"), ns)
        names = self.names
        # The others are closures over the names: nothing to compile. A record's values as
        # a tuple, made in C for two fields or more (the hot case).
        values: Callable[[object], tuple[object, ...]]
        if len(names) > 1:
            values = attrgetter(*names)
        elif names:
            one = attrgetter(names[0])

            def values(obj: object) -> tuple[object, ...]:
                return (one(obj),)
        else:

            def values(obj: object) -> tuple[object, ...]:
                return ()

        shown = "{}(" + ", ".join(f"{n}={{!r}}" for n in names) + ")"

        @recursive_repr()  # as dataclasses: "..." for a record inside itself
        def __repr__(self: object) -> str:
            return shown.format(self.__class__.__qualname__, *values(self))

        def __eq__(self: object, other: object) -> bool:
            if other.__class__ is self.__class__:
                return values(self) == values(other)
            return NotImplemented

        def __hash__(self: object) -> int:
            return hash(values(self))

        def __setattr__(self: object, name: str, value: object) -> None:
            raise FrozenRecordError(f"cannot assign to field {name!r}")

        def __delattr__(self: object, name: str) -> None:
            raise FrozenRecordError(f"cannot delete field {name!r}")

        def __replace__(self: Any, /, **changes: Any) -> Any:
            return replace(self, **changes)  # copy.replace (Python 3.13), as a dataclass

        return {
            "__init__": ns["__init__"],
            "__replace__": __replace__,
            "__repr__": __repr__,
            "__eq__": __eq__,
            "__hash__": __hash__,
            "__setattr__": __setattr__,
            "__delattr__": __delattr__,
        }


class _DataclassFields:
    """`__dataclass_fields__`, described by `dataclasses` itself on first use."""

    def __get__(self, obj: object, owner: type) -> dict[str, Any]:
        import dataclasses

        shape: _Shape = owner.__dict__["__record__"]
        ns: dict[str, Any] = {
            "__annotations__": shape.annotations,
            "__module__": owner.__module__,
            "__qualname__": owner.__qualname__,
            "__doc__": owner.__doc__ or owner.__name__,  # spares inspect.signature
        }
        for n, default in shape.defaults.items():
            ns[n] = (
                dataclasses.field(default_factory=default.make)
                if isinstance(default, _Factory)
                else default
            )
        # Nothing generated (no init, repr, eq): only the fields are described.
        shadow: type = dataclasses.dataclass(init=False, repr=False, eq=False)(
            type(owner.__name__, (), ns)
        )
        described: dict[str, Any] = shadow.__dict__["__dataclass_fields__"]
        type.__setattr__(owner, "__dataclass_fields__", described)
        return described


def _refuse_subclass(sub: type, /, **_: object) -> None:
    # A subclass would inherit the record's frozen __setattr__ and none of its rules.
    raise TypeError(f"{sub.__name__}: a record cannot be subclassed")


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: type[T]) -> type[T]:
    """The class as a frozen record (module docstring)."""
    shape = _Shape(cls)
    own = cls.__dict__
    for name in ("__setattr__", "__delattr__"):
        if name in own:
            raise TypeError(f"{cls.__name__}: a frozen record cannot define {name}")
    # As dataclasses: a method the class defines itself is kept; so is a __hash__ it
    # defines (not the None that defining __eq__ leaves behind).
    explicit_hash = "__hash__" in own and not (own["__hash__"] is None and "__eq__" in own)
    for name, function in shape.methods().items():
        if name in own and (name != "__hash__" or explicit_hash):
            continue
        function.__qualname__ = f"{cls.__qualname__}.{name}"
        type.__setattr__(cls, name, function)
    for n, default in shape.defaults.items():
        if isinstance(default, _Factory):
            type.__delattr__(cls, n)  # as dataclasses: no class attribute for a factory
    if "__match_args__" not in own:
        type.__setattr__(cls, "__match_args__", shape.names)
    type.__setattr__(cls, "__init_subclass__", classmethod(_refuse_subclass))
    type.__setattr__(cls, "__record__", shape)
    type.__setattr__(cls, "__dataclass_fields__", _DataclassFields())
    return cls


def field_names(cls: type) -> tuple[str, ...]:
    """A record class's field names, in order (`dataclasses.fields`, without importing it)."""
    shape: _Shape = cls.__dict__["__record__"]
    return shape.names


if TYPE_CHECKING:
    # The type checker checks a call's field names and types as for dataclasses.replace.
    from dataclasses import replace as replace
else:

    def replace(obj, /, **changes):
        """`dataclasses.replace`, without importing dataclasses for a record."""
        shape = type(obj).__dict__.get("__record__")
        if shape is None:
            import dataclasses

            return dataclasses.replace(obj, **changes)
        for n in shape.names:
            if n not in changes:
                changes[n] = getattr(obj, n)
        return type(obj)(**changes)
