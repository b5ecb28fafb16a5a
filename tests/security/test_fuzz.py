"""Fuzzing (issue 14): node outputs, the Edge `.env`, the inventory and the reports under
hypothesis, with hostile text (escapes, C1, bidi, CR, invalid UTF-8 kept as surrogates).
Nothing crashes, and what the product would show holds no forbidden character.

`make fuzz` runs these (and the tier's other properties) with the `fuzz` profile;
`make test` with `quick`. The counts are printed at the end of the run.
"""

from __future__ import annotations

import json
from ipaddress import IPv4Address

from hostile import FUZZ, PAYLOADS, counted, hostile_text, leaks
from hypothesis import given
from hypothesis import strategies as st

from resil_tui.core.compose import parse_compose_ps
from resil_tui.core.edge_env import EDGE_VARIABLES, Direction, EdgeAddresses, plan_edge_switch
from resil_tui.core.ha import parse_cron_file, parse_ha_conf, parse_sysconfd_ha_config
from resil_tui.core.ha_form import (
    judge_sync_run,
    new_log_lines,
    parse_check_master,
)
from resil_tui.core.ha_webui import parse_provd_default, parse_sip_expiry
from resil_tui.core.log_lines import classify, parse_line_time, split_line
from resil_tui.core.logbuf import LineBatcher, LogBuffer
from resil_tui.core.multifile import split_multi_tail
from resil_tui.core.replication import parse_replication_output
from resil_tui.core.runbook_markdown import code
from resil_tui.core.sanitize import clean
from resil_tui.core.services import parse_xivo_service_status
from resil_tui.core.sync_log import last_sync_result
from resil_tui.core.wizard_report import render_report
from resil_tui.core.wizard_run import StepRecord, StepState, WizardRun
from resil_tui.inventory import InventoryError, parse_inventory
from resil_tui.ops.edge import decode_env, encode_env

IPS = EdgeAddresses(
    IPv4Address("10.0.0.1"),
    IPv4Address("10.0.0.2"),
    IPv4Address("10.0.0.21"),
    IPv4Address("10.0.0.22"),
)

# Node output: real-looking lines with hostile text mixed in, or anything at all.
REAL_LINES = [
    "Checking services...",
    "\trunning\t\tasterisk",
    "\tstopped\t\txivo-agid",
    "NAME  IMAGE  SERVICE  STATUS",
    "xuc-1  img  xuc  Up 5 minutes (healthy)",
    '{"node_type": "master", "remote_address": "10.0.0.2"}',
    "0 * * * * root xivo-sync",
    "2026-11-25 10:00:00,000 [42] (INFO): Synchronization successful",
    "Slave replication completed succesfully",
    "==> /etc/xivo/ha.conf <==",
    "xuc-1  | 2026-11-25T10:00:00.000000000Z Listening for HTTP on /0.0.0.0:9000",
    "minexpiry|60",
    "3 packets transmitted, 0 received",
]
node_text = st.one_of(
    hostile_text,
    st.lists(
        st.one_of(
            st.sampled_from(REAL_LINES), hostile_text, st.sampled_from(list(PAYLOADS.values()))
        ),
        max_size=12,
    ).map("\n".join),
)
bytes_text = st.binary(max_size=200).map(lambda b: b.decode("utf-8", "surrogateescape"))


@FUZZ
@given(node_text, st.one_of(st.none(), st.integers(-1, 255)))
def test_node_output_parsers_never_crash_and_show_nothing_raw(text: str, code_: int | None) -> None:
    counted("fuzz: node output parsers")
    shown = clean(text)
    results = [
        parse_xivo_service_status(shown, code_),
        parse_compose_ps(shown),
        parse_ha_conf(shown),
        parse_sysconfd_ha_config(shown),
        parse_cron_file(shown),
        last_sync_result(shown),
        parse_replication_output(shown, code_),
        split_multi_tail(shown, clean(text[::-1]), ["/etc/xivo/ha.conf", "/var/log/x"]),
        parse_sip_expiry(shown),
        parse_provd_default(shown),
        parse_check_master(shown, None, None),
        judge_sync_run(code_, new_log_lines("", shown)),
    ]
    for result in results:
        to_dict = getattr(result, "to_dict", None)
        if to_dict is not None:
            assert leaks(json.loads(json.dumps(to_dict(), default=str))) == 0


@FUZZ
@given(st.one_of(node_text, bytes_text))
def test_log_line_core_never_crashes(text: str) -> None:
    counted("fuzz: log lines, batcher, buffer")
    batcher = LineBatcher(max_line_chars=64)
    data = text.encode("utf-8", "surrogateescape")
    for i in range(0, len(data), 7):
        batcher.feed(data[i : i + 7])
    lines = batcher.flush()
    buffer = LogBuffer(max_lines=5, max_chars=100)
    buffer.extend(lines)
    for line in lines:
        split_line(line)
        parse_line_time(line)
        classify(line)
        buffer.append(line)
    assert len(buffer) <= 5 and (buffer.chars <= 100 or len(buffer) == 1)
    assert leaks(buffer.lines()) == 0


env_line = st.one_of(
    st.sampled_from(
        [
            "XIVO_HOST=10.0.0.1",
            "XIVOCC_HOST=10.0.0.21",
            'TURN_ALLOWED_PEERS="--allowed-peer-ip=10.0.0.1 --allowed-peer-ip=10.0.0.31"',
            "XIVO_MDS_HOST_DEFAULT=10.0.0.1",
            "# comment 10.0.0.1",
            "EDGE_FQDN=edge.example.com",
            "",
        ]
    ),
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from([*EDGE_VARIABLES, "OTHER"]), hostile_text),
    hostile_text,
    bytes_text,
)


@FUZZ
@given(st.lists(env_line, max_size=10), st.sampled_from(["\n", "\r\n"]))
def test_edge_env_plan_shows_nothing_raw_and_keeps_every_byte(lines: list[str], eol: str) -> None:
    counted("fuzz: Edge .env plan and diff")
    data = encode_env(eol.join(lines) + eol)
    text = decode_env(data)
    plan = plan_edge_switch(text, IPS, Direction.TO_SLAVE)
    assert leaks(plan.unified_diff()) == 0
    assert encode_env(plan.old_text) == data  # the bytes read are the bytes compared
    if plan.applicable:
        back = plan_edge_switch(plan.new_text, IPS, Direction.TO_MASTER)
        assert back.new_text == plan.old_text or back.errors or back.warnings


toml_value = st.one_of(
    hostile_text.map(json.dumps),
    st.sampled_from(
        ['"10.0.0.1"', '"/var/log/x"', "22", "1e999", "nan", "inf", "-1", "true", "[]"]
    ),
)
toml_key = st.sampled_from(
    [
        "ssh",
        "voip_ip",
        "port",
        "user",
        "jump",
        "command_timeout",
        "paths.sync_log",
        "env_path",
        "logs",
        "fqdn",
        "changes.keep_backups",
    ]
)


@FUZZ
@given(st.lists(st.tuples(toml_key, toml_value), max_size=6), st.sampled_from(["master", "slave"]))
def test_inventory_loads_or_every_error_is_located(pairs: list[tuple[str, str]], side: str) -> None:
    counted("fuzz: inventory documents")
    body = "".join(f"{k} = {v}\n" for k, v in pairs if k != "logs")
    other = "slave" if side == "master" else "master"
    doc = (
        f'[site.s.xivo.{side}]\nssh = "h1"\nvoip_ip = "10.0.0.1"\n{body}'
        f'[site.s.xivo.{other}]\nssh = "h2"\nvoip_ip = "10.0.0.2"\n'
    )
    try:
        inventory = parse_inventory(doc, file="hosts.toml")
    except InventoryError as exc:
        assert exc.errors
        for err in exc.errors:
            assert err.file == "hosts.toml" and err.line is not None and err.line >= 1
        return
    for node in inventory.nodes():
        assert 0 < node.ssh.command_timeout <= 86400
        assert node.ssh.port is None or 1 <= node.ssh.port <= 65535
        assert "\n" not in node.ssh.host and node.paths.sync_log.startswith("/")


@FUZZ
@given(st.lists(hostile_text, min_size=1, max_size=6), hostile_text)
def test_wizard_report_fence_cannot_be_escaped(output: list[str], message: str) -> None:
    counted("fuzz: Markdown reports")
    fence_breaker = ["```", "   ````", "~~~", "# FAKE HEADING", *output]
    rec = StepRecord(
        "edge.switch",
        "action",
        "Switch the Edge",
        node_id="demo.edge",
        state=StepState.FAILED,
        message=message,
        warning=message,
        output=fence_breaker,
        command=message,
    )
    run = WizardRun(
        run_id="r1", site="demo", direction="failover", user="admin", started_at=0.0,
        site_key="k", steps=[rec],
    )  # fmt: skip
    text = render_report(run)
    assert leaks(text) == 0
    lines = text.splitlines()
    start = lines.index(next(line for line in lines if line.startswith("Output (")))
    fence = lines[start + 2]
    assert set(fence) == {"`"} and len(fence) >= 3
    body = lines[start + 3 :]
    end = body.index(fence)
    assert not any(line.lstrip(" ").startswith(fence) for line in body[:end])
    assert "\n# FAKE" not in text.split(fence)[0]  # no heading injected before the block
    assert "\n" not in code(message)
