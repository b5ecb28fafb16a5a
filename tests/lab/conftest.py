"""Fixtures for driving the in-process lab with plain SSH clients (never product code)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncssh

from resil_tui.lab.server import Lab

SSH = "/usr/bin/ssh"


def connect(lab: Lab, node_id: str, **kw: object) -> asyncssh.connection._ConnectionManager:
    return asyncssh.connect(
        "127.0.0.1",
        port=lab.port(node_id),
        username="root",
        known_hosts=str(lab.known_hosts_path),
        client_keys=[str(lab.client_key_path)],
        agent_path=None,
        config=[],
        **kw,
    )


async def run(lab: Lab, node_id: str, command: str, **kw: object) -> asyncssh.SSHCompletedProcess:
    async with connect(lab, node_id) as conn:
        return await conn.run(command, check=False, **kw)


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


async def ssh_cli(
    lab: Lab, node_id: str, command: str, *, tty: bool = False, stdin: bytes = b""
) -> CliResult:
    """OpenSSH's client, strict host key checking, the lab's key and known_hosts only."""
    argv = [
        SSH,
        "-p",
        str(lab.port(node_id)),
        "-F",
        "/dev/null",
        "-o",
        f"UserKnownHostsFile={lab.known_hosts_path}",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "ConnectTimeout=5",
        "-i",
        str(lab.client_key_path),
    ]
    if tty:
        argv.append("-tt")
    argv += ["root@127.0.0.1", command]
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), 20)
    assert proc.returncode is not None
    return CliResult(proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"))
