import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from resil_tui.core.compose import ContainerState, classify_status, parse_compose_ps


def _table(header: list[str], rows: list[list[str]]) -> str:
    """Lay out a table the way docker compose's tab writer does (3 blanks of padding)."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for r in [header, *rows]:
        cells = [c.ljust(w + 3) for c, w in zip(r, widths, strict=True)]
        lines.append("".join(cells).rstrip())
    return "\n".join(lines) + "\n"


MODERN = _table(
    ["NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS"],
    [
        [
            "xivocc-nginx-1",
            "xivoxc/xivoxc_nginx:2023.05.latest",
            '"/docker-entrypoint.…"',
            "nginx",
            "2 days ago",
            "Up 2 days",
            "0.0.0.0:80->80/tcp, 0.0.0.0:443->443/tcp",
        ],
        [
            "xivocc-xuc-1",
            "xivoxc/xuc:2023.05.latest",
            '"bin/xuc_docker"',
            "xuc",
            "2 days ago",
            "Up 3 minutes (healthy)",
            "0.0.0.0:8090->8090/tcp",
        ],
        [
            "xivocc-pgxivocc-1",
            "postgres:11",
            '"docker-entrypoint.s…"',
            "pgxivocc",
            "2 days ago",
            "Exited (1) 2 hours ago",
            "",
        ],
        [
            "xivocc-recording-1",
            "xivoxc/recording:latest",
            '"/run.sh"',
            "recording",
            "2 days ago",
            "Restarting (1) 5 seconds ago",
            "",
        ],
        [
            "xivocc-kibana-1",
            "kibana:7",
            '"/kibana"',
            "kibana",
            "2 days ago",
            "Up 2 hours (Paused)",
            "",
        ],
        ["xivocc-spare-1", "busybox", '"sh"', "spare", "1 minute ago", "Created", ""],
    ],
)

LEGACY = """\
       Name                     Command               State                    Ports
------------------------------------------------------------------------------------------------
xivocc_nginx_1      /docker-entrypoint.sh ngin ...   Up             0.0.0.0:443->443/tcp
xivocc_xuc_1        bin/xuc_docker                   Up             0.0.0.0:8090->8090/tcp
xivocc_db_1         docker-entrypoint.sh postgres    Exit 1
xivocc_spagobi_1    /bin/sh -c /entrypoint.sh        Restarting
xivocc_elastic_1    /docker-entrypoint.sh elas ...   Up (healthy)   9200/tcp
"""

OLD_V2 = """\
NAME              COMMAND                  SERVICE    STATUS              PORTS
edge-nginx-1      "/docker-entrypoint.…"   nginx      running (healthy)   0.0.0.0:443->443/tcp
edge-kamailio-1   "kamailio -DD -E"        kamailio   exited (137)
edge-coturn-1     "turnserver"             coturn     running
"""


def test_modern_layout():
    ps = parse_compose_ps(MODERN)
    assert ps.layout == "modern"
    assert ps.unparsed == []
    by = {c.service: c for c in ps.containers}
    assert set(by) == {"nginx", "xuc", "pgxivocc", "recording", "kibana", "spare"}
    xuc = by["xuc"]
    assert xuc.name == "xivocc-xuc-1"
    assert xuc.state is ContainerState.UP
    assert xuc.health == "healthy"
    assert xuc.since == "Up 3 minutes"
    assert xuc.image == "xivoxc/xuc:2023.05.latest"
    assert xuc.ports == "0.0.0.0:8090->8090/tcp"
    assert by["nginx"].ports == "0.0.0.0:80->80/tcp, 0.0.0.0:443->443/tcp"
    assert by["pgxivocc"].state is ContainerState.EXITED
    assert by["pgxivocc"].exit_code == 1
    assert by["pgxivocc"].ports is None
    assert by["recording"].state is ContainerState.RESTARTING
    assert by["kibana"].state is ContainerState.PAUSED
    assert by["spare"].state is ContainerState.CREATED
    assert by["spare"].since is None
    assert ps.service_state("xuc") is ContainerState.UP
    assert ps.service_state("nope") is None


def test_modern_layout_crlf_and_warnings_kept():
    text = 'WARN[0000] The "TZ" variable is not set. Defaulting to a blank string.\r\n'
    text += MODERN.replace("\n", "\r\n")
    ps = parse_compose_ps(text)
    assert len(ps.containers) == 6
    assert ps.unparsed == [text.splitlines()[0]]


def test_legacy_layout():
    ps = parse_compose_ps(LEGACY)
    assert ps.layout == "legacy"
    assert ps.unparsed == []
    by = {c.service: c for c in ps.containers}
    assert set(by) == {"nginx", "xuc", "db", "spagobi", "elastic"}
    assert by["xuc"].state is ContainerState.UP and by["xuc"].name == "xivocc_xuc_1"
    assert by["xuc"].ports == "0.0.0.0:8090->8090/tcp"
    assert by["db"].state is ContainerState.EXITED and by["db"].exit_code == 1
    assert by["spagobi"].state is ContainerState.RESTARTING
    assert by["elastic"].health == "healthy"
    assert ps.service("xuc") is by["xuc"]


def test_early_compose_v2_layout():
    ps = parse_compose_ps(OLD_V2)
    by = {c.service: c for c in ps.containers}
    assert by["nginx"].state is ContainerState.UP and by["nginx"].health == "healthy"
    assert by["kamailio"].state is ContainerState.EXITED and by["kamailio"].exit_code == 137
    assert by["coturn"].state is ContainerState.UP


def test_misaligned_rows_fall_back_to_wide_gaps():
    text = "NAME  SERVICE  STATUS\nxivocc-xuc-1    xuc    Up 5 minutes\nlonely\n"
    ps = parse_compose_ps(text)
    assert [(c.service, c.state) for c in ps.containers] == [("xuc", ContainerState.UP)]
    assert ps.unparsed == ["lonely"]


def test_json_formats():
    array = json.dumps(
        [
            {
                "Name": "xivocc-xuc-1",
                "Service": "xuc",
                "State": "running",
                "Status": "Up 2 minutes",
                "Health": "unhealthy",
                "Image": "xuc:1",
            }
        ]
    )
    ps = parse_compose_ps(array)
    assert ps.layout == "json"
    c = ps.containers[0]
    assert (c.service, c.state, c.health, c.since) == (
        "xuc",
        ContainerState.UP,
        "unhealthy",
        "Up 2 minutes",
    )
    lines = "\n".join(
        json.dumps({"Name": n, "Service": s, "State": st_, "Status": ""})
        for n, s, st_ in [("a-xuc-1", "xuc", "exited"), ("a-db-1", "db", "running")]
    )
    ps = parse_compose_ps(lines)
    assert [c.state for c in ps.containers] == [ContainerState.EXITED, ContainerState.UP]


@pytest.mark.parametrize(
    "status, state, health",
    [
        ("Up 3 minutes", ContainerState.UP, None),
        ("Up About an hour (health: starting)", ContainerState.UP, "starting"),
        ("Up 1 second (unhealthy)", ContainerState.UP, "unhealthy"),
        ("Exited (0) 5 seconds ago", ContainerState.EXITED, None),
        ("Dead", ContainerState.EXITED, None),
        ("Removing", ContainerState.UNKNOWN, None),
        ("", ContainerState.UNKNOWN, None),
    ],
)
def test_classify_status(status, state, health):
    got_state, got_health, _code, _since = classify_status(status)
    assert (got_state, got_health) == (state, health)


@pytest.mark.parametrize("text", ["", "\n\n", "no configuration file provided: not found\n"])
def test_empty_or_error_output(text):
    ps = parse_compose_ps(text)
    assert ps.containers == []
    assert ps.service_state("xuc") is None
    assert ps.unparsed == [line for line in text.splitlines() if line.strip()]


def test_header_only():
    ps = parse_compose_ps("NAME   IMAGE   COMMAND   SERVICE   CREATED   STATUS   PORTS\n")
    assert ps.containers == [] and ps.layout == "modern"


@given(st.text())
def test_never_raises(text):
    ps = parse_compose_ps(text)
    ps.service_state("xuc")
    json.dumps(ps.to_dict())


@given(
    st.lists(st.sampled_from(["NAME", "STATUS", "  ", "Up 1 minute", "xuc", "\n", "-", "[", "{"]))
)
def test_structured_noise_never_raises(parts):
    parse_compose_ps("".join(parts))
