import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from resil_tui.core.replication import ReplicationOutcome, parse_replication_output


@pytest.mark.parametrize(
    "text",
    ["Slave replication completed succesfully\n", "Slave replication completed successfully\r\n"],
)
def test_success_both_spellings(text):
    r = parse_replication_output(text, 0)
    assert r.outcome is ReplicationOutcome.SUCCESS and r.ok
    assert r.reason is None


def test_failure_with_reason():
    text = (
        "pg_dump: error: connection to server failed\n"
        "Slave replication failed: could not connect to 10.0.0.2:5432\n"
    )
    r = parse_replication_output(text, 1)
    assert r.outcome is ReplicationOutcome.FAILURE
    assert r.reason == "could not connect to 10.0.0.2:5432"
    assert r.exit_code == 1
    assert len(r.lines) == 2


def test_usage():
    r = parse_replication_output("usage: xivo-master-slave-db-replication <slave_ip>\n", 1)
    assert r.outcome is ReplicationOutcome.USAGE
    assert "slave_ip" in (r.reason or "")


def test_exit_code_considered():
    bad = parse_replication_output("Slave replication completed succesfully\n", 1)
    assert bad.outcome is ReplicationOutcome.FAILURE
    assert "status 1" in (bad.reason or "")
    silent = parse_replication_output("something went wrong\n", 2)
    assert silent.outcome is ReplicationOutcome.FAILURE
    assert silent.reason == "exit status 2: something went wrong"


def test_unknown_cases():
    assert parse_replication_output("", None).outcome is ReplicationOutcome.UNKNOWN
    assert parse_replication_output("dumping...\n", 0).outcome is ReplicationOutcome.UNKNOWN
    # Lost connection after the success line: the line decides.
    lost = parse_replication_output("Slave replication completed succesfully\n", None)
    assert lost.outcome is ReplicationOutcome.SUCCESS


def test_to_dict():
    r = parse_replication_output("Slave replication failed: boom\n", 1)
    assert json.loads(json.dumps(r.to_dict())) == {
        "outcome": "failure",
        "reason": "boom",
        "exit_code": 1,
    }


@given(st.text(), st.one_of(st.none(), st.integers()))
def test_never_raises(text, code):
    json.dumps(parse_replication_output(text, code).to_dict())
