"""The monitoring examples in examples/ hold together with the product: their command
lines parse with resil-tui's own parser, the unit is hardened and verified by systemd,
the alert rules only name metrics the exposition has, the on_change example mails."""

from __future__ import annotations

import configparser
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from resil_tui import cli
from resil_tui.core.journal_event import EventKind, JournalEvent
from resil_tui.core.prometheus import SitePoll, exposition
from resil_tui.ops.metrics_http import listen_address
from resil_tui.ops.notify import payload
from tests.unit.test_core_cluster import NOW, run, site

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


class CaseKept(configparser.ConfigParser):
    """systemd keys are case-sensitive (configparser lowers them by default)."""

    def optionxform(self, optionstr: str) -> str:
        return optionstr


def test_the_systemd_unit_is_hardened_and_runs_the_watcher() -> None:
    path = EXAMPLES / "systemd" / "resil-tui-watch.service"
    unit = CaseKept(strict=False, interpolation=None)
    unit.read(path)
    service = unit["Service"]
    assert service["User"] == "resil" and service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict" and service["ProtectHome"] == "yes"
    assert service["ReadWritePaths"] == "/var/lib/resil-tui"
    assert service["StateDirectory"] == "resil-tui" and service["StateDirectoryMode"] == "0700"
    assert service["CapabilityBoundingSet"] == "" and service["UMask"] == "0077"
    argv = shlex.split(service["ExecStart"])
    ns, options = cli.parse(argv[1:])
    assert ns.command == "watch" and options.read_only and ns.listen
    assert str(listen_address(ns.listen)) == "127.0.0.1:9477"
    state = next(v for k, v in unit.items("Service") if k == "Environment" and "XDG_STATE" in v)
    assert state.split("=", 1)[1].startswith(service["ReadWritePaths"])


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    unit = tmp_path / "resil-tui-watch.service"
    unit.write_text((EXAMPLES / "systemd" / "resil-tui-watch.service").read_text())
    verify = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    # The program path is the install's, not this machine's: that is the only complaint.
    problems = [line for line in verify.stderr.splitlines() if "is not executable" not in line]
    assert problems == [], verify.stderr
    security = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    level = re.search(r"Overall exposure level for \S+: ([0-9.]+)", security.stdout)
    assert level is not None, security.stdout + security.stderr
    assert float(level[1]) <= 2.0, security.stdout  # systemd calls up to 2.0 "OK"


def test_nagios_and_icinga_commands_are_valid_check_invocations() -> None:
    nagios = (EXAMPLES / "nagios" / "resil-tui.cfg").read_text()
    line = re.search(r"command_line\s+(.+)", nagios)
    assert line is not None
    argv = shlex.split(
        line[1].replace("$ARG1$", "paris").replace("$ARG2$", "1").replace("$ARG3$", "5")
    )
    ns, options = cli.parse(argv[1:])
    assert options.read_only and options.hosts == "/etc/resil-tui/hosts.toml"
    assert ns.command == "check" and ns.site == "paris" and ns.latency_critical == 5.0
    nrpe = re.search(r"command\[check_resil_paris\]=(.+)", nagios)
    assert nrpe is not None and cli.parse(shlex.split(nrpe[1])[1:])[0].command == "check"
    icinga = (EXAMPLES / "icinga2" / "resil-tui.conf").read_text()
    command = re.search(r"command = \[(.+)\]", icinga)
    assert command is not None
    argv = json.loads(f"[{command[1]}]")
    flags = re.findall(r'"(--[a-z-]+)" = "\$resil_[a-z_]+\$"', icinga)
    values = {
        "--site": "paris",
        "--latency-warning": "1",
        "--latency-critical": "5",
        "--timeout": "30",
    }
    ns, _ = cli.parse([*argv[1:], *(x for f in flags for x in (f, values[f]))])
    assert ns.command == "check" and ns.timeout == 30.0 and sorted(flags) == sorted(values)


def test_alert_rules_name_only_metrics_the_exposition_has() -> None:
    snap = site()
    text = exposition([SitePoll(snap, run(snap), 0.2, NOW, 1)], NOW, "x")
    families = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    for name in ("resil-alerts.yml", "prometheus.yml"):
        body = (EXAMPLES / "prometheus" / name).read_text()
        used = set(re.findall(r"\bresil_[a-z_]+", body))
        assert used <= families, used - families
    rules = (EXAMPLES / "prometheus" / "resil-alerts.yml").read_text()
    assert "alert: XivoSplitBrain" in rules and "alert: XivoActiveSideWithoutTelephony" in rules
    assert 'verdict="split_brain"' in rules and "split_brain" in text
    # The label values the rules match on are values the exposition uses.
    for label, value in re.findall(r'(verdict|side)=~?"([a-z_|]+)"', rules):
        for one in value.split("|"):
            assert f'{label}="{one}"' in text, (label, one)


def test_the_on_change_example_mails_the_entry(tmp_path: Path) -> None:
    sent = tmp_path / "sent.eml"
    sendmail = tmp_path / "sendmail"
    sendmail.write_text(f"#!/bin/sh\ncat > {sent}\n")
    sendmail.chmod(0o755)
    event = JournalEvent(
        NOW, "paris", None, EventKind.VERDICT, "normal", "failed_over", "warning: Failed over"
    ).with_id()
    done = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "on_change" / "notify.py"),
            "--to",
            "oncall@example.com",
            "--sendmail",
            str(sendmail),
        ],
        input=payload(event),
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    mail = sent.read_text()
    assert "To: oncall@example.com" in mail
    assert "Subject: [resil-tui] paris: paris verdict normal -> failed_over" in mail
