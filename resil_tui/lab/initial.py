"""The normal, healthy starting state of every node (written once per lab directory)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from resil_tui.lab import containers, facts, xivo
from resil_tui.lab.spec import CC, EDGE, MASTER, MDS, SLAVE, XIVO, NodeSpec

if TYPE_CHECKING:
    from resil_tui.lab.world import LabWorld

STATICSIP_OTHER = {"bindport": "5060", "allowguest": "no", "autocreate_prefix": ""}


def populate(world: LabWorld, node: NodeSpec, now: float) -> None:
    root = world.node_root(node.id)
    (root / "etc").mkdir(parents=True, exist_ok=True)
    (root / "root").mkdir(parents=True, exist_ok=True)
    (root / "etc/hostname").write_text(node.hostname + "\n")
    log = root / "var/log"
    log.mkdir(parents=True, exist_ok=True)
    (log / "syslog").write_text(
        f"{_syslog_stamp(now - 60)} {node.hostname} systemd[1]: Started Daily apt activities.\n"
    )
    state: dict[str, Any] = {"boot_at": now - 2 * 86400, "postgres_restarts": 0}
    site = world.spec.site(node.site)
    if node.kind == XIVO:
        peer = site.node(XIVO, SLAVE if node.side == MASTER else MASTER)
        assert peer is not None, f"site {site.name} needs a XiVO master and slave"
        role = node.side or "disabled"
        xivo.write_role_files(world, node, role, peer.ip)
        state["services"] = xivo.default_services(node, telephony_running=role == MASTER)
        # HA was configured through the web UI at install: its save wrote SIP expiry and
        # (on the master) the backup registrar, then sysconfd did the rest.
        expiry = facts.SIP_EXPIRY_HA_ON if role in (MASTER, SLAVE) else facts.SIP_EXPIRY_HA_OFF
        state["staticsip"] = {**expiry, **STATICSIP_OTHER}
        xivo.apply_sysconfd_db(state, role, peer.ip)
        backup = peer.ip if role == MASTER else ""
        xivo.write_provd_default(world, node, facts.provd_default_doc(node.ip, backup))
        if role == SLAVE:
            flag = world.resolve(node.id, facts.DISABLED_FLAG)
            flag.parent.mkdir(parents=True, exist_ok=True)
            flag.touch()
            state["next_check_at"] = now
        else:
            _initial_sync_log(world, node, peer.ip, now)
    elif node.kind == MDS:
        state["services"] = xivo.default_services(node, telephony_running=True)
    elif node.kind == CC:
        (root / facts.CC_DIR.lstrip("/")).mkdir(parents=True, exist_ok=True)
        state["containers"] = containers.initial_containers(node, now)
    elif node.kind == EDGE:
        master = site.node(XIVO, MASTER)
        cc = site.node(CC, MASTER)
        assert master is not None
        text = facts.edge_env_text(
            fqdn=node.fqdn or f"edge.{site.name}.example",
            edge_ip=node.ip,
            xivo_ip=master.ip,
            cc_ip=cc.ip if cc else master.ip,
            mds_ips=[m.ip for m in site.mds()],
        )
        env_path = world.resolve(node.id, facts.EDGE_ENV)
        env_path.parent.mkdir(parents=True, exist_ok=True)
        env_path.write_text(text)
        state["containers"] = containers.initial_containers(node, now, facts.parse_env(text))
    world.write_state(node.id, state)
    if node.kind == XIVO and node.side == MASTER:
        slave = site.node(XIVO, SLAVE)
        # The key pair exchanged by a past `xivo-sync -i`; the slave side is written here,
        # before the slave populates, so write it only into files, not state.
        xivo.install_sync_key(world, node, slave)


def _initial_sync_log(world: LabWorld, node: NodeSpec, slave_ip: str, now: float) -> None:
    t = now - 1800
    pid = 23817
    lines = [facts.sync_log_line(t, pid, "INFO", f"Starting synchronization to {slave_ip}")]
    lines += [
        facts.sync_log_line(t + 0.2 + i * 0.1, pid, "DEBUG", f"rsync {d} to {slave_ip}: done")
        for i, d in enumerate(facts.SYNC_DIRS)
    ]
    lines.append(facts.sync_log_line(t + 1.4, pid, "INFO", "Synchronization successful"))
    p = world.resolve(node.id, facts.SYNC_LOG)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("".join(lines))


def _syslog_stamp(t: float) -> str:
    import time

    return time.strftime("%b %d %H:%M:%S", time.localtime(t))
