"""Real OpenSSH sshd processes in front of the lab emulation (the "sshd tier").

One `sshd -D -e` per lab node, each on its own loopback address (127.0.0.10, .11, ...)
with its own host key, all accepting one generated client key. Every session runs the
lab dispatcher (`python -m resil_tui.lab.dispatch --lab-dir DIR --node ID`) through a
ForceCommand, so the product talks to the same emulation as in the in-process lab, but
through the real server: real MaxSessions/MaxStartups limits, real SFTP, real host keys.

What sshd does with ForceCommand and SFTP (checked on OpenSSH 9.2p1, Debian 12):
a `subsystem sftp` request does NOT bypass ForceCommand. sshd runs the forced command
through the login shell instead, with SSH_ORIGINAL_COMMAND set to the whole Subsystem
command line of sshd_config (here the literal `internal-sftp`; with
`Subsystem sftp /usr/lib/openssh/sftp-server -l INFO` it is that string, arguments
included). `internal-sftp` only exists inside sshd, so the forced command cannot run it:
it is a small /bin/sh wrapper that execs the external sftp-server binary for that one
value and the lab dispatcher for anything else.
(A `Match` block cannot help: Match has no criterion for "subsystem request".) Side effect,
harmless here: an exec request whose command line is literally `internal-sftp` also gets
an SFTP server.

SFTP runs without chroot, so the inventory written for this tier points every `[paths]`
key at the real file inside the node root; the lab resolves absolute paths that already
start with the node root as they are (lab contract).

Sessions run as a non-root login user (`resiltest`) so that a node's processes can be
told from the test run's; a root login works too, and the wrapper drops it to the same
user (setpriv) so every lab file keeps one owner. The venv's python may sit where that
user cannot go (pyenv under /root): then a system python of the same minor version runs
the dispatcher with the venv's site-packages on PYTHONPATH.

Not imported by product code; used by tests/sshd/conftest.py and the sshd-tier tests.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import tomli_w

SSHD = "/usr/sbin/sshd"
FIRST_ADDRESS = IPv4Address("127.0.0.10")
DEFAULT_USER = "resiltest"
# Every key of the inventory's [paths] table (hosts.example.toml) and its XiVO default.
REMOTE_PATHS: dict[str, str] = {
    "ha_conf": "/etc/xivo/ha.conf",
    "disabled_flag": "/var/lib/xivo/disabled",
    "sync_log": "/var/log/xivo-sync.log",
    "sync_key": "/root/.ssh/xivo_id_rsa",
    "cron_master": "/etc/cron.d/xivo-ha-master",
    "cron_slave": "/etc/cron.d/xivo-ha-slave",
    "edge_env": "/etc/docker/edge/.env",
    "lock_dir": "/var/lock/resil-tui",
    "provd_default": "/var/lib/xivo-provd/jsondb/configs/default",
}
_SFTP_SERVERS = (
    "/usr/lib/openssh/sftp-server",
    "/usr/libexec/openssh/sftp-server",
    "/usr/lib/ssh/sftp-server",
    "/usr/libexec/sftp-server",
)
_START_TIMEOUT = 10.0
# What `ssh -o LogLevel=VERBOSE` adds to stderr besides the command's own output.
_VERBOSE_NOISE = ("Transferred: ", "Bytes per second: ")


class SshdUnavailable(RuntimeError):
    """sshd (or ssh, ssh-keygen, the login user, the lab) cannot be set up here."""


@dataclass(frozen=True)
class ProcInfo:
    pid: int
    ppid: int
    uid: int
    argv: tuple[str, ...]
    state: str = "R"  # /proc/PID/stat state letter; "Z" for a zombie

    @property
    def cmdline(self) -> str:
        return " ".join(self.argv)


@dataclass
class SshdNode:
    """One lab node served by one sshd process."""

    node_id: str
    address: str
    port: int
    host_key: Path
    config: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    @property
    def known_hosts_line(self) -> str:
        key_type, key_b64 = self.host_key.with_suffix(".pub").read_text().split()[:2]
        return f"[{self.address}]:{self.port} {key_type} {key_b64}"


@dataclass
class SshdLab:
    """A running sshd tier: the lab dir, the inventory, and one sshd per node."""

    base_dir: Path  # keys, sshd configs, logs, hosts.toml; removed at close()
    lab_dir: Path  # the LabWorld directory (owned by the login user)
    inventory_path: Path  # hosts.toml for the product, per lab contract + path overrides
    known_hosts: Path
    client_key: Path
    user: str  # login user of every node (non-root unless it cannot run the dispatcher)
    nodes: dict[str, SshdNode]
    world: Any = None  # the resil_tui.lab LabWorld of lab_dir, opened in this process
    user_note: str = ""  # why `user` fell back to root, if it did
    _ticker: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    # --- addresses -----------------------------------------------------------------
    def node(self, node_id: str) -> SshdNode:
        try:
            return self.nodes[node_id]
        except KeyError:
            raise KeyError(f"no sshd node {node_id!r} (known: {', '.join(self.nodes)})") from None

    def address(self, node_id: str) -> tuple[str, int]:
        n = self.node(node_id)
        return n.address, n.port

    def node_root(self, node_id: str) -> Path:
        return self.lab_dir / "nodes" / node_id / "root"

    # --- OpenSSH clients -----------------------------------------------------------
    def client_options(
        self, *, known_hosts: Path | None = None, log_level: str = "ERROR"
    ) -> list[str]:
        """Options shared by ssh and sftp: strict host keys, the tier's key, no ssh_config."""
        return [
            "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=yes",
            "-o", f"UserKnownHostsFile={known_hosts or self.known_hosts}",
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "IdentitiesOnly=yes",
            "-o", "ConnectTimeout=10",
            "-o", f"LogLevel={log_level}",
            "-F", "/dev/null",  # no ~/.ssh/config of whoever runs the tests
            "-i", str(self.client_key),
        ]  # fmt: skip

    def ssh_argv(
        self,
        node_id: str,
        command: str | Sequence[str],
        *,
        user: str | None = None,
        known_hosts: Path | None = None,
        extra: Sequence[str] = (),
        log_level: str = "ERROR",
    ) -> list[str]:
        """argv of an OpenSSH `ssh` call running `command` (a list is shlex-joined)."""
        n = self.node(node_id)
        line = command if isinstance(command, str) else shlex.join(command)
        return [
            "ssh",
            *self.client_options(known_hosts=known_hosts, log_level=log_level),
            "-p", str(n.port),
            *extra,
            f"{user or self.user}@{n.address}",
            line,
        ]  # fmt: skip

    def ssh(
        self,
        node_id: str,
        command: str | Sequence[str],
        *,
        input: str | None = None,
        timeout: float = 30.0,
        user: str | None = None,
        known_hosts: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.ssh_argv(node_id, command, user=user, known_hosts=known_hosts),
            input=input if input is not None else "",
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
        )

    def sftp_batch(
        self, node_id: str, batch: str, *, timeout: float = 30.0, user: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run `sftp -b -` with `batch` (sftp commands, one a line) against a node."""
        n = self.node(node_id)
        argv = [
            "sftp",
            *self.client_options(),
            "-P", str(n.port),
            "-b", "-",
            f"{user or self.user}@{n.address}",
        ]  # fmt: skip
        return subprocess.run(
            argv, input=batch, capture_output=True, text=True, errors="replace", timeout=timeout
        )

    def run_many(
        self,
        node_id: str,
        commands: Sequence[str | Sequence[str]],
        *,
        max_handshakes: int = 8,
        timeout: float = 60.0,
    ) -> list[subprocess.CompletedProcess[str]]:
        """Run every command over its own `ssh` connection, all at once.

        At most `max_handshakes` connections are unauthenticated at any time: beyond
        MaxStartups (10) sshd drops new connections at random. A connection leaves the
        handshake when ssh logs (at VERBOSE) "Authenticated to"; those log lines are
        removed from the stderr returned.
        """
        gate = threading.BoundedSemaphore(max_handshakes)
        results: list[subprocess.CompletedProcess[str] | None] = [None] * len(commands)

        def one(index: int) -> None:
            argv = self.ssh_argv(node_id, commands[index], log_level="VERBOSE")
            gate.acquire()
            released = False
            try:
                proc = subprocess.Popen(
                    argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )  # fmt: skip
                out: list[bytes] = []
                reader = threading.Thread(target=lambda: out.append(proc.stdout.read()))  # type: ignore[union-attr]
                reader.start()
                err: list[str] = []
                assert proc.stderr is not None
                for raw in proc.stderr:
                    line = raw.decode(errors="replace")
                    if line.startswith("Authenticated to "):
                        if not released:
                            gate.release()
                            released = True
                    elif not line.startswith(_VERBOSE_NOISE):
                        err.append(line)
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                    raise
                reader.join()
            finally:
                if not released:
                    gate.release()
            stdout = b"".join(out).decode(errors="replace")
            results[index] = subprocess.CompletedProcess(
                argv, proc.returncode, stdout, "".join(err)
            )

        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(commands))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        missing = [i for i, r in enumerate(results) if r is None]
        if missing:
            raise RuntimeError(f"ssh runs {missing} did not finish (see the thread errors)")
        return [r for r in results if r is not None]

    # --- node life cycle -----------------------------------------------------------
    def start_node(self, node_id: str) -> None:
        """Start (again) the node's sshd on the same address, port and host key."""
        n = self.node(node_id)
        if n.pid is not None:
            return
        _spawn_sshd(n)
        _wait_listening([n])

    def stop_node(self, node_id: str) -> None:
        """Kill the node's sshd and every session under it (SIGKILL: a crashed node)."""
        n = self.node(node_id)
        if n.proc is None:
            return
        _kill_tree(n.proc.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            n.proc.wait(timeout=5)
        n.proc = None

    def restart_node(self, node_id: str) -> None:
        self.stop_node(node_id)
        self.start_node(node_id)

    def is_running(self, node_id: str) -> bool:
        return self.node(node_id).pid is not None

    # --- processes -----------------------------------------------------------------
    def node_processes(self, node_id: str) -> list[ProcInfo]:
        """Every process under the node's sshd (sessions and the commands they run)."""
        pid = self.node(node_id).pid
        if pid is None:
            return []
        table = _proc_table()
        return [table[p] for p in _descendants(pid, table) if p in table and table[p].state != "Z"]

    def node_commands(self, node_id: str) -> list[ProcInfo]:
        """The lab dispatcher processes (one per running command) of a node."""
        return [p for p in self.node_processes(node_id) if "resil_tui.lab.dispatch" in p.cmdline]

    def user_processes(self, user: str | None = None) -> list[ProcInfo]:
        """What `ps -u USER` lists (all nodes share the login user)."""
        uid = pwd.getpwnam(user or self.user).pw_uid
        return [p for p in _proc_table().values() if p.uid == uid and p.state != "Z"]

    # --- lab state -----------------------------------------------------------------
    def chown_lab(self) -> None:
        """Give the lab dir back to the login user after the test process wrote into it.

        Sessions run as `user`; files the test process (root) creates in the lab dir
        (e.g. through LabWorld in-process) would otherwise be read-only for them.
        """
        if os.geteuid() == 0:
            _chown_tree(self.lab_dir, self.user)

    @contextlib.contextmanager
    def editing(self) -> Iterator[Any]:
        """Change the lab from the test process: yields the LabWorld, then chown_lab()."""
        try:
            yield self.world
        finally:
            self.chown_lab()

    def start_ticker(self) -> None:
        """Run the lab's background behaviour (LabTicker) as the login user, until close()."""
        if self._ticker is not None and self._ticker.poll() is None:
            return
        python, env = _dispatcher_python(self.user)
        code = (
            "import asyncio, sys\n"
            "from pathlib import Path\n"
            "from resil_tui.lab.emulation import LabTicker, LabWorld\n"
            "async def main():\n"
            "    async with LabTicker(LabWorld.open(Path(sys.argv[1]))):\n"
            "        await asyncio.Event().wait()\n"
            "asyncio.run(main())\n"
        )
        argv = [python, "-c", code, str(self.lab_dir)]
        if os.geteuid() == 0 and self.user != "root":
            argv = ["runuser", "-u", self.user, "--", *argv]
        log = (self.base_dir / "ticker.log").open("ab")
        self._ticker = subprocess.Popen(
            argv, env={**os.environ, **env}, stdout=log, stderr=log, start_new_session=True
        )
        log.close()

    def sshd_log(self, node_id: str) -> str:
        return self.node(node_id).log.read_text(errors="replace")

    # --- teardown ------------------------------------------------------------------
    def close(self, *, keep_files: bool = False) -> None:
        if self._ticker is not None:
            _kill_tree(self._ticker.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._ticker.wait(timeout=5)
            self._ticker = None
        for node_id in self.nodes:
            self.stop_node(node_id)
        if not keep_files:
            shutil.rmtree(self.base_dir, ignore_errors=True)


# What the `sshd_lab_factory` fixture yields: start(spec=None, *, user=None, timing=None).
SshdLabFactory = Callable[..., SshdLab]


# ---------------------------------------------------------------------------------------
# Building a tier
# ---------------------------------------------------------------------------------------
def start_sshd_lab(
    spec: Any = None,
    *,
    user: str | None = None,
    timing: Any = None,
    base_dir: Path | None = None,
) -> SshdLab:
    """Create a lab (LabWorld.create) and start one sshd per node. Raises SshdUnavailable.

    `spec` is a resil_tui.lab.emulation.LabSpec (default: the demo site), `timing` a
    LabTiming (default: the lab's test timing). `user` is the login user of every node:
    default `resiltest` when running as root (created if missing), else the current user.
    """
    _check_tools()
    sshd_version = _sshd_version()
    if base_dir is None:
        # Not under pytest's tmp_path: /tmp/pytest-of-root is 0700 and the login user must
        # traverse to the lab dir and to the AuthorizedKeysFile.
        base_dir = Path(tempfile.mkdtemp(prefix="resil-sshd-"))
    base_dir.mkdir(parents=True, exist_ok=True)
    base_dir.chmod(0o755)
    lab: SshdLab | None = None
    try:
        login_user, note = _login_user(user)
        world_cls, spec, timing = _lab_objects(spec, timing)
        lab_dir = base_dir / "lab"
        world = world_cls.create(lab_dir, spec, timing)
        node_ids = list(world.node_ids())
        lab_dir.chmod(0o755)
        if os.geteuid() == 0:
            _chown_tree(lab_dir, login_user)

        keys = base_dir / "keys"
        keys.mkdir(mode=0o755)
        client_key = keys / "client_ed25519"
        host_keys = [keys / f"host_{i:03d}_ed25519" for i in range(len(node_ids))]
        _keygen([(client_key, "sshd tier client"), *zip(host_keys, node_ids, strict=True)])
        authorized = base_dir / "authorized_keys"
        authorized.write_text(client_key.with_suffix(".pub").read_text())
        authorized.chmod(0o644)

        python, env = _dispatcher_python(login_user)
        wrapper = _write_force_command(base_dir, python, env, lab_dir, login_user)

        nodes = {
            node_id: SshdNode(
                node_id=node_id,
                address=_address(i),
                port=0,
                host_key=host_key,
                config=base_dir / f"sshd_{i:03d}.conf",
                log=base_dir / f"sshd_{i:03d}.log",
            )
            for i, (node_id, host_key) in enumerate(zip(node_ids, host_keys, strict=True))
        }
        lab = SshdLab(
            base_dir=base_dir,
            lab_dir=lab_dir,
            inventory_path=base_dir / "hosts.toml",
            known_hosts=base_dir / "known_hosts",
            client_key=client_key,
            user=login_user,
            nodes=nodes,
            world=world,
            user_note=note,
        )
        for attempt in range(3):
            # Ports are checked free, but another test run on the same machine may take
            # one before sshd binds it: then start over with new ports.
            ports = _free_ports([n.address for n in nodes.values()])
            for n, port in zip(nodes.values(), ports, strict=True):
                n.port = port
                n.config.write_text(_sshd_config(n, authorized, wrapper, sshd_version))
            lab.known_hosts.write_text("".join(n.known_hosts_line + "\n" for n in nodes.values()))
            _write_inventory(lab)
            try:
                for n in nodes.values():
                    _spawn_sshd(n)
                _wait_listening(list(nodes.values()))
                break
            except SshdUnavailable as exc:
                for node_id in nodes:
                    lab.stop_node(node_id)
                if "Address already in use" not in str(exc) or attempt == 2:
                    raise
        return lab
    except BaseException:
        if lab is not None:
            lab.close(keep_files=True)
        raise


def _lab_objects(spec: Any, timing: Any) -> tuple[Any, Any, Any]:
    try:
        from resil_tui.lab import emulation
    except ImportError as exc:
        raise SshdUnavailable(f"the lab emulation is not importable: {exc}") from exc
    if spec is None:
        spec = emulation.LabSpec.demo()
    if timing is None:
        timing = emulation.LabTiming.fast()
    return emulation.LabWorld, spec, timing


def _address(index: int) -> str:
    return str(FIRST_ADDRESS + index)


def _check_tools() -> None:
    if not os.access(SSHD, os.X_OK):
        raise SshdUnavailable(f"{SSHD} not found (apt-get install openssh-server)")
    for tool in ("ssh", "sftp", "ssh-keygen"):
        if shutil.which(tool) is None:
            raise SshdUnavailable(f"{tool} not found (apt-get install openssh-client)")
    if _sftp_server() is None:
        raise SshdUnavailable(f"no sftp-server binary in {', '.join(_SFTP_SERVERS)}")
    if os.geteuid() == 0:
        # sshd refuses to start as root without its privilege separation directory,
        # which Debian's init scripts create and a container may lack.
        # exist_ok: the test workers start their sshd at the same time.
        Path("/run/sshd").mkdir(mode=0o755, parents=True, exist_ok=True)


def _sftp_server() -> str | None:
    return next((p for p in _SFTP_SERVERS if os.access(p, os.X_OK)), None)


def _sshd_version() -> tuple[int, int]:
    # `sshd -V` (9.x) prints the version; older ones print usage with it on stderr.
    out = subprocess.run([SSHD, "-V"], capture_output=True, text=True, check=False)
    m = re.search(r"OpenSSH_(\d+)\.(\d+)", out.stdout + out.stderr)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def _login_user(requested: str | None) -> tuple[str, str]:
    if os.geteuid() != 0:
        # Unprivileged sshd can only log in its own user.
        me = pwd.getpwuid(os.geteuid()).pw_name
        if requested not in (None, me):
            raise SshdUnavailable(f"login user {requested!r} needs root (running as {me})")
        return me, ""
    name = requested or DEFAULT_USER
    if name == "root":
        return "root", ""
    try:
        pwd.getpwnam(name)
    except KeyError:
        # '*' rather than useradd's default '!': with UsePAM no, sshd refuses a
        # "locked" account even for public key logins.
        res = subprocess.run(
            ["useradd", "--create-home", "--shell", "/bin/sh", "--password", "*",
             "--comment", "resil-tui sshd test tier", name],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if res.returncode != 0:
            try:
                pwd.getpwnam(name)  # created meanwhile by a concurrent test run
            except KeyError:
                return "root", f"useradd {name} failed: {res.stderr.strip()}"
    try:
        _dispatcher_python(name)
    except SshdUnavailable as exc:
        return "root", f"{name} cannot run the lab dispatcher ({exc}); logging in as root"
    return name, ""


_PYTHON_CACHE: dict[str, tuple[str, dict[str, str]]] = {}
_PACKAGE_COPY: list[Path] = []


def _readable_package_copy(package: Path) -> Path:
    """A copy of the package that every user can read, made once per test session."""
    if _PACKAGE_COPY:
        return _PACKAGE_COPY[0]
    base = Path(tempfile.mkdtemp(prefix="resil-sshd-code-"))
    atexit.register(shutil.rmtree, base, True)
    shutil.copytree(
        package, base / package.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    # Compiled once here: every remote command starts a dispatcher, and the lab user
    # could not write the bytecode itself.
    for python in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.access(python, os.X_OK):
            subprocess.run(
                [python, "-m", "compileall", "-q", str(base)], check=False, capture_output=True
            )
    for path in [base, *base.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    _PACKAGE_COPY.append(base)
    return base


def _dispatcher_python(user: str) -> tuple[str, dict[str, str]]:
    """An interpreter (and environment) with which `user` can import the lab dispatcher.

    The venv's python may live where another user cannot go (pyenv under /root, mode
    0700); then a system python of the same minor version with the venv's site-packages
    and the project on PYTHONPATH runs the same code.
    """
    if user in _PYTHON_CACHE:
        return _PYTHON_CACHE[user]
    project_root = str(Path(__file__).resolve().parents[2])
    site = sysconfig.get_paths()["purelib"]
    platsite = sysconfig.get_paths()["platlib"]
    ver = f"{sys.version_info.major}.{sys.version_info.minor}"
    candidates: list[tuple[str, dict[str, str]]] = [
        (sys.executable, {"PYTHONPATH": project_root}),
        *[
            (py, {"PYTHONPATH": os.pathsep.join(dict.fromkeys([project_root, site, platsite]))})
            for py in (f"/usr/bin/python{ver}", f"/usr/local/bin/python{ver}")
            if os.access(py, os.X_OK)
        ],
    ]
    # Last resort: the checkout itself may be out of the user's reach (CI cloning into a
    # 0700 directory). The dispatcher needs only the standard library and resil_tui, so
    # a world-readable copy of the package serves any system Python >= 3.11.
    copy = _readable_package_copy(Path(project_root) / "resil_tui")
    candidates += [
        (py, {"PYTHONPATH": str(copy)})
        for py in (f"/usr/bin/python{ver}", "/usr/bin/python3", "/usr/local/bin/python3")
        if os.access(py, os.X_OK)
    ]
    errors: list[str] = []
    for python, env in candidates:
        env = {**env, "PYTHONDONTWRITEBYTECODE": "1"}
        argv = [python, "-c", "import resil_tui.lab.dispatch"]
        if os.geteuid() == 0 and user != "root":
            argv = ["runuser", "-u", user, "--", *argv]
        res = subprocess.run(
            argv,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
            cwd="/",
            capture_output=True,
            text=True,
            check=False,
        )
        if res.returncode == 0:
            _PYTHON_CACHE[user] = (python, env)
            return python, env
        errors.append(f"{python}: {(res.stderr.strip().splitlines() or ['?'])[-1]}")
    raise SshdUnavailable("; ".join(errors))


def _write_force_command(
    base_dir: Path, python: str, env: dict[str, str], lab_dir: Path, user: str
) -> Path:
    sftp_server = shlex.quote(str(_sftp_server()))
    exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in sorted(env.items()))
    drop = ""
    if os.geteuid() == 0 and user != "root":
        # A root login runs the emulation as the lab user all the same: every lab file
        # stays owned by one user, so root and non-root sessions can mix on one lab.
        pw = pwd.getpwnam(user)
        drop = (
            f'[ "$(id -u)" = 0 ] && drop="setpriv --reuid={pw.pw_uid} --regid={pw.pw_gid} '
            f'--clear-groups --"\n'
        )
    script = f"""#!/bin/sh
# ForceCommand of every lab node's sshd: $1 is the node id.
# sshd runs ForceCommand for subsystem requests too: an SFTP session arrives here with
# SSH_ORIGINAL_COMMAND=internal-sftp (sshd_config's Subsystem string), which only sshd
# itself can run: serve it with the external sftp-server instead.
node=$1
drop=
{drop}{exports}case "${{SSH_ORIGINAL_COMMAND-}}" in
  internal-sftp) exec $drop {sftp_server} ;;
esac
exec $drop {shlex.quote(python)} -m resil_tui.lab.dispatch \\
  --lab-dir {shlex.quote(str(lab_dir))} --node "$node"
"""
    path = base_dir / "force-command.sh"
    path.write_text(script)
    path.chmod(0o755)
    return path


def _sshd_config(node: SshdNode, authorized: Path, wrapper: Path, version: tuple[int, int]) -> str:
    lines = [
        f"# sshd for lab node {node.node_id}",
        f"ListenAddress {node.address}:{node.port}",
        f"HostKey {node.host_key}",
        f"PidFile {node.config.with_suffix('.pid')}",
        f"AuthorizedKeysFile {authorized}",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password",
        "StrictModes no",
        "UsePAM no",
        "UseDNS no",
        "PrintMotd no",
        "PrintLastLog no",
        "X11Forwarding no",
        "MaxSessions 10",
        "MaxStartups 10:30:100",
        "LogLevel INFO",
        "Subsystem sftp internal-sftp",
        f"ForceCommand {shlex.quote(str(wrapper))} {shlex.quote(node.node_id)}",
    ]
    if version >= (9, 8):
        # Newer sshd penalises a source address after crashes and failed logins; every
        # client here is 127.0.0.1 and the tests kill sessions on purpose.
        lines.insert(-2, "PerSourcePenalties no")
    return "\n".join(lines) + "\n"


def _keygen(keys: Sequence[tuple[Path, str]]) -> None:
    procs = [
        (
            path,
            subprocess.Popen(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            ),
        )
        for path, comment in keys
    ]
    for path, proc in procs:
        _, err = proc.communicate(timeout=30)
        if proc.returncode != 0:
            raise SshdUnavailable(f"ssh-keygen {path.name}: {err.decode(errors='replace')}")


def _free_ports(addresses: Sequence[str]) -> list[int]:
    # Below Linux's ephemeral range (32768+), so that client source ports never take a
    # node's port between a stop_node() and the start_node() that follows.
    ports: list[int] = []
    taken: set[int] = set()
    for address in addresses:
        for _ in range(200):
            port = random.randint(20000, 32000)
            if port in taken:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind((address, port))
                except OSError:
                    continue
            ports.append(port)
            taken.add(port)
            break
        else:
            raise SshdUnavailable(f"no free port on {address}")
    return ports


def _spawn_sshd(node: SshdNode) -> None:
    with node.log.open("ab") as log:
        node.proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(node.config)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # a Ctrl-C in the terminal must not reach it
        )


def _wait_listening(nodes: Sequence[SshdNode]) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    pending = list(nodes)
    while pending:
        for n in list(pending):
            assert n.proc is not None
            if n.proc.poll() is not None:
                tail = n.log.read_text(errors="replace").strip().splitlines()[-5:]
                raise SshdUnavailable(
                    f"sshd for {n.node_id} on {n.address}:{n.port} exited "
                    f"({n.proc.returncode}): {' | '.join(tail)}"
                )
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.settimeout(1.0)
                if s.connect_ex((n.address, n.port)) == 0:
                    pending.remove(n)
        if pending and time.monotonic() > deadline:
            names = ", ".join(n.node_id for n in pending)
            raise SshdUnavailable(f"sshd not listening after {_START_TIMEOUT:.0f}s: {names}")
        if pending:
            time.sleep(0.02)


def _write_inventory(lab: SshdLab) -> None:
    """hosts.toml for the tier: the lab's nodes, at the sshds, with path overrides.

    Built from the LabSpec like the in-process lab server's inventory.toml (which
    LabWorld.create does not write), plus what plain OpenSSH SFTP needs.
    """
    data = _inventory_from_spec(lab.world.spec)
    ssh = data.setdefault("ssh", {})
    ssh.update(
        user=lab.user,
        identity_file=str(lab.client_key),
        known_hosts=str(lab.known_hosts),
        connect_timeout=10.0,
        command_timeout=60.0,
        keepalive_interval=15.0,
    )
    seen: set[str] = set()
    for node_id, table in _inventory_nodes(data):
        n = lab.nodes.get(node_id)
        if n is None:
            continue
        seen.add(node_id)
        table["ssh"] = n.address
        table["port"] = n.port
        root = lab.node_root(node_id)
        table["paths"] = {
            key: str(root / default.lstrip("/")) for key, default in REMOTE_PATHS.items()
        }
    missing = sorted(set(lab.nodes) - seen)
    if missing:
        raise SshdUnavailable(f"the inventory misses lab nodes: {', '.join(missing)}")
    lab.inventory_path.write_text(
        "# Written by tests/sshd/sshd_fixture.py: the lab's inventory pointed at real sshds.\n"
        + tomli_w.dumps(data)
    )


def _inventory_from_spec(spec: Any) -> dict[str, Any]:
    """An inventory document (hosts.example.toml schema) for a LabSpec."""
    sites: dict[str, Any] = {}
    for site in spec.sites:
        doc: dict[str, Any] = {"description": site.description or "resil-tui lab"}
        for n in site.nodes:
            if n.kind == "xivo":
                doc.setdefault("xivo", {})[n.side] = {"ssh": "", "voip_ip": n.ip}
            elif n.kind == "cc":
                doc.setdefault("cc", {})[n.side] = {"ssh": "", "ip": n.ip, "fqdn": n.fqdn}
            elif n.kind == "edge":
                if n.name == "edge":
                    doc["edge"] = {"ssh": "", "fqdn": n.fqdn}
                else:  # a 3-server Edge: [[site.NAME.edge]] with a name each
                    name = n.name.split(".", 1)[-1]
                    doc.setdefault("edge", []).append({"name": name, "ssh": "", "fqdn": n.fqdn})
            elif n.kind == "mds":
                name = n.name.split(".", 1)[-1]
                doc.setdefault("mds", []).append({"name": name, "ssh": "", "ip": n.ip})
        sites[site.name] = doc
    return {"read_only": False, "ssh": {}, "site": sites}


def _inventory_nodes(data: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(node id, node table) for every node of an inventory document (hosts.example.toml)."""
    for site_name, site in (data.get("site") or {}).items():
        for kind in ("xivo", "cc"):
            for side in ("master", "slave"):
                table = (site.get(kind) or {}).get(side)
                if isinstance(table, dict):
                    yield f"{site_name}.{kind}.{side}", table
        edge = site.get("edge")
        if isinstance(edge, dict):
            yield f"{site_name}.edge", edge
        for table in edge if isinstance(edge, list) else []:
            yield f"{site_name}.edge.{table.get('name', '')}", table
        for table in site.get("mds") or []:
            yield f"{site_name}.mds.{table.get('name', '')}", table


def _chown_tree(root: Path, user: str) -> None:
    pw = pwd.getpwnam(user)
    os.chown(root, pw.pw_uid, pw.pw_gid)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            with contextlib.suppress(FileNotFoundError):
                os.lchown(os.path.join(dirpath, name), pw.pw_uid, pw.pw_gid)


# ---------------------------------------------------------------------------------------
# /proc
# ---------------------------------------------------------------------------------------
def _proc_table() -> dict[int, ProcInfo]:
    table: dict[int, ProcInfo] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            uid = os.stat(f"/proc/{pid}").st_uid
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue  # exited meanwhile
        # comm (field 2) may hold spaces and parentheses: ppid follows the last ')'.
        state, ppid_s = stat[stat.rindex(")") + 2 :].split()[:2]
        argv = tuple(a.decode(errors="replace") for a in raw.split(b"\0") if a)
        table[pid] = ProcInfo(pid=pid, ppid=int(ppid_s), uid=uid, argv=argv, state=state)
    return table


def _descendants(root: int, table: dict[int, ProcInfo]) -> list[int]:
    children: dict[int, list[int]] = {}
    for p in table.values():
        children.setdefault(p.ppid, []).append(p.pid)
    found: list[int] = []
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _kill_tree(root: int) -> None:
    """SIGKILL a process and all its descendants, none escaping by re-parenting.

    sshd puts every connection in its own session (setsid), so a process-group kill
    misses them, and once the listener dies its children move to init. Freeze first
    (SIGSTOP, top-down until no new process shows up), then kill everything frozen.
    """
    frozen: list[int] = []
    with contextlib.suppress(ProcessLookupError):
        os.kill(root, signal.SIGSTOP)
        frozen.append(root)
    while True:
        table = _proc_table()
        new = [p for p in _descendants(root, table) if p not in frozen]
        if not new:
            break
        for pid in new:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
            frozen.append(pid)
    for pid in frozen:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    # kill() only queues the signal: on a busy machine a killed process may still run
    # for a while. Return only once every one of them is gone (or a zombie).
    deadline = time.monotonic() + 10
    alive = list(frozen)
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if _is_alive(pid)]
        if alive:
            time.sleep(0.01)


def _is_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"
