"""The lab's xuc as it may really behave (issue 15, item 7), through real SSH.

With and without docker's `-t` / `--since` reaching docker, with and without a compose
health check, readiness delayed or never, `docker inspect`, curl against the xuc port,
and docker compose v1 versus v2 names and layouts. Patterns come from the docker and
compose sources (moby api/types, docker/cli inspect, compose cmd/formatter/logs.go,
compose 1.29 log_printer.py / formatter.py), not from resil-tui's parsers.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from labkit import eventually

from resil_tui.lab.containers import READY_LINE
from resil_tui.lab.faults import apply_fault
from resil_tui.lab.server import Lab
from resil_tui.lab.spec import COMPOSE_V1, LabSpec, LabTiming, XucSpec
from tests.lab.conftest import run

CC = "demo.cc.master"
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z"  # RFC3339NanoFixed, as `logs -t` prints
GO_TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z"  # RFC3339Nano: zeros trimmed
PROBE = "curl -q -sS -o /dev/null -w '%{http_code}' --max-time 5 http://127.0.0.1:8090/xuc/api/2.0/auth/check"


def epoch(go_time: str) -> float:
    return dt.datetime.fromisoformat(go_time).timestamp()


async def out(lab: Lab, command: str, node: str = CC) -> str:
    res = await run(lab, node, command)
    assert res.exit_status == 0, (command, res.stderr)
    return str(res.stdout)


async def since_last_start(lab: Lab, args: str = "") -> list[str]:
    lines = (await out(lab, f"xivocc-dcomp logs {args} xuc")).splitlines()
    starts = [i for i, line in enumerate(lines) if "Starting xuc" in line]
    return lines[starts[-1] :] if starts else lines


async def ready_now(lab: Lab, args: str = "") -> bool:
    return any(READY_LINE in line for line in await since_last_start(lab, args))


@pytest.fixture
async def v1_lab(tmp_path: Path) -> AsyncIterator[Lab]:
    spec = LabSpec.demo(compose=COMPOSE_V1, xuc=XucSpec(logs_since=False))
    lab = await Lab.start(tmp_path / "lab", spec=spec, timing=LabTiming.fast(), ticker=False)
    try:
        yield lab
    finally:
        await lab.stop()


# --- logs: -t and --since passed through, or not ---------------------------------------------


async def test_logs_with_timestamps_and_since_by_default(lab: Lab) -> None:
    stamped = (await out(lab, "xivocc-dcomp logs -t --tail 3 xuc")).splitlines()
    assert len(stamped) == 3
    assert all(re.match(rf"^xuc-1  \| {STAMP} \d{{4}}-\d\d-\d\d ", line) for line in stamped)
    assert READY_LINE in await out(lab, "xivocc-dcomp logs xuc")  # up for days: ready long ago
    recent = await out(lab, "xivocc-dcomp logs --since 2s xuc")
    assert "Starting xuc" not in recent  # the start-up was two days ago


async def test_logs_plain_drops_timestamps_and_since(lab: Lab) -> None:
    assert "ignores -t and --since" in await apply_fault(lab, ["xuc-logs-plain", "cc.master", "on"])
    lines = (await out(lab, "xivocc-dcomp logs -t --since 2s xuc")).splitlines()
    assert lines[0].startswith("xuc-1  | ") and "Starting xuc" in lines[0]  # all history
    assert not any(re.match(rf"^xuc-1  \| {STAMP} ", line) for line in lines)
    joined = "xivocc-dcomp logs --timestamps --since=1s --tail 2 xuc"
    combined = (await out(lab, joined)).splitlines()
    assert len(combined) == 2 and not any(re.match(rf"^xuc-1  \| {STAMP} ", x) for x in combined)
    await apply_fault(lab, ["xuc-logs-plain", "cc.master", "off"])
    assert re.match(rf"^xuc-1  \| {STAMP} ", await out(lab, "xivocc-dcomp logs -t --tail 1 xuc"))


async def test_readiness_after_a_restart_without_timestamps(lab: Lab) -> None:
    await apply_fault(lab, ["xuc-logs-plain", "cc.master", "on"])
    await apply_fault(lab, ["xuc-ready-delay", "cc.master", "1.0"])
    restart = await run(lab, CC, "xivocc-dcomp restart xuc")
    assert "Container xivocc-xuc-1  Started" in str(restart.stderr)
    assert not await ready_now(lab)  # the old run's line does not count: order decides
    assert (await run(lab, CC, PROBE)).exit_status == 7  # Play not listening yet
    await eventually(lambda: ready_now(lab), what="the new run's readiness line")
    lines = await since_last_start(lab)
    assert sum(READY_LINE in line for line in lines) == 1  # printed once, not on every read
    assert await out(lab, PROBE) == "401"


async def test_never_ready_and_back(lab: Lab) -> None:
    await apply_fault(lab, ["xuc-never-ready", "cc.master", "on"])
    await run(lab, CC, "xivocc-dcomp restart xuc")

    async def retrying() -> bool:
        return any("retrying" in line for line in await since_last_start(lab))

    await eventually(retrying, what="AMI retries")
    assert not await ready_now(lab)
    refused = await run(lab, CC, PROBE)
    assert (refused.exit_status, refused.stdout) == (7, "000")
    assert "curl: (7) Failed to connect to 127.0.0.1 port 8090" in str(refused.stderr)
    await apply_fault(lab, ["xuc-never-ready", "cc.master", "off"])
    await eventually(lambda: ready_now(lab), what="readiness once the fault is cleared")


# --- compose health check ----------------------------------------------------------------------


async def test_no_health_check_by_default(lab: Lab) -> None:
    ps = await out(lab, "xivocc-dcomp ps xuc")
    assert re.search(r"\bUp 2 days\s+0\.0\.0\.0:8090", ps), ps
    state = json.loads(await out(lab, "docker inspect --format '{{json .State}}' xivocc-xuc-1"))
    assert "Health" not in state  # omitempty: no health check configured


async def test_health_starting_then_healthy(lab: Lab) -> None:
    await apply_fault(lab, ["xuc-healthcheck", "cc.master", "on"])
    await apply_fault(lab, ["xuc-ready-delay", "cc.master", "1.0"])
    assert "(healthy)" in await out(lab, "xivocc-dcomp ps xuc")
    await run(lab, CC, "xivocc-dcomp restart xuc")
    ps = await out(lab, "xivocc-dcomp ps xuc")
    assert re.search(r"Up (Less than a second|\d seconds?) \(health: starting\)", ps), ps
    health = await out(lab, "docker inspect -f '{{.State.Health.Status}}' xivocc-xuc-1")
    assert health == "starting\n"

    async def healthy() -> bool:
        return "(healthy)" in await out(lab, "xivocc-dcomp ps xuc")

    await eventually(healthy, what="healthy")
    assert await ready_now(lab)  # docker's probe passes after xuc logged its line


async def test_never_ready_becomes_unhealthy(lab: Lab) -> None:
    await apply_fault(lab, ["xuc-healthcheck", "cc.master", "on"])
    await apply_fault(lab, ["xuc-never-ready", "cc.master", "on"])
    await run(lab, CC, "xivocc-dcomp restart xuc")

    async def unhealthy() -> bool:
        return "(unhealthy)" in await out(lab, "xivocc-dcomp ps xuc")

    await eventually(unhealthy, what="unhealthy after the start period")
    state = json.loads(await out(lab, "docker inspect --format '{{json .State}}' xivocc-xuc-1"))
    assert state["Health"]["Status"] == "unhealthy" and state["Health"]["FailingStreak"] >= 3
    assert state["Health"]["Log"][-1]["ExitCode"] == 1


# --- docker inspect ----------------------------------------------------------------------------


async def test_docker_inspect_document(lab: Lab) -> None:
    doc = json.loads(await out(lab, "docker inspect xivocc-xuc-1"))
    assert isinstance(doc, list) and len(doc) == 1
    c = doc[0]
    assert c["Name"] == "/xivocc-xuc-1" and re.fullmatch(r"[0-9a-f]{64}", c["Id"])
    assert c["Config"]["Labels"]["com.docker.compose.service"] == "xuc"
    assert c["Config"]["Labels"]["com.docker.compose.project"] == "xivocc"
    state = c["State"]
    assert (state["Status"], state["Running"], state["Restarting"]) == ("running", True, False)
    assert (
        re.fullmatch(GO_TIME, state["StartedAt"]) and state["FinishedAt"] == "0001-01-01T00:00:00Z"
    )
    assert isinstance(c["RestartCount"], int)
    ids = (await out(lab, "xivocc-dcomp ps -q xuc")).split()
    assert ids == [c["Id"]]
    by_id = json.loads(await out(lab, f"docker inspect {c['Id'][:12]}"))
    assert by_id[0]["Name"] == "/xivocc-xuc-1"
    raw = await out(lab, "docker inspect /xivocc-xuc-1")
    assert raw.startswith('[\n    {\n        "Id": ')  # docker's 4-space indentation


async def test_docker_inspect_start_time_moves_with_a_restart(lab: Lab) -> None:
    fmt = "docker inspect -f '{{.State.StartedAt}} {{.State.FinishedAt}}' xivocc-xuc-1"
    before, _ = (await out(lab, fmt)).split()
    t0 = time.time()
    await run(lab, CC, "xivocc-dcomp restart xuc")
    started, finished = (await out(lab, fmt)).split()
    assert re.fullmatch(GO_TIME, started) and re.fullmatch(GO_TIME, finished)
    assert epoch(before) < t0 - 86400 < epoch(finished) < epoch(started)
    assert abs(epoch(started) - t0) < 60


async def test_docker_inspect_errors(lab: Lab) -> None:
    missing = await run(lab, CC, "docker inspect nope")
    assert (missing.exit_status, missing.stdout, missing.stderr) == (
        1,
        "[]\n",
        "Error: No such object: nope\n",
    )
    mixed = await run(lab, CC, "docker inspect --format '{{.Name}}' xivocc-xuc-1 nope")
    assert (mixed.exit_status, mixed.stdout) == (1, "/xivocc-xuc-1\n")
    absent = await run(lab, CC, "docker inspect -f '{{.State.Health.Status}}' xivocc-xuc-1")
    assert absent.exit_status == 1 and "nil pointer evaluating" in str(absent.stderr)
    label = await out(lab, "docker inspect -f '{{index .Config.Labels \"nope\"}}' xivocc-xuc-1")
    assert label == "<no value>\n"
    edge = json.loads(await out(lab, "docker inspect edge-nginx-1", node="demo.edge"))
    assert edge[0]["Config"]["Labels"]["com.docker.compose.service"] == "nginx"
    assert (await run(lab, "demo.xivo.master", "docker inspect x")).exit_status == 127


# --- curl against the xuc port -----------------------------------------------------------------


async def test_curl_probe_codes(lab: Lab) -> None:
    assert await out(lab, PROBE) == "401"  # ready for days
    other = "curl -sS -o /dev/null -w '%{http_code}\\n' http://localhost:8090/"
    assert await out(lab, other) == "404\n"
    await lab.stop_container(CC, "xuc")
    down = await run(lab, CC, PROBE)
    assert (down.exit_status, down.stdout) == (7, "000")
    elsewhere = await run(lab, "demo.cc.slave", "curl -sS http://10.50.0.21:8090/xuc/")
    assert elsewhere.exit_status == 7  # only the node itself is reachable from it


# --- docker compose v1 -------------------------------------------------------------------------


async def test_compose_v1_names_ps_and_logs(v1_lab: Lab) -> None:
    lab = v1_lab
    ps = (await out(lab, "xivocc-dcomp ps")).splitlines()
    assert ps[0].split() == ["Name", "Command", "State", "Ports"]
    assert set(ps[1]) == {"-"}
    row = next(line for line in ps if line.startswith("xivocc_xuc_1 "))
    assert re.search(r"\bbin/xuc_docker\s+Up\s+0\.0\.0\.0:8090->9000/tcp", row), row
    logs = (await out(lab, "xivocc-dcomp logs -t --tail 2 xuc")).splitlines()
    assert logs[0] == "Attaching to xivocc_xuc_1"
    # LogPresenter: "xuc_1" padded to the longest service name (config_mgt) + 3, then " | ".
    assert all(re.match(rf"^xuc_1 {{8}} \| {STAMP} ", line) for line in logs[1:]), logs
    # --since does not exist in docker-compose 1.x; this wrapper drops it (the spec says so).
    assert "Starting xuc" in await out(lab, "xivocc-dcomp logs --since 1s xuc")
    doc = json.loads(await out(lab, "docker inspect xivocc_xuc_1"))
    assert doc[0]["Config"]["Labels"]["com.docker.compose.version"].startswith("1.")
    restart = await run(lab, CC, "xivocc-dcomp restart xuc")
    assert "Restarting xivocc_xuc_1 ... done" in str(restart.stderr)


async def test_compose_v1_passing_since_through_fails_like_docopt(tmp_path: Path) -> None:
    spec = LabSpec.demo(compose=COMPOSE_V1)
    lab = await Lab.start(tmp_path / "lab", spec=spec, timing=LabTiming.fast(), ticker=False)
    try:
        res = await run(lab, CC, "xivocc-dcomp logs --since 10m xuc")
        assert res.exit_status == 1
        assert str(res.stderr).startswith("View output from containers.\n\nUsage: logs [options]")
    finally:
        await lab.stop()


async def test_fault_prompt_checks_its_words(lab: Lab) -> None:
    with pytest.raises(ValueError, match="not a CC node"):
        await apply_fault(lab, ["xuc-logs-plain", "xivo.master", "on"])
    with pytest.raises(ValueError, match="seconds"):
        await apply_fault(lab, ["xuc-ready-delay", "cc.master", "soon"])
    with pytest.raises(ValueError, match="on or off"):
        await apply_fault(lab, ["xuc-healthcheck", "cc.master", "maybe"])
    with pytest.raises(ValueError, match="whole number"):
        await apply_fault(lab, ["phones-cut", "xivo.master", "-1"])
    with pytest.raises(ValueError, match="not a XiVO node"):
        await apply_fault(lab, ["phones-stuck", "edge", "on"])
    await apply_fault(lab, ["xuc-healthcheck", "cc.slave", "off"])
    await apply_fault(lab, ["xuc-ready-delay", "cc.slave", "2.5"])
    status = await apply_fault(lab, ["status"])
    assert "xuc healthcheck off" in status and "xuc ready after 2.5s" in status
    assert "demo: phones 40 on xivo.master, 0 on xivo.slave, 0 unregistered" in status
    await apply_fault(lab, ["xuc-healthcheck", "cc.slave", "default"])
    await apply_fault(lab, ["xuc-ready-delay", "cc.slave", "default"])
    assert "xuc healthcheck" not in await apply_fault(lab, ["status"])
    assert "phones-stuck NODE on|off" in await apply_fault(lab, ["help"])
