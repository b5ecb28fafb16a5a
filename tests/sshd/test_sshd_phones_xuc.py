"""Asterisk's CLI and `docker inspect` through real OpenSSH (issues 18 and 15, lab side).

The session processes run as the login user and settle the site's phones themselves: the
same lazy state as the in-process lab, written by another user through the dispatcher.
"""

from __future__ import annotations

import json
import re

import pytest
from sshd_fixture import SshdLab

pytestmark = pytest.mark.sshd

MASTER, SLAVE, CC = "demo.xivo.master", "demo.xivo.slave", "demo.cc.master"
CONTACT = re.compile(
    r"^  Contact:  \d{4}/sip:\S+ +[0-9a-f]{10} (Avail  |Unavail) ( {0,6}\d+\.\d{3}| {8}nan)$"
)


def test_pjsip_contacts_on_master_and_standby(sshd_lab: SshdLab) -> None:
    res = sshd_lab.ssh(MASTER, ["asterisk", "-rx", "pjsip show contacts"])
    assert (res.returncode, res.stderr) == (0, ""), res.stderr
    lines = res.stdout.split("\n")
    assert lines[1].startswith("  Contact:  <Aor/ContactUri") and lines[2] == "=" * 90
    body = [line for line in lines[4:] if line.startswith("  Contact:  ")]
    assert len(body) == 40 and all(CONTACT.match(line) for line in body), body[:3]
    assert "Objects found: 40" in lines
    standby = sshd_lab.ssh(SLAVE, ["asterisk", "-rx", "pjsip show contacts"])
    assert (standby.returncode, standby.stdout) == (1, "")
    assert standby.stderr == (
        "Unable to connect to remote asterisk (does /var/run/asterisk/asterisk.ctl exist?)\n"
    )
    count = sshd_lab.ssh(MASTER, 'asterisk -rx "core show channels count"')
    assert count.stdout.splitlines()[1].endswith(("active calls", "active call")), count.stdout


def test_docker_inspect_on_cc(sshd_lab: SshdLab) -> None:
    res = sshd_lab.ssh(CC, ["docker", "inspect", "xivocc-xuc-1"])
    assert res.returncode == 0, res.stderr
    (doc,) = json.loads(res.stdout)
    assert doc["Name"] == "/xivocc-xuc-1"
    assert doc["State"]["Running"] is True
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z", doc["State"]["StartedAt"])
    state = sshd_lab.ssh(CC, ["docker", "inspect", "--format", "{{json .State}}", "xivocc-xuc-1"])
    assert json.loads(state.stdout)["Status"] == "running"
    missing = sshd_lab.ssh(CC, ["docker", "inspect", "nope"])
    assert (missing.returncode, missing.stdout, missing.stderr) == (
        1,
        "[]\n",
        "Error: No such object: nope\n",
    )
