"""known_hosts is parsed once per change, not once per connect (remote/hostkeys.py)."""

from __future__ import annotations

import os
from pathlib import Path

import asyncssh

from resil_tui.remote import hostkeys


def _key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


def _line(port: int, key: asyncssh.SSHKey) -> str:
    return f"[127.0.0.1]:{port} {key.export_public_key().decode().strip()}\n"


def _trusted(known: asyncssh.SSHKnownHosts, port: int) -> set[str]:
    keys = known.match("127.0.0.1", "127.0.0.1", port)[0]
    return {k.get_fingerprint() for k in keys}


def test_every_change_to_the_file_is_seen_at_the_next_load(tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    assert _trusted(hostkeys.load_known_hosts([path]), 2201) == set()  # missing: nothing known
    a, b, c = _key(), _key(), _key()
    path.write_text(_line(2201, a))
    first = hostkeys.load_known_hosts([path])
    assert _trusted(first, 2201) == {a.get_fingerprint()}
    assert hostkeys.load_known_hosts([path]) is first  # unchanged: not parsed again
    with path.open("a") as f:  # a key trusted a moment ago counts at the next connect
        f.write(_line(2202, b))
    assert _trusted(hostkeys.load_known_hosts([path]), 2202) == {b.get_fingerprint()}
    # Rewritten in place to the same size (another key, same type): still seen.
    stat = path.stat()
    path.write_text(_line(2201, c) + _line(2202, b))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # even with the old mtime
    assert _trusted(hostkeys.load_known_hosts([path]), 2201) == {c.get_fingerprint()}
    path.unlink()
    assert _trusted(hostkeys.load_known_hosts([path]), 2201) == set()
