"""Lab-wide background behaviour: the slave's `xivo-check-master-status` cron.

Any process may run a ticker on the same lab directory: a node's next run is claimed under
its state lock (`next_check_at`), so two tickers never run the same check twice.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from contextlib import suppress

from resil_tui.lab import facts, xivo
from resil_tui.lab.spec import XIVO, NodeSpec
from resil_tui.lab.world import LabWorld

_CRON_CHECK = re.compile(r"^[^#]*xivo-check-master-status\s+(\S+)", re.M)


def cron_master_ip(world: LabWorld, node: NodeSpec) -> str | None:
    """The master IP in the node's slave cron file, None when there is no such cron."""
    text = world.read_file(node.id, facts.CRON_SLAVE)
    if text is None:
        return None
    m = _CRON_CHECK.search(text)
    return m.group(1) if m else None


class LabTicker:
    def __init__(self, world: LabWorld, period: float | None = None) -> None:
        self.world = world
        self._period = period
        self._task: asyncio.Task[None] | None = None
        self._running: dict[str, asyncio.Task[None]] = {}

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="lab-ticker")

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._running.values()) if t is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with suppress(asyncio.CancelledError, Exception):
                await t
        self._task = None
        self._running.clear()

    async def __aenter__(self) -> LabTicker:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _loop(self) -> None:
        while True:
            interval = self.world.timing.check_interval
            # OSError: the lab directory is being removed under us; try again later.
            with suppress(OSError):
                self.tick_once()
            await asyncio.sleep(self._period or max(0.02, min(0.5, interval / 4)))

    def tick_once(self) -> None:
        """Start the checks that are due (without waiting for them)."""
        now = time.time()
        interval = self.world.timing.check_interval
        for node in self.world.spec.nodes():
            if node.kind != XIVO or node.id in self._running:
                continue
            if not self.world.is_powered(node.id):
                continue
            master_ip = cron_master_ip(self.world, node)
            if master_ip is None:
                continue
            with self.world.edit_state(node.id) as st:
                if st.get("next_check_at", 0) > now:
                    continue
                st["next_check_at"] = now + interval
            task = asyncio.create_task(self._check(node, master_ip), name=f"check-{node.id}")
            self._running[node.id] = task
            task.add_done_callback(self._forget(node.id))

    def _forget(self, node_id: str) -> Callable[[asyncio.Task[None]], None]:
        def done(_task: asyncio.Task[None]) -> None:
            self._running.pop(node_id, None)

        return done

    async def _check(self, node: NodeSpec, master_ip: str) -> None:
        lines: list[str] = []
        await xivo.check_master(
            self.world, node, master_ip, lines.append, self.world.timing.ping_interval
        )
        stamp = time.strftime("%b %d %H:%M:%S")
        host = node.hostname
        out = [
            f"{stamp} {host} CRON[{4000 + len(lines)}]: (root) CMD "
            f"(/usr/sbin/xivo-check-master-status {master_ip} >/dev/null)\n"
        ]
        out += [f"{stamp} {host} xivo-check-master-status: {line}\n" for line in lines]
        syslog = self.world.resolve(node.id, "/var/log/syslog")
        syslog.parent.mkdir(parents=True, exist_ok=True)
        with open(syslog, "a") as f:
            f.writelines(out)
