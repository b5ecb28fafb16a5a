"""Fixtures for the remote layer tests: an in-process SSH server (remote_server.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncssh
import pytest
from remote_server import Keys, TestServer, known_hosts_line, make_node

from resil_tui.inventory_model import Node
from resil_tui.remote.pool import Pool

# --- fixtures --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    d = tmp_path_factory.mktemp("keys")
    client = asyncssh.generate_private_key("ssh-ed25519")
    client.write_private_key(d / "id_ed25519")
    stranger = asyncssh.generate_private_key("ssh-ed25519")
    stranger.write_private_key(d / "stranger")
    return Keys(
        host=asyncssh.generate_private_key("ssh-ed25519"),
        other_host=asyncssh.generate_private_key("ssh-ed25519"),
        client_path=d / "id_ed25519",
        client_pub=client.export_public_key().decode(),
        stranger_path=d / "stranger",
    )


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No real ~/.ssh, agent or XDG state leaks into the tests."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    return home


@pytest.fixture
async def server(keys: Keys, tmp_path: Path) -> AsyncIterator[TestServer]:
    root = tmp_path / "sftp-root"
    root.mkdir()
    srv = await TestServer(keys.host, keys.client_pub, root).start()
    try:
        yield srv
    finally:
        await srv.stop()


@pytest.fixture
def known_hosts(tmp_path: Path, keys: Keys, server: TestServer) -> Path:
    path = tmp_path / "known_hosts"
    path.write_text("# test known_hosts\n" + known_hosts_line(keys.host, server.port))
    return path


@pytest.fixture
def node(server: TestServer, keys: Keys, known_hosts: Path) -> Node:
    return make_node(server.port, keys, known_hosts)


@pytest.fixture
async def pool(tmp_path: Path) -> AsyncIterator[Pool]:
    p = Pool(audit=tmp_path / "audit.jsonl", backoff_base=0.05, backoff_cap=0.2)
    try:
        yield p
    finally:
        await p.close()
