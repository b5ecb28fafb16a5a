"""A node's text cannot forge lines in what the CLI prints. Every write passes the
sanitizer, which keeps newlines (cli/common.py, SafeWriter); a field that can hold remote
text inside a line (a DISCONNECT reason in a status row, a refusal, a lock's reason) is
printed on one line, a newline shown as `␤` (cli/common.py, one_line).

The demo site's XiVO slave points at a hostile server that DISCONNECTs before any
authentication, with a reason whose lines read as a healthy node row and a site verdict."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import asyncssh
import pytest
from hostile import ALL, leaks
from hostile_server import HostileServer
from labkit import run_cli

from resil_tui import cli
from resil_tui.cli.common import CliError, Io
from resil_tui.inventory import load_inventory
from resil_tui.inventory_model import Inventory
from resil_tui.lab.server import Lab

SLAVE = "demo.xivo.slave"
FORGED_ROW = f"  {SLAVE}   ✔ up    HA slave → 10.50.0.11 · telephony standby"
FORGED_VERDICT = "Site demo: ✔ OK Normal: master active"
REASON = f"maintenance {ALL}\n{FORGED_ROW}\n{FORGED_VERDICT}\n"


@pytest.fixture
async def hostile_slave(lab: Lab, tmp_path: Path) -> AsyncIterator[Inventory]:
    """The lab's inventory, its XiVO slave served by the disconnecting server."""
    host = asyncssh.generate_private_key("ssh-ed25519")
    client = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    (tmp_path / "root").mkdir()
    srv = HostileServer(host, client, tmp_path / "root")
    srv.mode, srv.disconnect_reason = "disconnect", REASON
    await srv.start()
    try:
        text = lab.inventory_path.read_text()
        old = f"port = {lab.port(SLAVE)}\n"
        assert text.count(old) == 1
        path = tmp_path / "hosts.toml"
        path.write_text(text.replace(old, f"port = {srv.port}\n"))
        with lab.known_hosts_path.open("a") as known:
            known.write(f"[127.0.0.1]:{srv.port} {host.export_public_key().decode().strip()}\n")
        yield load_inventory(path)
    finally:
        await srv.stop()


def assert_nothing_forged(text: str, where: str) -> None:
    lines = [line.rstrip() for line in text.split("\n")]
    assert FORGED_ROW.rstrip() not in lines, f"{where}: a forged node row"
    assert FORGED_VERDICT not in lines, f"{where}: a forged site verdict"
    assert leaks(text) == 0, f"{where}: raw control characters"


async def test_status_table_rows_hold_one_line_each(hostile_slave: Inventory) -> None:
    run = await run_cli(hostile_slave, "status")
    assert_nothing_forged(run.out, "status")
    rows = [line for line in run.out.split("\n") if line.startswith(f"  {SLAVE} ")]
    assert len(rows) == 1 and "✖ down" in rows[0], run.out
    # What the server said is shown, on the node's own row.
    assert "maintenance ␛]52;c;" in rows[0] and f"␤{FORGED_ROW}␤" in rows[0]
    assert sum(line.startswith("Site ") for line in run.out.split("\n")) == 1, run.out


@pytest.mark.parametrize(
    "argv",
    [("ha", "show"), ("trust", SLAVE), ("logs", SLAVE, "--no-follow"), ("check",)],
    ids=lambda argv: " ".join(argv),
)
async def test_other_commands_print_the_reason_on_one_line(
    hostile_slave: Inventory, argv: tuple[str, ...]
) -> None:
    run = await run_cli(hostile_slave, *argv)
    said = run.out + run.err
    assert_nothing_forged(run.out, f"{argv[0]} stdout")
    assert_nothing_forged(run.err, f"{argv[0]} stderr")
    assert "maintenance" in said, said  # the reason is shown, not lost


@pytest.mark.parametrize("error", [CliError(f"refused: {REASON}"), LookupError(REASON)])
def test_a_reported_error_is_one_line(error: Exception) -> None:
    err = io.StringIO()
    assert cli.report(error, Io(io.StringIO(), err)) is not None
    assert_nothing_forged(err.getvalue(), "report")
    assert err.getvalue().count("\n") == 1


def test_a_three_server_edge_outcome_keeps_one_line_per_node() -> None:
    # The outcome says one line per Edge node; each stays a line of its own (one_line is
    # per line: a node's text still cannot start one).
    import io

    from resil_tui.cli.common import Io
    from resil_tui.cli.edge import EdgeCli
    from resil_tui.core import roles
    from resil_tui.ops import edge as edge_ops

    def outcome(node: str) -> edge_ops.EdgeOutcome:
        return edge_ops.EdgeOutcome(
            "apply",
            node,
            "/etc/docker/edge/.env",
            "edge switch",
            True,
            edge_ops.NodeState.APPLIED,
            "switched;\ncontainers up",
        )

    done = edge_ops.SiteEdgeOutcome(
        "apply", tuple(outcome(n) for n in ("e.web", "e.sip", "e.turn"))
    )
    cli = EdgeCli.__new__(EdgeCli)
    out, err = io.StringIO(), io.StringIO()
    cli.io = Io(out, err)
    cli.words = lambda site: roles.CLASSIC_WORDS  # type: ignore[method-assign]

    class Named:
        name = "demo"

    assert cli.finish(done, Named()) == 0  # type: ignore[arg-type]
    lines = out.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == ["e.web", "e.sip", "e.turn"], lines
    assert all("␤" in line for line in lines)  # the detail's own newline, shown
