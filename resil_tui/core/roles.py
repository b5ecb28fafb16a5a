"""The words for the two roles of a pair, by resilience mode: the one place they are chosen.

XiVO up to 2025.10 (`classic`, the seed) says master / slave. The next LTS renames them
Main / Standby and adds two failover modes, `automatic` and `manual` (XIVO.md,
"Corrections and additions"). Every screen, CLI line, JSON label and report of a site in
a next-LTS mode says Main / Standby; the scripts keep their names
(`xivo-manage-slave-services`...) and ha.conf keeps whatever the node writes.
"""

from __future__ import annotations

import re

from resil_tui.core.records import record
from resil_tui.inventory_model import Resilience, Side


@record
class RoleWords:
    """What a site calls the two sides of its pair, in every label the product prints."""

    master: str  # "master" | "Main"
    slave: str  # "slave" | "Standby"

    def of(self, side: Side | str | None) -> str:
        """The word for a side ("master"/"slave" or a Side); other text is returned as is."""
        value = side.value if isinstance(side, Side) else side
        if value == Side.MASTER.value:
            return self.master
        if value == Side.SLAVE.value:
            return self.slave
        return value or ""

    def mode(self, ha_mode: str) -> str:
        """An HA mode as shown: master/slave in the site's words, others unchanged."""
        return self.of(ha_mode)


CLASSIC_WORDS = RoleWords("master", "slave")
NEXT_LTS_WORDS = RoleWords("Main", "Standby")


def role_words(mode: Resilience | None) -> RoleWords:
    """master/slave for a classic site, Main/Standby for the next-LTS modes."""
    if mode in (Resilience.AUTOMATIC, Resilience.MANUAL):
        return NEXT_LTS_WORDS
    return CLASSIC_WORDS


# A role word standing alone: not inside a script, file or node name
# (xivo-manage-slave-services, xivo-ha-master, paris.xivo.master, side=slave).
_ROLE_WORD = re.compile(r"(?<![\w./=-])(master|slave|Master|Slave|MASTER|SLAVE)(?![\w/=-]|\.\w)")


def reword(text: str, words: RoleWords) -> str:
    """Prose written with master/slave, in the site's words (no change for classic)."""
    if words == CLASSIC_WORDS:
        return text

    def swap(m: re.Match[str]) -> str:
        word = m.group(1)
        new = words.master if word.lower() == "master" else words.slave
        if word.isupper():
            return new.upper()
        return new if word[0].isupper() or new[0].isupper() else new.lower()

    return _ROLE_WORD.sub(swap, text)
