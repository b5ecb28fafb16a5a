"""The lab served over real SSH: one asyncssh listener per node on 127.0.0.1.

Each node has its own port and host key, an SFTP subsystem chrooted to its root, and runs
commands through `emulation.run_command`. Faults that are about the network (power, hang,
dropped connections, host key change) live here; the ones about command behaviour live in
lab.json so that the sshd-tier dispatcher honours them too.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import shutil
import socket
import tempfile
import time
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import asyncssh

from resil_tui.lab import containers, facts, faults, phones, xivo
from resil_tui.lab.emulation import run_command
from resil_tui.lab.faults import FaultOption
from resil_tui.lab.spec import (
    CC,
    EDGE,
    MASTER,
    MDS,
    PJSIP,
    SLAVE,
    XIVO,
    LabSpec,
    LabTiming,
    NodeSpec,
)
from resil_tui.lab.ticker import LabTicker
from resil_tui.lab.world import LabWorld

_WRITE_FLAGS = asyncssh.FXF_WRITE | asyncssh.FXF_APPEND | asyncssh.FXF_CREAT | asyncssh.FXF_TRUNC


class _ProcessIO:
    """CommandIO over an asyncssh server process (bytes, no line editor)."""

    def __init__(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        self._p = process
        self.is_pty = process.get_terminal_type() is not None
        self._buf = b""
        self._pending: list[tuple[bool, list[bytes]]] = []  # (stderr?, chunks), in order
        self._streams: dict[bool, list[bytes]] = {}  # without a PTY: each stream's chunks
        self._flush_soon = False

    async def read(self, n: int = -1) -> bytes:
        if self._buf:
            data, self._buf = (self._buf, b"") if n < 0 else (self._buf[:n], self._buf[n:])
            return data
        try:
            return await self._p.stdin.read(n)
        except (asyncssh.BreakReceived, asyncssh.SignalReceived, asyncssh.TerminalSizeChanged):
            return b""

    async def readline(self) -> bytes:
        # A raw PTY sends "\r" for Enter; a pipe sends "\n".
        while True:
            for sep in (b"\n", b"\r"):
                i = self._buf.find(sep)
                if i >= 0:
                    line, self._buf = self._buf[: i + 1], self._buf[i + 1 :]
                    if sep == b"\r" and self._buf.startswith(b"\n"):
                        self._buf = self._buf[1:]
                    return line
            try:
                chunk = await self._p.stdin.read(1024)
            except asyncssh.TerminalSizeChanged:
                continue
            except (asyncssh.BreakReceived, asyncssh.SignalReceived):
                chunk = b""
            if not chunk:
                line, self._buf = self._buf, b""
                return line
            self._buf += chunk

    def _tty(self, data: bytes) -> bytes:
        # What a PTY's onlcr would do; asyncssh without line editor does not translate.
        return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") if self.is_pty else data

    # Writes made in one go (a shell running builtins one after the other, a handler
    # printing several lines) leave as one SSH data message per stream, as a process's
    # writes to a pipe reach sshd in one read: packets per command like a real node's,
    # not one per write. Without a PTY, stdout and stderr are two pipes that sshd reads
    # on their own, so their relative order is not kept either; on a PTY (one terminal
    # for both) it is.
    def _queue(self, err: bool, data: bytes) -> None:
        if self._p.is_closing():
            raise BrokenPipeError("channel closed")
        if not self.is_pty:
            chunks = self._streams.get(err)
            if chunks is None:
                chunks = self._streams[err] = []
                self._pending.append((err, chunks))
            chunks.append(data)
        elif self._pending and self._pending[-1][0] == err:
            self._pending[-1][1].append(data)
        else:
            self._pending.append((err, [data]))
        if not self._flush_soon:
            self._flush_soon = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self._flush_soon = False
        pending, self._pending = self._pending, []
        self._streams = {}
        if self._p.is_closing():
            return
        for err, chunks in pending:
            (self._p.stderr if err else self._p.stdout).write(self._tty(b"".join(chunks)))

    def write(self, data: bytes) -> None:
        self._queue(False, data)

    def write_err(self, data: bytes) -> None:
        self._queue(True, data)

    async def drain(self) -> None:
        if self._p.is_closing():
            raise BrokenPipeError("channel closed")
        self.flush()
        await self._p.stdout.drain()

    def set_echo(self, on: bool) -> None:
        """Nothing to do: without a line editor this server never echoes input."""


class _NodeSFTP(asyncssh.SFTPServer):
    """SFTP chrooted to the node root; records what changes files; honours slow/hang."""

    def __init__(self, chan: asyncssh.SSHServerChannel[bytes], node: _NodeServer) -> None:
        self._node = node
        super().__init__(chan, chroot=str(node.world.node_root(node.node_id)).encode())

    def map_path(self, path: bytes) -> bytes:
        root = str(self._node.world.node_root(self._node.node_id)).encode()
        if path == root or path.startswith(root + b"/"):
            path = path[len(root) :] or b"/"
        return super().map_path(path)

    def _record(self, op: str, *paths: bytes) -> None:
        self._node.world.record(
            self._node.node_id,
            {"kind": "sftp", "op": op, "paths": [p.decode("utf-8", "replace") for p in paths]},
        )

    async def _delay(self) -> None:
        flags = self._node.world.node_flags(self._node.node_id)
        if flags.get("hung"):
            await asyncio.Event().wait()
        delay = float(flags.get("slow") or 0.0) + self._node.world.timing.latency
        if delay > 0:
            await asyncio.sleep(delay)

    async def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
        await self._delay()
        if pflags & _WRITE_FLAGS:
            self._record("write", path)
        return super().open(path, pflags, attrs)

    def remove(self, path: bytes) -> None:
        self._record("remove", path)
        super().remove(path)

    def rename(self, oldpath: bytes, newpath: bytes) -> None:
        self._record("rename", oldpath, newpath)
        super().rename(oldpath, newpath)

    def posix_rename(self, oldpath: bytes, newpath: bytes) -> None:
        self._record("posix_rename", oldpath, newpath)
        super().posix_rename(oldpath, newpath)

    def mkdir(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        self._record("mkdir", path)
        super().mkdir(path, attrs)

    def rmdir(self, path: bytes) -> None:
        self._record("rmdir", path)
        super().rmdir(path)

    def setstat(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        self._record("setstat", path)
        super().setstat(path, attrs)


MSG_IGNORE = 2  # RFC 4253 11.2


def _without_ignore_packets(conn: asyncssh.SSHServerConnection) -> None:
    """Send as OpenSSH's sshd does: no SSH_MSG_IGNORE.

    asyncssh puts an empty one before every packet once encrypted (send_packet calls
    itself for it, so this instance's send_packet sees it), and never needs one: the lab
    sends none of its own. With them, a client got twice the packets a real node sends,
    and a benchmark measured its CPU on them.
    """
    send = conn.send_packet

    def send_packet(pkttype: int, *args: bytes, handler: Any = None) -> None:
        if pkttype != MSG_IGNORE:
            send(pkttype, *args, handler=handler)

    conn.send_packet = send_packet  # type: ignore[method-assign]  # no asyncssh option for it


class _Tracker(asyncssh.SSHServer):
    def __init__(self, node: _NodeServer) -> None:
        self._node = node
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        _without_ignore_packets(conn)
        self._node.connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._node.connections.discard(self._conn)

    def connection_requested(
        self, dest_host: str, dest_port: int, orig_host: str, orig_port: int
    ) -> bool:
        # A node used as a jump host (`[ssh] jump`) forwards to the other lab nodes, which
        # all listen on loopback; anything else is refused, as a locked-down bastion would.
        return dest_host in ("127.0.0.1", "localhost")


class _NodeServer:
    """One node's endpoint: an SSH listener, a silent TCP listener (hang), or nothing."""

    def __init__(self, lab: Lab, node_id: str) -> None:
        self.lab = lab
        self.world = lab.world
        self.node_id = node_id
        self.port = 0
        self.acceptor: asyncssh.SSHAcceptor | None = None
        self.silent: asyncio.Server | None = None
        self.reserved: socket.socket | None = None
        self.silent_writers: set[asyncio.StreamWriter] = set()
        self.connections: set[asyncssh.SSHServerConnection] = set()
        self.tasks: set[asyncio.Task[Any]] = set()

    async def apply(self) -> None:
        """Make the listener match the node's flags (powered, hung)."""
        flags = self.world.node_flags(self.node_id)
        want = "off" if not flags.get("powered", True) else "hang" if flags.get("hung") else "ssh"
        # Nothing bound at all (a node off when the lab reopens its directory) is not "off":
        # an off node holds its port.
        have = (
            "ssh" if self.acceptor else "hang" if self.silent else "off" if self.reserved else None
        )
        if want == have:
            return
        await self.close_listener()
        if want == "ssh":
            await self._listen_ssh()
        elif want == "hang":
            await self._listen_silent()
        else:
            self._reserve()

    def _reserve(self) -> None:
        # An "off" node keeps its port bound but not listening: a connection is refused, as
        # for a host whose sshd is down, and no other listener (another lab of a parallel
        # test run picking a free port) can take the port and answer with another host key.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # our own TIME_WAITs
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        self.reserved = sock

    async def _listen_ssh(self) -> None:
        key = asyncssh.read_private_key(self.lab.host_key_path(self.node_id))
        self.acceptor = await asyncssh.listen(
            host="127.0.0.1",
            port=self.port,
            reuse_address=True,
            server_host_keys=[key],
            authorized_client_keys=asyncssh.import_authorized_keys(
                self.lab.client_key_path.with_suffix(".pub").read_text()
            ),
            server_factory=lambda: _Tracker(self),
            process_factory=self._handle,
            sftp_factory=lambda chan: _NodeSFTP(chan, self),
            allow_scp=False,
            line_editor=False,
            encoding=None,
            login_timeout=30,
            keepalive_interval=0,
        )
        self.port = self.acceptor.get_port()

    async def _listen_silent(self) -> None:
        async def hold(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            self.silent_writers.add(w)  # accepted, never answered

        self.silent = await asyncio.start_server(hold, "127.0.0.1", self.port, reuse_address=True)
        self.port = self.silent.sockets[0].getsockname()[1]

    async def close_listener(self) -> None:
        if self.reserved is not None:
            self.reserved.close()
            self.reserved = None
        if self.acceptor is not None:
            self.acceptor.close()
            await self.acceptor.wait_closed()
            self.acceptor = None
        if self.silent is not None:
            self.silent.close()
            for w in list(self.silent_writers):
                w.close()
            self.silent_writers.clear()
            await self.silent.wait_closed()
            self.silent = None

    def drop(self) -> int:
        conns = list(self.connections)
        for c in conns:
            c.abort()
        self.connections.clear()
        return len(conns)

    async def _handle(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.tasks.add(task)
        try:
            await self._run(process)
        finally:
            if task is not None:
                self.tasks.discard(task)

    async def _run(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        line = process.command
        if not line:
            process.stderr.write(
                b"interactive shells are not emulated\r\n"
                if process.get_terminal_type()
                else b"interactive shells are not emulated\n"
            )
            process.exit(1)
            return
        # The line goes to the emulated shell whole, as sshd hands it to the user's shell.
        io = _ProcessIO(process)
        cmd = asyncio.ensure_future(run_command(self.world, self.node_id, line, io))
        closed = asyncio.ensure_future(process.channel.wait_closed())
        try:
            await asyncio.wait({cmd, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
            if not cmd.done():
                cmd.cancel()  # the peer went away: like SIGHUP for a command on a PTY
                with contextlib.suppress(BaseException):
                    await cmd
        failed = cmd.cancelled() or cmd.exception() is not None
        code = 255 if failed else cmd.result()
        if not process.is_closing():
            io.flush()
            with contextlib.suppress(Exception):
                await process.stdout.drain()
            process.exit(code)


class Lab:
    """A running lab: the world on disk plus one SSH endpoint per node."""

    def __init__(self, world: LabWorld, owned_dir: bool) -> None:
        self.world = world
        self.lab_dir = world.lab_dir
        self._owned_dir = owned_dir
        self._servers: dict[str, _NodeServer] = {}
        self.ticker: LabTicker | None = None

    # -- paths -----------------------------------------------------------------------------
    @property
    def inventory_path(self) -> Path:
        return self.lab_dir / "inventory.toml"

    @property
    def known_hosts_path(self) -> Path:
        return self.lab_dir / "known_hosts"

    @property
    def keys_dir(self) -> Path:
        return self.lab_dir / "keys"

    @property
    def client_key_path(self) -> Path:
        return self.keys_dir / "client_ed25519"

    def host_key_path(self, node_id: str) -> Path:
        return self.keys_dir / f"host_{node_id}_ed25519"

    # -- life cycle --------------------------------------------------------------------------
    @classmethod
    async def start(
        cls,
        lab_dir: Path | None = None,
        *,
        spec: LabSpec | None = None,
        timing: LabTiming | None = None,
        ticker: bool = True,
        serve: Collection[str] | None = None,
    ) -> Lab:
        """`serve`: the nodes this process listens for (all by default). A lab may be
        served by several processes sharing its directory (the world is on disk, locked):
        each serves some nodes, and one writes the client files once all listen
        (write_client_files)."""
        if serve is not None and ticker:
            # Each process would move the whole world's clock (phones, calls) on its own.
            raise ValueError("a lab served by several processes runs without a ticker")
        owned = lab_dir is None
        path = Path(tempfile.mkdtemp(prefix="resil-lab-")) if lab_dir is None else Path(lab_dir)
        if LabWorld.exists(path):
            world = LabWorld.open(path)
            if spec is not None and spec != world.spec:
                raise ValueError(f"{path} holds a different lab; use another directory")
            if timing is not None:
                world.set_timing(timing)
        else:
            world = LabWorld.create(path, spec or LabSpec.demo(), timing or LabTiming.demo())
        lab = cls(world, owned)
        try:
            lab._ensure_keys()
            await lab._start_servers(serve)
            if serve is None:
                lab.write_client_files()
            if ticker:
                lab.ticker = LabTicker(world)
                lab.ticker.start()
        except BaseException:
            await lab.stop()
            raise
        return lab

    async def stop(self) -> None:
        if self.ticker is not None:
            await self.ticker.stop()
            self.ticker = None
        for s in self._servers.values():
            await s.close_listener()
            s.drop()
            for t in list(s.tasks):
                t.cancel()
        self._servers.clear()
        if self._owned_dir:
            shutil.rmtree(self.lab_dir, ignore_errors=True)

    async def __aenter__(self) -> Lab:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _ensure_keys(self) -> None:
        self.keys_dir.mkdir(parents=True, exist_ok=True)
        if not self.client_key_path.exists():
            key = asyncssh.generate_private_key("ssh-ed25519", comment="resil-tui-lab")
            key.write_private_key(self.client_key_path)
            key.write_public_key(self.client_key_path.with_suffix(".pub"))
            self.client_key_path.chmod(0o600)
        for nid in self.world.node_ids():
            p = self.host_key_path(nid)
            if not p.exists():
                self._new_host_key(nid)

    def _new_host_key(self, node_id: str) -> None:
        p = self.host_key_path(node_id)
        key = asyncssh.generate_private_key("ssh-ed25519", comment=f"host {node_id}")
        key.write_private_key(p)
        p.chmod(0o600)

    async def _start_servers(self, serve: Collection[str] | None) -> None:
        flags = self.world.lab_state()["nodes"]
        for nid in self.world.node_ids() if serve is None else serve:
            s = _NodeServer(self, nid)
            s.port = int(flags.get(nid, {}).get("port") or 0)
            self._servers[nid] = s

        async def bring_up(s: _NodeServer) -> None:
            try:
                await s.apply()
            except OSError:
                s.port = 0  # the recorded port is taken now: pick a new one
                await s.apply()

        await asyncio.gather(*(bring_up(s) for s in self._servers.values()))
        with self.world.edit_lab() as doc:
            for nid, s in self._servers.items():
                doc["nodes"].setdefault(nid, {})["port"] = s.port

    def write_client_files(self) -> None:
        """known_hosts and inventory.toml, for every node of the lab (the ports of nodes
        another process serves are those it recorded in lab.json)."""
        lines = []
        for nid in self.world.node_ids():
            key = asyncssh.read_private_key(self.host_key_path(nid))
            pub = key.export_public_key("openssh").decode().split()
            lines.append(f"[127.0.0.1]:{self.port(nid)} {pub[0]} {pub[1]}\n")
        # Written only at start: after a host key change, known_hosts keeps the old key.
        self.known_hosts_path.write_text("".join(lines))
        self.inventory_path.write_text(self.inventory_toml())

    def inventory_toml(self) -> str:
        import tomli_w

        doc: dict[str, Any] = {
            "read_only": False,
            "ssh": {
                "user": "root",
                "identity_file": str(self.client_key_path),
                "known_hosts": str(self.known_hosts_path),
                "connect_timeout": 5.0,
                "command_timeout": 60.0,
                "keepalive_interval": 15.0,
                # The admin's ~/.ssh/config must not redirect the lab's 127.0.0.1 nodes.
                "use_ssh_config": False,
            },
            "site": {},
        }
        for site in self.world.spec.sites:
            sd: dict[str, Any] = {"description": site.description or "resil-tui lab"}
            if site.sip != PJSIP:
                sd["sip"] = site.sip  # an older site: its phones are chan_sip peers
            for n in site.nodes:
                entry: dict[str, Any] = {"ssh": "127.0.0.1", "port": self.port(n.id)}
                if n.kind == XIVO:
                    entry["voip_ip"] = n.ip
                    sd.setdefault("xivo", {})[n.side] = entry
                elif n.kind == CC:
                    entry.update(ip=n.ip, fqdn=n.fqdn)
                    sd.setdefault("cc", {})[n.side] = entry
                elif n.kind == EDGE:
                    entry["fqdn"] = n.fqdn
                    if n.name == "edge":
                        sd["edge"] = entry
                    else:  # a 3-server Edge: [[site.NAME.edge]] with a name each
                        sd.setdefault("edge", []).append({"name": n.name.split(".", 1)[1], **entry})
                elif n.kind == MDS:
                    sd.setdefault("mds", []).append(
                        {"name": n.name.split(".", 1)[1], **entry, "ip": n.ip}
                    )
            doc["site"][site.name] = sd
        header = (
            "# resil-tui lab inventory (generated): every node is a simulated XiVO node\n"
            f"# served on 127.0.0.1. Lab directory: {self.lab_dir}\n\n"
        )
        return header + tomli_w.dumps(doc)

    # -- queries -----------------------------------------------------------------------------
    def port(self, node_id: str) -> int:
        served = self._servers.get(node_id)
        if served is not None:
            return served.port
        self.world.node(node_id)  # raises the helpful KeyError
        return int(self.world.lab_state()["nodes"][node_id]["port"])

    def fault_menu(self, site: str, node_ids: Sequence[str]) -> list[FaultOption]:
        """The faults the demo palette offers for these nodes (see faults.fault_menu)."""
        return faults.fault_menu(self, site, node_ids)

    async def apply_fault(self, words: Sequence[str]) -> str:
        """Apply one fault command of the lab prompt language; returns what it did."""
        return await faults.apply_fault(self, list(words))

    def node_ids(self) -> list[str]:
        return self.world.node_ids()

    def commands(self, node_id: str) -> list[dict[str, Any]]:
        """Every exec request (and SFTP change) the node received, oldest first."""
        self.world.node(node_id)
        return self.world.commands(node_id)

    def resolve_node(self, name: str) -> str:
        """A node id from an id or an unambiguous suffix ("xivo.master", "edge", "mds1")."""
        ids = self.world.node_ids()
        if name in ids:
            return name
        found = [i for i in ids if i.endswith("." + name) or i.split(".")[-1] == name]
        if len(found) == 1:
            return found[0]
        raise KeyError(f"unknown or ambiguous node {name!r} (nodes: {', '.join(ids)})")

    def ssh_command(self, node_id: str, command: str = "xivo-service status all") -> str:
        return shlex.join(
            [
                "ssh",
                "-p",
                str(self.port(node_id)),
                "-o",
                f"UserKnownHostsFile={self.known_hosts_path}",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "IdentitiesOnly=yes",
                "-i",
                str(self.client_key_path),
                "root@127.0.0.1",
                command,
            ]
        )

    def _server(self, node_id: str) -> _NodeServer:
        try:
            return self._servers[node_id]
        except KeyError:
            self.world.node(node_id)  # raises the helpful KeyError
            raise

    # -- faults ------------------------------------------------------------------------------
    async def power_off(self, node_id: str) -> None:
        node = self.world.node(node_id)
        phones.before_change(self.world, node_id)
        self.world.set_node_flag(node_id, "powered", False)
        s = self._server(node_id)
        await s.apply()
        s.drop()
        if node.kind in (CC, EDGE):
            containers.halt(self.world, node, time.time())

    async def power_on(self, node_id: str) -> None:
        node = self.world.node(node_id)
        if self.world.is_powered(node_id):
            return
        phones.before_change(self.world, node_id)
        self.world.set_node_flag(node_id, "powered", True)
        if node.kind in (XIVO, MDS):
            xivo.boot(self.world, node)
        else:
            containers.boot(self.world, node, time.time())
        await self._server(node_id).apply()

    def xivo_pairs(self, site: str | None) -> list[tuple[NodeSpec, NodeSpec]]:
        out = []
        for s in self.world.spec.sites:
            if site is not None and s.name != site:
                continue
            m, sl = s.node(XIVO, MASTER), s.node(XIVO, SLAVE)
            if m and sl:
                out.append((m, sl))
        return out

    async def cut_link(self, site: str | None = None) -> None:
        """Cut the master/slave link only (phones still reach both): the split-brain case."""
        for m, sl in self.xivo_pairs(site):
            self.world.set_link(m.id, sl.id, True)

    async def heal_link(self, site: str | None = None) -> None:
        for m, sl in self.xivo_pairs(site):
            self.world.set_link(m.id, sl.id, False)

    async def hang(self, node_id: str, on: bool = True) -> None:
        self.world.set_node_flag(node_id, "hung", bool(on))
        await self._server(node_id).apply()

    async def slow(self, node_id: str, seconds: float) -> None:
        self.world.set_node_flag(node_id, "slow", max(0.0, float(seconds)))

    async def words_only(self, node_id: str, on: bool = True) -> None:
        """The node's SSH server runs no shell: it splits each line into words itself."""
        self.world.set_node_flag(node_id, "words_only", bool(on))

    async def drop_connections(self, node_id: str) -> int:
        return self._server(node_id).drop()

    async def change_host_key(self, node_id: str) -> None:
        """A new host key on the same port; known_hosts keeps the old one."""
        self._new_host_key(node_id)
        s = self._server(node_id)
        if s.acceptor is not None:
            await s.close_listener()
            await s.apply()

    async def fail_replication(self, on: bool = True) -> None:
        self.world.set_fault("fail_replication", bool(on))

    async def remove_sync_key(self, site: str | None = None) -> list[str]:
        removed = []
        for m, _ in self.xivo_pairs(site):
            for node in (m,):
                key = self.world.resolve(node.id, facts.SYNC_KEY)
                if key.exists():
                    key.unlink()
                    key.with_name(key.name + ".pub").unlink(missing_ok=True)
                    removed.append(node.id)
        return removed

    async def xuc_never_ready(self, node_id: str, on: bool = True) -> None:
        if self.world.node(node_id).kind != CC:
            raise ValueError(f"{node_id} is not a CC node")
        containers.sync_node(self.world, self.world.node(node_id))  # settle the past first
        self.world.set_node_flag(node_id, "xuc_never_ready", bool(on))

    def _cc(self, node_id: str) -> NodeSpec:
        node = self.world.node(node_id)
        if node.kind != CC:
            raise ValueError(f"{node_id} is not a CC node")
        containers.sync_node(self.world, node)  # the past keeps the old behaviour
        return node

    async def xuc_logs_plain(self, node_id: str, on: bool = True) -> None:
        """`xivocc-dcomp logs` drops -t and --since (on), or follows the lab spec (off)."""
        self._cc(node_id)
        self.world.set_node_flag(node_id, "xuc_logs_plain", bool(on))

    async def xuc_healthcheck(self, node_id: str, on: bool | None) -> None:
        """A compose health check on xuc (True/False), or the lab spec's choice (None)."""
        self._cc(node_id)
        self.world.set_node_flag(node_id, "xuc_healthcheck", on)

    async def xuc_ready_delay(self, node_id: str, seconds: float | None) -> None:
        """Seconds from an xuc start to its readiness line (None: the spec / LabTiming)."""
        self._cc(node_id)
        self.world.set_node_flag(node_id, "xuc_ready_delay", seconds)

    # -- phones and calls (see phones.py for the rules) ------------------------------------
    def _xivo(self, node_id: str) -> NodeSpec:
        node = self.world.node(node_id)
        if node.kind != XIVO:
            raise ValueError(f"{node_id} is not a XiVO node")
        return node

    async def web_ui_ha_save(self, node_id: str) -> dict[str, str]:
        """The admin saves the HA page of the node's web UI as it stands (its ha.conf):
        SIP expiry and provisioning first, then the same POST to sysconfd."""
        node = self._xivo(node_id)
        return await xivo.web_ui_ha_save(self.world, node, self.world.timing.postgres_restart)

    async def phones_stuck(self, node_id: str, on: bool = True) -> None:
        """Phones register to this node only (on), or use their backup registrar again."""
        node = self._xivo(node_id)
        phones.set_stuck(self.world, node_id if on else None, node.site)

    async def phones_cut(self, node_id: str, count: int) -> None:
        """The `count` highest-numbered phones cannot reach this node (0: all can)."""
        self._xivo(node_id)
        phones.set_cut(self.world, node_id, count)

    async def hold_calls(self, node_id: str, count: int, seconds: float | None = None) -> int:
        """Exactly `count` held calls on the node (until `calls 0`, or for `seconds`)."""
        self._xivo(node_id)
        return phones.hold_calls(self.world, node_id, count, seconds)

    async def hangup_all(self, target: str | None = None) -> int:
        """End every call, of one XiVO node, one site, or the whole lab (None)."""
        if target is not None and target not in {s.name for s in self.world.spec.sites}:
            node = self._xivo(target)
            return phones.hangup_all(self.world, node.site, target)
        sites = [s.name for s in self.world.spec.sites if target in (None, s.name)]
        return sum(phones.hangup_all(self.world, s) for s in sites)

    async def stop_container(self, node_id: str, service: str, *, running: bool = False) -> None:
        """A container stopped behind the product's back (`docker stop`), or started again."""
        node = self.world.node(node_id)
        if node.kind not in (CC, EDGE):
            raise ValueError(f"{node_id} runs no containers")
        now = time.time()
        containers.sync_node(self.world, node)  # settle the past first
        with self.world.edit_state(node_id) as st:
            c = st.get("containers", {}).get(service)
            if c is None:
                raise ValueError(f"no container for service {service!r} on {node_id}")
            if running:
                if c["state"] != "running":
                    c.update(
                        state="running",
                        started_at=now,
                        timeline_at=now,
                        startup_idx=0,
                        ready_at=None,
                        stalled=False,
                        retry_k=0,
                        seq=0,
                        cursor=now - 0.001,
                    )
            else:
                c.update(state="exited", stopped_at=now)

    async def crash_service(self, node_id: str, service: str) -> None:
        """A service in `failed` state (e.g. asterisk crash on a pingable master)."""
        if xivo.service_state(self.world, node_id, service) is None:
            raise ValueError(f"no service {service!r} on {node_id}")
        xivo.set_services(self.world, node_id, {service}, "failed")
