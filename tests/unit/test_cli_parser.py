"""The command line's parser: built from the table of subcommands, each subcommand's own
arguments added only once it is the one given (issue 17: check-config's start-up)."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

import pytest

from resil_tui import cli
from resil_tui.entry import main
from tests.labkit import ROOT

SUBCOMMAND_MODULES = sorted(
    p.stem
    for p in (ROOT / "resil_tui" / "cli").glob("*.py")
    if p.stem not in ("__init__", "common", "context")
)


def _python(script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`script` in a fresh interpreter (what it imports is its own), outside any user's ~."""
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=60,
        check=False,
    )


def _env(tmp_path: Path) -> dict[str, str]:
    return dict(
        os.environ,
        XDG_STATE_HOME=str(tmp_path / "state"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        PYTHONPATH=str(ROOT),
    )


def test_every_subcommand_module_is_in_the_table() -> None:
    assert sorted(c.module for c in cli.COMMANDS) == SUBCOMMAND_MODULES
    assert len(cli.BY_NAME) == len(cli.COMMANDS)


def test_top_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for command in cli.COMMANDS:
        line = next(x for x in out.splitlines() if x.strip().startswith(command.name + " "))
        assert command.help.split()[0] in line, line


@pytest.mark.parametrize("name", [c.name for c in cli.COMMANDS])
def test_every_subcommand_parser_builds(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.parse([name, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: resil-tui {name}")
    assert cli.BY_NAME[name].help in " ".join(out.split())
    # The global options are accepted after the subcommand too.
    assert "--hosts FILE" in out and "--read-only" in out


def test_global_options_before_and_after_the_subcommand() -> None:
    ns, options = cli.parse(["--hosts", "a.toml", "status", "--json", "--read-only"])
    assert (ns.command, ns.json, options.hosts, options.read_only) == (
        "status",
        True,
        "a.toml",
        True,
    )
    ns, options = cli.parse(["check-config", "--hosts", "b.toml", "c.toml"])
    assert (ns.file, options.hosts, options.read_only) == ("c.toml", "b.toml", False)


def test_console_settings_keep_their_bounds(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.parse(["--refresh", "5", "--log-buffer", "2000"])[1].refresh == 5.0
    with pytest.raises(SystemExit) as exited:
        cli.parse(["--refresh", "0"])
    assert exited.value.code == 2
    assert "--refresh" in capsys.readouterr().err


def test_check_config_imports_only_what_it_runs(tmp_path: Path) -> None:
    """A guard against regressions of its start-up: no other subcommand, no SSH, no
    Textual, no logging, no preferences, no tempfile, no dataclasses (the model is made of
    core/records.py's records; dataclasses and the inspect it imports were 15 ms) (not a
    timing)."""
    inv = tmp_path / "hosts.toml"
    inv.write_text(
        '[site.x.xivo.master]\nssh = "127.0.0.1"\nvoip_ip = "10.0.0.1"\n'
        '[site.x.xivo.slave]\nssh = "127.0.0.1"\nvoip_ip = "10.0.0.2"\n'
    )
    script = (
        "import sys\n"
        "from resil_tui.entry import main\n"
        f"code = main(['check-config', {str(inv)!r}])\n"
        "print('LOADED', ' '.join(sorted(sys.modules)), file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    proc = _python(script, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "OK (1 site(s), 2 node(s))" in proc.stdout
    loaded = set(proc.stderr.split("LOADED ", 1)[1].split())
    others = {f"resil_tui.cli.{m}" for m in SUBCOMMAND_MODULES} - {"resil_tui.cli.check_config"}
    heavy = {
        "asyncio",
        "asyncssh",
        "textual",
        "logging",
        "tempfile",
        "difflib",
        "dataclasses",
        "inspect",
        "resil_tui.preferences",
        "resil_tui.core.log_readers",  # an inventory without log streams
        "resil_tui.config_error",  # a valid inventory: no mistake to report
        "resil_tui.cli.context",  # what online commands run with
        "resil_tui.remote",
        "resil_tui.ops",
    }
    assert not loaded & (others | heavy)


def test_a_quiet_command_still_logs_an_unexpected_error(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from resil_tui.cli import check_config\n"
        "def boom(ns, options, io):\n"
        "    raise RuntimeError('boom')\n"
        "check_config.offline = boom\n"
        "from resil_tui.entry import main\n"
        "sys.exit(main(['check-config', 'x.toml']))\n"
    )
    proc = _python(script, tmp_path)
    assert proc.returncode == 3
    assert "unexpected error: RuntimeError: boom" in proc.stderr
    assert "Traceback" not in proc.stderr
    log = (tmp_path / "state" / "resil-tui" / "debug.log").read_text()
    assert "unexpected error" in log and "RuntimeError: boom" in log


def test_an_unknown_argument_to_the_plugin_is_unknown_not_critical(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Nagios plugin guidelines: a usage error is UNKNOWN (3); argparse's 2 reads CRITICAL.
    with pytest.raises(SystemExit) as plugin:
        cli.parse(["check", "--bogus"])
    assert plugin.value.code == 3
    assert capsys.readouterr().out.startswith(
        "RESIL UNKNOWN - bad arguments: unrecognized arguments: --bogus"
    )
    with pytest.raises(SystemExit) as other:
        cli.parse(["status", "--bogus"])
    assert other.value.code == 2


def test_the_collector_is_on_again_whatever_the_command_did(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # main() starts with it off (entry.py); a usage error, a failure and a success each
    # leave it on.
    with pytest.raises(SystemExit):
        main(["--bogus"])
    assert gc.isenabled()
    assert main(["check-config", str(tmp_path / "missing.toml")]) == 2
    assert gc.isenabled()
    inv = tmp_path / "hosts.toml"
    inv.write_text(
        '[site.x.xivo.master]\nssh = "127.0.0.1"\nvoip_ip = "10.0.0.1"\n'
        '[site.x.xivo.slave]\nssh = "127.0.0.1"\nvoip_ip = "10.0.0.2"\n'
    )
    assert main(["check-config", str(inv)]) == 0
    assert gc.isenabled()
    # The console's way, refused before any screen: an unknown theme.
    assert main(["--hosts", str(inv), "--theme", "nope"]) == 2
    assert gc.isenabled()
    capsys.readouterr()
