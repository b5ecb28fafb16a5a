"""The lab's SSH servers send what OpenSSH's sshd sends: no SSH_MSG_IGNORE.

asyncssh, which the lab serves with, puts an empty SSH_MSG_IGNORE before every packet
once the connection is encrypted; OpenSSH does not. Left in, the client under test got
twice the packets a real node sends it, and its CPU per refresh was measured on them.
"""

from __future__ import annotations

import collections
from typing import Any

from resil_tui.lab.server import Lab
from tests.lab.conftest import connect

MSG_IGNORE = 2


async def test_a_lab_node_sends_no_ignore_packets(lab: Lab) -> None:
    received: collections.Counter[int] = collections.Counter()
    async with connect(lab, "demo.xivo.master") as conn:
        log = conn.log_received_packet

        def counting(pkttype: int, *args: Any, **kw: Any) -> None:
            received[pkttype] += 1
            log(pkttype, *args, **kw)

        # The connection's own packets, IGNORE among them, are logged through it (a
        # channel's through the channel); its sequence number counts them all.
        conn.log_received_packet = counting  # type: ignore[method-assign]
        seq = conn._recv_seq
        for _ in range(3):
            result = await conn.run("xivo-service status all", check=False)
            assert result.exit_status == 0
        packets = conn._recv_seq - seq
    assert packets >= 3 * 4  # per run: open confirmation, data, exit status, EOF, close
    assert received[MSG_IGNORE] == 0, f"{received[MSG_IGNORE]} IGNORE of {packets} packets"
