"""Fixtures of the sshd tier: real OpenSSH sshd processes in front of the lab.

`sshd_lab` (session): the demo site, one sshd per node; `sshd_many` (session): 21 nodes
(LabSpec.many(sites=3)); `sshd_lab_factory` (session): start more tiers on demand, e.g.
a fresh lab for a test that changes HA state. All yield sshd_fixture.SshdLab objects; every
sshd and session process is killed at the end of the session.

When sshd cannot be started the tier is skipped locally, and fails in CI (CI=true), where
.ci/run installs openssh-server and the tier must run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
from sshd_fixture import SshdLab, SshdLabFactory, SshdUnavailable, start_sshd_lab

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Everything under tests/sshd/ needs sshd: `-m 'not sshd'` must deselect all of it.
    for item in items:
        if _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.sshd)


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"sshd tier cannot run in CI: {reason}", pytrace=False)
    pytest.skip(f"sshd tier unavailable: {reason}")


@pytest.fixture(scope="session")
def sshd_lab_factory() -> Iterator[SshdLabFactory]:
    """start(spec=None, *, user=None, timing=None) -> SshdLab; all closed at session end."""
    started: list[SshdLab] = []

    def start(spec: Any = None, *, user: str | None = None, timing: Any = None) -> SshdLab:
        try:
            lab = start_sshd_lab(spec, user=user, timing=timing)
        except SshdUnavailable as exc:
            _unavailable(str(exc))
        started.append(lab)
        return lab

    try:
        yield start
    finally:
        keep = os.environ.get("RESIL_SSHD_KEEP") == "1"  # keep logs/configs for debugging
        for lab in started:
            lab.close(keep_files=keep)


@pytest.fixture(scope="session")
def sshd_lab(sshd_lab_factory: SshdLabFactory) -> SshdLab:
    """The demo site (7 nodes) behind real sshds, login user `resiltest`."""
    return sshd_lab_factory()


@pytest.fixture(scope="session")
def sshd_many(sshd_lab_factory: SshdLabFactory) -> SshdLab:
    """21 nodes (3 sites of 7) behind 21 sshds on 127.0.0.10-30."""
    try:
        from resil_tui.lab.emulation import LabSpec
    except ImportError as exc:
        _unavailable(f"the lab emulation is not importable: {exc}")
    return sshd_lab_factory(LabSpec.many(sites=3))
