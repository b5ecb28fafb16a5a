"""Bad inputs (issue 9): hypothesis over the inventory, the Edge `.env`, `ha.conf`,
`xivo-service` and `compose ps` outputs, and form inputs; hostile values (shell
metacharacters, newlines, very long values, invalid UTF-8) never reach a shell unquoted
and never crash anything.

"Never unquoted" is checked as a round trip: whatever a catalog builder accepts, the line
sent to sshd splits back (POSIX shell rules, `shlex.split`) into exactly the argv that was
built, so no value can start another command, redirect or expand. The lab server does
the same split on what it receives: one test sends hostile argv over real SSH and compares.
Each property counts its examples into conftest.FUZZ_COUNTS (printed at the end of the run).
"""

from __future__ import annotations

import contextlib
import shlex
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from labkit import FUZZ_COUNTS, console, lab_inventory

from resil_tui.core.compose import parse_compose_ps
from resil_tui.core.edge_env import Direction, EdgeAddresses, plan_edge_switch
from resil_tui.core.edge_side import EDGE_VARIABLES, edge_targets
from resil_tui.core.ha import parse_cron_file, parse_ha_conf, parse_sysconfd_ha_config
from resil_tui.core.ha_form import IssueLevel, validate_ha_form
from resil_tui.core.services import parse_xivo_service_status
from resil_tui.core.sync_log import last_sync_result
from resil_tui.inventory import InventoryError, load_inventory, parse_inventory
from resil_tui.lab.server import Lab
from resil_tui.ops.edge import decode_env, encode_env
from resil_tui.ops.session import make_pool
from resil_tui.remote import commands as cat
from resil_tui.remote.commands import Command, CommandError

FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

META = ";|&$`'\"\\\n\r\t (){}[]<>*?~!#%^=,:@-_./+0123456789abcxyzXYZ\x00\x1b\u00e9\u202e\ufffd"
# Values an attacker (or a typo) could put in a field: shell metacharacters, newlines,
# control bytes, right-to-left marks, lone surrogates (invalid UTF-8 once decoded), and
# very long runs.
hostile = st.one_of(
    st.text(alphabet=META, max_size=40),
    st.text(max_size=40),
    st.text(
        alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
        | st.sampled_from("abc;$`\n"),
        max_size=10,
    ),
    st.builds(
        lambda c, n: c * n,
        st.sampled_from(["a", ";", "$(x)", "'", "\n", "é"]),
        st.integers(1000, 20000),
    ),
)
ips = st.builds(lambda n: str(IPv4Address(n)), st.integers(0, 2**32 - 1))


def counted(name: str) -> None:
    FUZZ_COUNTS[name] += 1


def splits_back(command: Command) -> None:
    assert shlex.split(command.line) == list(command.argv), command.argv


# --- never unquoted ------------------------------------------------------------------------


@FUZZ
@given(value=hostile, number=st.integers(-5, 2_000_000), ip=st.one_of(ips, hostile))
def test_catalog_quotes_or_refuses_every_value(value: str, number: int, ip: str) -> None:
    counted("catalog: hostile values quoted or refused")
    builders: list[Any] = [
        lambda: cat.cat(value),
        lambda: cat.tail(value, number),
        lambda: cat.tail(value, number, follow=True),
        lambda: cat.tail_files([value, "/etc/xivo/ha.conf"], number),
        lambda: cat.test_exists(value),
        lambda: cat.xivocc_restart(value),
        lambda: cat.compose_logs("xivocc-dcomp", value, follow=True, tail=number),
        lambda: cat.compose_logs("edge-dcomp", None, since=value),
        lambda: cat.compose_logs(value, None),
        lambda: cat.db_replication(ip),
        lambda: cat.check_master_status(ip),
        lambda: cat.sysconfd_update_ha_config("master", ip),
        lambda: cat.sysconfd_update_ha_config(value, "10.0.0.1"),
        lambda: cat.xivo_service(value),
        lambda: cat.manage_slave_services(value),
        lambda: cat.custom_log(["tail", "-F", value]),
    ]
    for build in builders:
        try:
            command = build()
        except CommandError:
            continue
        splits_back(command)
        if command.name == "sysconfd_update_ha_config":
            assert str(IPv4Address(ip.strip())) in command.line


async def test_hostile_argv_reaches_the_node_as_sent(lab: Lab, tmp_path: Path) -> None:
    """Over real SSH: the lab splits the received line like a shell would."""
    inv, _ = lab_inventory(lab, tmp_path)
    node = inv.node("demo.mds.mds1")
    values = [
        "; touch /tmp/pwned",
        "$(reboot)",
        "`id`",
        "a\nb",
        "'\"'\"'",
        "x" * 20000,
        "\u202eevil",
        "&& rm -rf /",
        "|| true",
        "> /etc/passwd",
        "-n",
        "*",
        "~root",
        "\t\r",
        "#comment",
        "a\\",
        "\x1b[31mred",
    ]
    pool = make_pool(inv, audit_path=tmp_path / "audit.jsonl")
    try:
        for value in values:
            command = Command("fuzz_echo", ("echo", value), mutates=False)
            await pool.run(node, command)
            counted("lab: hostile argv over SSH arrives intact")
    finally:
        await pool.close()
    received = [c["argv"] for c in lab.commands(node.id) if c.get("kind") == "exec"]
    assert received[-len(values) :] == [["echo", v] for v in values]
    # Text that is not valid UTF-8 (a lone surrogate) is refused before anything is sent.
    with pytest.raises(CommandError):
        Command("fuzz_echo", ("echo", "é\udcff"), mutates=False)


# --- parsers of what nodes print ----------------------------------------------------------

lines_of = st.lists(
    st.one_of(
        hostile,
        st.sampled_from(
            [
                "Checking services...",
                "\trunning\tasterisk",
                "\tstopped\tconsul",
                "failed nginx",
                "Database: running",
                "xivo-agentd\trunning",
                "NAME  IMAGE  COMMAND  SERVICE  STATUS",
                'xivocc-xuc-1  xivoxc/xuc  "/run"  xuc  Up 3 minutes (healthy)',
                "xuc_1 /run Exit 137",
                '[{"Service": "xuc", "State": "running"}]',
                "node_type: master",
                "remote_address: 10.0.0.1",
                '{"node_type":"slave"}',
                "* * * * * root /usr/sbin/xivo-check-master-status 10.0.0.1",
                "==> /etc/xivo/ha.conf <==",
                "tail: cannot open '/x' for reading: No such file",
            ]
        ),
    ),
    max_size=30,
).map("\n".join)


@FUZZ
@given(text=lines_of, code=st.one_of(st.none(), st.integers(-1, 255)))
def test_node_output_parsers_never_crash(text: str, code: int | None) -> None:
    counted("parsers: xivo-service / compose ps / ha.conf / cron / sync log")
    parse_xivo_service_status(text, code)
    parse_compose_ps(text)
    parse_ha_conf(text)
    parse_sysconfd_ha_config(text)
    parse_cron_file(text)
    last_sync_result(text)


# --- the Edge .env ------------------------------------------------------------------------

ADDR = EdgeAddresses(
    IPv4Address("10.0.0.11"),
    IPv4Address("10.0.0.12"),
    IPv4Address("10.0.0.21"),
    IPv4Address("10.0.0.22"),
)
env_line = st.one_of(
    hostile,
    st.builds(
        lambda k, v, q: f"{k}={q}{v}{q}",
        st.sampled_from(EDGE_VARIABLES),
        st.one_of(
            st.sampled_from(
                ["10.0.0.11", "10.0.0.12", "10.0.0.21", "10.0.0.22", "${XIVO_HOST}", "10.0.0.111"]
            ),
            hostile,
        ),
        st.sampled_from(["", "'", '"']),
    ),
    st.builds(
        lambda k, v: f"export {k} = {v} # c",
        st.sampled_from(EDGE_VARIABLES),
        st.sampled_from(["10.0.0.11", "10.0.0.12"]),
    ),
)
env_bytes = st.one_of(
    st.lists(env_line, max_size=20).map(lambda ls: "\n".join(ls).encode("utf-8", "surrogatepass")),
    st.binary(max_size=300),
)


@FUZZ
@given(data=env_bytes, to_slave=st.booleans())
def test_edge_env_plan_never_crashes_and_only_touches_managed_lines(
    data: bytes, to_slave: bool
) -> None:
    counted("edge .env: plan never crashes, bytes round-trip, only managed lines change")
    text = decode_env(data)
    assert encode_env(text) == data  # invalid UTF-8 survives: the hash stays the file's
    direction = Direction.TO_SLAVE if to_slave else Direction.TO_MASTER
    edge_targets(text, ADDR.as_pair)
    plan = plan_edge_switch(text, ADDR, direction)
    if plan.errors:
        assert plan.new_text == plan.old_text
    old_lines, new_lines = plan.old_text.splitlines(), plan.new_text.splitlines()
    assert len(old_lines) == len(new_lines)
    for before, after in zip(old_lines, new_lines, strict=True):
        if before != after:
            assert any(v in before for v in EDGE_VARIABLES), (before, after)
    encode_env(plan.new_text)


# --- the inventory ------------------------------------------------------------------------

node_table = st.fixed_dictionaries(
    {"ssh": hostile},
    optional={
        "voip_ip": st.one_of(ips, hostile),
        "ip": st.one_of(ips, hostile),
        "user": hostile,
        "port": st.integers(-1, 70000),
        "jump": hostile,
        "identity_file": hostile,
        "fqdn": hostile,
        "env_path": hostile,
        "logs": st.lists(
            st.fixed_dictionaries({"name": hostile, "command": st.lists(hostile, max_size=3)}),
            max_size=2,
        ),
        "paths": st.dictionaries(
            st.sampled_from(["ha_conf", "edge_env", "sync_log"]), hostile, max_size=2
        ),
    },
)


@st.composite
def inventory_docs(draw: Any) -> str:
    site: dict[str, Any] = {"xivo": {"master": draw(node_table), "slave": draw(node_table)}}
    if draw(st.booleans()):
        site["cc"] = {"master": draw(node_table), "slave": draw(node_table)}
    if draw(st.booleans()):
        site["edge"] = draw(node_table)
    doc = {
        "read_only": draw(st.booleans()),
        "ssh": {"connect_timeout": draw(st.floats(-1, 1e6, allow_nan=False))},
        "site": {draw(hostile) or "s": site},
    }
    try:
        return tomli_w.dumps(doc)
    except (ValueError, TypeError):
        return draw(st.text(max_size=200))


@FUZZ
@given(text=st.one_of(inventory_docs(), st.text(max_size=300)))
def test_inventory_is_valid_or_every_error_is_located(text: str) -> None:
    counted("inventory: valid, or InventoryError with located messages")
    try:
        inv = parse_inventory(text, file="fuzz.toml")
    except InventoryError as exc:
        assert str(exc)
        return
    for node in inv.nodes():
        # Whatever an inventory holds, the commands built from it are quoted or refused.
        with contextlib.suppress(CommandError):
            splits_back(cat.cat(node.paths.ha_conf))
        with contextlib.suppress(CommandError):
            splits_back(cat.tail(node.paths.sync_log, 10, follow=True))
        for spec in node.logs:
            with contextlib.suppress(CommandError):
                splits_back(cat.custom_log(spec.argv))


@FUZZ
@given(raw=st.binary(max_size=300))
def test_inventory_file_with_invalid_utf8(
    tmp_path_factory: pytest.TempPathFactory, raw: bytes
) -> None:
    counted("inventory file: arbitrary bytes (invalid UTF-8)")
    path = tmp_path_factory.mktemp("inv") / "hosts.toml"
    path.write_bytes(raw)
    try:
        load_inventory(path)
    except InventoryError as exc:
        assert "hosts.toml" in str(exc)


# --- form inputs --------------------------------------------------------------------------


@FUZZ
@given(
    mode=st.one_of(st.sampled_from(["master", "Slave", "disabled", " MASTER "]), hostile),
    peer=st.one_of(ips, hostile, st.none()),
)
def test_ha_form_validation(mode: str, peer: str | None) -> None:
    counted("HA form: mode and peer text")
    result = validate_ha_form(
        mode, peer, own_ip=IPv4Address("10.0.0.11"), expected_peer=IPv4Address("10.0.0.12")
    )
    errors = [i for i in result.issues if i.level is IssueLevel.ERROR]
    if errors:
        return
    assert result.mode is not None
    command = cat.sysconfd_update_ha_config(result.mode.value, result.peer)
    splits_back(command)
    if result.peer is not None:
        assert isinstance(result.peer, IPv4Address)


async def test_hostile_values_typed_into_the_ha_form(lab: Lab, tmp_path: Path) -> None:
    """The app, not only the validator: hostile peer values typed into the HA form and
    applied are refused with a message; the app keeps running and nothing is sent."""
    from textual.widgets import Input
    from textual.worker import WorkerState

    from resil_tui.ui.app import ResilApp
    from resil_tui.ui.screens.confirm import ConfirmScreen

    inv, _ = lab_inventory(lab, tmp_path)
    pool = make_pool(inv, audit_path=tmp_path / "audit.jsonl")
    app: ResilApp = console(inv, pool=pool, lab=lab, status_refresh_interval=600)
    values = [
        "10.0.0.1; reboot",
        "$(id)",
        "10.0.0.1\nxivo-service stop",
        "`x`",
        "1" * 5000,
        "10.0.0.300",
        "\u202e21.0.0.01",
        "' OR 1=1 --",
    ]
    async with app.run_test(size=(140, 45)) as pilot:
        await pilot.press("2")
        await pilot.pause(1.0)
        peer = app.query_one("#ha-peer", Input)
        for value in values:
            peer.value = value
            await pilot.pause(0.1)
            await pilot.press("a")
            await pilot.pause(0.1)
            if isinstance(app.screen, ConfirmScreen):  # never for an invalid peer
                await pilot.press("n")
            counted("HA form in the app: hostile peer typed and applied")
        assert app.is_running
        assert [w for w in app.workers if w.state is WorkerState.ERROR] == []
    await pool.close()
    for nid in lab.node_ids():
        changes = [
            c
            for c in lab.commands(nid)
            if c.get("kind") == "sftp"
            or (
                c.get("kind") == "exec"
                and any(a[:1] == ["curl"] and "POST" in a for a in c["commands"])
            )
        ]
        assert changes == [], (nid, changes)
