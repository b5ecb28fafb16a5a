"""The audit log: one JSON object per line, private file, secrets masked."""

from __future__ import annotations

import json
import os
import stat
from datetime import datetime
from pathlib import Path

import pytest

from resil_tui import paths
from resil_tui.audit import AuditLog


def _record(log: AuditLog, **over: object) -> None:
    args: dict[str, object] = dict(
        site="paris",
        node="paris.edge",
        kind="command",
        command="edge-dcomp up -d",
        exit_status=0,
        duration=1.23456,
        step="edge switch to slave",
        result="ok",
    )
    args.update(over)
    log.record(**args)  # type: ignore[arg-type]


def test_line_format(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "state" / "audit.jsonl")
    _record(log)
    _record(
        log,
        kind="write",
        command="sftp replace /etc/docker/edge/.env",
        exit_status=None,
        result="failed: dropped",
        before_sha256="a" * 64,
        after_sha256=None,
        backup="/etc/docker/edge/.env.resil-20261125T120000Z.bak",
    )
    lines = log.path.read_text().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert set(first) == {
        "time",
        "user",
        "site",
        "node",
        "kind",
        "command",
        "exit_status",
        "duration",
        "step",
        "result",
        "before_sha256",
        "after_sha256",
        "backup",
        "op",
    }
    when = datetime.fromisoformat(first["time"])
    assert when.utcoffset() is not None and when.utcoffset().total_seconds() == 0
    assert first["user"] and first["node"] == "paris.edge" and first["site"] == "paris"
    assert first["command"] == "edge-dcomp up -d" and first["exit_status"] == 0
    assert first["duration"] == 1.235 and first["step"] == "edge switch to slave"
    assert second["exit_status"] is None and second["before_sha256"] == "a" * 64
    assert second["backup"].endswith(".bak")
    assert log.read() == [first, second]


def test_multiline_text_stays_on_one_line(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    _record(log, step="line one\nline two", result="exit 1\r\nboom")
    assert len(log.path.read_text().splitlines()) == 1
    assert log.read()[0]["step"] == "line one\\nline two"


def test_no_secrets(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    _record(
        log,
        command="xivo-sync -i",
        step="sync init with pw hunter2",
        result="password hunter2 refused",
        secrets=["hunter2", ""],
    )
    text = log.path.read_text()
    assert "hunter2" not in text
    assert "***" in text


def test_file_mode_and_directory(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "state" / "audit.jsonl"
    log = AuditLog(path)
    _record(log)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    # A pre-existing, too-open file is tightened on the next append.
    os.chmod(path, 0o644)
    _record(log)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(log.read()) == 2


def test_default_path_is_xdg_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    log = AuditLog()
    assert log.path == paths.audit_log_path() == tmp_path / "xdg" / "resil-tui" / "audit.jsonl"
    _record(log)
    assert log.path.exists()


def test_read_skips_malformed_lines(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    _record(log)
    with log.path.open("a") as f:
        f.write("not json\n[1, 2]\n")
    _record(log)
    assert len(log.read()) == 2
    assert AuditLog(tmp_path / "missing.jsonl").read() == []


def test_concurrent_appends_do_not_interleave(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    pids = []
    for n in range(4):
        pid = os.fork()
        if pid == 0:  # child: many appends, then exit without pytest teardown
            try:
                for i in range(50):
                    _record(log, step=f"writer {n} #{i} " + "x" * 2000)
            finally:
                os._exit(0)
        pids.append(pid)
    for pid in pids:
        os.waitpid(pid, 0)
    records = log.read()
    assert len(records) == 200
    assert len(log.path.read_text().splitlines()) == 200
