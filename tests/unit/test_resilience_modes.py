"""Resilience modes per site (issue 16): `check-config`, `resil-tui plan`, the role words."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from resil_tui.core.ha import HaMode, parse_ha_conf
from resil_tui.core.roles import role_words
from resil_tui.core.runbook import ActionName, Direction, StepKind, build_runbook
from resil_tui.core.runbook_markdown import render_markdown
from resil_tui.entry import main
from resil_tui.inventory import parse_inventory
from resil_tui.inventory_model import ManualServices, Resilience

SITE = """\
[site.lyon]
{extra}
[site.lyon.xivo.master]
ssh = "xivo-1"
voip_ip = "10.1.0.11"
[site.lyon.xivo.slave]
ssh = "xivo-2"
voip_ip = "10.1.0.12"
[site.lyon.cc.master]
ssh = "cc-1"
ip = "10.1.0.21"
fqdn = "cc1.lyon.example"
[site.lyon.cc.slave]
ssh = "cc-2"
ip = "10.1.0.22"
fqdn = "cc2.lyon.example"
[site.lyon.edge]
ssh = "edge-1"
fqdn = "edge.lyon.example"
"""


def write(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "hosts.toml"
    path.write_text(SITE.format(extra=extra))
    return path


@pytest.mark.parametrize("mode", ["classic", "automatic", "manual"])
def test_check_config_accepts_the_three_modes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mode: str
) -> None:
    assert main(["check-config", str(write(tmp_path, f'resilience = "{mode}"'))]) == 0
    assert "OK" in capsys.readouterr().out


def test_check_config_refuses_another_mode_with_file_line_and_choices(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, 'description = "Lyon"\nresilience = "auto"')
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert (
        f"{path}:3: site.lyon.resilience: 'auto' is not one of 'classic', 'automatic', "
        "'manual'" in err
    )
    assert "Traceback" not in err
    path = write(tmp_path, "resilience = 2")
    assert main(["check-config", str(path)]) == 2
    assert "site.lyon.resilience: an integer is not one of" in capsys.readouterr().err


def test_manual_services_and_sip_expiry_keys(tmp_path: Path) -> None:
    inv = parse_inventory(
        SITE.format(
            extra='resilience = "manual"\nmanual_services = "web-ui"\n'
            "ha_sip_expiry = { min = 180, max = 300, default = 240 }"
        )
    )
    site = inv.site("lyon")
    assert site.resilience is Resilience.MANUAL
    assert site.manual_services is ManualServices.WEB_UI
    assert site.ha_sip_expiry == (180, 300, 240)
    assert inv.site("lyon").resilience is Resilience.MANUAL
    default = parse_inventory(SITE.format(extra="")).site("lyon")
    assert default.resilience is Resilience.CLASSIC and default.ha_sip_expiry == (60, 300, 120)
    with pytest.raises(Exception, match="min 300 <= default 120 <= max 60"):
        parse_inventory(SITE.format(extra="ha_sip_expiry = { min = 300, max = 60 }"))


def test_role_words() -> None:
    assert role_words(Resilience.CLASSIC).of("master") == "master"
    assert role_words(Resilience.AUTOMATIC).of("master") == "Main"
    assert role_words(Resilience.MANUAL).of("slave") == "Standby"
    assert role_words(Resilience.MANUAL).mode("disabled") == "disabled"


def test_ha_conf_main_standby_are_aliases() -> None:
    main_ = parse_ha_conf('{"node_type": "main", "remote_address": "10.1.0.12"}')
    assert main_.mode is HaMode.MASTER and not main_.problems
    standby = parse_ha_conf('{"node_type": "Standby", "remote_address": "10.1.0.11"}')
    assert standby.mode is HaMode.SLAVE and not standby.problems


def plan(tmp_path: Path, capsys: pytest.CaptureFixture[str], mode: str, *argv: str) -> str:
    path = write(tmp_path, f'resilience = "{mode}"')
    assert main(["--hosts", str(path), "plan", *argv]) == 0
    return capsys.readouterr().out


def test_plan_failover_manual_names_start_on_standby_and_stop_on_main(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = plan(tmp_path, capsys, "manual", "failover")
    assert out.startswith("# Failover to the Standby: site lyon")
    start = out.index("**Start services on the Standby**")
    stop = out.index("**Stop services on the Main**")
    assert start < stop
    assert "xivo-manage-slave-services start" in out
    assert "xivo-manage-slave-services stop" in out
    # the prose says Main / Standby (node ids and script names keep theirs)
    prose = re.sub(
        r"(lyon\.)?(xivo|cc)\.(master|slave)|xivo-\S+|(master|slave)=|=(master|slave)", "", out
    )
    assert not re.search(r"\b(master|slave)\b", prose, re.I), prose
    back = plan(tmp_path, capsys, "manual", "failback")
    assert back.index("**Start services on the Main**") < back.index(
        "**Stop services on the Standby**"
    )


def test_plan_manual_web_ui_steps_are_confirmed_by_the_admin(tmp_path: Path) -> None:
    site = parse_inventory(
        SITE.format(extra='resilience = "manual"\nmanual_services = "web-ui"')
    ).site("lyon")
    runbook = build_runbook(site, Direction.FAILOVER)
    start = runbook.step("xivo.start_services.slave")
    assert start.kind is StepKind.MANUAL and start.command is None
    assert "Resilience management" in start.detail and "Start services" in start.detail
    ran = build_runbook(
        parse_inventory(SITE.format(extra='resilience = "manual"')).site("lyon"), Direction.FAILOVER
    )
    step = ran.step("xivo.stop_services.master")
    assert step.kind is StepKind.ACTION and step.command is not None
    assert step.command.name is ActionName.MANAGE_SERVICES
    assert step.node_id == "lyon.xivo.master"
    # no "master no longer active" guard: the Main is stopped on purpose
    assert all(s.id != "guard.master_not_active" for s in ran.steps)


def test_plan_failover_automatic_neither_restarts_xuc_nor_rewrites_the_env(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = plan(tmp_path, capsys, "automatic", "failover")
    assert "xivocc-dcomp restart" not in out
    assert "Switch the Edge" not in out and "edge-dcomp up" not in out
    assert "Wait until xuc is ready on the CC Standby" in out
    assert "Check the Edge relays to the Standby" in out
    assert "resil-tui edge apply --site lyon --to slave" in out  # the offered fallback
    assert out.startswith("# Failover to the Standby")
    data = json.loads(plan(tmp_path, capsys, "automatic", "failover", "--json"))
    assert data["resilience"] == "automatic"
    assert data["roles"] == {"master": "Main", "slave": "Standby"}
    kinds = {s["id"]: s["kind"] for s in data["steps"]}
    assert "cc.restart_xuc" not in kinds and "edge.switch_env" not in kinds
    assert kinds["edge.check_follows"] == "check"


def test_plan_classic_is_as_before(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = plan(tmp_path, capsys, "classic", "failover")
    assert out.startswith("# Failover to the slave")
    assert "xivocc-dcomp restart xuc" in out and "Switch the Edge .env to the slave" in out


def test_markdown_of_every_mode_renders() -> None:
    for mode in Resilience:
        site = parse_inventory(SITE.format(extra=f'resilience = "{mode.value}"')).site("lyon")
        for direction in Direction:
            text = render_markdown(build_runbook(site, direction))
            assert f"Resilience mode: {mode.value}" in text
