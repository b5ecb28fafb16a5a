"""The site verdict banner: who serves telephony, why we think so, and what else is wrong.

First line: severity symbol and word, then the primary verdict's title; second line its
one-line explanation; then every other finding that is not OK, worst first. The severity
also sets a CSS class (-ok, -warning, -critical, -unknown) for colour, which only repeats
what the words already say.
"""

from __future__ import annotations

from textual.widgets import Static

from resil_tui.core.cluster import Severity, SiteVerdicts

SEVERITY_WORDS = {
    Severity.OK: "✔ OK",
    Severity.WARNING: "▲ WARNING",
    Severity.CRITICAL: "✖ CRITICAL",
    Severity.UNKNOWN: "? UNKNOWN",
}

_CLASSES = ("-ok", "-warning", "-critical", "-unknown", "-waiting")


def banner_text(verdicts: SiteVerdicts, waiting_for: list[str] | None = None) -> str:
    primary = verdicts.primary
    lines = [
        # The site's worst severity (as `resil-tui status` prints it) with the primary title.
        f"{SEVERITY_WORDS[verdicts.severity]} · {primary.title}",
        f"  {primary.explanation}",
    ]
    others = sorted(
        (f for f in verdicts.findings[1:] if f.severity is not Severity.OK),
        key=lambda f: -f.severity.rank,
    )
    for finding in others:
        symbol = SEVERITY_WORDS[finding.severity]
        lines.append(f"  {symbol} {finding.title}: {finding.explanation}")
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

    def show_verdicts(self, verdicts: SiteVerdicts, waiting_for: list[str] | None = None) -> None:
        self.verdicts = verdicts
        self._set_class(f"-{verdicts.severity.value}")
        self.update(banner_text(verdicts, waiting_for))

    @property
    def text(self) -> str:
        return str(self.content)
