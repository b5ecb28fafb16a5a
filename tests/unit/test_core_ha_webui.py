"""What the web UI's HA save does besides sysconfd: expected values, provd's JSON, checks."""

from __future__ import annotations

import json
from ipaddress import IPv4Address

import pytest

from resil_tui.core.ha import HaMode
from resil_tui.core.ha_webui import (
    SEED_HA_ON,
    CheckState,
    SipExpiryTriple,
    check_registrar,
    check_sip,
    check_web_ui_effects,
    parse_provd_default,
    parse_sip_expiry,
    read_provd_file,
)

PEER = IPv4Address("10.0.0.12")
HA_ON = parse_sip_expiry("minexpiry|60\nmaxexpiry|300\ndefaultexpiry|120\n")
HA_OFF = parse_sip_expiry("minexpiry|60\nmaxexpiry|3600\ndefaultexpiry|120\n")


def doc(registrar: str | None, proxy: str | None) -> str:
    return json.dumps(
        {
            "X_type": "registrar",
            "id": "default",
            "registrar_main": "10.0.0.11",
            "registrar_backup": registrar,
            "proxy_backup": proxy,
            "raw_config": {"X_key": "xivo"},
        },
        separators=(",", ":"),
    )


def test_sip_expiry_parse() -> None:
    sip = parse_sip_expiry("minexpiry|60\nmaxexpiry|3600\ndefaultexpiry|120\nnoise\n")
    assert sip.values == {"minexpiry": "60", "maxexpiry": "3600", "defaultexpiry": "120"}
    assert sip.unparsed == ["noise"]


def test_sip_expiry_states() -> None:
    assert check_sip(HaMode.MASTER, HA_ON, None).state is CheckState.OK
    differs = check_sip(HaMode.MASTER, HA_OFF, None)
    assert differs.state is CheckState.DIFFERS and "max 3600 (expected 300)" in differs.detail
    assert check_sip(HaMode.DISABLED, HA_OFF, None).state is CheckState.OK
    assert check_sip(HaMode.DISABLED, HA_ON, None).state is CheckState.DIFFERS
    # PJSIP: no rows at all is an answer, not an error
    none = check_sip(HaMode.MASTER, parse_sip_expiry(""), None)
    assert none.state is CheckState.NOT_APPLICABLE
    unreadable = check_sip(HaMode.MASTER, None, "psql: connection refused")
    assert unreadable.state is CheckState.UNREADABLE and "refused" in unreadable.detail
    # a partial table differs (a missing row is never read as ok)
    partial = check_sip(HaMode.SLAVE, parse_sip_expiry("minexpiry|60\n"), None)
    assert partial.state is CheckState.DIFFERS and "max missing" in partial.detail


def test_sip_expiry_blank_is_right_for_ha_off_only() -> None:
    # The seed: disabling HA resets these values to blank (Asterisk's defaults).
    blank = parse_sip_expiry("minexpiry|\nmaxexpiry|\ndefaultexpiry|\n")
    off = check_sip(HaMode.DISABLED, blank, None)
    assert off.state is CheckState.OK and "blank is the default" in off.detail
    mixed = check_sip(HaMode.DISABLED, parse_sip_expiry("minexpiry|60\nmaxexpiry|\n"), None)
    assert mixed.state is CheckState.DIFFERS and "default missing" in mixed.detail
    on = check_sip(HaMode.MASTER, blank, None)
    assert on.state is CheckState.DIFFERS and "min blank (expected 60)" in on.detail
    wrong = check_sip(HaMode.DISABLED, parse_sip_expiry("minexpiry|\nmaxexpiry|300\n"), None)
    assert wrong.state is CheckState.DIFFERS and "max 300 (expected 3600)" in wrong.detail


def test_sip_expiry_triple_is_configurable() -> None:
    xivo_2016 = SipExpiryTriple(180, 300, 240)
    sip = parse_sip_expiry("minexpiry|180\nmaxexpiry|300\ndefaultexpiry|240\n")
    assert check_sip(HaMode.MASTER, sip, None, xivo_2016).state is CheckState.OK
    assert check_sip(HaMode.MASTER, sip, None, SEED_HA_ON).state is CheckState.DIFFERS
    with pytest.raises(ValueError):
        SipExpiryTriple(300, 60, 120)


@pytest.mark.parametrize(
    "text",
    [
        doc("10.0.0.12", "10.0.0.12"),
        json.dumps({"config": json.loads(doc("10.0.0.12", "10.0.0.12"))}),  # REST answer
        json.dumps(
            {
                "id": "default",
                "raw_config": {
                    "sip_backup_registrar_ip": "10.0.0.12",
                    "sip_backup_proxy_ip": "10.0.0.12",
                },
            },
            indent=2,
        ),
        "\ufeff" + doc("10.0.0.12", "10.0.0.12") + "\n",
    ],
)
def test_provd_default_plausible_layouts(text: str) -> None:
    provd = parse_provd_default(text)
    assert provd.readable, provd.problems
    assert provd.registrar_backup == "10.0.0.12" and provd.proxy_backup == "10.0.0.12"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"id": "default"}', "unknown layout"),
        ('{"registrar_backup": 12}', "not a string"),
    ],
)
def test_provd_default_unreadable(text: str, why: str) -> None:
    provd = parse_provd_default(text)
    assert not provd.readable and why in "; ".join(provd.problems)
    assert check_registrar(HaMode.MASTER, PEER, provd, None).state is CheckState.UNREADABLE


def test_provd_values_are_sanitized() -> None:
    provd = parse_provd_default('{"registrar_backup": "10.0.0.12\\u001b[2J", "proxy_backup": ""}')
    assert provd.registrar_backup is not None and "\x1b" not in provd.registrar_backup


def test_registrar_expectations_by_mode() -> None:
    set_ = parse_provd_default(doc("10.0.0.12", "10.0.0.12"))
    blank = parse_provd_default(doc("", None))
    assert check_registrar(HaMode.MASTER, PEER, set_, None).state is CheckState.OK
    master_blank = check_registrar(HaMode.MASTER, PEER, blank, None)
    assert master_blank.state is CheckState.DIFFERS and "expected 10.0.0.12" in master_blank.detail
    assert check_registrar(HaMode.DISABLED, None, blank, None).state is CheckState.OK
    assert check_registrar(HaMode.DISABLED, None, set_, None).state is CheckState.DIFFERS
    # a slave's is left unchanged by the web UI: whatever it holds is what is expected
    for provd in (set_, blank):
        slave = check_registrar(HaMode.SLAVE, IPv4Address("10.0.0.11"), provd, None)
        assert slave.state is CheckState.OK and "left unchanged" in slave.detail
    assert check_registrar(HaMode.UNKNOWN, None, set_, None).state is CheckState.UNREADABLE


def test_read_provd_file() -> None:
    path = "/var/lib/xivo-provd/jsondb/configs/default"
    provd, error = read_provd_file(path, None, None)
    assert provd is None and error is not None and "not found" in error
    provd, error = read_provd_file(path, None, "Permission denied")
    assert provd is None and error == f"{path}: Permission denied"
    provd, error = read_provd_file(path, doc("", ""), None)
    assert provd is not None and error is None


def test_check_lines_and_instruction() -> None:
    check = check_web_ui_effects(
        "paris.xivo.master",
        HaMode.MASTER,
        PEER,
        sip=HA_OFF,
        sip_error=None,
        provd=parse_provd_default(doc("", "")),
        provd_error=None,
    )
    assert check.differs and not check.all_ok
    text = "\n".join(check.lines())
    assert "SIP expiry: differs" in text and "backup registrar: differs" in text
    assert "save it with the same mode and peer" in text and "resynchronise the phones" in text
    fixed = check_web_ui_effects(
        "paris.xivo.master",
        HaMode.MASTER,
        PEER,
        sip=HA_ON,
        sip_error=None,
        provd=parse_provd_default(doc("10.0.0.12", "10.0.0.12")),
        provd_error=None,
    )
    assert fixed.all_ok and "To do" not in "\n".join(fixed.lines())
    assert fixed.to_dict()["sip_expiry"]["state"] == "ok"


def test_the_record_section_says_when_each_node_was_read() -> None:
    from dataclasses import replace

    from resil_tui.core.ha_webui import record_section

    check = check_web_ui_effects(
        "paris.xivo.master",
        HaMode.MASTER,
        PEER,
        sip=HA_ON,
        sip_error=None,
        provd=parse_provd_default(doc("10.0.0.12", "10.0.0.12")),
        provd_error=None,
    )
    read = replace(check, read_at=1_764_064_800.0)  # 2025-11-25T10:00:00Z
    lines = record_section([read, replace(check, node_label="paris.xivo.slave")])
    assert "- paris.xivo.master (master, read 2025-11-25 10:00:00 UTC):" in lines
    assert "- paris.xivo.slave (master, when read not known):" in lines
