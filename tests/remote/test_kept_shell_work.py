"""What a read through a kept shell does not do again: wake the read before its answer may
be whole (both streams hold the start of their end marker; an answer comes in several
packets), decode and check a stdout byte for byte the same as the last one."""

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


def test_a_kept_shells_stdout_alike_the_last_is_not_decoded_again() -> None:
    from typing import Any, cast

    from resil_tui.remote import pool

    link = pool._Link(node=cast(Any, None), channels=cast(Any, None), state=cast(Any, None))
    first = pool._decode_kept(link, "l\u2026g \x1b[31mred\n".encode())
    assert first == pool._decode("l\u2026g \x1b[31mred\n".encode(), False)
    assert pool._decode_kept(link, "l\u2026g \x1b[31mred\n".encode()) is first
    changed = pool._decode_kept(link, b"other\xff\n")
    assert changed == pool._decode(b"other\xff\n", False) and changed != first
