"""One XiVO node's HA state as the HA pane shows it: mode, peer, cron, SIP expiry, registrar."""

from __future__ import annotations

from textual.widgets import Static

from resil_tui.core.roles import role_words
from resil_tui.inventory_model import Node
from resil_tui.ops.ha import HaNodeState, HaSiteState


def card_lines(node: Node, state: HaSiteState | None, restart_pending: bool) -> list[str]:
    words = role_words(state.site.resilience) if state is not None else None
    role = (words.of(node.side) if words else node.side.value) if node.side else "?"
    lines = [f"{node.id}  ({role} in the inventory, VoIP {node.ip or '?'})"]
    ns: HaNodeState | None = state.node(node.id) if state is not None else None
    if state is None or ns is None:
        lines.append("  not read yet")
        return lines
    lines.append(f"  telephony: {state.xivo_state(node.id).value}")
    if not ns.reachable:
        lines.append(f"  ✖ unreachable: {ns.snapshot.reachability.message}")
        return lines
    ha = ns.ha
    if ha is not None:
        peer = str(ha.peer) if ha.peer else "none"
        lines.append(
            f"  HA mode: {words.mode(ha.mode.value) if words else ha.mode.value}   peer: {peer}"
            + ("" if ha.present else "   (no ha.conf)")
        )
        lines.extend(f"  ⚠ {p}" for p in ha.problems)
    cron = ns.cron
    if cron is not None:
        lines.append(f"  cron: {cron.state.value}")
        for entry in (e for f in (cron.master, cron.slave) for e in f.active_entries):
            lines.append(f"    {entry.schedule} {entry.program} {entry.ip or ''}".rstrip())
        if ha is not None:
            lines.extend(f"  ⚠ cron: {p}" for p in cron.problems(ha.mode, ha.peer))
    check = ns.web_ui_check()
    lines.extend(f"  {c.line()}" for c in check.checks)
    if check.differs:
        lines.append("  → save the HA page in the web UI, then resynchronise the phones")
    if restart_pending:
        lines.append("  ⚠ RESTART PENDING: xivo-service restart not run since the mode change")
    return lines


class HaNodeCard(Static):
    """Plain text, markup off: every value shown comes from a node or the inventory."""

    DEFAULT_CSS = """
    HaNodeCard { width: 1fr; border: round $primary; padding: 0 1; height: auto; }
    HaNodeCard.-selected { border: heavy $accent; }
    HaNodeCard.-mismatch { border: round $warning; }
    """

    def __init__(self, node: Node, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.node = node

    def show(self, state: HaSiteState | None, *, selected: bool, restart_pending: bool) -> None:
        self.set_class(selected, "-selected")
        ns = state.node(self.node.id) if state is not None else None
        self.set_class(bool(ns and ns.web_ui_check().differs) and not selected, "-mismatch")
        self.update("\n".join(card_lines(self.node, state, restart_pending)))
