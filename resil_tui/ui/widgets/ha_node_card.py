"""One XiVO node's HA state as the HA pane shows it: mode, peer, cron, SIP expiry, registrar."""

from __future__ import annotations

from textual.widgets import Static

from resil_tui.core.ha_form import PROVISIONING_UNREADABLE, expected_backup_registrar
from resil_tui.inventory_model import Node
from resil_tui.ops.ha import HaNodeState, HaSiteState


def card_lines(node: Node, state: HaSiteState | None, restart_pending: bool) -> list[str]:
    role = node.side.value if node.side else "?"
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
            f"  HA mode: {ha.mode.value}   peer: {peer}" + ("" if ha.present else "   (no ha.conf)")
        )
        lines.extend(f"  ⚠ {p}" for p in ha.problems)
    cron = ns.cron
    if cron is not None:
        lines.append(f"  cron: {cron.state.value}")
        for entry in (e for f in (cron.master, cron.slave) for e in f.active_entries):
            lines.append(f"    {entry.schedule} {entry.program} {entry.ip or ''}".rstrip())
        if ha is not None:
            lines.extend(f"  ⚠ cron: {p}" for p in cron.problems(ha.mode, ha.peer))
    if ns.sip is None:
        lines.append(f"  SIP expiry: not read ({ns.sip_error})")
    else:
        lines.extend(f"  SIP {c.describe()}" for c in ns.expiry_checks())
    expected = expected_backup_registrar(ha.mode, ha.peer) if ha is not None else None
    want = "unknown" if expected is None else (expected or "blank")
    lines.append(f"  backup registrar: expected {want}; actual {PROVISIONING_UNREADABLE}")
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
        self.set_class(bool(ns and ns.expiry_mismatch()) and not selected, "-mismatch")
        self.update("\n".join(card_lines(self.node, state, restart_pending)))
