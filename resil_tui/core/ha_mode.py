"""A XiVO node's HA role, as ha.conf names it (core/ha.py reads the file).

Apart from the parser and its dataclasses so that the verdicts, the node table and the
node detail can name a role without loading them: the console's first screen shows nodes
not polled yet, and core/ha.py loads with the first poll (tests/ui/test_lazy_panes.py).
"""

from __future__ import annotations

from enum import StrEnum


class HaMode(StrEnum):
    DISABLED = "disabled"
    MASTER = "master"
    SLAVE = "slave"
    UNKNOWN = "unknown"  # unreadable, invalid JSON or an unexpected node_type


# The next LTS renames the roles Main / Standby; what its ha.conf holds is unverified
# (XIVO.md), so those words are read as master / slave, in ha.conf and where typed.
ALIASES = {"main": "master", "standby": "slave"}


def mode_word(text: str) -> str:
    """`text` as a mode's value: stripped, lower case, a next-LTS name as its classic one."""
    word = text.strip().lower()
    return ALIASES.get(word, word)
