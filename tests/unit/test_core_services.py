import json

from hypothesis import given
from hypothesis import strategies as st

from resil_tui.core.services import (
    DatabaseState,
    ServiceState,
    parse_xivo_service_status,
)

MASTER = (
    "Checking database...\n"
    "\tOK\n"
    "Checking services...\n"
    "\trunning\t\trabbitmq-server\n"
    "\trunning\t\tpostgresql\n"
    "\trunning\t\tnginx\n"
    "\trunning\t\tasterisk\n"
)

STANDBY = MASTER.replace("running\t\tasterisk", "stopped\t\tasterisk")


def test_all_running_master():
    st_ = parse_xivo_service_status(MASTER, exit_code=0)
    assert st_.database is DatabaseState.OK
    assert [s.name for s in st_.services] == ["rabbitmq-server", "postgresql", "nginx", "asterisk"]
    assert st_.all_running
    assert st_.telephony_running is True
    assert st_.failed == []
    assert st_.unparsed == []
    assert st_.exit_code == 0


def test_standby_slave():
    st_ = parse_xivo_service_status(STANDBY, exit_code=1)
    assert st_.telephony_running is False
    assert not st_.all_running
    assert st_.stopped == ["asterisk"]
    assert st_.get("asterisk") is not None
    assert st_.get("asterisk").state is ServiceState.STOPPED  # type: ignore[union-attr]


def test_exit_code_is_not_trusted():
    # Newer versions swap 1 and 2: the lines decide, the code is only kept.
    st_ = parse_xivo_service_status(MASTER, exit_code=2)
    assert st_.all_running and st_.telephony_running


def test_nok_database_with_revision():
    text = "Checking database...\n\tNOK (current revision is 2b7e5a3c1d)\nChecking services...\n"
    st_ = parse_xivo_service_status(text)
    assert st_.database is DatabaseState.NOK
    assert st_.database_revision == "2b7e5a3c1d"
    assert st_.services == []
    assert st_.telephony_running is None


def test_failed_unknown_and_odd_states_crlf():
    text = (
        "Checking database...\r\n\tOK\r\n"
        "Checking services...\r\n"
        "\tfailed\t\txivo-agid\r\n"
        "\tunknown\t\txivo-dird\r\n"
        "\tactivating\t\twazo-calld\r\n"
        "\trunning\t\tasterisk\r\n"
        "\trunning\t\tsome-extra-service\r\n"
    )
    st_ = parse_xivo_service_status(text)
    states = {s.name: s.state for s in st_.services}
    assert states == {
        "xivo-agid": ServiceState.FAILED,
        "xivo-dird": ServiceState.UNKNOWN,
        "wazo-calld": ServiceState.UNKNOWN,
        "asterisk": ServiceState.RUNNING,
        "some-extra-service": ServiceState.RUNNING,
    }
    assert st_.get("wazo-calld").raw_state == "activating"  # type: ignore[union-attr]
    assert st_.failed == ["xivo-agid"]
    assert st_.telephony_running is True
    assert st_.unparsed == []


def test_extra_lines_are_kept_unparsed():
    text = "Warning: something odd\n" + MASTER + "XiVO fully booted\n"
    st_ = parse_xivo_service_status(text)
    assert st_.unparsed == ["Warning: something odd", "XiVO fully booted"]
    assert len(st_.services) == 4


def test_without_headers_and_with_colours():
    text = "running   asterisk\n\x1b[32mstopped\x1b[0m\t\tnginx\n"
    st_ = parse_xivo_service_status(text)
    assert {s.name: s.state for s in st_.services} == {
        "asterisk": ServiceState.RUNNING,
        "nginx": ServiceState.STOPPED,
    }


def test_empty_output():
    st_ = parse_xivo_service_status("")
    assert st_.empty
    assert st_.telephony_running is None
    assert not st_.all_running
    assert st_.database is DatabaseState.UNKNOWN


def test_configurable_telephony_set():
    text = MASTER + "\tstopped\t\txivo-agid\n"
    tel = frozenset({"asterisk", "xivo-agid"})
    st_ = parse_xivo_service_status(text, telephony_services=tel)
    assert st_.telephony_running is True  # a half-started node still answers phones
    assert st_.telephony_degraded
    default = parse_xivo_service_status(text)
    assert not default.telephony_degraded
    none_listed = parse_xivo_service_status(MASTER, telephony_services=frozenset({"kamailio"}))
    assert none_listed.telephony_running is None


def test_to_dict_json():
    data = json.loads(json.dumps(parse_xivo_service_status(STANDBY).to_dict()))
    assert data["telephony_running"] is False
    assert data["database"] == "ok"
    assert data["services"][-1] == {"name": "asterisk", "state": "stopped", "raw_state": "stopped"}


@given(st.text(), st.one_of(st.none(), st.integers()))
def test_never_raises(text, code):
    st_ = parse_xivo_service_status(text, exit_code=code)
    _ = st_.telephony_running, st_.all_running, st_.failed, st_.telephony_degraded
    json.dumps(st_.to_dict())


@given(
    st.lists(st.sampled_from(["\trunning\t\t", "\tstopped\t\t", "\tfailed\t\t", "x", "\t", "\n"]))
)
def test_structured_noise_never_raises(parts):
    parse_xivo_service_status("Checking services...\n" + "".join(parts))
