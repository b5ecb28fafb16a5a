"""The lab's state on disk: one directory that several processes may share.

Layout (see the lab contract): lab.json (lab-wide: spec, timing, power, links, faults),
nodes/<id>/root/ (the node's file system), nodes/<id>/state.json (services, containers,
counters), nodes/<id>/commands.jsonl (every command the node received) and
sites/<site>.json (the site's phones and calls, see phones.py).

Every read goes through `_Documents` (re-read only when the file changed) and every
read-modify-write through its `edit`, under an fcntl lock.
"""

from __future__ import annotations

import fcntl
import functools
import json
import marshal
import os
import posixpath
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resil_tui.lab import initial, phones, shell
from resil_tui.lab.spec import SLAVE, XIVO, LabSpec, LabTiming, NodeSpec

LAB_JSON = "lab.json"
FORMAT_VERSION = 1


def _dump(doc: dict[str, Any]) -> str:
    """A state document as written to disk: sorted keys, one line. Without `indent`, json
    encodes in C; an indented dump runs the pure-Python encoder, which at 200 nodes was
    the largest part of the lab's CPU (every command of a poll writes some state)."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n"


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        # mkstemp makes 0600; the sshd tier's sessions run as another user and must read it.
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


Stamp = tuple[int, int, int, int]


def _stamp(st: os.stat_result) -> Stamp:
    # Every write replaces the file: another inode, other times, even at the same size;
    # but an inode number comes back, and times can hold still for a tick (RACY_NS).
    return (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)


# A file changed less than this before it was read may change again with the same stamp:
# ext4 gives a replaced file's inode number to the next file but one, and file times
# move in ticks (jiffies before Linux 6.13, 1 s or 2 s on some file systems). Such an
# entry is checked against the file's text at every use, until its time is older.
RACY_NS = 2_000_000_000


@dataclass
class _Known:
    stamp: Stamp
    text: str
    doc: dict[str, Any]  # shared with every reader: never changed
    racy: bool  # the stamp alone does not tell a change (RACY_NS)
    frozen: bytes | None = None  # the doc marshalled, made at its first edit

    def copy(self) -> dict[str, Any]:
        # marshal copies a JSON tree, types and key order kept, 5x faster than json.loads
        # (a site's phones: 19 us against 92), and far faster than copy.deepcopy.
        if self.frozen is None:
            self.frozen = marshal.dumps(self.doc)
        copied: dict[str, Any] = marshal.loads(self.frozen)
        return copied


def _racy(st: os.stat_result, opened_ns: int) -> bool:
    # The time before the file was opened: a file that takes its inode can only be made
    # once this read let it go, later still.
    return opened_ns - st.st_mtime_ns < RACY_NS


class _Documents:
    """The lab's JSON documents as this process last read them, by path.

    A command reads several documents (lab.json, the node's state, the site's phones)
    and most of them did not change since the last command: a stat, or where the stamp
    cannot tell (RACY_NS) a read and a comparison of the text, then replaces a parse.
    What `read` returns is shared: callers only read it.

    Every read-modify-write goes through `edit`, which holds an fcntl lock only for a
    synchronous section: callers never await while holding it, so coroutines of one
    process cannot deadlock each other on it.
    """

    def __init__(self) -> None:
        self._known: dict[str, _Known] = {}

    def read(self, path: str | Path) -> dict[str, Any] | None:
        found = self._load(os.fspath(path))
        return None if found is None else found.doc

    def _load(self, path: str, *, verify: bool = False) -> _Known | None:
        """The document at `path`; `verify`: from its text even where the stamp tells
        (an edit, whose write must start from the file as it is)."""
        known = self._known.get(path)
        if known is not None and not (verify or known.racy):
            try:
                if _stamp(os.stat(path)) == known.stamp:
                    return known
            except FileNotFoundError:
                return None
        opened = time.time_ns()
        try:
            with open(path, encoding="utf-8") as f:
                st = os.fstat(f.fileno())  # the file read, not one stat()ed before
                text = f.read()
        except FileNotFoundError:
            return None
        racy = _racy(st, opened)
        if known is not None and known.text == text:
            known.stamp, known.racy = _stamp(st), racy
            return known
        known = self._known[path] = _Known(_stamp(st), text, json.loads(text), racy)
        return known

    @contextmanager
    def edit(self, path: Path, volatile: tuple[str, ...] = ()) -> Iterator[dict[str, Any]]:
        """Yield the JSON document at `path` under an exclusive lock; write it back on
        success.

        `volatile`: top-level keys whose change alone is not written (the file keeps
        their old values); with any other change, the document is written whole.

        The file's text is read under the lock every time (a write must never start
        from a stale copy); its parse is reused when the text is the one last parsed.
        Most edits change nothing (a poll's looks): "changed" is decided by comparing the
        document with the one read, in C, and the document is encoded only to be
        written (encoding a site's phones to compare cost more than the rest of the
        edit). Python's equality holds 1, 1.0 and True equal; the lab writes each key
        with one type, so such a change never comes alone.
        """
        lock_path = path.with_name(path.name + ".lock")
        with open(lock_path, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                found = self._load(str(path), verify=True)
                pristine = found.doc if found is not None else {}
                data = found.copy() if found is not None else {}  # the caller's own
                yield data
                if data != pristine:
                    kept = {k: pristine[k] for k in volatile if k in pristine}
                    if not (kept and {**data, **kept} == pristine):
                        _atomic_write_text(path, _dump(data))
                        self._known.pop(str(path), None)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


@functools.lru_cache(maxsize=4096)
def _described(line: str) -> bytes:
    # Tests read a node's commands again and again while they wait: each line is
    # described once, and every entry gets a copy of its own.
    return marshal.dumps(shell.describe(line))


class LabWorld:
    """File-backed world; any process may open the same lab_dir."""

    def __init__(self, lab_dir: Path, spec: LabSpec) -> None:
        self.lab_dir = Path(lab_dir)
        self.spec = spec
        self._nodes = {n.id: n for n in spec.nodes()}
        self._by_ip = {n.ip: n for n in spec.nodes()}
        self._docs = _Documents()
        self._lab_json = str(self.lab_dir / LAB_JSON)  # read by most commands
        self._timing: tuple[dict[str, Any], LabTiming] | None = None  # of which lab.json
        # Paths are built once per node: every command of a large lab resolves several.
        self._node_dirs: dict[str, Path] = {}
        self._node_roots: dict[str, tuple[Path, str]] = {}
        self._state_paths: dict[str, Path] = {}

    # -- creation -------------------------------------------------------------------------
    @classmethod
    def create(cls, lab_dir: Path, spec: LabSpec, timing: LabTiming) -> LabWorld:
        """Write the initial (normal, healthy) state of every node."""
        lab_dir = Path(lab_dir)
        lab_dir.mkdir(parents=True, exist_ok=True)
        world = cls(lab_dir, spec)
        now = time.time()
        doc: dict[str, Any] = {
            "version": FORMAT_VERSION,
            "created_at": now,
            "spec": spec.to_json(),
            "timing": timing.to_json(),
            "nodes": {
                n.id: {
                    "port": None,
                    "powered": True,
                    "hung": False,
                    "slow": 0.0,
                    "xuc_never_ready": False,
                }
                for n in spec.nodes()
            },
            "cut_links": [],
            "faults": {"fail_replication": False},
        }
        for n in spec.nodes():
            root = world.node_root(n.id)
            root.mkdir(parents=True, exist_ok=True)
            initial.populate(world, n, now)
        _atomic_write_text(world.lab_json_path, _dump(doc))
        for site in spec.sites:
            # After lab.json: the population reads the timing (expiries) from it.
            world.write_site_state(site.name, phones.initial_state(world, site, now))
        return world

    @classmethod
    def open(cls, lab_dir: Path) -> LabWorld:
        path = Path(lab_dir) / LAB_JSON
        if not path.exists():
            raise FileNotFoundError(f"no lab in {lab_dir} ({LAB_JSON} missing)")
        doc = json.loads(path.read_text())
        return cls(Path(lab_dir), LabSpec.from_json(doc["spec"]))

    @classmethod
    def exists(cls, lab_dir: Path) -> bool:
        return (Path(lab_dir) / LAB_JSON).exists()

    # -- paths ----------------------------------------------------------------------------
    @property
    def lab_json_path(self) -> Path:
        return self.lab_dir / LAB_JSON

    def node_dir(self, node_id: str) -> Path:
        found = self._node_dirs.get(node_id)
        if found is None:
            found = self._node_dirs[node_id] = self.lab_dir / "nodes" / node_id
        return found

    def node_root(self, node_id: str) -> Path:
        return self._root(node_id)[0]

    def _root(self, node_id: str) -> tuple[Path, str]:
        found = self._node_roots.get(node_id)
        if found is None:
            root = self.node_dir(node_id) / "root"
            found = self._node_roots[node_id] = (root, str(root))
        return found

    def node_ids(self) -> list[str]:
        return list(self._nodes)

    def node(self, node_id: str) -> NodeSpec:
        try:
            return self._nodes[node_id]
        except KeyError:
            raise KeyError(
                f"no node {node_id!r} in the lab (known: {', '.join(self._nodes)})"
            ) from None

    def node_by_ip(self, ip: str) -> NodeSpec | None:
        return self._by_ip.get(ip)

    def peer(self, node: NodeSpec) -> NodeSpec | None:
        """The other side of a master/slave pair of the same kind."""
        other = "master" if node.side == SLAVE else "slave"
        return self.spec.site(node.site).node(node.kind, other) if node.side else None

    def resolve(self, node_id: str, path: str, cwd: str = "/root") -> Path:
        """Map a path seen by a command on the node to the real file (lab contract)."""
        root, root_s = self._root(node_id)
        if path == root_s or path.startswith(root_s + "/"):
            path = path[len(root_s) :] or "/"
        virtual = posixpath.normpath(posixpath.join("/", cwd, path))
        return root / virtual.lstrip("/")

    # -- lab-wide state -------------------------------------------------------------------
    def lab_state(self) -> dict[str, Any]:
        """lab.json, re-read only when it changed on disk (to read only)."""
        doc = self._docs.read(self._lab_json)
        if doc is None:
            raise FileNotFoundError(f"no lab in {self.lab_dir} ({LAB_JSON} missing)")
        return doc

    @contextmanager
    def edit_lab(self) -> Iterator[dict[str, Any]]:
        with self._docs.edit(self.lab_json_path) as doc:
            yield doc

    @property
    def timing(self) -> LabTiming:
        # Read by most commands: built again only when lab.json was (LabTiming is frozen).
        doc = self.lab_state()
        if self._timing is None or self._timing[0] is not doc:
            self._timing = (doc, LabTiming.from_json(doc["timing"]))
        return self._timing[1]

    def set_timing(self, timing: LabTiming) -> None:
        with self.edit_lab() as doc:
            doc["timing"] = timing.to_json()

    def node_flags(self, node_id: str) -> dict[str, Any]:
        return dict(self.lab_state()["nodes"].get(node_id, {}))

    def set_node_flag(self, node_id: str, key: str, value: Any) -> None:
        self.node(node_id)
        with self.edit_lab() as doc:
            doc["nodes"].setdefault(node_id, {})[key] = value

    def fault(self, name: str) -> Any:
        return self.lab_state().get("faults", {}).get(name)

    def set_fault(self, name: str, value: Any) -> None:
        with self.edit_lab() as doc:
            doc.setdefault("faults", {})[name] = value

    def is_powered(self, node_id: str) -> bool:
        return bool(self.node_flags(node_id).get("powered", True))

    def link_cut(self, a: str, b: str) -> bool:
        pair = sorted((a, b))
        return pair in self.lab_state().get("cut_links", [])

    def set_link(self, a: str, b: str, cut: bool) -> None:
        pair = sorted((a, b))
        with self.edit_lab() as doc:
            links = [p for p in doc.get("cut_links", []) if p != pair]
            if cut:
                links.append(pair)
            doc["cut_links"] = links

    def reachable(self, src_id: str, ip: str) -> bool:
        """Would a packet from node `src_id` to VoIP `ip` get an answer?"""
        target = self.node_by_ip(ip)
        if target is None or target.id == src_id:
            return target is not None
        return self.is_powered(target.id) and not self.link_cut(src_id, target.id)

    # -- per-node state -------------------------------------------------------------------
    def state_path(self, node_id: str) -> Path:
        found = self._state_paths.get(node_id)
        if found is None:
            found = self._state_paths[node_id] = self.node_dir(node_id) / "state.json"
        return found

    def read_state(self, node_id: str) -> dict[str, Any]:
        """The node's state (to read only)."""
        return self._docs.read(self.state_path(node_id)) or {}

    @contextmanager
    def edit_state(self, node_id: str) -> Iterator[dict[str, Any]]:
        with self._docs.edit(self.state_path(node_id)) as st:
            yield st

    def write_state(self, node_id: str, state: dict[str, Any]) -> None:
        _atomic_write_text(self.state_path(node_id), _dump(state))

    # -- per-site state (phones and calls) ---------------------------------------------------
    def site_state_path(self, site: str) -> Path:
        self.spec.site(site)  # raises KeyError for an unknown site
        return self.lab_dir / "sites" / f"{site}.json"

    def read_site_state(self, site: str) -> dict[str, Any]:
        """The site's phones and calls (to read only)."""
        return self._docs.read(self.site_state_path(site)) or {}

    @contextmanager
    def edit_site_state(
        self, site: str, volatile: tuple[str, ...] = ()
    ) -> Iterator[dict[str, Any]]:
        path = self.site_state_path(site)
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._docs.edit(path, volatile) as st:
            yield st

    def write_site_state(self, site: str, state: dict[str, Any]) -> None:
        path = self.site_state_path(site)
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write_text(path, _dump(state))

    # -- recording ------------------------------------------------------------------------
    def record(self, node_id: str, entry: dict[str, Any]) -> None:
        line = json.dumps({"t": time.time(), **entry}, sort_keys=True) + "\n"
        # One write() on an O_APPEND file: lines of concurrent writers do not interleave.
        fd = os.open(
            self.node_dir(node_id) / "commands.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644
        )
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    def commands(self, node_id: str) -> list[dict[str, Any]]:
        """Every command the node received, in order; a command line's entry with its
        words and commands (`shell.describe`), worked out here from the line recorded:
        not at every command of every poll, which only tests read."""
        path = self.node_dir(node_id) / "commands.jsonl"
        if not path.exists():
            return []
        out = []
        for line in path.read_text().splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if entry.get("kind") == "exec" and isinstance(entry.get("line"), str):
                entry = {**marshal.loads(_described(entry["line"])), **entry}
            out.append(entry)
        return out

    # -- conveniences used by commands and tests --------------------------------------------
    def xivo_nodes(self) -> list[NodeSpec]:
        return [n for n in self.spec.nodes() if n.kind == XIVO]

    def read_file(self, node_id: str, path: str) -> str | None:
        p = self.resolve(node_id, path)
        return p.read_text() if p.is_file() else None
