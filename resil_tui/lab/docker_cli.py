"""`docker inspect` on CC and Edge nodes, for the compose containers of the node.

From the docker sources (moby api/types/container: State, Health, HealthcheckResult;
docker/cli cli/command/inspect: IndentedInspector, TemplateInspector):

* `docker inspect NAME|ID...` prints one JSON array indented with 4 spaces, then a newline;
  `[]` when nothing matched. Each unknown name adds `Error: No such object: NAME` on
  stderr and the exit status is 1 (the found ones are still printed).
* `State` holds Status, Running, Paused, Restarting, OOMKilled, Dead, Pid, ExitCode, Error,
  StartedAt, FinishedAt (strings, RFC 3339 with up to 9 fractional digits, trailing zeros
  dropped as Go's RFC3339Nano does; `0001-01-01T00:00:00Z` when never), and `Health` only
  when the container has a health check (`omitempty`).
* `-f / --format TEMPLATE` runs a Go template per object: `{{json .State}}` is compact JSON,
  `{{.State.Status}}` the plain value, `{{index .Config.Labels "key"}}` a label. A missing
  key prints `<no value>` (docker falls back to the raw JSON map); a field of a missing
  object is a template error.
* Names are accepted with or without the leading `/`, and ids by unique prefix.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
import shlex
import time
from typing import Any

from resil_tui.lab import containers
from resil_tui.lab.base import CommandFailed, Ctx
from resil_tui.lab.spec import CC, COMPOSE_V1, LabTiming, NodeSpec

ZERO_TIME = "0001-01-01T00:00:00Z"
COMPOSE_FILES = {
    CC: "/etc/docker/compose/docker-compose.yml",
    "edge": "/etc/docker/edge/docker-compose.yml",
}
COMPOSE_VERSIONS = {"v2": "2.24.5", COMPOSE_V1: "1.29.2"}


def go_time(t: float | None) -> str:
    """Go's time.RFC3339Nano in UTC: nanoseconds, trailing zeros (and a lone dot) dropped."""
    if t is None:
        return ZERO_TIME
    ns = round(t * 1_000_000_000)
    d = dt.datetime.fromtimestamp(ns // 1_000_000_000, dt.UTC)
    frac = f"{ns % 1_000_000_000:09d}".rstrip("0")
    return d.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "Z"


def _pid(c: dict[str, Any]) -> int:
    return 1000 + int(hashlib.sha256(f"{c['name']}{c['started_at']}".encode()).hexdigest()[:4], 16)


def _state(c: dict[str, Any], now: float, timing: LabTiming) -> dict[str, Any]:
    running = c["state"] in ("running", "restarting")
    state: dict[str, Any] = {
        "Status": c["state"] if c["state"] in ("running", "restarting") else "exited",
        "Running": running,
        "Paused": False,
        "Restarting": c["state"] == "restarting",
        "OOMKilled": False,
        "Dead": False,
        "Pid": _pid(c) if running else 0,
        "ExitCode": 0,
        "Error": "",
        "StartedAt": go_time(c["started_at"]),
        "FinishedAt": go_time(c.get("stopped_at")),
    }
    h = containers.health(c, now, timing)
    if h is not None:
        failure = "curl: (7) Failed to connect to localhost port 9000 after 0 ms: Couldn't connect"
        state["Health"] = {
            "Status": h.status,
            "FailingStreak": h.failing_streak,
            "Log": [
                {
                    "Start": go_time(start),
                    "End": go_time(start + 0.012),
                    "ExitCode": 0 if passed else 1,
                    "Output": "" if passed else failure + " to server\n",
                }
                for start, passed in h.checks
            ],
        }
    return state


def _ports(c: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    for m in re.finditer(r"([\d.]+):(\d+)->(\d+/\w+)", c["ports"]):
        out.setdefault(m.group(3), []).append({"HostIp": m.group(1), "HostPort": m.group(2)})
    return out


def inspect_object(
    node: NodeSpec, c: dict[str, Any], now: float, timing: LabTiming
) -> dict[str, Any]:
    """The container's `docker inspect` object (the fields a tool reads, real names)."""
    project, _ = containers.project_of(node)
    cid = containers.container_id(c)
    argv = shlex.split(c["command"])
    image_id = "sha256:" + hashlib.sha256(c["image"].encode()).hexdigest()
    labels = {
        "com.docker.compose.config-hash": hashlib.sha256(c["image"].encode()).hexdigest(),
        "com.docker.compose.container-number": "1",
        "com.docker.compose.oneoff": "False",
        "com.docker.compose.project": project,
        "com.docker.compose.project.config_files": COMPOSE_FILES.get(node.kind, ""),
        "com.docker.compose.project.working_dir": COMPOSE_FILES.get(node.kind, "/").rsplit("/", 1)[
            0
        ],
        "com.docker.compose.service": c["service"],
        "com.docker.compose.version": COMPOSE_VERSIONS.get(node.compose, "2.24.5"),
    }
    if node.compose != COMPOSE_V1:
        labels["com.docker.compose.depends_on"] = ""
        labels["com.docker.compose.image"] = image_id
    config: dict[str, Any] = {
        "Hostname": cid[:12],
        "Domainname": "",
        "User": "",
        "AttachStdin": False,
        "AttachStdout": True,
        "AttachStderr": True,
        "Tty": False,
        "OpenStdin": False,
        "StdinOnce": False,
        "Env": [f"{k}={v}" for k, v in sorted(c.get("env", {}).items())]
        + ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "Cmd": argv[1:] if len(argv) > 1 else argv,
        "Image": c["image"],
        "Volumes": None,
        "WorkingDir": "/opt/docker" if c["style"] == "play" else "",
        "Entrypoint": argv[:1] if len(argv) > 1 else None,
        "OnBuild": None,
        "Labels": dict(sorted(labels.items())),
    }
    if c.get("healthcheck"):
        config["Healthcheck"] = {
            "Test": ["CMD-SHELL", "curl -fsS -o /dev/null http://localhost:9000/ || exit 1"],
            "Interval": round(timing.xuc_health_interval * 1e9),
            "StartPeriod": round(timing.xuc_health_start * 1e9),
            "Retries": containers.HEALTH_RETRIES,
        }
    network = f"{project}_default"
    return {
        "Id": cid,
        "Created": go_time(c["created_at"]),
        "Path": argv[0] if argv else "",
        "Args": argv[1:],
        "State": _state(c, now, timing),
        "Image": image_id,
        "ResolvConfPath": f"/var/lib/docker/containers/{cid}/resolv.conf",
        "HostnamePath": f"/var/lib/docker/containers/{cid}/hostname",
        "HostsPath": f"/var/lib/docker/containers/{cid}/hosts",
        "LogPath": f"/var/lib/docker/containers/{cid}/{cid}-json.log",
        "Name": "/" + c["name"],
        "RestartCount": 0,  # only restarts by the restart policy count, not `restart`
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "docker-default",
        "ExecIDs": None,
        "HostConfig": {
            "NetworkMode": network,
            "PortBindings": _ports(c),
            "RestartPolicy": {"Name": "always", "MaximumRetryCount": 0},
        },
        "Mounts": [],
        "Config": config,
        "NetworkSettings": {
            "Ports": _ports(c) if c["state"] == "running" else {},
            "Networks": {network: {"Aliases": [c["name"], c["service"]]}},
        },
    }


# --- Go templates (the subset tools use) ----------------------------------------------------
_ACTION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}")


class TemplateError(Exception):
    pass


def _go_value(v: Any) -> str:
    """fmt's %v of a decoded JSON value, as `{{.X}}` prints it."""
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{_go_value(x)}" for k, x in sorted(v.items())) + "]"
    if isinstance(v, list):
        return "[" + " ".join(_go_value(x) for x in v) + "]"
    return str(v)


_MISSING = object()


def _lookup(obj: Any, path: str, action: str, column: int) -> Any:
    cur = obj
    parts = [p for p in path.split(".") if p] if path != "." else []
    for i, part in enumerate(parts):
        if cur is _MISSING or cur is None:
            where = "." + ".".join(parts[: i + 1])
            raise TemplateError(
                f'template: :1:{column}: executing "" at <{where}>: '
                f"nil pointer evaluating interface {{}}.{part}"
            )
        if not isinstance(cur, dict):
            raise TemplateError(
                f'template: :1:{column}: executing "" at <{action}>: can\'t evaluate field {part}'
            )
        cur = cur.get(part, _MISSING)
    return cur


def render_template(template: str, obj: dict[str, Any]) -> str:
    """Run the Go template on one object; raises TemplateError like `template: ...`."""
    out: list[str] = []
    pos = 0
    for m in _ACTION.finditer(template):
        out.append(template[pos : m.start()])
        pos = m.end()
        action, column = m.group(1), m.start() + 3
        words = shlex.split(action) if action else []
        if len(words) == 2 and words[0] == "json" and words[1].startswith("."):
            value = _lookup(obj, words[1], action, column)
            out.append("null" if value is _MISSING else json.dumps(value, separators=(",", ":")))
        elif len(words) == 3 and words[0] == "index" and words[1].startswith("."):
            base = _lookup(obj, words[1], action, column)
            value = base.get(words[2], _MISSING) if isinstance(base, dict) else _MISSING
            out.append("<no value>" if value is _MISSING else _go_value(value))
        elif len(words) == 1 and words[0].startswith("."):
            value = _lookup(obj, words[0], action, column)
            out.append("<no value>" if value is _MISSING else _go_value(value))
        else:
            raise TemplateError(f'template: :1: function "{words[0] if words else ""}" not defined')
    out.append(template[pos:])
    return "".join(out)


# --- the command ------------------------------------------------------------------------------
def _find(cs: list[dict[str, Any]], ref: str) -> dict[str, Any] | None:
    name = ref.removeprefix("/")
    for c in cs:
        if c["name"] == name or containers.container_id(c) == ref:
            return c
    if len(ref) >= 1 and re.fullmatch(r"[0-9a-f]+", ref):
        hits = [c for c in cs if containers.container_id(c).startswith(ref)]
        if len(hits) == 1:
            return hits[0]
    return None


@functools.lru_cache(maxsize=1024)
def _indented(compact: str) -> str:
    """`docker inspect`'s layout of a compact JSON text. json indents only in pure Python
    (many times the cost of its C encoder); an object mostly the same from one poll to the
    next is laid out once. Key order and numbers survive the round trip unchanged."""
    return json.dumps(json.loads(compact), indent=4, ensure_ascii=False)


async def docker(ctx: Ctx, args: list[str]) -> int:
    if args[:2] == ["container", "inspect"]:
        args = ["inspect", *args[2:]]
    if not args or args[0] != "inspect":
        sub = args[0] if args else ""
        if not sub:
            ctx.out("Usage:  docker [OPTIONS] COMMAND\n")
            return 0
        raise CommandFailed(f"lab: `docker {sub}` is not emulated (docker inspect is)", 1)
    template: str | None = None
    refs: list[str] = []
    containers_wanted = True  # `--type image` etc.: there is nothing else to find here
    it = iter(args[1:])
    for a in it:
        if a in ("-f", "--format"):
            template = next(it, None)
            if template is None:
                raise CommandFailed(
                    f"flag needs an argument: {'f' if a == '-f' else '--format'}", 125
                )
        elif a.startswith("--format="):
            template = a.split("=", 1)[1]
        elif a.startswith("-f") and len(a) > 2:
            template = a[2:]
        elif a == "--type" or a.startswith("--type="):
            kind = a.split("=", 1)[1] if "=" in a else next(it, "")
            containers_wanted = kind == "container"
        elif a in ("-s", "--size"):
            continue
        elif a.startswith("-"):
            raise CommandFailed(f"unknown flag: {a}\nSee 'docker inspect --help'.", 125)
        else:
            refs.append(a)
    if not refs:
        raise CommandFailed(
            "\"docker inspect\" requires at least 1 argument.\nSee 'docker inspect --help'.", 1
        )
    st = containers.sync_node(ctx.world, ctx.node, look=True)
    cs = list(st.get("containers", {}).values())
    now = time.time()
    found: list[dict[str, Any]] = []
    errors: list[str] = []
    for ref in refs:
        c = _find(cs, ref) if containers_wanted else None
        if c is None:
            errors.append(f"Error: No such object: {ref}")
        else:
            found.append(inspect_object(ctx.node, c, now, ctx.timing))
    if template is None:
        ctx.out((_indented(json.dumps(found, ensure_ascii=False)) if found else "[]") + "\n")
    else:
        for obj in found:
            try:
                ctx.out(render_template(template, obj) + "\n")
            except TemplateError as exc:
                errors.append(f"template parsing error: {exc}")
                break
    if errors:
        ctx.err("\n".join(errors) + "\n")
        return 1
    return 0
