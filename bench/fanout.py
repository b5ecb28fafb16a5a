"""Fan-out against peers (issues 9 and 17): the same read-only work over 20 real sshd nodes.

Every tool reads, on 20 XiVO nodes each served by its own OpenSSH sshd on 127.0.0.x (the
sshd tier of tests/sshd), what the status poll reads on a XiVO node: the tail of ha.conf,
both HA cron files, the disabled flag and the sync log (one `tail`), `xivo-service status
all`, and `test -e` of the sync key. Measured in one run, a fresh process per
measurement (cold: start-up, 20 handshakes, the reads):

- ours, `resil-tui status --json`: the full status poll (it also judges the cluster);
- ours, pool fan-out: the same batched read per node through ops' `Pool`
  (`python -m bench.fanout --pool-child INVENTORY`);
- a sequential OpenSSH `ssh` loop (full run only);
- Debian's pssh (`parallel-ssh`, 20 in parallel), installed with apt when missing;
- `ansible -m raw` with 20 forks, installed in a throwaway venv when missing.

The peers run the three commands joined into one command line per node (`A ; B ; C`, the
way one would write it by hand: one remote execution per node, like ours), and in the
full run also as three runs (three executions per node). The outputs of every run are
checked (each node's services listing and its own ha.conf) before a time counts.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.results import Measured, Target

ROOT = Path(__file__).resolve().parents[1]
SITES = 10  # x (XiVO master + slave) = 20 nodes
ROUNDS = 5  # runs of every tool...
LOOP_ROUNDS = 3  # ...but the sequential ssh loop, which takes 5-10 s a run
QUICK_ROUNDS = 2
JUMP_ROUNDS = 3  # warm refreshes, direct and through a jump host


def _reads_with_default_paths() -> list[str]:
    """The status poll's XiVO reads, for a node with the default paths.

    pssh and ansible send one command line to every host, so they cannot use the per-node
    path overrides of the tier's inventory; the lab resolves the default paths to the same
    files in each node's root (checked: each node shows its own ha.conf).
    """
    from resil_tui.inventory_model import Node, NodeKind, Side, SshSettings
    from resil_tui.ops.node_reads import KINDS

    node = Node("x.xivo.master", "x", NodeKind.XIVO, Side.MASTER, SshSettings(host="127.0.0.1"))
    return [r.command(node).line for r in KINDS[NodeKind.XIVO].reads]


READS = _reads_with_default_paths()
JOINED = " ; ".join(READS)
ANSIBLE_VENV = Path("/tmp/ansible-venv")
TARGETS = (
    Target(
        "cold-status-vs-pssh",
        "Cold status --json vs pssh -p 20, joined: 20 real sshd nodes",
        1.0,
    ),
    Target(
        "cold-status-vs-ansible",
        "Cold status --json vs ansible -m raw -f 20, joined: 20 real sshd nodes",
        0.5,
    ),
)
RUN_TIMEOUT = 180.0  # one measurement, any tool

NOTES = f"""\
**Setup.** {SITES * 2} XiVO nodes ({SITES} sites x master + slave) of the lab, each behind
its own OpenSSH `sshd` on 127.0.0.x (the sshd tier of `tests/sshd/sshd_fixture.py`), strict
host key checking against the tier's known_hosts and its client key for every tool. The
lab emulation runs as each node's ForceCommand: **every remote execution starts a Python
lab dispatcher on the same machine** (its CPU cost is measured in the run, below the
table), far more than a fork of a shell on a real XiVO, and sshd's own per-session work
comes on top. That server cost is the same for every tool per execution and weighs
heavily in these figures, all processes sharing the same cores. Hence the column "remote
executions per node".

**Work.** Per node, what the status poll reads on a XiVO node: `{READS[0]}`,
`{READS[1]}`, `{READS[2]}` (default paths shown). *ours status --json* is the real
`resil-tui status --json`: the full poll, sent as one batched execution per node
(`remote.commands.batch`: the three reads with markers around each), parsed and judged.
*ours pool* runs the same batch through `resil_tui.remote.pool.Pool`, one connection per
node (`python -m bench.fanout --pool-child`). The peers send the three commands joined
(`A ; B ; C`, one execution per node) or, in the full run, as three runs (three executions
per node). pssh uses `-p 20`, options `-O UserKnownHostsFile=... -O
StrictHostKeyChecking=yes -x "-i KEY"`; it sends one line to all hosts, so its reads use
the default paths, which the lab resolves to the same files as the inventory's per-node
overrides (checked: every node shows its own ha.conf, its role and its peer's address).
ansible uses `-f 20`, `ANSIBLE_HOST_KEY_CHECKING=True`, `ansible_ssh_common_args` with the
strict known_hosts, `ansible_ssh_private_key_file`, the same line as pssh, its default SSH
multiplexing (ControlPersist: a second run reuses the first run's connections), a fresh
control directory every round so that every round starts cold, and its tree callback (a
JSON result per host) to check the output.

**Figures.** Median of {ROUNDS} runs ({LOOP_ROUNDS} for the sequential ssh loop;
{QUICK_ROUNDS} of the joined forms only with `--quick`), tools interleaved round by round.
"x ours" = the tool's median / ours' median: above 1, ours is faster. The RESULT figures
are the inverse: ours / the peer (target: <= 1.0 for pssh joined, <= 0.5 for ansible
joined). *client CPU* = user + system time of the tool's processes, median (getrusage of
reaped children: ssh clients under pssh and ansible count; ansible's ControlPersist
masters, which detach, do not)."""


# --- the nodes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Host:
    node_id: str
    side: str  # master | slave: what its ha.conf says it is
    peer: str  # the other node's VoIP IP: its ha.conf's remote_address
    address: str
    port: int
    ha_conf: str  # the inventory's per-node override (the file inside the node root)

    @property
    def pssh_host(self) -> str:
        return f"{self.address}:{self.port}"


def _hosts(lab: Any) -> list[Host]:
    import tomllib

    inv = tomllib.loads(Path(lab.inventory_path).read_text())
    found = []
    for site, doc in inv["site"].items():
        for side, other in (("master", "slave"), ("slave", "master")):
            node_id = f"{site}.xivo.{side}"
            n = lab.node(node_id)
            found.append(
                Host(
                    node_id,
                    side,
                    doc["xivo"][other]["voip_ip"],
                    n.address,
                    n.port,
                    doc["xivo"][side]["paths"]["ha_conf"],
                )
            )
    return found


# What a run showed of one node: (services listed, its ha.conf's node_type, remote_address).
Facts = tuple[bool, str | None, str | None]


def facts(output: str) -> Facts:
    """The facts checked in a node's raw output (services listing + ha.conf JSON)."""
    mode = re.search(r'"node_type":\s*"(\w+)"', output)
    peer = re.search(r'"remote_address":\s*"([0-9.]+)"', output)
    return (
        "Checking services" in output and "xivo-" in output,
        mode.group(1) if mode else None,
        peer.group(1) if peer else None,
    )


def check_facts(tool: str, targets: list[Host], seen: dict[str, Facts]) -> None:
    """Every node answered with its services listing and its own ha.conf."""
    problems = []
    for t in targets:
        got = seen.get(t.node_id)
        if got is None:
            problems.append(f"{t.node_id}: no output")
            continue
        services, node_type, peer = got
        if not services:
            problems.append(f"{t.node_id}: no service listing")
        if (node_type, peer) != (t.side, t.peer):
            problems.append(
                f"{t.node_id}: ha.conf says {node_type!r} with peer {peer!r}, "
                f"not {t.side!r} with {t.peer!r}"
            )
    if problems:
        raise RuntimeError(f"{tool}: wrong output: {'; '.join(problems[:4])}")


# --- the tools ------------------------------------------------------------------------------


@dataclass
class Tool:
    name: str
    execs: str  # remote executions per node, as shown
    run_once: Callable[[Path], dict[str, Facts]]  # a scratch dir -> facts per node id
    rounds: int = ROUNDS
    cleanup: Callable[[Path], None] | None = None  # after a run, outside the timing
    key: str = ""  # ours | pool | pssh | ansible: the figures the RESULT lines compare
    times: list[float] = field(default_factory=list)
    client_cpu: list[float] = field(default_factory=list)  # the tool's processes
    error: str = ""  # why the tool stopped being measured, if it did


def _run(
    argv: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None, what: str = ""
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        errors="replace",
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    return proc


def _resil_tui_argv() -> list[str]:
    script = Path(sys.executable).with_name("resil-tui")
    return [str(script)] if script.exists() else [sys.executable, "-m", "resil_tui"]


def _product_env(scratch: Path) -> dict[str, str]:
    # The product's debug log and audit log go to the scratch dir, not to ~.
    return dict(
        os.environ,
        XDG_STATE_HOME=str(scratch / "state"),
        XDG_CONFIG_HOME=str(scratch / "config"),
        PYTHONPATH=str(ROOT),
    )


def ours_status(lab: Any, targets: list[Host]) -> Callable[[Path], dict[str, Facts]]:
    def run(scratch: Path) -> dict[str, Facts]:
        proc = _run(
            [*_resil_tui_argv(), "--hosts", str(lab.inventory_path), "status", "--json"],
            env=_product_env(scratch),
        )
        if proc.returncode not in (0, 1, 2):
            raise RuntimeError(f"status exited {proc.returncode}: {proc.stderr[-400:]}")
        doc = json.loads(proc.stdout)
        seen: dict[str, Facts] = {}
        for site in doc["sites"]:
            for node_id, snap in site["nodes"].items():
                if snap["reachability"]["state"] != "ok":
                    raise RuntimeError(f"status: {node_id} {snap['reachability']}")
                # --json has no raw outputs: check the parsed facts instead.
                x = snap["xivo"]
                seen[node_id] = (bool(x["services"]["services"]), x["ha"]["mode"], x["ha"]["peer"])
        return seen

    return run


def ours_pool(lab: Any) -> Callable[[Path], dict[str, Facts]]:
    def run(scratch: Path) -> dict[str, Facts]:
        proc = _run(
            [
                sys.executable,
                "-m",
                "bench.fanout",
                "--pool-child",
                str(lab.inventory_path),
                str(scratch / "audit.jsonl"),
            ],
            env=_product_env(scratch),
            cwd=ROOT,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"pool child exited {proc.returncode}: {proc.stderr[-400:]}")
        return {k: facts(v) for k, v in json.loads(proc.stdout).items()}

    return run


def ssh_loop(lab: Any, targets: list[Host]) -> Callable[[Path], dict[str, Facts]]:
    def run(scratch: Path) -> dict[str, Facts]:
        outputs = {}
        for t in targets:
            proc = _run(lab.ssh_argv(t.node_id, JOINED))
            if proc.returncode == 255:
                raise RuntimeError(f"ssh {t.node_id}: {proc.stderr[-300:]}")
            outputs[t.node_id] = proc.stdout
        return {k: facts(v) for k, v in outputs.items()}

    return run


def _pssh_install() -> str | None:
    """None when parallel-ssh is there (installed with apt if needed), else why not."""
    if shutil.which("parallel-ssh"):
        return None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return "parallel-ssh not installed, and apt-get needs root"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for step in (
        ["apt-get", "install", "-y", "-q", "pssh"],
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "pssh"],
    ):
        if shutil.which("parallel-ssh"):
            break
        try:
            subprocess.run(step, capture_output=True, env=env, timeout=300, check=False)
        except subprocess.TimeoutExpired:
            return f"`{' '.join(step)}` took over 300 s"
    return None if shutil.which("parallel-ssh") else "apt-get install pssh failed"


def pssh(lab: Any, targets: list[Host], joined: bool) -> Callable[[Path], dict[str, Facts]]:
    by_host = {t.pssh_host: t for t in targets}

    def run(scratch: Path) -> dict[str, Facts]:
        hosts = scratch / "pssh-hosts"
        hosts.write_text("".join(f"{t.pssh_host}\n" for t in targets))
        lines = [JOINED] if joined else READS
        outputs = dict.fromkeys((t.node_id for t in targets), "")
        for i, line in enumerate(lines):
            outdir = scratch / f"pssh-out-{i}"
            argv = [
                "parallel-ssh", "-h", str(hosts), "-l", lab.user, "-p", str(len(targets)),
                "-t", "60", "-o", str(outdir), "-e", str(scratch / f"pssh-err-{i}"),
                "-O", f"UserKnownHostsFile={lab.known_hosts}",
                "-O", "StrictHostKeyChecking=yes", "-O", "GlobalKnownHostsFile=/dev/null",
                "-O", "BatchMode=yes", "-O", "IdentitiesOnly=yes",
                "-x", f"-F /dev/null -i {lab.client_key}",
                line,
            ]  # fmt: skip
            proc = _run(argv)
            # pssh exits 5 when a remote command exits non-zero (a stopped service): fine.
            if proc.returncode not in (0, 5):
                raise RuntimeError(f"parallel-ssh exited {proc.returncode}: {proc.stdout[-300:]}")
            for path in outdir.iterdir():
                host = path.name.split("@", 1)[-1]
                if host in by_host:
                    outputs[by_host[host].node_id] += path.read_text(errors="replace")
        return {k: facts(v) for k, v in outputs.items()}

    return run


def _ansible_install() -> str | None:
    """None when the throwaway venv has ansible (installed if needed), else why not."""
    ansible = ANSIBLE_VENV / "bin" / "ansible"
    if ansible.exists():
        return None
    python = shutil.which("python3") or sys.executable
    try:
        subprocess.run(
            [python, "-m", "venv", str(ANSIBLE_VENV)], capture_output=True, timeout=120, check=True
        )
        proc = subprocess.run(
            [str(ANSIBLE_VENV / "bin" / "pip"), "install", "-q", "ansible-core"],
            capture_output=True,
            text=True,
            timeout=400,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"cannot create {ANSIBLE_VENV}: {exc}"
    if not ansible.exists():
        return f"pip install ansible-core failed: {proc.stderr.strip()[-200:]}"
    return None


def _ansible_inventory(lab: Any, targets: list[Host], path: Path) -> None:
    # JSON is YAML: ansible's yaml inventory plugin reads it, no YAML writer needed here.
    common = (
        f"-F /dev/null -o UserKnownHostsFile={lab.known_hosts} "
        "-o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes "
        "-o IdentitiesOnly=yes"
    )
    doc = {
        "all": {
            "vars": {
                "ansible_user": lab.user,
                "ansible_ssh_private_key_file": str(lab.client_key),
                "ansible_ssh_common_args": common,
            },
            "hosts": {
                t.node_id: {"ansible_host": t.address, "ansible_port": t.port, "ha_conf": t.ha_conf}
                for t in targets
            },
        }
    }
    path.write_text(json.dumps(doc, indent=1))


def _stop_masters(control_dir: Path) -> None:
    """End the SSH master connections ansible left behind (ControlPersist)."""
    if not control_dir.is_dir():
        return
    for sock in sorted(control_dir.iterdir())[:200]:
        with contextlib.suppress(subprocess.TimeoutExpired, OSError):
            subprocess.run(
                ["ssh", "-F", "/dev/null", "-o", f"ControlPath={sock}", "-O", "exit", "unused"],
                capture_output=True,
                timeout=10,
                check=False,
            )


def ansible(lab: Any, targets: list[Host], joined: bool) -> Callable[[Path], dict[str, Facts]]:
    def run(scratch: Path) -> dict[str, Facts]:
        inventory = scratch / "ansible-hosts.yml"
        _ansible_inventory(lab, targets, inventory)
        control = scratch / "acp"
        control.mkdir()
        env = dict(
            os.environ,
            ANSIBLE_HOST_KEY_CHECKING="True",
            ANSIBLE_HOME=str(scratch / "ansible-home"),
            ANSIBLE_LOCAL_TEMP=str(scratch / "ansible-tmp"),
            ANSIBLE_SSH_CONTROL_PATH_DIR=str(control),
            ANSIBLE_LOAD_CALLBACK_PLUGINS="True",
            # ansible-core's tree callback: one JSON result file per host, parsed below.
            ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.tree",
            ANSIBLE_DEPRECATION_WARNINGS="False",
            ANSIBLE_PYTHON_INTERPRETER="auto_silent",
        )
        lines = [JOINED] if joined else READS
        outputs = dict.fromkeys((t.node_id for t in targets), "")
        for i, line in enumerate(lines):
            tree = scratch / f"ansible-tree-{i}"
            proc = _run(
                [
                    str(ANSIBLE_VENV / "bin" / "ansible"),
                    "all",
                    "-i",
                    str(inventory),
                    "-m",
                    "raw",
                    "-a",
                    line,
                    "-f",
                    str(len(targets)),
                ],
                env={**env, "ANSIBLE_CALLBACK_TREE_DIR": str(tree)},
                cwd=scratch,
            )
            # rc 2: a host's command failed (a stopped service exits 1): still answered.
            if proc.returncode not in (0, 2):
                raise RuntimeError(
                    f"ansible exited {proc.returncode}: {(proc.stderr or proc.stdout)[-400:]}"
                )
            for path in tree.iterdir():
                res = json.loads(path.read_text())
                if res.get("unreachable"):
                    raise RuntimeError(f"ansible: {path.name} unreachable: {res.get('msg')}")
                if path.name in outputs:
                    outputs[path.name] += res.get("stdout", "")
        return {k: facts(v) for k, v in outputs.items()}

    return run


def ansible_cleanup(scratch: Path) -> None:
    _stop_masters(scratch / "acp")


# --- ours: the pool child -------------------------------------------------------------------


def _pool_child(inventory_path: str, audit_path: str) -> int:
    """Send every node the status poll's batched read through one Pool; print each node's
    stdout as JSON."""
    import asyncio

    from resil_tui.inventory import load_inventory
    from resil_tui.ops.node_reads import node_commands
    from resil_tui.ops.session import make_pool
    from resil_tui.remote import commands as cat

    async def main() -> dict[str, str]:
        inv = load_inventory(Path(inventory_path))
        pool = make_pool(inv, audit_path=Path(audit_path))
        try:

            async def one(node: Any) -> tuple[str, str]:
                batch = cat.batch(node_commands(node))
                r = await pool.run(node, batch.command)
                if r.lost or r.timed_out:
                    raise RuntimeError(f"{node.id}: {r.summary()}")
                return node.id, r.stdout

            return dict(await asyncio.gather(*(one(n) for n in inv.nodes())))
        finally:
            await pool.close()

    print(json.dumps(asyncio.run(main())))
    return 0


# --- the benchmark --------------------------------------------------------------------------


def _children_cpu() -> float:
    """CPU seconds of this process's finished children (and theirs, once reaped)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def dispatcher_cpu(lab: Any, node_id: str, runs: int = 5) -> float:
    """CPU seconds of one lab dispatcher run (what every remote execution costs the lab),
    run as the tier's ForceCommand runs it: same interpreter, environment and user."""
    python, extra = _sshd_fixture()._dispatcher_python(lab.user)
    argv = [
        python,
        "-m",
        "resil_tui.lab.dispatch",
        "--lab-dir",
        str(lab.lab_dir),
        "--node",
        node_id,
    ]
    if os.geteuid() == 0 and lab.user != "root":
        argv = ["runuser", "-u", lab.user, "--", *argv]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        **extra,
        "SSH_ORIGINAL_COMMAND": JOINED,
    }
    before = _children_cpu()
    for _ in range(runs):
        proc = subprocess.run(
            argv,
            env=env,
            cwd="/",
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
            check=False,
        )
        if b"Checking services" not in proc.stdout:
            raise RuntimeError(f"lab dispatcher: {proc.stderr.decode(errors='replace')[-300:]}")
    return (_children_cpu() - before) / runs


def _sshd_fixture() -> Any:
    """tests/sshd/sshd_fixture.py, the sshd tier's harness, imported from where it lives."""
    where = str(ROOT / "tests" / "sshd")
    if where not in sys.path:
        sys.path.insert(0, where)
    return importlib.import_module("sshd_fixture")


@contextlib.contextmanager
def sshd_tier(sites: int) -> Iterator[Any]:
    from resil_tui.lab.spec import LabSpec

    lab = _sshd_fixture().start_sshd_lab(LabSpec.many(sites, cc=False, edge=False, mds=0))
    try:
        yield lab
    finally:
        lab.close()


# --- through a jump host ---------------------------------------------------------------------


def _proc_cpu(pid: int) -> float:
    """utime + stime of a live process and of its reaped children, in seconds."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _sshd_tree(lab: Any, node_id: str) -> tuple[float, int]:
    """CPU seconds so far of a node's sshd and everything under it, and their open fds."""
    pids = [lab.node(node_id).pid, *(p.pid for p in lab.node_processes(node_id))]
    fds = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fds += len(os.listdir(f"/proc/{pid}/fd"))
    return sum(_proc_cpu(pid) for pid in pids if pid is not None), fds


async def _poll_costs(
    inv_path: Path, scratch: Path, lab: Any, bastion: str, jump: bool
) -> dict[str, float]:
    from resil_tui.inventory import load_inventory
    from resil_tui.ops.session import make_pool
    from resil_tui.ops.status import StatusCollector

    inv = load_inventory(inv_path)
    # The jump host's own site is left out: its sshd then only relays (its own commands
    # would start lab dispatchers under it and count as the jump's CPU).
    sites = [s for s in inv.sites.values() if bastion not in {n.id for n in s.nodes()}]
    nodes = sum(len(s.nodes()) for s in sites)
    from bench.scale import keep_shells_ready

    # As the console and the watcher poll: through one shell kept open per node.
    pool = make_pool(inv, audit_path=scratch / "audit.jsonl", keep_shells=True)
    try:
        collector = StatusCollector(inv, pool)
        c0 = time.process_time()
        await collector.poll(sites)
        cold = (time.process_time() - c0) / nodes
        await keep_shells_ready(collector, pool, sites)
        walls, cpu, sshd = [], [], []
        for _ in range(JUMP_ROUNDS):
            s0 = _sshd_tree(lab, bastion)[0]
            c0, t0 = time.process_time(), time.perf_counter()
            reports = await collector.poll(sites)
            walls.append(time.perf_counter() - t0)
            cpu.append((time.process_time() - c0) / nodes)
            sshd.append((_sshd_tree(lab, bastion)[0] - s0) / nodes)
            down = [
                n for r in reports for n, x in r.snapshot.nodes.items() if not x.reachability.ok
            ]
            if down:
                raise RuntimeError(f"unreachable{' through the jump' if jump else ''}: {down}")
        fds = _sshd_tree(lab, bastion)[1]
    finally:
        await pool.close()
    return {
        "cold_ms": cold * 1000,
        "warm_ms": statistics.median(cpu) * 1000,
        "wall_s": statistics.median(walls),
        "sshd_ms": statistics.median(sshd) * 1000,
        "jump_fds": fds,
        "nodes": nodes,
    }


def jump_costs(lab: Any, scratch: Path, targets: list[Host]) -> list[str]:
    """The status poll of every node, direct and through one of the tier's sshd as a jump."""
    import asyncio

    bastion = targets[0].node_id
    addr, port = lab.address(bastion)
    text = Path(lab.inventory_path).read_text()
    via = scratch / "via-jump.toml"
    via.write_text(text.replace("[ssh]\n", f'[ssh]\njump = "{lab.user}@{addr}:{port}"\n', 1))
    direct = asyncio.run(_poll_costs(Path(lab.inventory_path), scratch, lab, bastion, False))
    _, idle_fds = _sshd_tree(lab, bastion)
    jumped = asyncio.run(_poll_costs(via, scratch, lab, bastion, True))
    n = jumped["nodes"]
    # /proc counts CPU in clock ticks: below one tick per refresh, say so rather than 0.
    tick_ms = 1000 / os.sysconf("SC_CLK_TCK") / n
    sshd_cpu = (
        f"{jumped['sshd_ms']:.2f} ms"
        if jumped["sshd_ms"] >= tick_ms
        else f"under {tick_ms:.2f} ms (less than one clock tick per refresh)"
    )
    return [
        f"status poll of {n} nodes (the jump host's site left out), client CPU per node: "
        "cold (handshake and first poll) "
        f"{direct['cold_ms']:.1f} ms direct, {jumped['cold_ms']:.1f} ms through a jump host; "
        f"warm refresh (kept shells) {direct['warm_ms']:.2f} ms direct, "
        f"{jumped['warm_ms']:.2f} ms through the jump "
        f"(refresh {direct['wall_s']:.2f} s / {jumped['wall_s']:.2f} s)",
        f"the jump host (one of the tier's OpenSSH sshd): {sshd_cpu} of its CPU "
        f"per node and refresh, {jumped['jump_fds'] - idle_fds:.0f} more open fds with the "
        f"{n} targets connected through it ({(jumped['jump_fds'] - idle_fds) / n:.1f} per target)",
    ]


def _tools(lab: Any, targets: list[Host], skipped: list[str], quick: bool) -> list[Tool]:
    full = not quick
    rounds = QUICK_ROUNDS if quick else ROUNDS
    n = len(targets)
    three = f"{len(READS)} ({len(READS)} connections)"
    one = "1 (1 connection)"
    tools = [
        Tool("ours: resil-tui status --json (full poll)", one, ours_status(lab, targets), rounds),
        Tool("ours: Pool, the same batched read", one, ours_pool(lab), rounds, key="pool"),
    ]
    tools[0].key = "ours"
    if full:
        tools.append(Tool("ssh loop, sequential, joined", "1", ssh_loop(lab, targets), LOOP_ROUNDS))
    why = _pssh_install()
    if why is None:
        if full:
            tools.append(Tool(f"pssh -p {n} ({len(READS)} runs)", three, pssh(lab, targets, False)))
        tools.append(
            Tool(f"pssh -p {n}, joined", "1", pssh(lab, targets, True), rounds, key="pssh")
        )
    else:
        skipped.append(f"pssh skipped: {why}")
    why = _ansible_install()
    if why is None:
        if full:
            tools.append(
                Tool(
                    f"ansible -m raw -f {n} ({len(READS)} runs)",
                    f"{len(READS)} (1 connection, ControlPersist)",
                    ansible(lab, targets, False),
                    cleanup=ansible_cleanup,
                )
            )
        tools.append(
            Tool(
                f"ansible -m raw -f {n}, joined",
                "1",
                ansible(lab, targets, True),
                rounds,
                cleanup=ansible_cleanup,
                key="ansible",
            )
        )
    else:
        skipped.append(f"ansible skipped: {why}")
    return tools


def measure(scratch: Path, quick: bool = False) -> tuple[list[Tool], list[str]]:
    skipped: list[str] = []
    with sshd_tier(SITES) as lab:
        targets = _hosts(lab)
        tools = _tools(lab, targets, skipped, quick)
        per_exec = dispatcher_cpu(lab, targets[0].node_id, runs=2 if quick else 5)
        skipped.append(
            f"lab cost of one remote execution (a Python dispatcher, measured here): "
            f"{per_exec * 1000:.0f} ms CPU, so {len(targets)} executions need at least "
            f"{per_exec * len(targets) / (os.cpu_count() or 1):.2f} s of the machine's "
            f"{os.cpu_count()} cores ({len(READS)} times that for {len(READS)} executions)"
        )
        deadline = time.monotonic() + 400  # bounds the whole benchmark, whatever happens
        for rnd in range(max(t.rounds for t in tools)):
            # Interleaved, and rotated so that no tool always follows the same one.
            order = tools[rnd % len(tools) :] + tools[: rnd % len(tools)]
            for tool in order:
                if tool.error or len(tool.times) >= tool.rounds or time.monotonic() > deadline:
                    continue
                run_dir = scratch / f"r{rnd}-{tools.index(tool)}"
                run_dir.mkdir()
                client0 = _children_cpu()
                try:
                    t0 = time.perf_counter()
                    seen = tool.run_once(run_dir)
                    elapsed = time.perf_counter() - t0
                    cpu = _children_cpu() - client0
                    if tool.cleanup is not None:
                        tool.cleanup(run_dir)
                    check_facts(tool.name, targets, seen)
                except (
                    RuntimeError,
                    OSError,
                    ValueError,
                    KeyError,
                    subprocess.SubprocessError,
                ) as exc:
                    # One broken tool must not take the others' figures with it.
                    tool.error = f"{exc.__class__.__name__}: {exc}"
                    continue
                tool.times.append(elapsed)
                tool.client_cpu.append(cpu)
        if not quick:  # (two more cold polls: the full run only)
            try:
                skipped += jump_costs(lab, scratch, targets)
            except (RuntimeError, OSError, ValueError) as exc:
                skipped.append(f"through a jump host: FAILED: {exc.__class__.__name__}: {exc}")
    return tools, skipped


def _median(tools: list[Tool], key: str, runs: int | None = None) -> float:
    """The tool's median (of its first `runs` runs if given), or nan once any of its runs
    failed (the runs before a failure are no figure: a RESULT must not read ok from part
    of a run)."""
    found = [t.times[:runs] for t in tools if t.key == key and not t.error]
    return statistics.median(found[0]) if found and found[0] else float("nan")


def _runs(tools: list[Tool], key: str) -> int:
    return next((len(t.times) for t in tools if t.key == key), 0)


def report(tools: list[Tool], skipped: list[str]) -> list[str]:
    status_s, pool_s = _median(tools, "ours"), _median(tools, "pool")
    lines = [
        f"{SITES * 2} XiVO nodes behind {SITES * 2} sshd on 127.0.0.x; per node the status "
        f"poll's XiVO reads (`{JOINED}`); cold process per run",
        "| tool | remote executions per node | median s | runs | min-max s "
        "| x ours status | x ours pool | client CPU s |",
        "| --- | --- | ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    for t in tools:
        if not t.times:
            continue
        med = statistics.median(t.times)
        lines.append(
            f"| {t.name} | {t.execs} | {med:.2f} | {len(t.times)} | "
            f"{min(t.times):.2f}-{max(t.times):.2f} | {med / status_s:.2f} | {med / pool_s:.2f} "
            f"| {statistics.median(t.client_cpu):.2f} |"
        )
    lines += [f"{t.name}: FAILED after {len(t.times)} run(s): {t.error}" for t in tools if t.error]
    lines += skipped
    return lines


def run(quick: bool = False) -> list[Measured]:
    with tempfile.TemporaryDirectory(prefix="resil-fanout-") as d:
        tools, skipped = measure(Path(d), quick)
    lines = report(tools, skipped)
    out = []
    for peer, target in (("pssh", TARGETS[0]), ("ansible", TARGETS[1])):
        # The same rounds of both (they run interleaved, one run of each per round): when
        # the deadline stopped one tool short, the other's later runs are left out.
        runs = min(_runs(tools, "ours"), _runs(tools, peer))
        ours, theirs = _median(tools, "ours", runs), _median(tools, peer, runs)
        ratio = ours / theirs
        line = (
            f"ours status --json {ours:.2f} s / {peer} joined {theirs:.2f} s = "
            f"{ratio:.2f} (target <= {target.target:g}; medians of the same {runs} rounds)"
        )
        out.append(Measured([*lines, line] if peer == "pssh" else [line], ratio))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool-child", nargs=2, metavar=("INVENTORY", "AUDIT"))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.pool_child:
        return _pool_child(*args.pool_child)
    for measured, target in zip(run("--quick" in sys.argv), TARGETS, strict=True):
        print("\n".join(measured.lines))
        print(target.result_line(measured.value))
    return 0


if __name__ == "__main__":
    sys.exit(main())
