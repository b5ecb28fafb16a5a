"""Binding ids, the `[keys]` keymap from the inventory, and what the help screen lists.

Every `Binding` in the UI carries an `id` ("app.help", "pane.status", "confirm.yes"...);
the inventory's `[keys]` table maps such ids to key strings ("h", "ctrl+h", "f1,h") and the
app applies it with `App.set_keymap`. An id nobody defines is reported, not fatal: a typo
in hosts.toml must not keep an admin out of the console during an incident.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from textual.binding import Binding, BindingType

from resil_tui.core.records import record


@record
class BindingInfo:
    """One remappable binding: its id, default keys and where it applies."""

    id: str
    action: str
    description: str
    default_keys: tuple[str, ...]
    context: str  # "global", "help screen", "confirmation dialog", ...


@record
class KeymapCheck:
    """The inventory's `[keys]` sorted into the bindings to apply and the entries to report."""

    valid: dict[str, str]
    unknown_ids: tuple[str, ...]
    bad_values: tuple[str, ...]  # "app.help = ''" style descriptions

    def problems(self, known_ids: Iterable[str]) -> list[str]:
        lines: list[str] = []
        if self.unknown_ids:
            lines.append(
                f"[keys]: unknown binding id(s) {', '.join(self.unknown_ids)} ignored; "
                f"valid ids: {', '.join(sorted(set(known_ids)))}"
            )
        if self.bad_values:
            lines.append("[keys]: unusable key value(s) ignored: " + "; ".join(self.bad_values))
        return lines


def collect_bindings(sources: Sequence[tuple[str, Iterable[BindingType]]]) -> list[BindingInfo]:
    """Flatten `(context, BINDINGS)` pairs into one entry per binding id, in order.

    Compound keys ("question_mark,f1") come back as one entry with several default keys;
    bindings without an id cannot be remapped and are left out.
    """
    infos: dict[str, BindingInfo] = {}
    for context, bindings in sources:
        for binding in Binding.make_bindings(bindings):
            if binding.id is None:
                continue
            known = infos.get(binding.id)
            if known is None:
                infos[binding.id] = BindingInfo(
                    id=binding.id,
                    action=binding.action,
                    description=binding.description or binding.tooltip,
                    default_keys=(binding.key,),
                    context=context,
                )
            elif binding.key not in known.default_keys:
                infos[binding.id] = BindingInfo(
                    id=known.id,
                    action=known.action,
                    description=known.description,
                    default_keys=(*known.default_keys, binding.key),
                    context=known.context,
                )
    return list(infos.values())


def check_keymap(keys: Mapping[str, object], known_ids: Iterable[str]) -> KeymapCheck:
    """Split a `[keys]` table into the usable part and what must be reported."""
    known = set(known_ids)
    valid: dict[str, str] = {}
    unknown: list[str] = []
    bad: list[str] = []
    for binding_id, value in keys.items():
        if binding_id not in known:
            unknown.append(binding_id)
            continue
        if not isinstance(value, str):
            bad.append(f'{binding_id} = {value!r} (must be a string such as "ctrl+h")')
            continue
        parts = [part.strip() for part in value.split(",")]
        if not all(parts):
            bad.append(f"{binding_id} = {value!r} (empty key)")
            continue
        valid[binding_id] = ",".join(parts)
    return KeymapCheck(valid=valid, unknown_ids=tuple(unknown), bad_values=tuple(bad))


def effective_keys(info: BindingInfo, keymap: Mapping[str, str]) -> tuple[str, ...]:
    """The keys that trigger `info` now: the keymap's if it remaps the id, else defaults."""
    remapped = keymap.get(info.id)
    if remapped is None:
        return info.default_keys
    return tuple(part.strip() for part in remapped.split(","))


def _active_with(context: str, infos: Sequence[BindingInfo]) -> list[BindingInfo]:
    """The bindings live at the same time as those of `context`.

    Pane bindings are active together with the global ones; dialogs and the help screen
    are modal: the global bindings do not reach them.
    """
    own = [info for info in infos if info.context == context]
    if context.endswith(" pane"):
        return own + [info for info in infos if info.context == "global"]
    return own


def find_clashes(infos: Sequence[BindingInfo], keymap: Mapping[str, str]) -> list[str]:
    """Keys that the keymap leaves bound to two ids active at the same time.

    Textual resolves such a clash silently (it reports none for bindings that have an id),
    so the admin would find out by pressing the key: say it at start instead.
    """
    clashes: list[str] = []
    for context in dict.fromkeys(info.context for info in infos):
        own_ids = {info.id for info in infos if info.context == context}
        by_key: dict[str, list[str]] = {}
        for info in _active_with(context, infos):
            for key in effective_keys(info, keymap):
                by_key.setdefault(_normalize_key(key), []).append(info.id)
        for key, ids in by_key.items():
            if len(ids) > 1 and any(i in keymap for i in ids) and own_ids & set(ids):
                clashes.append(f"key {key!r} is bound to {' and '.join(ids)} ({context})")
    return clashes


def _normalize_key(key: str) -> str:
    # "?" and "question_mark" are the same key; Binding.make_bindings knows the mapping.
    return next(iter(Binding.make_bindings([Binding(key, "")]))).key
