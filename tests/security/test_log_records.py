"""What reaches the debug log and stderr (--verbose): log records quote what nodes said
(an SFTP status text, a DISCONNECT reason, asyncssh's own records), and every handler the
product sets up writes them through the sanitizer (log_format.py). No control byte but
newline and tab is written, and a node's text cannot forge a line that reads as a record
of its own: only a record's first line starts at column 0."""

from __future__ import annotations

import asyncio
import logging
import re
import traceback
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncssh
import pytest
from hostile import ALL, FUZZ, counted, hostile_text, leaks
from hostile_server import HOST, HostileServer
from hypothesis import given

from resil_tui import cli, paths
from resil_tui.inventory_model import Node, NodeKind, SshSettings
from resil_tui.log_format import CONTINUATION, SafeFormatter
from resil_tui.remote import lock as node_lock
from resil_tui.remote.pool import Pool

# What a forged record would look like: a line of its own, at column 0, with a time stamp.
FORGED = "2025-01-01 00:00:00,000 INFO resil_tui.ops.ha: demo.xivo.master: all is well"
RECORD_START = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3} [A-Z]+ ")


def _record(msg: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord(
        "resil_tui.remote.lock", logging.WARNING, __file__, 1, msg, args, exc_info
    )


def _raised(message: str) -> BaseException:
    try:
        raise asyncssh.SFTPFailure(message)
    except asyncssh.SFTPFailure as exc:
        return exc


def _record_starts(text: str) -> list[str]:
    return [line for line in text.split("\n") if RECORD_START.match(line)]


# --- the formatter --------------------------------------------------------------------------


def test_a_message_is_one_line_and_shows_what_was_sent() -> None:
    out = SafeFormatter().format(_record("%s: lock refresh failed: %s", "n1", f"x {ALL}\n{FORGED}"))
    assert leaks(out) == 0
    assert "\n" not in out and "␤" in out  # the forged record is shown inside this one
    assert "␛]52;c;" in out and "⟨U+202E⟩" in out and "lock refresh failed" in out
    assert len(_record_starts(out)) == 1


def test_a_traceback_keeps_its_lines_under_the_record() -> None:
    exc = _raised(f"refused {ALL}\n{FORGED}")
    out = SafeFormatter().format(_record("release failed", exc=exc))
    assert leaks(out) == 0
    head, *rest = out.split("\n")
    assert "release failed" in head
    assert rest and all(line.startswith(CONTINUATION) for line in rest)
    assert f"{CONTINUATION}Traceback (most recent call last):" in rest
    assert any("SFTPFailure: refused ␛]52;c;" in line for line in rest)
    assert _record_starts(out) == [head]  # the forged line is indented under the traceback


def test_a_traceback_another_handler_formatted_first_is_cleaned_too() -> None:
    # logging caches the exception text on the record: a plain Formatter of another handler
    # (pytest's, an embedding program's) may have put the raw text there.
    record = _record("failed", exc=_raised(f"refused {ALL}"))
    logging.Formatter().format(record)
    assert record.exc_text and leaks(record.exc_text) > 0
    out = SafeFormatter().format(record)
    assert leaks(out) == 0 and "refused ␛]52;c;" in out


def test_a_stack_is_indented_and_cleaned() -> None:
    record = _record("where")
    record.stack_info = "Stack (most recent call last):\n" + "".join(traceback.format_stack())
    record.stack_info += f"  evil {ALL}\n{FORGED}\n"
    out = SafeFormatter().format(record)
    assert leaks(out) == 0
    assert all(line.startswith(CONTINUATION) for line in out.split("\n")[1:])
    assert len(_record_starts(out)) == 1


@FUZZ
@given(hostile_text, hostile_text)
def test_no_record_leaks_or_forges_a_line(message: str, reason: str) -> None:
    counted("debug log: records sanitized, one head line")
    out = SafeFormatter().format(_record("said %s", message, exc=_raised(reason)))
    assert leaks(out) == 0
    head, *rest = out.split("\n")
    assert "said " in head
    assert all(line.startswith(CONTINUATION) for line in rest)


# --- the handlers the product sets up -----------------------------------------------------------


@pytest.fixture
def product_logging() -> Iterator[None]:
    """open_debug_log() rewires the resil_tui and asyncssh loggers: put them back."""
    saved = {
        name: (lg.handlers[:], lg.level, lg.propagate)
        for name in ("resil_tui", "asyncssh")
        for lg in [logging.getLogger(name)]
    }
    try:
        yield
    finally:
        for name, (handlers, level, propagate) in saved.items():
            lg = logging.getLogger(name)
            for handler in lg.handlers:
                if handler not in handlers:
                    handler.close()
            lg.handlers[:] = handlers
            lg.setLevel(level)
            lg.propagate = propagate


def _assert_safe_log(text: str, where: str) -> None:
    assert leaks(text) == 0, f"{where}: raw control characters"
    assert "␛]52;c;" in text, f"{where}: the payload is not shown"
    assert FORGED not in text.split("\n"), f"{where}: a forged line"


@pytest.mark.usefixtures("product_logging")
def test_every_handler_of_open_debug_log_writes_clean_records(
    capsys: pytest.CaptureFixture[str],
) -> None:
    cli.open_debug_log(verbose=True)  # what `resil-tui -v ...` sets up
    log = logging.getLogger("resil_tui.remote.lock")
    log.warning("%s: lock refresh failed: %s", "n1", f"refused {ALL}\n{FORGED}")
    try:
        raise RuntimeError(f"boom {ALL}\n{FORGED}")
    except RuntimeError:
        log.exception("unexpected error")
    # asyncssh's records go to the debug log too (a DISCONNECT reason, a banner).
    logging.getLogger("asyncssh").warning("Connection lost: %s", f"reason {ALL}\n{FORGED}")
    for handler in logging.getLogger("resil_tui").handlers:
        handler.flush()
    stderr = capsys.readouterr().err
    _assert_safe_log(stderr, "stderr")
    text = paths.debug_log_path().read_text(encoding="utf-8")
    _assert_safe_log(text, "debug.log")
    assert len(_record_starts(text)) == 3, text  # one head line per record, nothing forged
    assert "Connection lost: reason ␛]52;c;" in text


# --- end to end: the lock's refresh and release against a hostile SFTP server ------------------


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[tuple[HostileServer, Node]]:
    host, client = (asyncssh.generate_private_key("ssh-ed25519") for _ in range(2))
    client.write_private_key(tmp_path / "id")
    (tmp_path / "root").mkdir()
    srv = await HostileServer(host, client.export_public_key().decode(), tmp_path / "root").start()
    srv.refuse_lock = True
    known = tmp_path / "known_hosts"
    known.write_text(f"[{HOST}]:{srv.port} {host.export_public_key().decode().strip()}\n")
    ssh = SshSettings(
        host=HOST,
        port=srv.port,
        user="admin",
        identity_files=(str(tmp_path / "id"),),
        known_hosts=str(known),
        connect_timeout=5.0,
        command_timeout=10.0,
        keepalive_interval=0.0,
        use_ssh_config=False,
    )
    try:
        yield srv, Node("t.xivo.master", "t", NodeKind.XIVO, None, ssh)
    finally:
        await srv.stop()


@pytest.mark.usefixtures("product_logging")
async def test_a_hostile_sftp_status_text_reaches_no_log_raw(
    server: tuple[HostileServer, Node], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _srv, node = server
    cli.open_debug_log(verbose=True)
    pool = Pool(audit=tmp_path / "audit.jsonl", connect_attempts=1)
    async with pool, node_lock.node_lock(pool, node, "test change", stale_after=3.0):
        await asyncio.sleep(1.6)  # one refresh (every max(1, 3/3) s): it fails
    for handler in logging.getLogger("resil_tui").handlers:
        handler.flush()
    stderr = capsys.readouterr().err
    text = paths.debug_log_path().read_text(encoding="utf-8")
    for where, said in (("stderr", stderr), ("debug.log", text)):
        assert "lock refresh failed: refresh refused" in said, where
        assert "could not be released (remove refused" in said, where
        assert leaks(said) == 0, f"{where}: {said!r}"
        assert "␛]52;c;" in said and "⟨U+202E⟩" in said, where
