"""A read that changes nothing leaves the lab's state files alone, and the world it shows
is the same as when every read wrote its catch-up (lab/containers.sync_node and
lab/phones.settle with `look`; lab/world.py's one-line dumps).

Each test runs one history twice on copies of one lab directory, with the same clock
values: once with every catch-up written (look=False, as before), once as the poll's
reads do it (look=True), and compares what the node would print.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from dataclasses import replace
from pathlib import Path

from resil_tui.lab import containers, phones
from resil_tui.lab.spec import CC, EDGE, LabSpec, LabTiming
from resil_tui.lab.world import LabWorld

SITE = "s001"


def _twins(tmp_path: Path, timing: LabTiming) -> tuple[LabWorld, LabWorld]:
    a = LabWorld.create(tmp_path / "a", LabSpec.many(1, mds=0), timing)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    return a, LabWorld.open(tmp_path / "b")


def _clock(start: float, steps: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    out, t = [], start
    for _ in range(steps):
        # Reads of one batch (ms apart) and polls seconds apart, as a refresh does.
        t += rng.choice((0.0005, 0.001, 0.3, 0.9, 2.5))
        out.append(t)
    return out


def _logs(world: LabWorld, node_id: str) -> dict[str, list[tuple[float, str]]]:
    node = world.node(node_id)
    st = world.read_state(node_id)
    return {
        name: containers.read_log(containers.log_path(world, node, c))
        for name, c in st["containers"].items()
    }


def test_container_looks_log_what_written_catch_ups_log(tmp_path: Path) -> None:
    a, b = _twins(tmp_path, replace(LabTiming.fast(), xuc_traffic=0.7))
    start = time.time()
    for node_id in (f"{SITE}.cc.master", f"{SITE}.edge"):
        for now in _clock(start, 120, seed=len(node_id)):
            containers.sync_node(a, a.node(node_id), now)
            containers.sync_node(b, b.node(node_id), now, look=True)
        assert _logs(a, node_id) == _logs(b, node_id)
        assert sum(len(lines) for lines in _logs(b, node_id).values()) > 20  # lines came
        end = now + 0.25
        containers.sync_node(a, a.node(node_id), end)
        containers.sync_node(b, b.node(node_id), end)  # a written catch-up: the same state
        assert a.read_state(node_id) == b.read_state(node_id)


def test_a_look_that_logs_nothing_leaves_the_state_file(tmp_path: Path) -> None:
    world = LabWorld.create(tmp_path / "lab", LabSpec.many(1, mds=0), LabTiming.fast())
    node = world.node(f"{SITE}.cc.master")
    assert node.kind == CC
    now = time.time() + 5.0
    containers.sync_node(world, node, now)
    path = world.state_path(node.id)
    written = path.stat().st_ino, path.read_text()
    containers.sync_node(world, node, now + 0.001, look=True)
    assert (path.stat().st_ino, path.read_text()) == written
    containers.sync_node(world, node, now + 0.001)  # without look: the cursor is written
    assert path.read_text() != written[1]
    # The next look that is due a line logs it, stamped after the last catch-up.
    later = now + 10 * world.timing.xuc_traffic
    containers.sync_node(world, node, later, look=True)
    xuc = containers.read_log(
        containers.log_path(world, node, world.read_state(node.id)["containers"]["xuc"])
    )
    assert xuc[-1][0] > now + 0.001


def test_phone_looks_show_what_written_settles_show(tmp_path: Path) -> None:
    timing = replace(LabTiming.fast(), call_rate=2.0, call_duration=1.5)
    a, b = _twins(tmp_path, timing)
    master = f"{SITE}.xivo.master"
    for now in _clock(time.time(), 300, seed=7):
        seen_a = (phones.contacts_on(a, master, now), phones.node_calls(a, master, now))
        phones.settle(a, SITE, now)  # every settle written, as before
        seen_b = (phones.contacts_on(b, master, now), phones.node_calls(b, master, now))
        assert seen_a == seen_b
    calls = b.read_site_state(SITE)["next_call"]
    assert calls > 5  # calls came and went during the history
    end = now + 0.5
    assert phones.settle(a, SITE, end) == phones.settle(b, SITE, end)


def test_a_phone_look_where_nothing_happened_leaves_the_file(tmp_path: Path) -> None:
    timing = replace(LabTiming.fast(), call_rate=0.0, phone_expiry_min=60.0, phone_expiry_max=60.0)
    world = LabWorld.create(tmp_path / "lab", LabSpec.many(1, mds=0), timing)
    now = time.time() + 1.0
    phones.settle(world, SITE, now)
    path = world.site_state_path(SITE)
    written = path.read_text()
    phones.settle(world, SITE, now + 0.001, look=True)
    assert path.read_text() == written
    phones.settle(world, SITE, now + 0.001)
    assert json.loads(path.read_text())["last"] == now + 0.001


def test_state_files_are_one_line_and_read_back(tmp_path: Path) -> None:
    world = LabWorld.create(tmp_path / "lab", LabSpec.many(1, mds=0), LabTiming.fast())
    edge = world.node(f"{SITE}.edge")
    assert edge.kind == EDGE
    containers.sync_node(world, edge, time.time() + 3.0)
    for path in (world.lab_json_path, world.state_path(edge.id), world.site_state_path(SITE)):
        text = path.read_text()
        assert text.count("\n") == 1 and text.endswith("}\n")
        assert json.loads(text)


def test_lab_json_cache_sees_another_process_change_of_the_same_size(tmp_path: Path) -> None:
    # Two LabWorld objects on one directory stand for two processes (the sshd tier's
    # dispatcher, the ticker): a change by one is seen by the other's cached lab.json,
    # even when the file keeps its size (a flag 0.0 -> 1.0).
    one = LabWorld.create(tmp_path / "lab", LabSpec.many(1, mds=0), LabTiming.fast())
    other = LabWorld.open(tmp_path / "lab")
    node = f"{SITE}.xivo.master"
    assert one.node_flags(node)["slow"] == 0.0
    size = one.lab_json_path.stat().st_size
    other.set_node_flag(node, "slow", 1.0)
    assert one.lab_json_path.stat().st_size == size
    assert one.node_flags(node)["slow"] == 1.0
