"""Plan the switch of the Edge `.env` between the master and the slave XiVO/CC.

The seed procedure runs `sed -i "s/$MASTER_IP/$SLAVE_IP/g" .env`: dots are wildcards,
`10.0.0.1` also hits `10.0.0.10`, and every comment and unrelated variable changes, with
no preview. Here exactly four variables are switched, whole addresses only, inside their
values only; everything else (quotes, `export`, comments, CRLF, a missing final newline)
stays byte for byte. Every other occurrence of the old addresses is reported, and the
sed result is computed too so the admin can see what the old way would have broken.

Pure: text in, dataclass out. Problems are data (plan.errors), never exceptions.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Mapping, Sequence
from enum import StrEnum
from ipaddress import IPv4Address

from resil_tui.core.edge_scan import (
    Assignment,
    EnvScan,
    find_address,
    line_of,
    line_text,
    scan_env,
)
from resil_tui.core.edge_side import (
    CC_VARIABLES,
    EDGE_VARIABLES,
    PairAddresses,
    VarSide,
    covering,
    edge_targets,
    named_spans,
    side_of_value,
)
from resil_tui.core.records import record
from resil_tui.core.sanitize import clean


class Direction(StrEnum):
    TO_SLAVE = "to_slave"
    TO_MASTER = "to_master"

    @property
    def target(self) -> VarSide:
        return VarSide.SLAVE if self is Direction.TO_SLAVE else VarSide.MASTER

    @property
    def source(self) -> VarSide:
        return VarSide.MASTER if self is Direction.TO_SLAVE else VarSide.SLAVE


@record
class EdgeAddresses:
    """The site's two address pairs, from the inventory (XiVO VoIP IPs, CC IPs)."""

    xivo_master: IPv4Address
    xivo_slave: IPv4Address
    cc_master: IPv4Address
    cc_slave: IPv4Address

    def pair(self, variable: str) -> tuple[IPv4Address, IPv4Address]:
        """(master, slave) addresses a managed variable switches between."""
        if variable in CC_VARIABLES:
            return self.cc_master, self.cc_slave
        return self.xivo_master, self.xivo_slave

    def old_new(self, variable: str, direction: Direction) -> tuple[IPv4Address, IPv4Address]:
        master, slave = self.pair(variable)
        return (master, slave) if direction is Direction.TO_SLAVE else (slave, master)

    @property
    def as_pair(self) -> PairAddresses:
        return PairAddresses(self.xivo_master, self.xivo_slave, self.cc_master, self.cc_slave)


class IssueKind(StrEnum):
    # errors: the plan cannot be applied
    SAME_ADDRESS = "same_address"
    MISSING_VARIABLE = "missing_variable"
    NO_VALUE = "no_value"
    NEITHER_ADDRESS = "neither_address"
    UNLOCATED_VALUE = "unlocated_value"
    VERIFY_FAILED = "verify_failed"
    STAYS_ON_SOURCE = "stays_on_source"
    # warnings: shown to the admin, the plan still applies
    OTHER_OCCURRENCE = "other_occurrence"
    DUPLICATE_ASSIGNMENT = "duplicate_assignment"
    MIXED_STATE = "mixed_state"
    BOTH_ADDRESSES = "both_addresses"
    FOLLOWS_VARIABLE = "follows_variable"
    SHADOWED_NEITHER = "shadowed_neither"
    UNPARSED_LINE = "unparsed_line"
    COVERED_BY_RANGE = "covered_by_range"  # a range or CIDR allows the address: left as is


@record
class EdgeIssue:
    """What the admin must know about the `.env`: errors stop the switch, warnings do not."""

    kind: IssueKind
    message: str
    variable: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        return self.message


@record
class EdgeVarEntry:
    """One assignment of a managed variable (a variable assigned twice has two entries)."""

    name: str
    line: int
    old_value: str
    new_value: str  # what the plan writes (even when errors keep new_text unchanged)
    side_before: VarSide  # MASTER, SLAVE, MIXED (both addresses) or NEITHER
    replaced: int = 0  # whole addresses substituted in this value
    effective: bool = True  # False for an earlier assignment that dotenv overrides
    follows: tuple[str, ...] = ()  # `${XIVO_HOST}`-style references resolving the side

    @property
    def changed(self) -> bool:
        return self.new_value != self.old_value


@record
class Occurrence:
    """An old address the plan leaves alone (sed would have changed it)."""

    line: int
    column: int  # 1-based
    address: IPv4Address
    where: str  # "EDGE_HOST_IP", "comment", "inline comment of XIVO_HOST", "unparsed line"
    text: str  # the whole line, without its line ending


@record
class SedLine:
    """A line the seed's two `sed -i s/old/new/g` commands would change."""

    line: int
    before: str
    after: str
    same_as_plan: bool  # the plan produces this very line too


@record
class EdgeSwitchPlan:
    """The Edge `.env` switched to one side, for review before anything is written: the new text,
    what it leaves alone and why, and what the seed's sed would have changed."""

    direction: Direction
    addresses: EdgeAddresses
    old_text: str
    new_text: str  # == old_text whenever there are errors
    entries: tuple[EdgeVarEntry, ...]
    warnings: tuple[EdgeIssue, ...]
    errors: tuple[EdgeIssue, ...]
    occurrences: tuple[Occurrence, ...] = ()
    sed_would_change: tuple[SedLine, ...] = ()

    @property
    def changed(self) -> bool:
        return self.new_text != self.old_text

    @property
    def nothing_to_do(self) -> bool:
        """Already on the target side: no error and no change."""
        return not self.errors and not self.changed

    @property
    def applicable(self) -> bool:
        """Write new_text only when this is True."""
        return not self.errors and self.changed

    @property
    def sed_only(self) -> tuple[SedLine, ...]:
        """Lines sed would change but the plan does not (or not the same way)."""
        return tuple(s for s in self.sed_would_change if not s.same_as_plan)

    @property
    def old_sha256(self) -> str:
        return sha256_text(self.old_text)

    def entry(self, name: str) -> EdgeVarEntry | None:
        """The effective (last) assignment of a variable."""
        found = [e for e in self.entries if e.name == name and e.effective]
        return found[-1] if found else None

    def unified_diff(self, path: str = ".env", context: int = 3) -> str:
        return unified_diff(self.old_text, self.new_text, path, context)


def sha256_text(text: str) -> str:
    """Hex SHA-256 of the UTF-8 bytes (bytes read with surrogateescape hash as on disk)."""
    try:
        data = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        data = text.encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()


def unified_diff(old: str, new: str, path: str = ".env", context: int = 3) -> str:
    """`diff -u` text with a/ b/ headers, `\\ No newline` marked. Display text: the
    file's content is remote text, so the diff is sanitized (an escape in a value is shown
    as `␛`, a lone CR as `␍`); the plan's own texts keep every byte."""
    if old == new:
        return ""
    name = path.lstrip("/")
    lines = difflib.unified_diff(
        _diff_lines(old), _diff_lines(new), f"a/{name}", f"b/{name}", n=context
    )
    # A CRLF line shows its CR as ␍ (the diff keeps saying which lines end in CRLF).
    return clean("".join(lines).replace("\r\n", "␍\n"))


def _diff_lines(text: str) -> list[str]:
    lines = text.split("\n")
    out = [line + "\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1] + "\n\\ No newline at end of file\n")
    return out


def current_side(text: str, addresses: EdgeAddresses) -> dict[str, VarSide]:
    """Side of each managed variable (the one rule, core/edge_side.py)."""
    return edge_targets(text, addresses.as_pair).sides()


def _preflight(
    text: str, scan: EnvScan, addresses: EdgeAddresses
) -> tuple[list[EdgeIssue], list[EdgeIssue]]:
    """Problems that do not depend on the variables: the address pairs and the parse."""
    errors: list[EdgeIssue] = []
    warnings: list[EdgeIssue] = []
    for label, (master, slave) in (
        ("XiVO", addresses.pair("XIVO_HOST")),
        ("CC", addresses.pair("XIVOCC_HOST")),
    ):
        if master == slave:
            message = f"{label} master and slave have the same address {master}: nothing to switch"
            errors.append(EdgeIssue(IssueKind.SAME_ADDRESS, message))
    if not scan.aligned:
        message = "could not map dotenv's reading of the file onto its text; refusing to edit it"
        errors.append(EdgeIssue(IssueKind.UNLOCATED_VALUE, message))
    for chunk in scan.chunks:
        if chunk.parse_error:
            line = line_of(text, chunk.start)
            message = f"line {line} is not a valid assignment for dotenv; left as is"
            warnings.append(EdgeIssue(IssueKind.UNPARSED_LINE, message, line=line))
    return errors, warnings


def unset_on_every_node(plans: Sequence[EdgeSwitchPlan]) -> tuple[str, ...]:
    """The Edge variables none of a 3-server Edge's files sets (each node's plan warned it
    is not set there): a switch of the site would leave that setting where it is, on no
    node at all, so it is not a switch to make."""
    if len(plans) < 2:
        return ()
    return tuple(
        name
        for name in EDGE_VARIABLES
        if all(
            any(w.kind is IssueKind.MISSING_VARIABLE and w.variable == name for w in p.warnings)
            for p in plans
        )
    )


def plan_edge_switch(
    text: str, addresses: EdgeAddresses, direction: Direction, *, missing_ok: bool = False
) -> EdgeSwitchPlan:
    """Plan switching the four Edge variables to the direction's side. Never raises.

    `missing_ok`: a node of a 3-server Edge (web proxy, SIP proxy, TURN on their own hosts)
    may hold only the variables it uses, so a variable absent there is a warning, not an
    error; the file must still set at least one of the four."""
    scan = scan_env(text)
    errors, warnings = _preflight(text, scan, addresses)

    env = scan.values()
    entries: list[EdgeVarEntry] = []
    edits: list[tuple[int, int, str]] = []  # (start, end, replacement) inside value spans
    planned: dict[int, str] = {}  # assignment offset -> value dotenv must read afterwards
    for name in EDGE_VARIABLES:
        found = scan.assignments_of(name)
        if not found:
            if missing_ok:
                warnings.append(
                    EdgeIssue(
                        IssueKind.MISSING_VARIABLE,
                        f"{name} is not set in this node's file: nothing to switch there",
                        variable=name,
                    )
                )
                continue
            errors.append(
                EdgeIssue(
                    IssueKind.MISSING_VARIABLE, f"{name} is not set in the file", variable=name
                )
            )
            continue
        if len(found) > 1:
            lines = ", ".join(str(a.line) for a in found)
            warnings.append(
                EdgeIssue(
                    IssueKind.DUPLICATE_ASSIGNMENT,
                    f"{name} is assigned {len(found)} times (lines {lines}); dotenv uses the last "
                    "one; every assignment is switched",
                    variable=name,
                )
            )
        for index, assignment in enumerate(found):
            effective = index == len(found) - 1
            entry, entry_edits = _plan_assignment(
                text, assignment, addresses, direction, env, effective, errors, warnings
            )
            if entry is not None:
                entries.append(entry)
                if entry_edits:
                    planned[assignment.start] = entry.new_value
            edits.extend(entry_edits)

    if missing_ok and not any(scan.assignments_of(name) for name in EDGE_VARIABLES):
        errors.append(
            EdgeIssue(
                IssueKind.MISSING_VARIABLE,
                f"none of {', '.join(EDGE_VARIABLES)} is set in the file: nothing to switch",
            )
        )
    _warn_mixed(entries, direction, warnings)

    proposed = _apply(text, edits)
    if not errors:
        errors.extend(_verify(scan, scan_env(proposed), planned, entries, addresses, direction))

    occurrences = _other_occurrences(text, scan, edits, addresses, direction)
    for occ in occurrences:
        warnings.append(
            EdgeIssue(
                IssueKind.OTHER_OCCURRENCE,
                f"line {occ.line}: {occ.address} in {occ.where} is left as is "
                "(sed would change it)",
                line=occ.line,
            )
        )
    return EdgeSwitchPlan(
        direction=direction,
        addresses=addresses,
        old_text=text,
        new_text=text if errors else proposed,
        entries=tuple(entries),
        warnings=tuple(warnings),
        errors=tuple(errors),
        occurrences=tuple(occurrences),
        sed_would_change=_sed_lines(text, proposed, addresses, direction),
    )


def _plan_assignment(
    text: str,
    assignment: Assignment,
    addresses: EdgeAddresses,
    direction: Direction,
    env: Mapping[str, str | None],
    effective: bool,
    errors: list[EdgeIssue],
    warnings: list[EdgeIssue],
) -> tuple[EdgeVarEntry | None, list[tuple[int, int, str]]]:
    name, line = assignment.key, assignment.line
    if assignment.value is None:
        issue = EdgeIssue(
            IssueKind.NO_VALUE, f"{name} on line {line} has no value (no `=`)", name, line
        )
        (errors if effective else warnings).append(issue)
        return None, []
    value = assignment.value
    old, new = addresses.old_new(name, direction)
    side, follows, _ = side_of_value(name, value, dict(env), addresses.as_pair)

    def entry(new_value: str = value, replaced: int = 0) -> EdgeVarEntry:
        return EdgeVarEntry(name, line, value, new_value, side, replaced, effective, follows)

    if follows:
        warnings.append(
            EdgeIssue(
                IssueKind.FOLLOWS_VARIABLE,
                f"{name}={value!r} (line {line}) follows {', '.join(follows)}; left as is",
                name,
                line,
            )
        )
        return entry(), []
    if side is VarSide.NEITHER:
        master, slave = addresses.pair(name)
        cover = covering(value, new)
        if cover is not None:
            # A range or network that merely covers the target: nothing is named, so
            # nothing is rewritten (a range's end never is); coturn allows it anyway. One
            # that covers only the source falls through: the target would not be allowed.
            warnings.append(
                EdgeIssue(
                    IssueKind.COVERED_BY_RANGE,
                    f"{name} (line {line}) names neither {master} nor {slave}; "
                    f"{cover.text} covers {new}: left as is",
                    name,
                    line,
                )
            )
            return entry(), []
        message = (
            f"{name}={value!r} (line {line}) holds neither the master address {master} "
            f"nor the slave address {slave}"
        )
        if effective:
            errors.append(EdgeIssue(IssueKind.NEITHER_ADDRESS, message, name, line))
        else:
            warnings.append(
                EdgeIssue(
                    IssueKind.SHADOWED_NEITHER,
                    message + "; overridden later, left as is",
                    name,
                    line,
                )
            )
        return entry(), []
    if side is VarSide.MIXED:
        # Both peers already allowed: substituting would only duplicate one and lose the
        # other, so a switch back could not restore the file.
        warnings.append(
            EdgeIssue(
                IssueKind.BOTH_ADDRESSES,
                f"{name}={value!r} (line {line}) holds both the master and the slave address; "
                "left as is",
                name,
                line,
            )
        )
        return entry(), []
    if side is direction.target:
        return entry(), []
    hits = named_spans(value, old)  # never a range's end nor inside a network
    new_value, count = _replace_spans(value, hits, str(new)), len(hits)
    span = assignment.value_span
    raw_hits = [] if span is None else named_spans(text[span[0] : span[1]], old)
    if span is None or len(raw_hits) != count:
        errors.append(
            EdgeIssue(
                IssueKind.UNLOCATED_VALUE,
                f"could not locate the value of {name} on line {line} in the text; not editing it",
                name,
                line,
            )
        )
        return entry(new_value, count), []
    edits = [(span[0] + s, span[0] + e, str(new)) for s, e in raw_hits]
    return entry(new_value, count), edits


def _replace_spans(value: str, spans: list[tuple[int, int]], new: str) -> str:
    out, last = [], 0
    for start, end in spans:
        out += [value[last:start], new]
        last = end
    return "".join([*out, value[last:]])


def _warn_mixed(
    entries: list[EdgeVarEntry], direction: Direction, warnings: list[EdgeIssue]
) -> None:
    effective = [e for e in entries if e.effective]
    done = [e.name for e in effective if e.side_before is direction.target]
    todo = [e.name for e in effective if e.side_before is direction.source]
    if done and todo:
        warnings.append(
            EdgeIssue(
                IssueKind.MIXED_STATE,
                f"mixed state: already on {direction.target.value}: {', '.join(done)}; "
                f"still on {direction.source.value} (switching): {', '.join(todo)}",
            )
        )


def _apply(text: str, edits: list[tuple[int, int, str]]) -> str:
    out: list[str] = []
    cursor = 0
    for start, end, replacement in sorted(edits):
        out.append(text[cursor:start])
        out.append(replacement)
        cursor = end
    out.append(text[cursor:])
    return "".join(out)


def _verify(
    before: EnvScan,
    after: EnvScan,
    planned: Mapping[int, str],
    entries: list[EdgeVarEntry],
    addresses: EdgeAddresses,
    direction: Direction,
) -> list[EdgeIssue]:
    """Re-read the proposal with dotenv: each binding must read as planned (edited ones)
    or as before (all others), and every managed variable must end on the target side."""
    old, new = before.assignments, after.assignments
    if not after.aligned or [a.key for a in old] != [b.key for b in new]:
        message = "dotenv reads the rewritten file differently (bindings moved); not editing"
        return [EdgeIssue(IssueKind.VERIFY_FAILED, message)]
    for a, b in zip(old, new, strict=True):
        expected = planned.get(a.start, a.value)
        if b.value != expected:
            message = (
                f"dotenv reads {a.key} on line {a.line} of the rewritten file as {b.value!r}, "
                f"expected {expected!r}; not editing"
            )
            return [EdgeIssue(IssueKind.VERIFY_FAILED, message, a.key, a.line)]
    issues: list[EdgeIssue] = []
    sides = current_side(after.text, addresses)
    for entry in entries:
        stays = entry.side_before is VarSide.MIXED  # both addresses: left as is on purpose
        # A range or network covering the target allows it without naming it (warned).
        stays = stays or (
            entry.side_before is VarSide.NEITHER
            and covering(entry.new_value, addresses.old_new(entry.name, direction)[1]) is not None
        )
        if not entry.effective or stays or sides[entry.name] is direction.target:
            continue
        via = f" through {', '.join(entry.follows)}" if entry.follows else ""
        message = (
            f"{entry.name}={entry.old_value!r} (line {entry.line}) would still point to the "
            f"{sides[entry.name].value} side{via} after the switch; edit it by hand"
        )
        issues.append(EdgeIssue(IssueKind.STAYS_ON_SOURCE, message, entry.name, entry.line))
    return issues


def _other_occurrences(
    text: str,
    scan: EnvScan,
    edits: list[tuple[int, int, str]],
    addresses: EdgeAddresses,
    direction: Direction,
) -> list[Occurrence]:
    edited = {start for start, _end, _new in edits}
    olds = sorted({addresses.old_new(n, direction)[0] for n in EDGE_VARIABLES})
    found: list[Occurrence] = []
    for address in olds:
        for start, _end in find_address(text, address):
            if start in edited:
                continue
            line = line_of(text, start)
            column = start - (text.rfind("\n", 0, start) + 1) + 1
            found.append(
                Occurrence(line, column, address, _where(scan, start), line_text(text, line))
            )
    found.sort(key=lambda o: (o.line, o.column))
    return found


def _where(scan: EnvScan, offset: int) -> str:
    chunk = scan.chunk_at(offset)
    if chunk is None:
        return "text"
    if chunk.parse_error:
        return "unparsed line"
    a = chunk.assignment
    if a is None:
        return "comment"
    if a.value_span is not None and a.value_span[0] <= offset < a.value_span[1]:
        return a.key
    if a.value_span is not None and offset >= a.value_span[1]:
        return f"inline comment of {a.key}"
    return f"assignment of {a.key}"


def _sed_lines(
    text: str, proposed: str, addresses: EdgeAddresses, direction: Direction
) -> tuple[SedLine, ...]:
    """What the seed's `sed -i "s/$OLD/$NEW/g"` (XiVO, then CC) does: line by line,
    the address is a regex (dots match any character) and nothing marks its ends."""
    commands = [addresses.old_new(name, direction) for name in ("XIVO_HOST", "XIVOCC_HOST")]
    planned = proposed.split("\n")
    out: list[SedLine] = []
    for index, line in enumerate(text.split("\n")):
        after = line
        for old, new in commands:
            # str(IPv4Address) is digits and dots only: used as-is it is sed's BRE.
            after = re.sub(str(old), str(new), after)
        if after != line:
            same = index < len(planned) and planned[index] == after
            out.append(SedLine(index + 1, line.removesuffix("\r"), after.removesuffix("\r"), same))
    return tuple(out)
