"""One lab served by several processes sharing its directory (the benchmarks' large labs)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.labproc import lab_process
from resil_tui.inventory import load_inventory
from resil_tui.lab.server import Lab
from resil_tui.lab.spec import LabSpec, LabTiming
from resil_tui.ops.session import make_pool
from resil_tui.ops.status import StatusCollector
from tests.lab.conftest import run


@pytest.fixture(autouse=True)
def _xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


async def test_two_labs_serve_halves_of_one_world(tmp_path: Path) -> None:
    spec = LabSpec.many(2, cc=False, edge=False, mds=0)
    first, second = ([n.id for n in site.nodes] for site in spec.sites)
    d = tmp_path / "lab"
    a = await Lab.start(d, spec=spec, timing=LabTiming.fast(), ticker=False, serve=first)
    try:
        assert not a.inventory_path.exists()  # written once every node listens
        b = await Lab.start(d, spec=spec, ticker=False, serve=second)
        try:
            a.write_client_files()
            assert {n: a.port(n) for n in second} == {n: b.port(n) for n in second}
            for lab, node in ((a, first[0]), (a, second[0])):
                # One known_hosts and inventory for both: each node answers on its port.
                res = await run(lab, node, "hostname")
                assert res.exit_status == 0 and res.stdout
            assert b.commands(second[0]) and not b.commands(first[1])
        finally:
            await b.stop()
    finally:
        await a.stop()


async def test_a_shared_lab_has_no_ticker(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ticker"):
        await Lab.start(tmp_path / "lab", serve=[], ticker=True)


async def test_the_benchmarks_lab_in_two_processes(tmp_path: Path) -> None:
    with lab_process(tmp_path / "lab", 2, cc=True, edge=True, mds=0, procs=2) as path:
        procs = [
            p
            for p in os.listdir("/proc")
            if p.isdigit() and str(tmp_path).encode() in _cmdline(p) and b"--share" in _cmdline(p)
        ]
        assert len(procs) == 2
        inv = load_inventory(path)
        pool = make_pool(inv, audit_path=tmp_path / "audit.jsonl")
        try:
            reports = await StatusCollector(inv, pool).poll(list(inv.sites.values()))
        finally:
            await pool.close()
        states = {n: s.reachability.ok for r in reports for n, s in r.snapshot.nodes.items()}
        assert len(states) == 10 and all(states.values()), states


def _cmdline(pid: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
