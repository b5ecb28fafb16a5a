"""Render a runbook as Markdown: what ``resil-tui plan failover|failback`` prints.

A printed runbook must be usable without the tool, on paper or in a ticket: every step
names its node with host and IP, the command to type, what must hold and for how long.
"""

from __future__ import annotations

import re

from resil_tui.core.runbook import (
    PART_ORDER,
    Direction,
    OnFail,
    Part,
    Runbook,
    Step,
    StepKind,
)
from resil_tui.core.sanitize import clean
from resil_tui.inventory_model import Resilience


def title(runbook: Runbook) -> str:
    w = runbook.words
    if runbook.direction is Direction.FAILOVER:
        return f"Failover to the {w.slave}"
    return f"Failback to the {w.master}"


_MODES = {
    Resilience.CLASSIC: "classic (XiVO up to 2025.10, the seed's procedure)",
    Resilience.AUTOMATIC: "automatic (next LTS: CC and Edge follow by themselves)",
    Resilience.MANUAL: "manual (next LTS: no heartbeat, services started and stopped by hand)",
}


def code(text: str) -> str:
    """A Markdown code span that survives backticks inside ``text`` (kept on one line,
    controls made visible: a span cannot end the paragraph or move the cursor)."""
    text = clean(text, one_line=True)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _duration(seconds: float) -> str:
    whole = int(seconds)
    text = f"{whole} s" if whole == seconds else f"{seconds:g} s"
    if whole >= 120 and whole % 60 == 0:
        text += f" ({whole // 60} min)"
    return text


def _parts(parts: frozenset[Part]) -> str:
    return ", ".join(p.label for p in PART_ORDER if p in parts) or "none"


def _context(runbook: Runbook) -> str:
    src, dst = runbook.source.describe(), runbook.target.describe()
    w = runbook.words
    if runbook.direction is Direction.FAILOVER:
        move = (
            f"Telephony moves from the XiVO {w.master} {src} to the XiVO {w.slave} {dst}: "
            f"CC and Edge must follow the {w.slave}."
        )
    else:
        move = (
            f"The XiVO {w.master} {dst} is back and takes telephony over again from the "
            f"XiVO {w.slave} {src}: CC and Edge must return to the {w.master}."
        )
    if runbook.resilience is Resilience.MANUAL:
        starts = w.slave if runbook.direction is Direction.FAILOVER else w.master
        follow = (
            f"Manual mode: services are started on the {starts} and stopped on the other "
            "by hand; XDS needs no action but is verified."
        )
    else:
        follow = (
            "XiVO and XDS need no action (phones and media servers follow by themselves) "
            "but are verified."
        )
    move = f"Resilience mode: {_MODES[runbook.resilience]}. {move}"
    guards = (
        "Guards run before the first action: a failing guard stops the run, or asks "
        "you to type a confirmation word."
    )
    covered = f"Parts covered: {_parts(runbook.parts)}"
    if runbook.selected != frozenset(Part):
        covered += f" (selected: {_parts(runbook.selected)})"
    return f"{move} {follow} {guards} {covered}."


def _on_fail(step: Step) -> str:
    if step.on_fail is OnFail.CONFIRM and step.confirm_word is not None:
        wait = (
            f", or wait up to {step.wait_seconds:g} s for it to hold"
            if step.wait_seconds is not None
            else ""
        )
        return f"type {code(step.confirm_word)} to go on anyway{wait}"
    if step.on_fail is OnFail.WARN:
        return "say so and go on"
    return "stop"


def _step(runbook: Runbook, number: int, step: Step) -> list[str]:
    head = f"{number}. "
    indent = " " * len(head)
    scope = step.part.label if step.part is not None else "site"
    tags = ", ".join(["guard", scope] if step.guard else [scope])
    lines = [f"{head}[{step.kind.value}] **{step.title}** ({tags})", ""]
    lines.append(f"{indent}{step.detail}")
    lines.append("")
    facts: list[str] = []
    for node_id in step.node_ids:
        node = runbook.node(node_id)
        facts.append(f"Node: {code(node_id)}" + (f", {node.describe()}" if node else ""))
    if step.shell is not None:
        where = ""
        if step.shell_local:
            where = "from your workstation"
        elif step.node_id is None and step.condition is not None:
            # A condition over several nodes (split brain): the command runs on each.
            named = [runbook.node(v) for v in step.condition.params.values()]
            labels = [n.label for n in named if n is not None]
            where = f"on {' and '.join(labels)}" if labels else ""
        facts.append(f"Command{' ' + where if where else ''}: {code(step.shell)}")
    if step.command is not None:
        facts.append(f"Action: {code(str(step.command))}")
    if step.env_changes:
        facts.append("Changes:")
    if step.condition is not None:
        facts.append(f"Condition: {code(str(step.condition))}")
    if step.timeout_seconds is not None:
        facts.append(f"Timeout: {_duration(step.timeout_seconds)}")
    if step.kind is StepKind.CHECK:
        facts.append(f"If it does not hold: {_on_fail(step)}")
    if step.kind is StepKind.MANUAL:
        facts.append("Done by a person: confirm when it is done")
    for fact in facts:
        lines.append(f"{indent}- {fact}")
        if fact == "Changes:":
            lines += [f"{indent}  - {code(str(c))}" for c in step.env_changes]
    lines.append("")
    return lines


def render_markdown(runbook: Runbook) -> str:
    head = f"# {title(runbook)}: site {runbook.site}"
    out = [head, "", _context(runbook), ""]
    if runbook.notes:
        out += ["Notes:", ""]
        out += [f"- {note}" for note in runbook.notes]
        out.append("")
    counts = {k: len(runbook.of_kind(k)) for k in StepKind}
    summary = ", ".join(f"{n} {k.value}" for k, n in counts.items() if n)
    out += [f"## Steps ({summary})", ""]
    for number, step in enumerate(runbook.steps, start=1):
        out += _step(runbook, number, step)
    return clean("\n".join(out).rstrip("\n") + "\n")
