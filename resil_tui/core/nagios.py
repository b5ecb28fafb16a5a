"""`resil-tui check` output, per the Nagios plugin guidelines (also what Icinga, Zabbix,
Sensu and Naemon accept).

    RESIL OK - paris: normal, master active | 'nodes_up'=7;;;0;7 'latency_max'=0.054s;1;5;0

The first line is the service state, a short text and the performance data; then one
line per finding that is not OK (the long output). Exit 0 OK, 1 WARNING, 2 CRITICAL,
3 UNKNOWN (core/cluster.py's severities; latency above its thresholds adds its own
finding). Finding texts quote what nodes printed: sanitized, on one line, and a `|`
(which would start performance data) shown as `¦`.

Pure: it renders verdicts and snapshots it is given.
"""

from __future__ import annotations

from collections.abc import Sequence

from resil_tui.core.cluster import Severity, SiteVerdicts, exit_code, worst
from resil_tui.core.node_status import SiteSnapshot
from resil_tui.core.records import record
from resil_tui.core.sanitize import clean

PREFIX = "RESIL"
_STATE = {
    Severity.OK: "OK",
    Severity.WARNING: "WARNING",
    Severity.CRITICAL: "CRITICAL",
    Severity.UNKNOWN: "UNKNOWN",
}


@record
class Thresholds:
    latency_warning: float = 1.0  # seconds
    latency_critical: float = 5.0


@record
class PluginResult:
    code: int
    text: str  # every line, ending with a newline

    @property
    def first_line(self) -> str:
        return self.text.split("\n", 1)[0]


@record
class SiteCheck:
    snapshot: SiteSnapshot
    verdicts: SiteVerdicts
    waiting: tuple[str, ...] = ()  # nodes that did not answer within the check's time


def _plain(text: str) -> str:
    return clean(text, one_line=True).replace("|", "¦").strip()


def _label(site: str, name: str, many: bool) -> str:
    label = f"{site}_{name}" if many else name
    return "'" + label.replace("'", "") + "'"


def _summary(v: SiteVerdicts) -> str:
    text = f"{v.site}: {v.primary.code.value.replace('_', ' ')}"
    side = v.active_side
    text += f", {side} active" if side else ", no XiVO seen active"
    head = v.headline
    if head is not v.primary and head.severity.rank > v.primary.severity.rank:
        text += f"; {head.title}"
    return _plain(text)


def plugin_output(sites: Sequence[SiteCheck], thresholds: Thresholds) -> PluginResult:
    many = len(sites) > 1
    severities: list[Severity] = []
    perf: list[str] = []
    long: list[str] = []
    summaries: list[str] = []
    for check in sites:
        v = check.verdicts
        site = v.site
        severities.append(v.severity)
        summaries.append(_summary(v))
        for f in v.ordered():
            evidence = f" ({'; '.join(f.evidence[:2])})" if f.evidence else ""
            long.append(
                _plain(f"{_STATE[f.severity]} {site}: {f.title}: {f.explanation}{evidence}")
            )
        for node in check.waiting:
            long.append(_plain(f"UNKNOWN {site}: {node}: no answer within the check's time"))
        nodes = list(check.snapshot.nodes.values())
        up = sum(1 for n in nodes if n.reachability.ok)
        latencies = [
            n.latency_seconds for n in nodes if n.reachability.ok and n.latency_seconds is not None
        ]
        latency = max(latencies, default=None)
        if latency is not None and latency >= thresholds.latency_warning:
            slow = max(
                (n for n in nodes if n.latency_seconds == latency), key=lambda n: n.node_id
            ).node_id
            over_critical = latency >= thresholds.latency_critical
            sev = Severity.CRITICAL if over_critical else Severity.WARNING
            limit = thresholds.latency_critical if over_critical else thresholds.latency_warning
            severities.append(sev)
            long.append(
                f"{_STATE[sev]} {site}: latency {latency:.3f}s on {slow} (limit {limit:g}s)"
            )
        crit = sum(1 for f in v.findings if f.severity is Severity.CRITICAL)
        warn = sum(1 for f in v.findings if f.severity is Severity.WARNING)
        shown = f"{latency:.3f}s" if latency is not None else "U"
        perf += [
            f"{_label(site, 'nodes_up', many)}={up};;;0;{len(nodes)}",
            f"{_label(site, 'latency_max', many)}={shown};"
            f"{thresholds.latency_warning:g};{thresholds.latency_critical:g};0",
            f"{_label(site, 'findings_critical', many)}={crit};;;0",
            f"{_label(site, 'findings_warning', many)}={warn};;;0",
        ]
    state = worst(severities)
    head = f"{PREFIX} {_STATE[state]} - {'; '.join(summaries) or 'no site'}"
    text = f"{head} | {' '.join(perf)}\n" + "".join(line + "\n" for line in long)
    return PluginResult(exit_code(state), text)


def unknown_output(reason: str) -> PluginResult:
    """The plugin could not tell (timeout, bad inventory, bad arguments): UNKNOWN, 3."""
    return PluginResult(exit_code(Severity.UNKNOWN), f"{PREFIX} UNKNOWN - {_plain(reason)}\n")
