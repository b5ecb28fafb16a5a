"""The site verdict banner: the worst thing known, who serves telephony, and everything else.

The headline is the worst finding (its severity and title: never "CRITICAL · Normal"); the
next line says who serves telephony when the headline is about something else; then every
other finding that is not OK, worst first. A finding a guided procedure deals with names
the keys that start it. The severity also sets a CSS class (-ok, -warning, -critical,
-unknown) for colour, which only repeats what the words already say.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from textual.widgets import Static

from resil_tui.core.cluster_kinds import Remedy, Severity
from resil_tui.core.freshness import clock

if TYPE_CHECKING:
    from resil_tui.core.cluster import SiteVerdicts

SEVERITY_WORDS = {
    Severity.OK: "✔ OK",
    Severity.WARNING: "▲ WARNING",
    Severity.CRITICAL: "✖ CRITICAL",
    Severity.UNKNOWN: "? UNKNOWN",
}

_CLASSES = ("-ok", "-warning", "-critical", "-unknown", "-waiting")


# How a remedy is started, given the keys of "show the wizard" and of its start action.
RemedyKeys = Callable[[Remedy], str]


def _no_keys(remedy: Remedy) -> str:
    return f"the {remedy.value} wizard"


def banner_text(
    verdicts: SiteVerdicts,
    waiting_for: list[str] | None = None,
    remedy_keys: RemedyKeys = _no_keys,
) -> str:
    primary = verdicts.primary
    findings = verdicts.ordered()
    head = verdicts.headline
    lines = [f"{SEVERITY_WORDS[head.severity]} · {head.title}", f"  {head.explanation}"]
    if head is not primary:
        lines.append(f"  Telephony: {primary.title}")
    placement = verdicts.phones
    if placement.master is not None or placement.slave is not None:
        lines.append(f"  {verdicts.phones_text} (as of {clock(verdicts.evaluated_at)})")
    for finding in findings:
        if finding is not head:
            symbol = SEVERITY_WORDS[finding.severity]
            lines.append(f"  {symbol} {finding.title}: {finding.explanation}")
        if finding.remedy is not None:
            lines.append(f"    → {remedy_keys(finding.remedy)}")
    if waiting_for:
        lines.append(f"  … still waiting for {', '.join(waiting_for)}")
    return "\n".join(lines)


class VerdictBanner(Static):
    """Shows a site's verdicts, or why there is none yet."""

    DEFAULT_CSS = """
    VerdictBanner {
        height: auto;
        padding: 0 1;
        border-left: thick $foreground 50%;
        margin-bottom: 1;
    }
    VerdictBanner.-ok { border-left: thick $success; }
    VerdictBanner.-warning { border-left: thick $warning; }
    VerdictBanner.-critical { border-left: thick $error; background: $error 15%; }
    VerdictBanner.-unknown { border-left: thick $warning; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__("… polling: no node has answered yet", markup=False, **kwargs)  # type: ignore[arg-type]
        self.verdicts: SiteVerdicts | None = None
        self.add_class("-waiting")

    def _set_class(self, name: str) -> None:
        self.remove_class(*_CLASSES)
        self.add_class(name)

    def show_waiting(self, text: str) -> None:
        self.verdicts = None
        self._set_class("-waiting")
        self.update(text)

    def show_verdicts(
        self,
        verdicts: SiteVerdicts,
        waiting_for: list[str] | None = None,
        remedy_keys: RemedyKeys = _no_keys,
    ) -> None:
        self.verdicts = verdicts
        self._set_class(f"-{verdicts.severity.value}")
        self.update(banner_text(verdicts, waiting_for, remedy_keys))

    @property
    def text(self) -> str:
        return str(self.content)
