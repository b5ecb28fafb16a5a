"""XiVO node behaviour: xivo-service, sysconfd (through curl), the four HA scripts, psql."""

from __future__ import annotations

import ipaddress
import json
import re
import secrets
import time
from base64 import b64encode
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from resil_tui.lab import containers, facts, phones
from resil_tui.lab.base import CommandFailed, Ctx
from resil_tui.lab.spec import CC, MDS, XIVO, NodeSpec

if TYPE_CHECKING:
    from resil_tui.lab.world import LabWorld


# -- services ------------------------------------------------------------------------------
def default_services(node: NodeSpec, telephony_running: bool) -> list[dict[str, Any]]:
    external, own = (
        (facts.MDS_EXTERNAL, facts.MDS_SERVICES)
        if node.kind == MDS
        else (facts.XIVO_EXTERNAL, facts.XIVO_SERVICES)
    )
    out = []
    for name in (*external, *own):
        up = telephony_running or name not in facts.TELEPHONY
        out.append(
            {"name": name, "state": "running" if up else "stopped", "external": name in external}
        )
    return out


def set_services(world: LabWorld, node_id: str, names: set[str] | None, state: str) -> None:
    if names is None or "asterisk" in names:
        phones.before_change(world, node_id)  # phones see the old Asterisk up to now
    with world.edit_state(node_id) as st:
        for s in st.get("services", []):
            if names is None or s["name"] in names:
                s["state"] = state


def service_state(world: LabWorld, node_id: str, name: str) -> str | None:
    for s in world.read_state(node_id).get("services", []):
        if s["name"] == name:
            return str(s["state"])
    return None


def boot(world: LabWorld, node: NodeSpec) -> None:
    """Power-on: everything starts, except telephony on a node left disabled (standby)."""
    disabled = world.resolve(node.id, facts.DISABLED_FLAG).exists()
    phones.before_change(world, node.id)
    with world.edit_state(node.id) as st:
        for s in st.get("services", []):
            s["state"] = "stopped" if disabled and s["name"] in facts.TELEPHONY else "running"
        st["boot_at"] = time.time()


async def xivo_service(ctx: Ctx, args: list[str]) -> int:
    action = args[0] if args else ""
    want_all = "all" in args[1:]
    st = ctx.world.read_state(ctx.node.id)
    services = [s for s in st.get("services", []) if want_all or not s["external"]]
    if action == "status":
        pg = next((s for s in st.get("services", []) if s["name"] == "postgresql"), None)
        db_ok = pg is None or pg["state"] == "running"
        lines = [
            "Checking database...",
            "\tOK"
            if db_ok
            else "\tNOK (could not connect to the database: postgresql is not running)",
            "Checking services...",
        ]
        lines += [f"\t{s['state']}\t\t{s['name']}" for s in services]
        ctx.out("\n".join(lines) + "\n")
        states = {s["state"] for s in services}
        return 2 if "failed" in states else 1 if "stopped" in states else 0
    if action in ("start", "stop", "restart"):
        if action in ("stop", "restart"):
            await _stop(ctx, [s["name"] for s in reversed(services)])
        if action in ("start", "restart"):
            await _start(ctx, [s["name"] for s in services])
        return 0
    if action in ("enable", "disable"):
        flag = ctx.path(facts.DISABLED_FLAG)
        if action == "enable":
            flag.unlink(missing_ok=True)
            ctx.out("XiVO services enabled\n")
        else:
            flag.parent.mkdir(parents=True, exist_ok=True)
            flag.touch()
            ctx.out("XiVO services disabled\n")
        return 0
    ctx.err("Usage: xivo-service {status|start|stop|restart|enable|disable} [all]\n")
    return 1


async def _start(ctx: Ctx, names: list[str]) -> None:
    st = ctx.world.read_state(ctx.node.id)
    todo = [
        s["name"] for s in st.get("services", []) if s["name"] in names and s["state"] != "running"
    ]
    step = ctx.timing.service_start / (len(todo) + 1)
    for name in todo:
        ctx.out(f"Starting {name}...\n")
        await ctx.flush()
        await ctx.sleep(step)
        set_services(ctx.world, ctx.node.id, {name}, "running")
    ctx.out("Waiting for services to be ready...\n")
    await ctx.flush()
    await ctx.sleep(step)
    ctx.out("XiVO fully booted\n")


async def _stop(ctx: Ctx, names: list[str]) -> None:
    step = ctx.timing.service_stop / (len(names) + 1)
    for name in names:
        if service_state(ctx.world, ctx.node.id, name) == "stopped":
            continue
        ctx.out(f"Stopping {name}...\n")
        await ctx.sleep(step)
        set_services(ctx.world, ctx.node.id, {name}, "stopped")
    ctx.out("XiVO services stopped\n")


# -- ha.conf and sysconfd --------------------------------------------------------------------
def read_ha(world: LabWorld, node_id: str) -> dict[str, str]:
    p = world.resolve(node_id, facts.HA_CONF)
    default = {"node_type": "disabled", "remote_address": ""}
    if not p.is_file():
        return default
    try:
        data = json.loads(p.read_text() or "{}")
    except json.JSONDecodeError:
        return default
    return {
        "node_type": str(data.get("node_type", "disabled")),
        "remote_address": str(data.get("remote_address", "")),
    }


def write_role_files(world: LabWorld, node: NodeSpec, node_type: str, remote: str) -> None:
    """What sysconfd writes for a role: ha.conf and the role's cron file (the other removed)."""
    ha = world.resolve(node.id, facts.HA_CONF)
    ha.parent.mkdir(parents=True, exist_ok=True)
    ha.write_text(facts.ha_conf_text(node_type, remote))
    master = world.resolve(node.id, facts.CRON_MASTER)
    slave = world.resolve(node.id, facts.CRON_SLAVE)
    master.parent.mkdir(parents=True, exist_ok=True)
    master.unlink(missing_ok=True)
    slave.unlink(missing_ok=True)
    if node_type == "master":
        master.write_text(facts.cron_master_text(remote))
    elif node_type == "slave":
        slave.write_text(facts.cron_slave_text(remote))


def apply_sysconfd_db(st: dict[str, Any], node_type: str, remote: str) -> None:
    """What sysconfd's update_ha_config does to PostgreSQL: on a slave, let the master in
    (pg_hba) and listen on all addresses. Nothing else (XIVO.md, corrections)."""
    st["pg_hba_allow"] = remote if node_type == "slave" else ""
    st["pg_listen_all"] = node_type == "slave"


def apply_web_ui_settings(world: LabWorld, node: NodeSpec, node_type: str, remote: str) -> None:
    """What the web UI's HA save writes before it posts to sysconfd: the SIP expiry rows
    and the provisioning "default" config's backup registrar and proxy (master: the
    peer; disabled: blank; slave: left as it is)."""
    on = node_type in ("master", "slave")
    with world.edit_state(node.id) as st:
        sip = st.setdefault("staticsip", {})
        sip.update(facts.SIP_EXPIRY_HA_ON if on else facts.SIP_EXPIRY_HA_OFF)
    if node_type == "slave":
        return
    backup = remote if node_type == "master" else ""
    doc = read_provd_default(world, node) or facts.provd_default_doc(node.ip, "")
    doc["registrar_backup"] = backup
    doc["proxy_backup"] = backup
    write_provd_default(world, node, doc)


def read_provd_default(world: LabWorld, node: NodeSpec) -> dict[str, Any] | None:
    path = world.resolve(node.id, facts.PROVD_DEFAULT)
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text() or "{}")
    except json.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None


def write_provd_default(world: LabWorld, node: NodeSpec, doc: dict[str, Any]) -> None:
    path = world.resolve(node.id, facts.PROVD_DEFAULT)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(facts.provd_json(doc))


async def update_ha(ctx: Ctx, node_type: str, remote: str) -> None:
    await sysconfd_update(ctx.world, ctx.node, node_type, remote, ctx.timing.postgres_restart)


async def sysconfd_update(
    world: LabWorld, node: NodeSpec, node_type: str, remote: str, pg_restart: float
) -> None:
    """sysconfd's update_ha_config: ha.conf, the role's cron file, PostgreSQL access and
    listen settings, a PostgreSQL restart, and telephony started on a master or a
    disabled node. It does not touch SIP expiry nor provisioning."""
    import asyncio

    write_role_files(world, node, node_type, remote)
    with world.edit_state(node.id) as st:
        apply_sysconfd_db(st, node_type, remote)
        for s in st.get("services", []):
            if s["name"] == "postgresql":
                s["state"] = "stopped"
    if pg_restart > 0:
        await asyncio.sleep(pg_restart)
    phones.before_change(world, node.id)  # telephony may start below
    with world.edit_state(node.id) as st:
        for s in st.get("services", []):
            if s["name"] == "postgresql":
                s["state"] = "running"
        st["postgres_restarts"] = st.get("postgres_restarts", 0) + 1
        st["postgres_restarted_at"] = time.time()
        st.setdefault("ha_updates", []).append(
            {"t": time.time(), "node_type": node_type, "remote_address": remote}
        )
        if node_type in ("master", "disabled"):
            for s in st.get("services", []):
                if s["name"] in facts.TELEPHONY:
                    s["state"] = "running"
    if node_type in ("master", "disabled"):
        world.resolve(node.id, facts.DISABLED_FLAG).unlink(missing_ok=True)


async def web_ui_ha_save(world: LabWorld, node: NodeSpec, pg_restart: float) -> dict[str, str]:
    """The admin saves the web UI's HA page as it stands (the node's ha.conf): SIP expiry,
    provisioning, then the same POST to sysconfd. Returns the HA config saved."""
    ha = read_ha(world, node.id)
    apply_web_ui_settings(world, node, ha["node_type"], ha["remote_address"])
    await sysconfd_update(world, node, ha["node_type"], ha["remote_address"], pg_restart)
    return ha


def _validate_ha(node: NodeSpec, body: str) -> tuple[str, str]:
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON body: {exc.msg}") from None
    if not isinstance(data, dict):
        raise ValueError("invalid body: expected a JSON object")
    node_type = data.get("node_type")
    remote = data.get("remote_address", "")
    if node_type not in ("master", "slave", "disabled"):
        raise ValueError(f"invalid node_type: {node_type!r}")
    if not isinstance(remote, str):
        raise ValueError("invalid remote_address: expected a string")
    if node_type == "disabled":
        return node_type, remote
    try:
        ip = ipaddress.IPv4Address(remote)
    except ValueError:
        raise ValueError(f"invalid remote_address: {remote!r}") from None
    if str(ip) == node.ip or ip.is_unspecified:
        raise ValueError(f"invalid remote_address: {remote!r}")
    return node_type, str(ip)


async def curl(ctx: Ctx, args: list[str]) -> int:
    """Enough of curl for sysconfd (XiVO, 127.0.0.1:8668) and xuc (CC, port 8090 by default,
    listening once xuc logged its readiness line); anything else does not connect."""
    method: str | None = None
    data: str | None = None
    silent = show_error = fail = fail_body = include = False
    write_out = ""
    output: str | None = None
    url: str | None = None
    headers: list[str] = []
    it = iter(args)
    takes_value = {
        "-X": "X",
        "--request": "X",
        "-H": "H",
        "--header": "H",
        "-d": "d",
        "--data": "d",
        "--data-binary": "d",
        "--data-raw": "d",
        "--data-ascii": "d",
        "--json": "json",
        "-m": "m",
        "--max-time": "m",
        "--connect-timeout": "m",
        "-w": "w",
        "--write-out": "w",
        "-o": "o",
        "--output": "o",
        "-u": "H",
        "--user": "H",
        "-A": "H",
        "--user-agent": "H",
        "--retry": "m",
    }
    for a in it:
        kind: str | None = None
        value = ""
        if a in takes_value:
            kind, value = takes_value[a], next(it, "")
        elif a.startswith("--") and "=" in a and a.split("=", 1)[0] in takes_value:
            key, value = a.split("=", 1)
            kind = takes_value[key]
        elif a[:2] in ("-X", "-d", "-H", "-w", "-o", "-m") and len(a) > 2:
            kind, value = takes_value[a[:2]], a[2:]
        elif a in ("--silent",):
            silent = True
        elif a in ("--show-error",):
            show_error = True
        elif a in ("--fail",):
            fail = True
        elif a == "--fail-with-body":
            fail_body = True
        elif a in ("--include",):
            include = True
        elif a.startswith("--"):
            continue  # --compressed, --noproxy, ...: irrelevant here
        elif a.startswith("-") and len(a) > 1:
            for ch in a[1:]:
                silent |= ch == "s"
                show_error |= ch == "S"
                fail |= ch == "f"
                include |= ch == "i"
        else:
            url = a
        if kind == "H" and (a in ("-H", "--header") or a.startswith(("--header=", "-H"))):
            headers.append(value)
        if kind == "X":
            method = value.upper()
        elif kind == "d":
            data = value
        elif kind == "json":
            data = value
            method = method or "POST"
        elif kind == "w":
            write_out = value
        elif kind == "o":
            output = value
    if url is None:
        ctx.err("curl: no URL specified!\ncurl: try 'curl --help' for more information\n")
        return 2
    if data is not None and data.startswith("@"):
        src = data[1:]
        if src == "-":
            data = (await ctx.io.read()).decode("utf-8", errors="replace")
        else:
            f = ctx.path(src)
            if not f.is_file():
                ctx.err(
                    f'Warning: Couldn\'t read data from file "{src}", this makes an empty POST.\n'
                )
                data = ""
            else:
                data = f.read_text()
    method = method or ("POST" if data is not None else "GET")
    parts = urlsplit(url if "://" in url else f"http://{url}")
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    here = host in ("127.0.0.1", "localhost", ctx.node.ip)
    answer: tuple[int, str, str] | None = None
    if (
        here
        and ctx.node.kind == XIVO
        and port == facts.SYSCONFD_PORT
        and service_state(ctx.world, ctx.node.id, "xivo-sysconfd") == "running"
    ):
        code, body = await _sysconfd(ctx, method, parts.path, data or "")
        answer = (code, body, "application/json")
    elif (
        here
        and ctx.node.kind == XIVO
        and port == facts.PROVD_REST_PORT
        and provd_running(ctx.world, ctx.node)
    ):
        answer = _provd_http(ctx.world, ctx.node, method, parts.path, headers, data or "")
    elif (
        here
        and ctx.node.kind == CC
        and port == containers.behaviour(ctx.world, ctx.node).http_port
        and containers.xuc_listening(ctx.world, ctx.node)
    ):
        answer = _xuc_http(method, parts.path)

    def write_out_text(code: int, exit_code: int) -> None:
        # -w is written whatever happened: %{http_code} is 000 without a response.
        if write_out:
            ctx.out(
                write_out.replace("%{http_code}", f"{code:03d}")
                .replace("%{response_code}", f"{code:03d}")
                .replace("%{exitcode}", str(exit_code))
                .replace("\\n", "\n")
            )

    if answer is None:
        if show_error or not silent:
            ctx.err(
                f"curl: (7) Failed to connect to {host} port {port} after 0 ms: "
                "Couldn't connect to server\n"
            )
        write_out_text(0, 7)
        return 7
    code, body, content_type = answer
    if code >= 400 and (fail or fail_body):
        if fail_body:
            ctx.out(body)
        if show_error or not silent:
            ctx.err(f"curl: (22) The requested URL returned error: {code}\n")
        write_out_text(code, 22)
        return 22
    head = (
        (
            f"HTTP/1.1 {code} {_REASONS.get(code, 'Unknown')}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        if include
        else ""
    )
    if output and output != "-":
        if output != "/dev/null":
            ctx.path(output).write_text(head + body)
    else:
        ctx.out(head + body)
    write_out_text(code, 0)
    return 0


_REASONS = {
    200: "OK",
    204: "No Content",
    406: "Not Acceptable",
    415: "Unsupported Media Type",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
}


def provd_running(world: LabWorld, node: NodeSpec) -> bool:
    """provd does not run on a standby (XIVO.md): no disabled flag, xivo-provd running."""
    if world.resolve(node.id, facts.DISABLED_FLAG).exists():
        return False
    return service_state(world, node.id, "xivo-provd") == "running"


def _provd_http(
    world: LabWorld, node: NodeSpec, method: str, path: str, headers: list[str], body: str
) -> tuple[int, str, str]:
    """provd's REST API for the default config: GET answers {"config": ...} to a client
    that accepts provd's media type; PUT takes {"config": ...} in that media type."""
    if path.rstrip("/") != "/provd/cfg_mgr/configs/default":
        return 404, "Not Found", "text/plain"
    lowered = [h.lower().replace(" ", "") for h in headers]
    mime = facts.PROVD_MIME
    if method == "GET":
        if f"accept:{mime}" not in lowered:
            return 406, f'You must accept the "{mime}" MIME type.', "text/plain"
        doc = read_provd_default(world, node)
        if doc is None:
            return 404, "Not Found", "text/plain"
        return 200, json.dumps({"config": doc}), mime
    if method == "PUT":
        if f"content-type:{mime}" not in lowered:
            return 415, f'Entity must be in media type "{mime}".', "text/plain"
        try:
            config = json.loads(body)["config"]
        except (ValueError, KeyError, TypeError):
            return 400, "Invalid JSON document", "text/plain"
        if not isinstance(config, dict):
            return 400, "Invalid JSON document", "text/plain"
        config["id"] = "default"
        write_provd_default(world, node, config)
        return 204, "", mime
    return 405, "Method Not Allowed", "text/plain"


def _xuc_http(method: str, path: str) -> tuple[int, str, str]:
    """xuc's Play server once it listens. The lab's guess (XIVO.md: no health endpoint known):
    the REST API under /xuc/api/ wants a bearer token (401), anything else is not a route."""
    if path.startswith("/xuc/api/"):
        body = '{"error":"Unauthorized","message":"Missing or invalid token"}'
        return 401, body, "application/json"
    page = "<!DOCTYPE html><html><head><title>Action Not Found</title></head></html>"
    return 404, page, "text/html; charset=utf-8"


async def _sysconfd(ctx: Ctx, method: str, path: str, body: str) -> tuple[int, str]:
    if path == "/get_ha_config":
        if method != "GET":
            return 405, "Method Not Allowed"
        return 200, json.dumps(read_ha(ctx.world, ctx.node.id))
    if path == "/update_ha_config":
        if ctx.world.node_flags(ctx.node.id).get("sysconfd_ha_gone"):
            return 404, json.dumps({"detail": "Not Found"})  # FastAPI's answer (wazo-sysconfd)
        if method != "POST":
            return 405, "Method Not Allowed"
        try:
            node_type, remote = _validate_ha(ctx.node, body)
        except ValueError as exc:
            return 400, json.dumps({"error": str(exc)})
        await update_ha(ctx, node_type, remote)
        return 200, ""
    return 404, "Not Found"


# -- the HA scripts ------------------------------------------------------------------------
def _ip_arg(args: list[str]) -> str | None:
    if not args:
        return None
    try:
        return str(ipaddress.IPv4Address(args[0]))
    except ValueError:
        return None


async def db_replication(ctx: Ctx, args: list[str]) -> int:
    if not args:
        ctx.err("usage: xivo-master-slave-db-replication <slave_ip>\n")
        return 1
    ip = _ip_arg(args)
    if ip is None:
        ctx.out(f"Slave replication failed: invalid slave address {args[0]!r}\n")
        return 1
    world, node = ctx.world, ctx.node
    await ctx.sleep(ctx.timing.replication)
    reason = _replication_problem(world, node, ip)
    if reason is None and world.fault("fail_replication"):
        reason = (
            "pg_restore: error: could not execute query: ERROR:  canceling statement "
            "due to lock timeout"
        )
    if reason is not None:
        ctx.out(f"Slave replication failed: {reason}\n")
        with world.edit_state(node.id) as st:
            st["last_replication"] = {"t": time.time(), "target": ip, "ok": False, "reason": reason}
        return 1
    target = world.node_by_ip(ip)
    assert target is not None
    now = time.time()
    with world.edit_state(target.id) as st:
        st["replicated_at"] = now
        st["replicated_from"] = node.ip
    with world.edit_state(node.id) as st:
        st["last_replication"] = {"t": now, "target": ip, "ok": True}
    ctx.out("Slave replication completed succesfully\n")
    return 0


def _replication_problem(world: LabWorld, node: NodeSpec, ip: str) -> str | None:
    if service_state(world, node.id, "postgresql") != "running":
        return (
            "pg_dump: error: connection to server on socket "
            '"/var/run/postgresql/.s.PGSQL.5432" failed: No such file or directory'
        )
    target = world.node_by_ip(ip)
    conn = f'psql: error: connection to server at "{ip}", port 5432 failed'
    if target is None or not world.reachable(node.id, ip):
        return f"{conn}: No route to host"
    if target.kind != XIVO or service_state(world, target.id, "postgresql") != "running":
        return f"{conn}: Connection refused"
    tst = world.read_state(target.id)
    if not tst.get("pg_listen_all") or tst.get("pg_hba_allow") != node.ip:
        return (
            f'{conn}: FATAL:  no pg_hba.conf entry for host "{node.ip}", user "postgres", '
            'database "asterisk"'
        )
    return None


def manage_slave(world: LabWorld, node: NodeSpec, action: str) -> list[str]:
    """xivo-manage-slave-services: `stop` = standby (flag + telephony off), `start` = take over."""
    flag = world.resolve(node.id, facts.DISABLED_FLAG)
    if action == "stop":
        flag.parent.mkdir(parents=True, exist_ok=True)
        flag.touch()
        set_services(world, node.id, set(facts.TELEPHONY), "stopped")
        return [f"Stopping {', '.join(facts.TELEPHONY)}", "XiVO slave services disabled"]
    flag.unlink(missing_ok=True)
    set_services(world, node.id, set(facts.TELEPHONY), "running")
    return [
        "Regenerating configuration",
        f"Starting {', '.join(facts.TELEPHONY)}",
        "XiVO slave services enabled",
    ]


async def manage_slave_services(ctx: Ctx, args: list[str]) -> int:
    if not args or args[0] not in ("start", "stop"):
        ctx.err("usage: xivo-manage-slave-services {start,stop}\n")
        return 1
    for line in manage_slave(ctx.world, ctx.node, args[0]):
        ctx.out(line + "\n")
    return 0


async def check_master(
    world: LabWorld,
    node: NodeSpec,
    master_ip: str,
    emit: Callable[[str], None],
    ping_interval: float,
) -> bool:
    """Three pings, `ping_interval` apart; any reply => stop slave services, none => start."""
    import asyncio

    reachable = False
    for attempt in range(3):
        if world.reachable(node.id, master_ip):
            emit(f"PING {master_ip}: 1 packets transmitted, 1 received")
            reachable = True
            break
        emit(f"PING {master_ip}: 1 packets transmitted, 0 received, 100% packet loss")
        if attempt < 2:
            await asyncio.sleep(ping_interval)
    if reachable:
        emit(f"Master {master_ip} is up: xivo-manage-slave-services stop")
        lines = manage_slave(world, node, "stop")
    else:
        emit(f"Master {master_ip} did not answer: xivo-manage-slave-services start")
        lines = manage_slave(world, node, "start")
    for line in lines:
        emit(line)
    with world.edit_state(node.id) as st:
        st["last_check"] = {
            "t": time.time(),
            "master_ip": master_ip,
            "reachable": reachable,
            "action": "stop" if reachable else "start",
        }
        st["checks"] = st.get("checks", 0) + 1
    return reachable


async def check_master_status(ctx: Ctx, args: list[str]) -> int:
    ip = _ip_arg(args)
    if ip is None:
        ctx.err("usage: xivo-check-master-status <master_ip>\n")
        return 1
    await check_master(
        ctx.world, ctx.node, ip, lambda s: ctx.out(s + "\n"), ctx.timing.ping_interval
    )
    return 0


# -- xivo-sync ---------------------------------------------------------------------------------
def fake_key_pair(comment: str) -> tuple[str, str]:
    blob = b64encode(b"\x00\x00\x00\x07ssh-rsa" + secrets.token_bytes(270)).decode()
    body = b64encode(secrets.token_bytes(900)).decode()
    wrapped = "\n".join(body[i : i + 70] for i in range(0, len(body), 70))
    private = f"-----BEGIN OPENSSH PRIVATE KEY-----\n{wrapped}\n-----END OPENSSH PRIVATE KEY-----\n"
    return private, f"ssh-rsa {blob} {comment}\n"


def install_sync_key(world: LabWorld, master: NodeSpec, slave: NodeSpec | None) -> None:
    private, public = fake_key_pair(f"root@{master.hostname}")
    key = world.resolve(master.id, facts.SYNC_KEY)
    key.parent.mkdir(parents=True, exist_ok=True)
    key.write_text(private)
    key.chmod(0o600)
    key.with_name(key.name + ".pub").write_text(public)
    if slave is not None:
        auth = world.resolve(slave.id, facts.AUTHORIZED_KEYS)
        auth.parent.mkdir(parents=True, exist_ok=True)
        with open(auth, "a") as f:
            f.write(public)


def _log_sync(world: LabWorld, node: NodeSpec, pid: int, level: str, message: str) -> None:
    log = world.resolve(node.id, facts.SYNC_LOG)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as f:
        f.write(facts.sync_log_line(time.time(), pid, level, message))


async def xivo_sync(ctx: Ctx, args: list[str]) -> int:
    world, node = ctx.world, ctx.node
    ha = read_ha(world, node.id)
    if "-i" in args:
        return await _sync_init(ctx, ha)
    pid = 1000 + secrets.randbelow(60000)
    if ha["node_type"] != "master":
        _log_sync(
            world, node, pid, "INFO", "HA not configured or not a master node: not synchronizing"
        )
        return 0
    key = ctx.path(facts.SYNC_KEY)
    if not key.is_file():
        _log_sync(
            world, node, pid, "ERROR", f"SSH key {facts.SYNC_KEY} not found: not synchronizing"
        )
        return 0
    slave_ip = ha["remote_address"]
    _log_sync(world, node, pid, "INFO", f"Starting synchronization to {slave_ip}")
    await ctx.sleep(ctx.timing.sync)
    problem = None
    slave = world.node_by_ip(slave_ip)
    if slave is None or not world.reachable(node.id, slave_ip):
        problem = f"ssh: connect to host {slave_ip} port 22: No route to host"
    else:
        pub = key.with_name(key.name + ".pub")
        auth = world.resolve(slave.id, facts.AUTHORIZED_KEYS)
        if not (pub.is_file() and auth.is_file() and pub.read_text().strip() in auth.read_text()):
            problem = f"root@{slave_ip}: Permission denied (publickey,password)."
    if problem:
        _log_sync(world, node, pid, "ERROR", f"rsync failed: {problem}")
        _log_sync(world, node, pid, "ERROR", "Synchronization failed")
        ctx.err(
            problem + "\nrsync: connection unexpectedly closed (0 bytes received so far)"
            " [sender]\nrsync error: unexplained error (code 255)\n"
        )
        return 1
    for d in facts.SYNC_DIRS:
        _log_sync(world, node, pid, "DEBUG", f"rsync {d} to {slave_ip}: done")
    _log_sync(world, node, pid, "INFO", "Synchronization successful")
    if slave is not None:
        with world.edit_state(slave.id) as st:
            st["synced_at"] = time.time()
    return 0


async def _sync_init(ctx: Ctx, ha: dict[str, str]) -> int:
    world, node = ctx.world, ctx.node
    if ha["node_type"] != "master":
        ctx.err("HA not configured or not a master node\n")
        return 1
    key = ctx.path(facts.SYNC_KEY)
    if key.exists():
        ctx.err(f"SSH key {facts.SYNC_KEY} already exists\n")
        return 1
    slave_ip = ha["remote_address"]
    ctx.out(
        f"Generating public/private rsa key pair.\nYour identification has been saved in "
        f"{facts.SYNC_KEY}\nYour public key has been saved in {facts.SYNC_KEY}.pub\n"
    )
    tool = "/usr/bin/ssh-copy-id"
    ctx.err(f'{tool}: INFO: Source of key(s) to be installed: "{facts.SYNC_KEY}.pub"\n')
    slave = world.node_by_ip(slave_ip)
    if slave is None or not world.reachable(node.id, slave_ip):
        ctx.err(f"{tool}: ERROR: ssh: connect to host {slave_ip} port 22: No route to host\n")
        return 1
    ctx.err(
        f"{tool}: INFO: attempting to log in with the new key(s), to filter out any that "
        f"are already installed\n{tool}: INFO: 1 key(s) remain to be installed -- if you "
        "are prompted now it is to install the new keys\n"
    )
    if not ctx.io.is_pty:
        ctx.err(
            "ssh_askpass: exec(/usr/bin/ssh-askpass): No such file or directory\n"
            f"root@{slave_ip}: Permission denied (publickey,password).\n"
        )
        return 1
    for attempt in range(3):
        if attempt:
            ctx.err("Permission denied, please try again.\n")
        ctx.err(f"root@{slave_ip}'s password: ")
        await ctx.flush()
        ctx.set_echo(False)
        try:
            line = await ctx.io.readline()
        finally:
            ctx.set_echo(True)
        ctx.err("\n")
        if line.rstrip(b"\r\n").decode("utf-8", errors="replace") == world.spec.root_password:
            install_sync_key(world, node, slave)
            ctx.out(
                "\nNumber of key(s) added: 1\n\nNow try logging into the machine, with:"
                f"   \"ssh 'root@{slave_ip}'\"\nand check to make sure that only the key(s)"
                " you wanted were added.\n\n"
            )
            return 0
        if not line:
            break  # EOF: nobody will type a password
    ctx.err(f"root@{slave_ip}: Permission denied (publickey,password).\n")
    return 1


# -- psql ----------------------------------------------------------------------------------------
_SELECT = re.compile(
    r"^\s*select\s+(?P<cols>.+?)\s+from\s+(?P<table>\w+)"
    r"(?:\s+where\s+(?P<where>.+?))?\s*;?\s*$",
    re.I | re.S,
)


_UPDATE = re.compile(
    r"^\s*update\s+(?P<table>\w+)\s+set\s+var_val\s*=\s*case\s+var_name\s+"
    r"(?P<cases>(?:when\s+'[^']*'\s+then\s+'[^']*'\s*)+)end"
    r"(?:\s+where\s+(?P<where>.+?))?\s*;?\s*$",
    re.I | re.S,
)


def _psql_update(ctx: Ctx, db: str, m: re.Match[str]) -> int:
    """`UPDATE staticsip SET var_val = CASE var_name WHEN ... END WHERE var_name IN (...)`:
    what the web UI's HA save does to the SIP expiry rows; prints `UPDATE n`."""
    table = m["table"].lower()
    if table != "staticsip" or db != "asterisk":
        ctx.err(f'ERROR:  relation "{table}" does not exist\n')
        return 1
    cases = dict(re.findall(r"when\s+'([^']*)'\s+then\s+'([^']*)'", m["cases"], re.I))
    wanted = set(re.findall(r"'([^']*)'", m["where"] or "")) or set(cases)
    count = 0
    with ctx.world.edit_state(ctx.node.id) as st:
        rows = st.setdefault("staticsip", {})
        for name in list(rows):
            if name in wanted:
                # CASE without ELSE: a matched row whose name has no WHEN becomes NULL.
                rows[name] = cases.get(name, "")
                count += 1
    ctx.out(f"UPDATE {count}\n")
    return 0


async def psql(ctx: Ctx, args: list[str]) -> int:
    db, sql, sep = "postgres", None, "|"
    unaligned = tuples_only = False
    it = iter(args)
    for a in it:
        if a in ("-d", "--dbname"):
            db = next(it, db)
        elif a.startswith("--dbname="):
            db = a.split("=", 1)[1]
        elif a in ("-c", "--command"):
            sql = next(it, "")
        elif a.startswith("--command="):
            sql = a.split("=", 1)[1]
        elif a in ("-F", "--field-separator"):
            sep = next(it, sep)
        elif a in ("-U", "-h", "-p", "--username", "--host", "--port", "-v", "--set", "--variable"):
            next(it, None)
        elif a.startswith("-") and not a.startswith("--"):
            unaligned |= "A" in a
            tuples_only |= "t" in a
        elif not a.startswith("-"):
            db = a
    if ctx.node.kind != XIVO:
        raise CommandFailed("bash: psql: command not found", 127)
    if service_state(ctx.world, ctx.node.id, "postgresql") != "running":
        ctx.err(
            'psql: error: connection to server on socket "/var/run/postgresql/.s.PGSQL.5432"'
            " failed: No such file or directory\n\tIs the server running locally and "
            "accepting connections on that socket?\n"
        )
        return 2
    if sql is None:
        ctx.err("psql: interactive sessions are not emulated: use -c\n")
        return 1
    up = _UPDATE.match(sql)
    if up is not None:
        return _psql_update(ctx, db, up)
    m = _SELECT.match(sql)
    if not m:
        ctx.err(f'ERROR:  lab: statement not emulated: "{sql.strip()[:60]}"\n')
        return 1
    table = m["table"].lower()
    if table != "staticsip" or db != "asterisk":
        ctx.err(f'ERROR:  relation "{table}" does not exist\n')
        return 1
    cols = [c.strip().lower() for c in m["cols"].split(",")]
    if cols == ["*"]:
        cols = ["var_name", "var_val"]
    for c in cols:
        if c not in ("var_name", "var_val"):
            ctx.err(f'ERROR:  column "{c}" does not exist\n')
            return 1
    rows = list(ctx.world.read_state(ctx.node.id).get("staticsip", {}).items())
    where = m["where"] or ""
    wanted = re.findall(r"'([^']*)'", where)
    if where and re.search(r"var_name", where, re.I):
        rows = [r for r in rows if r[0] in wanted]
    table_rows = [[{"var_name": n, "var_val": v}[c] for c in cols] for n, v in rows]
    if unaligned:
        body = "".join(sep.join(r) + "\n" for r in table_rows)
        if not tuples_only:
            body = sep.join(cols) + "\n" + body + f"({len(table_rows)} rows)\n"
        ctx.out(body)
        return 0
    widths = [max([len(c)] + [len(r[i]) for r in table_rows]) for i, c in enumerate(cols)]
    lines = []
    if not tuples_only:
        lines.append(" " + " | ".join(c.center(widths[i]) for i, c in enumerate(cols)))
        lines.append("-" + "-+-".join("-" * w for w in widths) + "-")
    lines += [" " + " | ".join(v.ljust(widths[i]) for i, v in enumerate(r)) for r in table_rows]
    if not tuples_only:
        lines.append(f"({len(table_rows)} rows)")
    ctx.out("\n".join(lines) + "\n\n" if not tuples_only else "\n".join(lines) + "\n")
    return 0
