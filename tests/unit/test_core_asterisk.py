"""The Asterisk CLI parsers: pjsip show contacts, core show channels count, sip show peers.

Samples are laid out with the printf formats of the Asterisk source (see the module
docstring of resil_tui.core.asterisk for where each comes from), plus the variants a
lenient parser must survive: other widths, no RTT, Asterisk 12's rule line, merged streams.
"""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from resil_tui.core.asterisk import (
    ContactStatus,
    Outcome,
    PeerStatus,
    cli_failure,
    parse_channels_count,
    parse_pjsip_contacts,
    parse_sip_peers,
)

NOT_RUNNING = "Unable to connect to remote asterisk (does /var/run/asterisk/asterisk.ctl exist?)\n"

# Asterisk 20, `asterisk -rx "pjsip show contacts"` with four phones (one URI long enough to
# be cut at the column, as %-*.*s does).
CONTACTS = (
    "\n"
    "  Contact:  <Aor/ContactUri..............................> <Hash....> <Status> <RTT(ms)..>\n"
    "==========================================================================================\n"
    "\n"
    "  Contact:  1001/sip:1001@10.60.1.17:5060;transport=udp    094999c85b Avail        12.345\n"
    "  Contact:  1002/sip:1002@10.60.1.18:5062                  6281077a5c Unavail         nan\n"
    "  Contact:  1003/sips:1003@10.60.1.19:5061;transport=tls;l 9b39a5f23f NonQual         nan\n"
    "  Contact:  1004/sip:1004@10.60.1.20:5060                  fb02d4cbc1 Unknown         nan\n"
    "\n"
    "Objects found: 4\n"
    "\n"
)

PEERS_HEADER = (
    "Name/username             Host                                    Dyn Forcerport Comedia    "
    "ACL Port     Status      Description                      \n"
)
PEERS = (
    PEERS_HEADER
    + "1001/1001                 10.60.1.17                               D  Auto (No)  Auto (No)"
    "      5060     OK (12 ms)                                   \n"
    "1002/1002                 (Unspecified)                            D  Auto (No)  Auto (No)"
    "      0        UNREACHABLE                                  \n"
    "1003/1003                 (Unspecified)                            D  Auto (No)  Auto (No)"
    "      0        UNKNOWN                                      \n"
    "trunk-sbc                 10.0.9.1                                    No         Yes       "
    "  A  5060     LAGGED (1234 ms) SBC trunk                        \n"
    "fax                       10.60.1.99                                  No         No        "
    "     5060     Unmonitored                                  \n"
    "5 sip peers [Monitored: 2 online, 2 offline Unmonitored: 1 online, 0 offline]\n"
)


def contact_line(aor: str, uri: str, status: str, rtt: float, indent: int = 9) -> str:
    """cli_contact_print_body's printf, for generated samples."""
    flex = 62 - indent - 9 - len(aor) + 1
    digest = hashlib.md5(uri.encode()).hexdigest()
    # C's %-*.*s: a negative precision means none, a negative width is a '-' flag; Python
    # reads a negative precision as 0, so a long AOR gets C's behaviour by hand.
    shown = uri[:flex].ljust(flex) if flex >= 0 else uri.ljust(-flex)
    # The rest is the C format itself: widths are printf's, not a re-reading.
    return "%*s:  %s/%s %-10.10s %-7.7s %11.3f" % (  # noqa: UP031
        indent,
        "Contact",
        aor,
        shown,
        digest,
        status,
        rtt,
    )


# --- pjsip show contacts --------------------------------------------------------------------


def test_contacts_asterisk_20_layout() -> None:
    res = parse_pjsip_contacts(CONTACTS)
    assert res.outcome is Outcome.PARSED and res.value is not None
    c = res.value
    assert (c.total, c.reachable, c.objects_found, c.complete) == (4, 1, 4, True)
    assert dict(c.by_status) == {
        ContactStatus.AVAIL: 1,
        ContactStatus.UNAVAIL: 1,
        ContactStatus.NONQUAL: 1,
        ContactStatus.UNKNOWN: 1,
    }
    first, second, third, _ = c.entries
    assert (first.aor, first.uri, first.hash, first.rtt_ms) == (
        "1001",
        "sip:1001@10.60.1.17:5060;transport=udp",
        "094999c85b",
        12.345,
    )
    assert second.rtt_ms is None and second.status is ContactStatus.UNAVAIL
    assert third.uri == "sips:1003@10.60.1.19:5061;transport=tls;l"  # cut by Asterisk
    assert (c.aors, c.reachable_aors) == (4, 1)
    assert c.to_dict()["by_status"]["Avail"] == 1


def test_no_objects_found_is_zero_contacts() -> None:
    res = parse_pjsip_contacts("No objects found.\n\n")
    assert res.parsed and res.value is not None
    assert (res.value.total, res.value.reachable, res.value.objects_found) == (0, 0, 0)
    assert res.value.complete


def test_contacts_lenient_widths_spaces_and_missing_rtt() -> None:
    text = (
        " Contact:  <Aor/ContactUri....> <Hash....> <Status> <RTT(ms)..>\n"
        " " + "=" * 89 + "\n"
        "Contact: 2001/sip:2001@10.0.0.5:5060 abc123 Avail 3.1\n"
        "\t  Contact:   a-very-long-aor-name-for-a-line/sip:x@10.0.0.6   def456   avail\n"
        "    Contact:  2003/sip:2003@10.0.0.7 REACHABLE 1.000\n"  # long label, no hash
    )
    res = parse_pjsip_contacts(text)
    assert res.parsed and res.value is not None
    c = res.value
    assert (c.total, c.reachable, c.objects_found) == (3, 3, None)
    assert c.entries[1].aor == "a-very-long-aor-name-for-a-line" and c.entries[1].rtt_ms is None
    assert c.entries[2].hash is None and c.entries[2].rtt_ms == 1.0


def test_stale_second_contact_of_one_aor() -> None:
    text = "\n".join(
        [
            contact_line("1001", "sip:1001@10.60.1.17:5060", "Avail", 8.0),
            contact_line("1001", "sip:1001@10.60.1.17:5062", "Unavail", float("nan")),
            "",
            "Objects found: 2",
        ]
    )
    res = parse_pjsip_contacts(text)
    assert res.value is not None
    assert (res.value.total, res.value.aors, res.value.reachable_aors) == (2, 1, 1)


def test_contacts_count_mismatch_is_reported_not_hidden() -> None:
    text = CONTACTS.replace("Objects found: 4", "Objects found: 5") + "garbage line here\n"
    res = parse_pjsip_contacts(text)
    assert res.parsed and res.value is not None
    assert res.value.complete is False
    assert res.value.unparsed == ("garbage line here",)


def test_asterisk_not_running_is_its_own_outcome() -> None:
    for parse in (parse_pjsip_contacts, parse_channels_count, parse_sip_peers):
        res = parse("", NOT_RUNNING, 1)
        assert res.outcome is Outcome.ASTERISK_NOT_RUNNING, parse
        assert res.not_running and res.value is None
        assert "Unable to connect to remote asterisk" in res.reason
        merged = parse(NOT_RUNNING, "", 1)  # stderr merged into stdout
        assert merged.outcome is Outcome.ASTERISK_NOT_RUNNING


def test_no_such_command() -> None:
    line = (
        "No such command 'sip show peers' (type 'core show help sip show' for other "
        "possible commands)\n"
    )
    res = parse_sip_peers(line)
    assert res.outcome is Outcome.NO_SUCH_COMMAND
    assert res.reason.startswith("No such command 'sip show peers'")
    assert cli_failure(line) is not None
    # Another command's answer in the same text is not this command's.
    both = parse_pjsip_contacts(line + CONTACTS)
    assert both.parsed and both.value is not None and both.value.total == 4
    assert both.value.unparsed and not both.value.complete


def test_failures_that_are_not_standby() -> None:
    assert parse_pjsip_contacts("", "", 0).outcome is Outcome.UNPARSABLE
    missing = parse_pjsip_contacts("", "bash: asterisk: command not found\n", 127)
    assert missing.outcome is Outcome.UNPARSABLE and "not installed" in missing.reason
    dropped = parse_pjsip_contacts(CONTACTS, "", None)
    assert dropped.outcome is Outcome.UNPARSABLE and "exit status" in dropped.reason
    other = parse_channels_count("", "asterisk: some other trouble\n", 2)
    assert other.outcome is Outcome.UNPARSABLE and "exited 2" in other.reason
    noise = parse_pjsip_contacts("Welcome to the lab\nnothing here\n")
    assert noise.outcome is Outcome.UNPARSABLE
    assert cli_failure(CONTACTS) is None


def test_ansi_colours_are_ignored() -> None:
    coloured = CONTACTS.replace("Avail ", "\x1b[1;32mAvail\x1b[0m ")
    res = parse_pjsip_contacts(coloured)
    assert res.value is not None and res.value.reachable == 1


# --- core show channels count ---------------------------------------------------------------


def test_channels_count_plain() -> None:
    res = parse_channels_count("12 active channels\n6 active calls\n1234 calls processed\n")
    assert res.parsed and res.value is not None
    assert (res.value.active_channels, res.value.active_calls, res.value.processed) == (12, 6, 1234)
    assert res.value.max_calls is None


def test_channels_count_singular_and_zero() -> None:
    res = parse_channels_count("1 active channel\n1 active call\n1 call processed\n")
    assert res.value is not None
    assert (res.value.active_channels, res.value.active_calls, res.value.processed) == (1, 1, 1)
    zero = parse_channels_count("0 active channels\n0 active calls\n0 calls processed\n")
    assert zero.value is not None and zero.value.active_calls == 0


def test_channels_count_with_maxcalls() -> None:
    text = "5 active channels\n3 of 100 max active calls ( 3.00% of capacity)\n87 calls processed\n"
    res = parse_channels_count(text)
    assert res.value is not None
    assert (res.value.active_calls, res.value.max_calls, res.value.capacity_percent) == (
        3,
        100,
        3.0,
    )
    one = parse_channels_count("1 active channel\n1 of 1 max active call (100.00% of capacity)\n")
    assert one.value is not None and one.value.capacity_percent == 100.0


def test_channels_count_plural_written_as_the_documentation_does() -> None:
    # The documentation prints `N active channel(s)`: a wrapper or a version that writes
    # it literally must be counted, not "unparsable" (and the calls kept, not dropped).
    res = parse_channels_count("3 active channel(s)\n2 active call(s)\n10 call(s) processed\n")
    assert res.value is not None
    assert (res.value.active_channels, res.value.active_calls, res.value.processed) == (3, 2, 10)
    capped = parse_channels_count(
        "5 active channels\n3 of 100 max active call(s) (3% of capacity)\n"
    )
    assert capped.value is not None
    assert (capped.value.active_calls, capped.value.max_calls) == (3, 100)
    assert parse_channels_count("3 active channel(\n").outcome is Outcome.UNPARSABLE


def test_channels_count_unparsable() -> None:
    assert parse_channels_count("Channel  Location  State\n").outcome is Outcome.UNPARSABLE


# --- sip show peers -------------------------------------------------------------------------


def test_sip_peers_asterisk_16_layout() -> None:
    res = parse_sip_peers(PEERS)
    assert res.parsed and res.value is not None
    p = res.value
    assert (p.total, p.reachable, p.registered, p.complete) == (5, 2, 3, True)
    assert p.summary is not None and p.summary.monitored_offline == 2
    phone, gone, unknown, trunk, fax = p.entries
    assert (phone.name, phone.username, phone.host, phone.port, phone.dynamic) == (
        "1001",
        "1001",
        "10.60.1.17",
        5060,
        True,
    )
    assert (phone.status, phone.latency_ms) == (PeerStatus.OK, 12)
    assert (gone.host, gone.port, gone.status) == (None, 0, PeerStatus.UNREACHABLE)
    assert unknown.status is PeerStatus.UNKNOWN
    assert (trunk.status, trunk.latency_ms, trunk.dynamic, trunk.description) == (
        PeerStatus.LAGGED,
        1234,
        False,
        "SBC trunk",
    )
    assert fax.status is PeerStatus.UNMONITORED and fax.username is None


def test_sip_peers_asterisk_1_8_layout_and_empty() -> None:
    text = (
        "Name/username             Host            Dyn Forcerport ACL Port     Status     \n"
        "1001/1001                 10.60.1.17       D   N             5060     OK (7 ms)\n"
        "1 sip peers [Monitored: 1 online, 0 offline Unmonitored: 0 online, 0 offline]\n"
    )
    res = parse_sip_peers(text)
    assert res.value is not None and res.value.reachable == 1
    assert res.value.entries[0].port == 5060
    empty = parse_sip_peers(
        PEERS_HEADER
        + "0 sip peers [Monitored: 0 online, 0 offline Unmonitored: 0 online, 0 offline]\n"
    )
    assert empty.value is not None and empty.value.total == 0


# --- never raises ---------------------------------------------------------------------------

_FRAGMENTS = st.sampled_from(
    [
        "Contact:",
        "  Contact:  <Aor/ContactUri",
        "1001/sip:1001@10.0.0.1",
        "Avail",
        "Unavail",
        "nan",
        "12.345",
        "Objects found:",
        "No objects found.",
        "=" * 90,
        "active channels",
        "of",
        "max active calls (",
        "% of capacity)",
        "calls processed",
        "sip peers [Monitored:",
        "online,",
        "offline Unmonitored:",
        "OK (",
        "ms)",
        "UNREACHABLE",
        "Name/username",
        "(Unspecified)",
        "No such command '",
        "Unable to connect to remote asterisk",
        "9" * 40,
        "٣",
        "\x1b[0m",
        "\n",
        " ",
        "\t",
    ]
)
_TEXT = st.one_of(
    st.text(max_size=400),
    st.lists(st.one_of(_FRAGMENTS, st.text(max_size=8)), max_size=40).map("".join),
)


@settings(max_examples=200, deadline=None)
@given(
    stdout=_TEXT,
    stderr=_TEXT,
    code=st.one_of(st.none(), st.integers(min_value=-1000, max_value=1000)),
)
def test_parsers_never_raise(stdout: str, stderr: str, code: int | None) -> None:
    for parse in (parse_pjsip_contacts, parse_channels_count, parse_sip_peers):
        res = parse(stdout, stderr, code)
        assert (res.value is not None) == (res.outcome is Outcome.PARSED)


_AOR = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=50)
_URI = st.builds(
    lambda user, ip, port, tail: f"sip:{user}@{ip}:{port}{tail}",
    st.text(alphabet="0123456789abc", min_size=1, max_size=12),
    st.ip_addresses(v=4).map(str),
    st.integers(min_value=1, max_value=65535),
    st.sampled_from(["", ";transport=udp", ";transport=tls;line=abcdefgh12345678", ";ob"]),
)


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            _AOR,
            _URI,
            st.sampled_from(["Avail", "Unavail", "NonQual", "Unknown", "Removed"]),
            st.one_of(st.just(float("nan")), st.floats(min_value=0, max_value=99999)),
        ),
        max_size=12,
    )
)
def test_generated_contact_tables_round_trip(rows: list[tuple[str, str, str, float]]) -> None:
    lines = [contact_line(a, u, s, r) for a, u, s, r in rows]
    text = CONTACTS.split("\n\n", 2)[0] + "\n\n" + "\n".join(lines)
    text += f"\n\nObjects found: {len(rows)}\n" if rows else "No objects found.\n"
    res = parse_pjsip_contacts(text)
    assert res.parsed and res.value is not None
    assert res.value.total == len(rows) and res.value.complete
    assert [c.aor for c in res.value.entries] == [a for a, _, _, _ in rows]
    assert res.value.reachable == sum(1 for _, _, s, _ in rows if s == "Avail")
    for contact, (_, uri, _, _) in zip(res.value.entries, rows, strict=True):
        assert uri.startswith(contact.uri)  # equal, or cut at Asterisk's column


def test_contact_lines_read_before_are_not_read_again_and_a_changed_one_is() -> None:
    from resil_tui.core import asterisk

    asterisk._contact_line.cache_clear()
    first = parse_pjsip_contacts(CONTACTS)
    misses = asterisk._contact_line.cache_info().misses
    again = parse_pjsip_contacts(CONTACTS)
    assert again == first and asterisk._contact_line.cache_info().misses == misses
    moved = parse_pjsip_contacts(CONTACTS.replace("Avail        12.345", "Avail        13.001"))
    assert moved.value is not None and moved.value.entries[0].rtt_ms == 13.001
    assert asterisk._contact_line.cache_info().misses == misses + 1  # that line only
    # Kept or not, a reading says the same.
    asterisk._contact_line.cache_clear()
    assert parse_pjsip_contacts(CONTACTS) == first
