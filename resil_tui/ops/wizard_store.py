"""Where wizard runs are kept: ``<state dir>/runs/<run-id>.json`` and ``<run-id>.md``.

Saved atomically (temp file in the same directory, fsync, rename) after every step, so a
crash leaves either the previous state or the new one, never half a file. Private (0600):
runs name hosts and commands.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from resil_tui import paths
from resil_tui.core.wizard_run import RunStatus, WizardRun
from resil_tui.inventory_model import Inventory, Site
from resil_tui.localfiles import write_atomic

log = logging.getLogger(__name__)


def runs_dir() -> Path:
    return paths.state_dir() / "runs"


def site_key(site: Site) -> str:
    """What a run must find again to resume: the same site with the same nodes."""
    return ",".join(sorted(n.id for n in site.nodes()))


class RunStore:
    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory if directory is not None else runs_dir()

    def path(self, run_id: str) -> Path:
        return self.directory / f"{run_id}.json"

    def report_path(self, run_id: str) -> Path:
        return self.directory / f"{run_id}.md"

    def save(self, run: WizardRun) -> Path:
        path = self.path(run.run_id)
        text = json.dumps(run.to_dict(), indent=1, ensure_ascii=False)
        write_atomic(path, text, mode=0o600, dir_mode=0o700)
        return path

    def write_report(self, run: WizardRun, text: str) -> Path:
        path = self.report_path(run.run_id)
        write_atomic(path, text, mode=0o600, dir_mode=0o700)
        return path

    def load(self, run_id: str) -> WizardRun:
        data = json.loads(self.path(run_id).read_text(encoding="utf-8"))
        return WizardRun.from_dict(data)

    def all(self) -> list[WizardRun]:
        """Every readable saved run, oldest first; an unreadable file is logged and left."""
        if not self.directory.is_dir():
            return []
        found: list[WizardRun] = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                found.append(WizardRun.from_dict(json.loads(path.read_text(encoding="utf-8"))))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("ignoring unreadable wizard run %s: %s", path, exc)
        return found


def find_unfinished_runs(
    inventory: Inventory | None = None, store: RunStore | None = None
) -> list[WizardRun]:
    """Runs not finished nor aborted, newest first; with an inventory, only the runs whose
    site is still there with the same nodes (so a resume acts on the nodes it started on)."""
    runs = [r for r in (store or RunStore()).all() if r.status is RunStatus.ACTIVE]
    if inventory is not None:
        runs = [
            r
            for r in runs
            if r.site in inventory.sites and r.site_key == site_key(inventory.sites[r.site])
        ]
    return sorted(runs, key=lambda r: r.updated_at or r.started_at, reverse=True)
