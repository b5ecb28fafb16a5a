"""The last parse of a node's outputs, kept across polls: an identical input gives the
same result without parsing, a changed one (or another parse) is parsed again, and what
depends on the clock is still worked out at every poll."""

from __future__ import annotations

import json

from resil_tui.core.batch import PartOutput
from resil_tui.core.xuc_readiness import StartSource, XucState
from resil_tui.inventory import parse_inventory
from resil_tui.inventory_model import Node
from resil_tui.ops import cc_status as cc
from resil_tui.ops.last_parse import LastParse

T0 = 1_764_064_800.0  # 2025-11-25T10:00:00Z


def test_identical_input_same_result_changed_input_parsed_again() -> None:
    calls: list[str] = []

    def parse(text: str) -> tuple[str, ...]:
        calls.append(text)
        return tuple(text.split())

    memo = LastParse()
    first = memo.get("a", parse, "x y")
    assert memo.get("a", parse, "x" + " y") is first  # equal, not the same object
    assert calls == ["x y"]
    changed = memo.get("a", parse, "x z")
    assert changed == ("x", "z") and calls == ["x y", "x z"]
    # Only the last input is kept: going back parses again.
    assert memo.get("a", parse, "x y") == first and len(calls) == 3


def test_names_and_functions_are_kept_apart() -> None:
    def words(text: str) -> tuple[str, ...]:
        return tuple(text.split())

    def letters(text: str) -> tuple[str, ...]:
        return tuple(text)

    memo = LastParse()
    assert memo.get("a", words, "ab c") == ("ab", "c")
    assert memo.get("b", letters, "ab c") == ("a", "b", " ", "c")
    assert memo.get("a", letters, "ab c") == ("a", "b", " ", "c")  # another parse, same name


def cc_node(start_from: str = "inspect") -> Node:
    inv = parse_inventory(f"""\
[site.paris.xivo.master]
ssh = "xivo1"
voip_ip = "10.0.0.1"

[site.paris.xivo.slave]
ssh = "xivo2"
voip_ip = "10.0.0.2"

[site.paris.cc.master]
ssh = "cc1"
ip = "10.0.0.21"
fqdn = "cc1.paris.example.com"

[site.paris.cc.slave]
ssh = "cc2"
ip = "10.0.0.22"
fqdn = "cc2.paris.example.com"

[site.paris.cc.master.xuc]
start_from = "{start_from}"
grace = 60
""")
    return inv.node("paris.cc.master")


PS = (
    "NAME           SERVICE   STATUS          PORTS\n"
    "xivocc-xuc-1   xuc       Up 42 seconds   0.0.0.0:8090->9000/tcp\n"
)


def inspect_doc(started: str = "2025-11-25T10:00:00Z") -> str:
    state = {"Status": "running", "Running": True, "StartedAt": started, "ExitCode": 0}
    return json.dumps([{"Id": "ab" * 32, "Name": "/xivocc-xuc-1", "State": state}])


def log(*messages: str) -> str:
    return "".join(
        f"xuc-1  | 2025-11-25T10:00:{i:02d}.000000000Z {m}\n" for i, m in enumerate(messages)
    )


def outputs(
    ps: str = PS, inspect: str | None = None, logs: str | None = None
) -> dict[str, PartOutput]:
    return {
        cc.PS: PartOutput(ps, "", 0),
        cc.INSPECT: PartOutput(inspect if inspect is not None else inspect_doc(), "", 0),
        cc.LOGS: PartOutput(logs if logs is not None else log("booting"), "", 0),
    }


def test_cc_status_with_a_memo_says_what_it_says_without() -> None:
    node = cc_node()
    memo = LastParse()
    previous = None
    polls = [
        outputs(logs=log("booting")),
        outputs(logs=log("booting")),  # nothing new
        outputs(logs=log("booting", "Listening for HTTP on /0.0.0.0:9000")),
        outputs(logs=log("booting", "Listening for HTTP on /0.0.0.0:9000")),
        outputs(inspect=inspect_doc("2025-11-25T10:00:30Z"), logs=log("restarted")),
    ]
    for i, outs in enumerate(polls):
        now = T0 + 10 + i
        kept = cc.cc_status(node, outs, now, previous, memo=memo)
        fresh = cc.cc_status(node, outs, now, previous)
        assert kept == fresh
        previous = kept
    assert previous is not None and previous.log_tail[-1].endswith("restarted")


def test_cc_status_reuses_unchanged_parts_and_rereads_changed_ones() -> None:
    node = cc_node()
    memo = LastParse()
    first = cc.cc_status(node, outputs(), T0 + 10, memo=memo)
    again = cc.cc_status(node, outputs(), T0 + 11, first, memo=memo)
    assert again.containers is first.containers  # the same ps text: not parsed again
    assert again.xuc is not None and first.xuc is not None
    assert again.xuc.judged_at == T0 + 11  # the verdict is the new poll's
    newer = cc.cc_status(node, outputs(logs=log("booting", "more")), T0 + 12, again, memo=memo)
    assert newer.log_tail[-1].endswith("more") and newer.containers is first.containers
    restarted = cc.cc_status(
        node, outputs(inspect=inspect_doc("2025-11-25T10:00:11Z")), T0 + 13, newer, memo=memo
    )
    assert restarted.xuc is not None and restarted.xuc.run is not None
    assert restarted.xuc.run.started_at == T0 + 11


def test_a_start_from_ps_follows_the_clock_on_an_unchanged_ps() -> None:
    node = cc_node(start_from="ps")
    memo = LastParse()
    first = cc.cc_status(node, outputs(), T0 + 100, memo=memo)
    later = cc.cc_status(node, outputs(), T0 + 160, first, memo=memo)
    assert first.xuc is not None and later.xuc is not None
    assert first.xuc.run is not None and later.xuc.run is not None
    assert later.xuc.run.source is StartSource.PS
    # "Up 42 seconds" read a minute later means a start a minute later: not the last one.
    assert later.xuc.run.started_at == first.xuc.run.started_at + 60
    assert later.xuc.state is not XucState.READY


def test_cc_parts_are_built_again_only_when_what_they_depend_on_changed() -> None:
    node = cc_node()
    memo = LastParse()
    first = cc.cc_parts(node, None, memo=memo)
    assert first == cc.cc_parts(node, None)
    assert all(a is b for a, b in zip(cc.cc_parts(node, None, memo=memo), first, strict=True))
    status = cc.cc_status(node, outputs(), T0 + 10, memo=LastParse())
    since = cc.cc_parts(node, status, memo=memo)
    assert since == cc.cc_parts(node, status)  # --since the run's start: built anew
    logs = next(p.command for p in since if p.name == cc.LOGS)
    assert "--since" in logs.argv
    # Another poll of the same run: the same commands, not built again.
    later = cc.cc_status(node, outputs(), T0 + 11, status, memo=LastParse())
    assert all(a is b for a, b in zip(cc.cc_parts(node, later, memo=memo), since, strict=True))
    restarted = cc.cc_status(
        node, outputs(inspect=inspect_doc("2025-11-25T10:00:11Z")), T0 + 12, later
    )
    moved = next(p.command for p in cc.cc_parts(node, restarted, memo=memo) if p.name == cc.LOGS)
    assert moved != logs and moved == next(
        p.command for p in cc.cc_parts(node, restarted) if p.name == cc.LOGS
    )
