"""The kept shell's session wakes the read only when its answer may be whole: both streams
hold the start of their end marker (an answer comes in several packets)."""

from __future__ import annotations

import asyncio

import asyncssh

from resil_tui.core import shell_frames
from resil_tui.remote.read_shell import _Session

NONCE = "0123456789abcdef" * 2


async def _woken(session: _Session, chunks: list[tuple[str, bytes]]) -> list[bool]:
    """After each chunk, whether the waiter was woken (a fresh waiter each time)."""
    seen = []
    for stream, data in chunks:
        session.waiter = asyncio.get_running_loop().create_future()
        kind = asyncssh.EXTENDED_DATA_STDERR if stream == "err" else None
        session.data_received(data, kind)
        seen.append(session.waiter.done())
    return seen


def test_woken_once_both_streams_hold_their_end_marker() -> None:
    end = shell_frames.end_start(NONCE)
    session = _Session()
    session.expect(end)
    chunks = [
        ("out", b"part of the answer\n"),
        ("err", b"a warning\n"),
        ("out", b"the rest" + end[:10]),  # a marker cut between two packets
        ("out", end[10:] + b" 0\n"),
        ("err", end + b"\n"),
        ("out", b"late"),  # past the end: the read must see it (it closes the shell)
    ]
    assert asyncio.run(_woken(session, chunks)) == [False, False, False, False, True, True]


def test_woken_at_every_packet_without_a_read_in_progress() -> None:
    session = _Session()
    assert asyncio.run(_woken(session, [("out", b"x"), ("err", b"y")])) == [True, True]
    session.expect(shell_frames.end_start(NONCE))
    session.expect(None)
    assert asyncio.run(_woken(session, [("out", b"z")])) == [True]


def test_an_ended_shell_wakes_the_read_whatever_arrived() -> None:
    session = _Session()
    session.expect(shell_frames.end_start(NONCE))

    async def ended() -> bool:
        session.waiter = asyncio.get_running_loop().create_future()
        session.eof_received()
        return session.waiter.done()

    assert asyncio.run(ended())
