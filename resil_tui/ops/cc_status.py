"""What a status poll reads on a CC node, and how it becomes the node's `CcStatus`.

The reads are a list of parts (`cc_parts`: a name and a read-only catalog `Command` each)
and `cc_status` is a pure function of their outputs, so a caller may run the parts however
it likes and hand the outputs back by name: the status poll batches them into one remote
execution (ops/status.py), the wizard's xuc wait runs them itself (ops/xuc_wait.py).

The parts: `xivocc-dcomp ps -a` (the stack's containers), `docker inspect` of the xuc
container (the start of its current run, exact; its health check when it has one), a
bounded tail of `xivocc-dcomp logs -t xuc` (XUC_LOG_LINES lines; `--since` the start the
previous poll saw, when the wrapper accepts it: docker-compose 1.x refuses `--since`, the
first refusal is retried without it and remembered), and the HTTP probe when the inventory
configures one. What "ready" means from them is core/xuc_readiness.py.

Once a poll has seen the run ready with its readiness line, the next ones read only the
log's last STEADY_LOG_LINES: the run stays ready whatever the window holds (`kept_ready`),
and the log's end (the next run's anchor, the detail view) is all they read it for. When
the window decides a short read's verdict (another run, up and not seen ready:
`CcStatus.window_decided`), the poll reads the usual window after it and judges again
(ops/status.py), so its verdict is the one the usual window gives (when that read fails,
the one a log that could not be read gives); a container down or failing its health
check is judged without the window, from the short read as well. On the lab's full sites
that is four fifths of a refresh's bytes (200 nodes: 5.2 MB received, now 1.1 MB), and a
real CC node's docker sends 20 lines a poll, not up to 400.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime

from resil_tui.core.batch import PartOutput
from resil_tui.core.compose import parse_compose_ps
from resil_tui.core.log_lines import since_argument
from resil_tui.core.node_status import CcStatus
from resil_tui.core.records import record
from resil_tui.core.xuc_readiness import (
    Anchor,
    LogWindow,
    StartSource,
    XucReadiness,
    XucRun,
    XucState,
    fingerprint,
    judge,
    kept_ready,
    parse_inspect,
    parse_probe,
    run_of,
    window_decides,
)
from resil_tui.inventory_model import Node
from resil_tui.ops.last_parse import LastParse
from resil_tui.remote import commands as cat
from resil_tui.remote.commands import Command
from resil_tui.remote.pool import Result

# Lines of the xuc log read per poll: enough for a start-up and what follows it, never the
# whole history of a container that has run for weeks.
XUC_LOG_LINES = 400
# Read once per run when a poll's window does not reach back to the run's start (a busy
# xuc up for days): afterwards the line seen keeps the run ready.
DEEP_LOG_LINES = 20_000
# Lines of that read kept in the poll's raw outputs (the detail view); the rest is summed up.
RAW_LOG_LINES = 20
# Lines read while the run stays ready (module doc): the detail view's lines, which hold
# the anchor's.
STEADY_LOG_LINES = RAW_LOG_LINES
# `--since` this much before the start the previous poll saw: clocks and rounding.
SINCE_SLACK = 5.0

PS, INSPECT, LOGS, PROBE = "ps", "inspect", "logs", "probe"
PARTS = "parts"  # the name the commands are kept under in a node's LastParse


@record
class CcPart:
    """One read of a CC poll: its read-only command, and the name its output comes back under."""

    name: str
    command: Command


def part_of(result: Result) -> PartOutput:
    return PartOutput(result.stdout, result.stderr, result.exit_status)


def _names(node: Node, previous: CcStatus | None) -> list[str]:
    names = list(node.xuc.containers)
    listed = previous.containers.service("xuc") if previous and previous.containers else None
    if listed is not None and listed.name not in names:
        names.append(listed.name)  # what ps called it last time (another project name)
    return names


def _since_start(previous: CcStatus | None) -> float | None:
    """The start the previous poll saw, when the log is to be read --since it."""
    run = previous.xuc.run if previous is not None and previous.xuc is not None else None
    if (
        previous is not None
        and previous.logs_since_ok is not False
        and run is not None
        and run.started_at is not None
    ):
        return run.started_at
    return None


def _logs_since(started_at: float | None, tail: int = XUC_LOG_LINES) -> Command:
    """The bounded read of the xuc log: --since the previous poll's start when it works."""
    since: str | None = None
    if started_at is not None:
        since = since_argument(datetime.fromtimestamp(started_at - SINCE_SLACK, UTC))
    return cat.compose_logs("xivocc-dcomp", "xuc", tail=tail, since=since, timestamps=True)


def window_lines(previous: CcStatus | None) -> int:
    """The lines of the xuc log a poll asks for, after `previous` (module doc)."""
    xuc = previous.xuc if previous is not None else None
    if xuc is not None and kept_ready(xuc.run, xuc):
        return STEADY_LOG_LINES
    return XUC_LOG_LINES


def window_command(previous: CcStatus | None) -> Command:
    """The usual read of the xuc log, for a poll whose short read decided its verdict."""
    return _logs_since(_since_start(previous))


def _parts(given: tuple[Node, tuple[str, ...], float | None, int]) -> tuple[CcPart, ...]:
    node, names, started_at, tail = given
    parts = [
        CcPart(PS, cat.xivocc_ps()),
        CcPart(INSPECT, cat.docker_inspect(names)),
        CcPart(LOGS, _logs_since(started_at, tail)),
    ]
    if node.xuc.probe_url is not None:
        parts.append(CcPart(PROBE, cat.http_probe(node.xuc.probe_url, node.xuc.probe_timeout)))
    return tuple(parts)


def cc_parts(
    node: Node, previous: CcStatus | None = None, *, memo: LastParse | None = None
) -> list[CcPart]:
    """The read-only commands a CC poll runs, by name. They depend on the node, the
    container names, the run's start the previous poll saw and whether it stays ready
    (`window_lines`), nothing else: with `memo` (the node's LastParse), the commands of
    the last poll when those are the same, so a poll does not build and quote them again."""
    given = (node, tuple(_names(node, previous)), _since_start(previous), window_lines(previous))
    return list(memo.get(PARTS, _parts, given) if memo is not None else _parts(given))


# docker-compose 1.x (docopt) answers an unknown option with the command's usage text.
_USAGE = re.compile(r"^Usage:|View output from containers", re.MULTILINE)


def since_refused(output: PartOutput) -> bool:
    return not output.ok and _USAGE.search(output.stderr + output.stdout) is not None


def _first_line(text: str) -> str:
    lines = [x.strip() for x in text.strip().splitlines() if x.strip()]
    return lines[0] if lines else ""


def _poll_anchor(previous: CcStatus | None) -> Anchor | None:
    """The log's end at the previous poll, when it may serve as an anchor for a new run:
    that poll saw its run ready (its readiness line was already before that end) or
    stopped (it logged nothing after)."""
    xuc = previous.xuc if previous is not None else None
    if previous is None or xuc is None or xuc.run is None or xuc.judged_at is None:
        return None
    if previous.log_tail is None:  # its log was not read: no end known to anchor to
        return None
    if xuc.state not in (XucState.READY, XucState.DOWN):
        return None
    return Anchor(previous.log_tail, xuc.judged_at, xuc.run, "the log's end at the last poll")


def _inspected(given: tuple[str, tuple[str, ...]]) -> XucRun | None:
    text, names = given
    return parse_inspect(text, names) if text else None


def _window_lines(text: str) -> tuple[tuple[str, ...], int]:
    """The window's lines that hold something, and how many lines the answer had: a
    window is as long as the tail asked for counting its blank lines (a log may hold
    some), and one counted without them would pass for the whole log."""
    # Counted as docker's --tail counts them, by "\n" (splitlines also splits at \f, \x85...).
    answered = text.count("\n") + (1 if text and not text.endswith("\n") else 0)
    # filter(str.strip, ...) keeps the lines `if x.strip()` keeps, without a Python-level
    # test per line (a window is hundreds of lines).
    return tuple(filter(str.strip, text.splitlines())), answered


def cc_status(
    node: Node,
    outputs: Mapping[str, PartOutput],
    now: float,
    previous: CcStatus | None = None,
    *,
    since_used: bool = False,
    anchor: Anchor | None = None,
    tail: int = XUC_LOG_LINES,
    memo: LastParse | None = None,
) -> CcStatus:
    """The CC node's status from the parts' outputs (pure). `since_used`: the logs part
    was run with `--since`; `anchor`: a point in the log known to be at or after the run
    began (the product's restart), else the previous poll's log end may serve. `tail`: the
    lines the logs part asked for (as many back means older ones exist). `memo`: the last
    polls' parses of this node (ops/last_parse.py): ps's table, inspect's run and the log's
    lines are functions of their text alone, and an unchanged text is not parsed again;
    the run's start from ps and the verdict depend on `now` and are judged every time."""
    memo = memo if memo is not None else LastParse()
    ps_out = outputs.get(PS)
    ps = memo.get(PS, parse_compose_ps, ps_out.stdout) if ps_out is not None and ps_out.ok else None
    inspect = outputs.get(INSPECT)
    prefer = StartSource.PS if node.xuc.start_from == "ps" else StartSource.INSPECT
    names = tuple(_names(node, previous))
    inspected = memo.get(
        INSPECT, _inspected, (inspect.stdout if inspect is not None else "", names)
    )
    run = run_of(inspected, ps, now, prefer=prefer)
    logs = outputs.get(LOGS)
    since_ok = previous.logs_since_ok if previous is not None else None
    window: LogWindow | None = None
    end: tuple[str, ...] | None = None
    if logs is not None:
        if since_used:
            since_ok = not since_refused(logs)
        lines, answered = memo.get(LOGS, _window_lines, logs.stdout)
        if logs.ok:
            window = LogWindow(lines, full=answered >= tail, whole=not since_used)
            end = fingerprint(lines)
        else:
            why = _first_line(logs.stderr) or _first_line(logs.stdout) or f"exit {logs.exit_status}"
            window = LogWindow(lines, full=True, error=why)
    probe_out = outputs.get(PROBE)
    probe = None
    if probe_out is not None and node.xuc.probe_url is not None:
        probe = parse_probe(
            node.xuc.probe_url, probe_out.stdout, probe_out.stderr, probe_out.exit_status
        )
    if anchor is None:
        last = _poll_anchor(previous)
        if last is not None and run is not None and not run.same_run(last.run):
            anchor = last  # the run changed since the last poll
    before = previous.xuc if previous is not None else None
    readiness: XucReadiness = judge(
        run,
        window,
        pattern=re.compile(node.readiness_pattern),
        now=now,
        grace=node.xuc.grace,
        probe=probe,
        anchor=anchor,
        previous=before,
    )
    return CcStatus(
        containers=ps,
        xuc=readiness,
        log_tail=end,
        logs_since_ok=since_ok,
        window_decided=window is not None and window_decides(run, before, anchor),
    )


def deep_logs_command() -> Command:
    """The one deeper read of the xuc log, when the start-up is out of the usual window."""
    return cat.compose_logs("xivocc-dcomp", "xuc", tail=DEEP_LOG_LINES, timestamps=True)


def plain_logs_command() -> Command:
    """The xuc log read without `--since`: for a wrapper that refused it."""
    return cat.compose_logs("xivocc-dcomp", "xuc", tail=XUC_LOG_LINES, since=None, timestamps=True)


def trim_log_raw(shown: str) -> str:
    """The logs part as kept for the detail view: its last RAW_LOG_LINES lines."""
    lines = shown.splitlines()
    if len(lines) <= RAW_LOG_LINES + 1:
        return shown
    cut = len(lines) - RAW_LOG_LINES - 1
    return "\n".join([f"… {cut} earlier lines not shown", *lines[-RAW_LOG_LINES - 1 :]])
