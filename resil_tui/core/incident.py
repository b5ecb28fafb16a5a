"""The figures of an incident, from the journal: when it began, how long telephony was
out, how long until the target side served, xuc served again, the Edge followed, and the
site recovered. The wizard's record shows them as one section (`incident_section`).

The incident starts at its first sign: the first change of the XiVO pair (reachability,
telephony, HA role) or of the site verdict after the site was last seen in its steady
state before the run (failover: verdict normal; failback: verdict failed_over), or the
run's start when the journal saw nothing. Telephony is unavailable while the verdict says
no XiVO is seen serving (no_telephony, unknown); how much of that the verdict was unknown
(who serves could not be told: a XiVO unreachable, not seen down) is said apart.

Every time is when a poll saw the change (the watcher's or the console's), so each figure
is late by up to one poll interval: the record says so. xuc readiness comes first from
the run's own xuc wait (the readiness line of the current run), else from the journal.

Pure: everything comes from the run and the events given.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from resil_tui.core.cluster import Topology, Verdict
from resil_tui.core.journal_event import EventKind, JournalEvent
from resil_tui.core.records import record
from resil_tui.core.wizard_run import StepState, WizardRun

# How far before the run's start the journal is searched for the first sign.
LOOKBACK_SECONDS = 7 * 86400.0
UNAVAILABLE = frozenset({Verdict.NO_TELEPHONY.value, Verdict.UNKNOWN.value})
_PAIR_KINDS = frozenset({EventKind.REACHABILITY, EventKind.TELEPHONY, EventKind.HA_ROLE})
TIMELINE_LINES = 40


@record
class Outage:
    start: float
    end: float | None  # None: still unavailable when the record was written


@record
class Milestone:
    at: float | None  # None: not observed
    how: str  # where the time comes from / what was seen


@record
class IncidentFigures:
    direction: str  # "failover" | "failback"
    target: str  # "slave" | "master"
    run_started_at: float
    end: float  # the last moment the figures cover
    first_sign: JournalEvent | None
    journal_begins: float | None  # the first entry of the site (None: no entry at all)
    outages: tuple[Outage, ...]
    unknown_seconds: float  # of the outages, the time the verdict was unknown
    target_active: Milestone
    xuc_served: Milestone | None  # None: the site has no CC on the target side
    edge_followed: Milestone | None  # None: the site has no Edge
    timeline: tuple[JournalEvent, ...]  # the incident's entries, oldest first
    # The phones registered on the target: the run's phones wait, else the journal's
    # phones fact (None: the site's journal never counted phones).
    phones_moved: Milestone | None = None

    @property
    def start(self) -> float:
        return self.first_sign.time if self.first_sign is not None else self.run_started_at

    @property
    def recovered(self) -> Milestone:
        parts = [self.target_active, self.xuc_served, self.edge_followed]
        wanted = [m for m in parts if m is not None]
        missing = [m for m in wanted if m.at is None]
        if missing:
            return Milestone(None, "not all of it was seen")
        latest = max(m.at for m in wanted if m.at is not None)
        return Milestone(latest, "the last of them")

    @property
    def unavailable_seconds(self) -> float:
        return sum((o.end if o.end is not None else self.end) - o.start for o in self.outages)


def _sorted(events: Sequence[JournalEvent], site: str) -> list[JournalEvent]:
    return sorted((e for e in events if e.site == site), key=lambda e: e.time)


def _value_at(
    events: list[JournalEvent], node: str | None, kind: EventKind, t: float
) -> str | None:
    value = None
    for e in events:
        if e.time > t:
            break
        if e.node == node and e.kind is kind:
            value = e.after
    return value


def _first(
    events: list[JournalEvent], t: float, node: str | None, kind: EventKind, values: frozenset[str]
) -> JournalEvent | None:
    return next(
        (
            e
            for e in events
            if e.time >= t and e.node == node and e.kind is kind and e.after in values
        ),
        None,
    )


def incident_figures(
    run: WizardRun, events: Sequence[JournalEvent], topology: Topology
) -> IncidentFigures:
    failover = run.direction == "failover"
    target = "slave" if failover else "master"
    steady = Verdict.NORMAL.value if failover else Verdict.FAILED_OVER.value
    site = _sorted(events, run.site)
    observed = [e for e in site if e.kind.observed]
    end = run.finished_at or run.updated_at or run.started_at
    end = max([end, *(e.time for e in site if e.time <= end + 1.0)])

    pair = {topology.xivo_master_id, topology.xivo_slave_id}
    before = [e for e in observed if run.started_at - LOOKBACK_SECONDS <= e.time <= run.started_at]
    steady_at = max(
        (e.time for e in before if e.kind is EventKind.VERDICT and e.after == steady), default=None
    )
    signs = [
        e
        for e in before
        if (steady_at is None or e.time > steady_at)
        and (e.kind is EventKind.VERDICT or (e.kind in _PAIR_KINDS and e.node in pair))
    ]
    first_sign = signs[0] if signs else None
    start = first_sign.time if first_sign is not None else run.started_at

    outages: list[Outage] = []
    verdict = _value_at(observed, None, EventKind.VERDICT, start)
    opened: float | None = start if verdict in UNAVAILABLE else None
    unknown, since = 0.0, start
    for e in observed:
        if e.kind is not EventKind.VERDICT or not start < e.time <= end:
            continue
        if verdict == Verdict.UNKNOWN.value:
            unknown += e.time - since
        verdict, since = e.after, e.time
        if e.after in UNAVAILABLE and opened is None:
            opened = e.time
        elif e.after not in UNAVAILABLE and opened is not None:
            outages.append(Outage(opened, e.time))
            opened = None
    if opened is not None:
        outages.append(Outage(opened, None))
    if verdict == Verdict.UNKNOWN.value:
        unknown += end - since

    target_id = topology.xivo_slave_id if failover else topology.xivo_master_id
    alone = Verdict.FAILED_OVER.value if failover else Verdict.NORMAL.value
    seen = _first(observed, start, None, EventKind.VERDICT, frozenset({alone}))
    if seen is not None and seen.time <= end:
        target_active = Milestone(seen.time, f"verdict {alone}")
    else:
        active = _first(observed, start, target_id, EventKind.TELEPHONY, frozenset({"active"}))
        target_active = (
            Milestone(active.time, f"{target_id} telephony active")
            if active is not None and active.time <= end
            else Milestone(None, f"{target_id} not seen serving telephony")
        )

    cc_id = topology.cc_slave_id if failover else topology.cc_master_id
    xuc_served = _xuc_served(run, site, start, end, cc_id) if cc_id is not None else None

    edge_followed: Milestone | None = None
    if topology.edge_ids:
        # Several Edge nodes (a 3-server install) followed once the last one did.
        each = [_edge_followed(observed, start, end, e, target) for e in topology.edge_ids]
        missing = [m for m in each if m.at is None]
        if missing:
            edge_followed = Milestone(None, "; ".join(m.how for m in missing))
        else:
            last = max(each, key=lambda m: m.at or 0.0)
            edge_followed = Milestone(last.at, "; ".join(m.how for m in each))

    return IncidentFigures(
        direction=run.direction,
        target=target,
        run_started_at=run.started_at,
        end=end,
        first_sign=first_sign,
        journal_begins=site[0].time if site else None,
        outages=tuple(outages),
        unknown_seconds=unknown,
        target_active=target_active,
        xuc_served=xuc_served,
        edge_followed=edge_followed,
        timeline=tuple(e for e in site if start <= e.time <= end),
        phones_moved=_phones_moved(run, site, start, end, target),
    )


def _edge_followed(
    observed: list[JournalEvent], start: float, end: float, edge_id: str, target: str
) -> Milestone:
    if _value_at(observed, edge_id, EventKind.EDGE_SIDE, start) == target:
        return Milestone(start, f"{edge_id} already pointed to the {target}")
    moved = _first(observed, start, edge_id, EventKind.EDGE_SIDE, frozenset({target}))
    if moved is not None and moved.time <= end:
        return Milestone(moved.time, f"{edge_id} -> {target}")
    return Milestone(None, f"{edge_id} not seen pointing to the {target}")


def _phones_moved(
    run: WizardRun, site: list[JournalEvent], start: float, end: float, target: str
) -> Milestone | None:
    for rec in run.steps:
        if (
            rec.step_id == "xivo.wait_phones_registered"
            and rec.state is StepState.DONE
            and rec.finished_at is not None
        ):
            return Milestone(rec.finished_at, "the wizard's phones wait: " + rec.message)
    if not any(e.kind is EventKind.PHONES for e in site):
        return None
    moved = _first(site, start, None, EventKind.PHONES, frozenset({target}))
    if moved is not None and moved.time <= end:
        return Milestone(moved.time, f"the journal: {moved.evidence}")
    return Milestone(None, f"phones not seen all on the {target}")


def _xuc_served(
    run: WizardRun, site: list[JournalEvent], start: float, end: float, cc_id: str
) -> Milestone:
    # The run's own wait saw the readiness line of the xuc it restarted: the best witness,
    # of when it was ready at the latest (the wait may have been started late); a poll
    # that saw it ready before that tells the time better.
    waited = min(
        (
            rec.finished_at
            for rec in run.steps
            if rec.kind == "wait"
            and rec.node_id == cc_id
            and rec.state is StepState.DONE
            and rec.finished_at is not None
        ),
        default=None,
    )
    restarts = [
        e.time
        for e in site
        if e.kind is EventKind.ACTION and e.node == cc_id and "restart" in e.evidence
    ]
    since = max([start, *(t for t in restarts if t <= end)])
    ready = _first(site, since, cc_id, EventKind.XUC, frozenset({"ready"}))
    polled = ready.time if ready is not None and ready.time <= end else None
    if polled is not None and (waited is None or polled < waited):
        return Milestone(polled, f"{cc_id} xuc ready (status poll)")
    if waited is not None:
        return Milestone(waited, "the wizard's xuc wait saw the readiness line (ready by then)")
    return Milestone(None, f"{cc_id} xuc not seen ready")


# --- the record's section ----------------------------------------------------------------


def _clock(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def span(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _milestone(label: str, m: Milestone, start: float) -> str:
    if m.at is None:
        return f"- {label}: not observed ({m.how})"
    return f"- {label}: {span(max(0.0, m.at - start))} ({_clock(m.at)}; {m.how})"


def incident_section(figures: IncidentFigures | None) -> list[str]:
    """Markdown lines of the record's "Incident figures" section (none without figures)."""
    if figures is None:
        return []
    f = figures
    out = ["## Incident figures (from the journal)", ""]
    if f.journal_begins is None:
        out += [
            "The journal has no entry for this site around the run, so there are no figures "
            "(keep `resil-tui watch` running, or the console open, to record incidents).",
            "",
        ]
        return out
    start = f.start
    if f.first_sign is not None:
        out.append(f"- First sign: {_clock(start)}: {f.first_sign.describe()}")
        if f.first_sign.before is None:
            out.append(
                "- The journal begins during the incident "
                f"({_clock(f.journal_begins)}): it may have started earlier."
            )
    else:
        out.append(
            f"- First sign: none in the journal; counted from the run's start ({_clock(start)})"
        )
    if f.run_started_at > start:
        out.append(f"- The wizard started {span(f.run_started_at - start)} after the first sign.")
    if f.outages:
        spans = "; ".join(
            f"{_clock(o.start)} → {_clock(o.end) if o.end is not None else 'still at the end'}"
            for o in f.outages
        )
        total = span(f.unavailable_seconds)
        out.append(f"- Outage (telephony unavailable: no XiVO seen serving): {total} ({spans})")
        if f.unknown_seconds > 0:
            out.append(
                f"  - of which {span(f.unknown_seconds)} with the verdict unknown: no XiVO "
                "seen serving, and who serves could not be told"
            )
    else:
        out.append("- Outage (telephony unavailable: no XiVO seen serving): none seen")
    side = f.target
    head = "Time to failover" if f.direction == "failover" else "Time to failback"
    alone = " alone" if f.direction == "failback" else ""
    out.append(_milestone(f"{head} (the {side} serves telephony{alone})", f.target_active, start))
    if f.xuc_served is not None:
        out.append(_milestone(f"Time until xuc served again on the {side} CC", f.xuc_served, start))
    if f.edge_followed is not None:
        out.append(
            _milestone(f"Time until the Edge followed (to the {side})", f.edge_followed, start)
        )
    if f.phones_moved is not None:
        out.append(
            _milestone(f"Time until the phones registered on the {side}", f.phones_moved, start)
        )
    parts = (
        ["telephony"]
        + (["xuc"] if f.xuc_served else [])
        + (["the Edge"] if f.edge_followed else [])
    )
    out.append(
        _milestone(f"Time to recover ({', '.join(parts)} on the {side})", f.recovered, start)
    )
    out += [
        "",
        "Each time is when a poll saw the change, so a figure can be late by up to one poll "
        "interval of the watcher or console that saw it.",
        "",
    ]
    if f.timeline:
        shown = f.timeline[-TIMELINE_LINES:]
        cut = len(f.timeline) - len(shown)
        out += [
            f"### Journal ({len(f.timeline)} entries"
            + (f", last {len(shown)}" if cut else "")
            + ")",
            "",
        ]
        out += [f"- {_clock(e.time)} {e.describe()}" for e in shown]
        out.append("")
    return out
