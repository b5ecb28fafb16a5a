"""Logs pane: following node logs (placeholder until the logs issue)."""

from __future__ import annotations

from resil_tui.ui.panes.base import PlaceholderPane


class LogsPane(PlaceholderPane):
    PANE_ID = "logs"
    TITLE = "Logs"
    WHAT_COMES = (
        "live, read-only logs of a node: /var/log/xivo-sync.log, `xivocc-dcomp logs -f xuc`, "
        "and the extra streams declared per node in the inventory (listed below)."
    )

    def site_summary(self) -> str:
        lines = [super().site_summary(), "", "Extra log streams declared in the inventory:"]
        streams = [(node, spec) for node in self.site.nodes() for spec in node.logs]
        if not streams:
            lines.append("  (none for this site)")
        for node, spec in streams:
            lines.append(f"  • {node.label}: {spec.name} ({' '.join(spec.argv)})")
        return "\n".join(lines)
