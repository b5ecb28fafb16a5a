import json
from datetime import datetime

from hypothesis import given
from hypothesis import strategies as st

from resil_tui.core.sync_log import SyncOutcome, last_sync_result, parse_sync_records

OK_RUN = (
    "2026-11-25 10:00:01,123 [4242] (INFO): Synchronizing to 10.0.0.2...\n"
    "2026-11-25 10:00:04,456 [4242] (INFO): Synchronization successful\n"
)
KEY_RUN = (
    "2026-11-25 11:00:01,001 [5151] (INFO): "
    "SSH key /root/.ssh/xivo_id_rsa not found: not synchronizing\n"
)
FAIL_RUN = (
    "2026-11-25 12:00:01,001 [6161] (INFO): Synchronizing to 10.0.0.2...\n"
    "2026-11-25 12:00:31,777 [6161] (ERROR): Synchronization failure: rsync exit status 255"
    " with output:\n"
    "ssh: connect to host 10.0.0.2 port 22: Connection timed out\n"
    "rsync: connection unexpectedly closed (0 bytes received so far) [sender]\n"
)


def test_success():
    r = last_sync_result(OK_RUN)
    assert r.outcome is SyncOutcome.SUCCESS and r.ok
    assert r.time == datetime(2026, 11, 25, 10, 0, 4, 456000)
    assert r.pid == 4242
    assert r.last_success == r.time


def test_key_missing_is_flagged_even_after_successes():
    r = last_sync_result(OK_RUN + KEY_RUN)
    assert r.outcome is SyncOutcome.KEY_MISSING
    assert not r.ok
    assert "not synchronizing" in r.message
    assert r.last_success == datetime(2026, 11, 25, 10, 0, 4, 456000)


def test_rsync_failure_keeps_continuation_lines():
    r = last_sync_result(OK_RUN + KEY_RUN + FAIL_RUN.replace("\n", "\r\n"))
    assert r.outcome is SyncOutcome.ERROR
    assert r.message.startswith("Synchronization failure: rsync exit status 255")
    assert r.detail == [
        "ssh: connect to host 10.0.0.2 port 22: Connection timed out",
        "rsync: connection unexpectedly closed (0 bytes received so far) [sender]",
    ]
    assert r.time == datetime(2026, 11, 25, 12, 0, 31, 777000)


def test_not_master_and_traceback():
    not_master = "2026-11-25 13:00:01,001 [7] (ERROR): HA not configured or not a master node\n"
    assert last_sync_result(not_master).outcome is SyncOutcome.ERROR
    trace = (
        "2026-11-25 13:00:01,001 [8] (ERROR): Unexpected error:\n"
        "Traceback (most recent call last):\n"
        '  File "/usr/bin/xivo-sync", line 40, in main\n'
        "ValueError: boom\n"
    )
    r = last_sync_result(trace)
    assert r.outcome is SyncOutcome.ERROR and len(r.detail) == 3


def test_run_without_result_is_unknown():
    started = "2026-11-25 14:00:01,001 [9] (INFO): Synchronizing to 10.0.0.2...\n"
    r = last_sync_result(OK_RUN + started)
    assert r.outcome is SyncOutcome.UNKNOWN
    assert "no result" in r.message
    assert r.last_success is not None


def test_only_the_last_run_counts():
    assert last_sync_result(FAIL_RUN + OK_RUN).outcome is SyncOutcome.SUCCESS


def test_empty_and_garbage():
    assert last_sync_result("").outcome is SyncOutcome.UNKNOWN
    r = last_sync_result("hello\nworld\n")
    assert r.outcome is SyncOutcome.UNKNOWN
    assert r.unparsed == ["hello", "world"]


def test_records_parser_reads_levels_and_bad_dates():
    records, _ = parse_sync_records("2026-13-45 10:00:00,000 [1] (warning): odd date\n")
    assert records[0].level == "WARNING"
    assert records[0].time is None
    assert records[0].time_text == "2026-13-45 10:00:00,000"


def test_to_dict_json():
    data = json.loads(json.dumps(last_sync_result(OK_RUN).to_dict()))
    assert data["outcome"] == "success"
    assert data["time"] == "2026-11-25T10:00:04.456000"


@given(st.text())
def test_never_raises(text):
    json.dumps(last_sync_result(text).to_dict())


@given(st.lists(st.sampled_from([OK_RUN, KEY_RUN, FAIL_RUN, "junk\n", "\n", "2026-01-01 "])))
def test_structured_noise_never_raises(parts):
    last_sync_result("".join(parts))
