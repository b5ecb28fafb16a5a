"""Start-up (issue 9): the CLI against `python -c pass`, the TUI against a minimal Textual app.

Every figure is a fresh process timed from spawn, median of RUNS, all kinds interleaved:
- `python -c pass` (the interpreter of the venv): the floor of any Python command;
- `resil-tui check-config` on the smallest valid inventory: start-up + inventory, no SSH;
- `resil-tui status --json` on that inventory (its nodes on a closed 127.0.0.1 port);
- `resil-tui status --json` on the smallest inventory served by the lab (2 XiVO nodes);
- time to the first screen of `resil-tui` (the TUI, headless) and of a minimal Textual app.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.labproc import lab_process
from bench.results import Measured, Target

ROOT = Path(__file__).resolve().parents[1]
RUNS = 10
QUICK_RUNS = 2
TIMEOUT = 60.0
TARGETS = (
    Target("tui-first-screen", "TUI first screen (headless) vs a minimal Textual app", 1.5),
    Target("check-config", "check-config on the smallest inventory vs python -c pass", 4.0),
)

# Run in the child: make the app's run_async headless, with an auto-pilot that notes the
# time once the first screen has been composed, laid out and rendered (headless Textual
# renders the compositor's update but writes it to no terminal), then exits.
# argv: MODE (resil | minimal) [INVENTORY]
_FIRST_SCREEN = r"""
import asyncio, sys, time

async def first_screen(pilot):
    painted = asyncio.Event()
    pilot.app.call_after_refresh(painted.set)  # runs after the screen's next repaint
    await painted.wait()
    print(f"FIRST-SCREEN {time.monotonic():.6f}", flush=True)
    pilot.app.exit()

def headless(cls):
    original = cls.run_async
    async def run_async(self, *args, **kwargs):
        return await original(self, headless=True, size=(120, 40), auto_pilot=first_screen)
    cls.run_async = run_async

if sys.argv[1] == "minimal":
    from textual.app import App
    from textual.widgets import Footer, Header, Static

    class Minimal(App):
        def compose(self):
            yield Header()
            yield Static("hello")
            yield Footer()

    headless(Minimal)
    asyncio.run(Minimal().run_async())
else:
    # The real start-up path: resil_tui.entry.main -> ui.launch -> session_on_demand -> ResilApp.
    # The app class is patched as its module finishes loading, not imported here first:
    # the program imports the UI from inside main(), with the cyclic collector off, and an
    # import ahead of main() would time imports the program never makes that way. No
    # importlib.abc base class (it imports some 26 modules the program does not), and the
    # finder leaves sys.meta_path once it has matched.
    import importlib.machinery

    class PatchApp:
        def find_spec(self, name, path=None, target=None):
            if name != "resil_tui.ui.app":
                return None
            sys.meta_path.remove(self)
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            execute = spec.loader.exec_module
            def exec_module(module):
                execute(module)
                headless(module.ResilApp)
            spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, PatchApp())
    from resil_tui.entry import main
    sys.exit(main(["--hosts", sys.argv[2]]))
"""

NOTES = f"""\
**What "empty inventory" means here.** The loader refuses an inventory without a site, and
a site needs a XiVO master and slave, so the smallest valid inventory has one site and two
nodes. Its nodes point at a closed port on 127.0.0.1 (connection refused at once, nothing
listens): `check-config` on it is start-up + inventory load with no SSH at all; `status
--json` on it adds the pool, two refused connections and **one retry after the pool's
0.5 s back-off** (the product's policy for a refused node, not start-up; the JSON reports
both nodes down). A third figure runs `status --json` on the same shape of inventory
served by the lab (own process, no added latency): start-up, two SSH handshakes, a full
poll.

**What `check-config` runs.** `entry.main` with the cyclic collector off while it imports
and parses; a parser for the top level and for `check-config` only (the other subcommands
are a name and a one-line help until one is given); the inventory read and checked
(tomllib, every value through the rule the runtime applies); what start-up built frozen
out of the collector's way (the exit's collection included). No SSH layer, asyncio,
Textual, logging, nor `dataclasses` (tests/unit/test_cli_parser.py checks `sys.modules`):
the inventory model is made of frozen records (`resil_tui/core/records.py`), which spares
the 15 ms `dataclasses` takes to import with inspect (ast, dis, tokenize) and most of the
1 ms each frozen dataclass takes to create. Its floor is the standard library it needs:
argparse (re, gettext, locale), pathlib, tomllib (typing, datetime, string), ipaddress,
about 3.3x `python -c pass` on their own on Python 3.11 (60 of check-config's 67 ms, medians
of 15 alternated runs on 2026-12-04).

**First screen.** A child process patches `run_async` of the app class to run headless
(120x40; `resil-tui`'s as its module finishes loading, so that the program imports it
where and as it always does) with an auto-pilot that, once the app is ready, waits for the
screen's next repaint (`call_after_refresh`) and prints `time.monotonic()`; the figure is
that time minus the parent's `time.monotonic()` just before spawning (one clock across
processes on Linux). `resil-tui` goes through its real path (`entry.main` -> inventory ->
`session_on_demand` -> `ResilApp`), on the smallest inventory above (closed port: its status
poll starts in the background and does not hold the first screen). The baseline is a
minimal Textual `App` (Header, a Static, Footer) in the same harness. "to exit" adds the
shutdown.

Median of {RUNS} runs per figure ({QUICK_RUNS} with `--quick`), all interleaved; the
interpreter is the venv's."""


def _closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound, then released without listening)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        if s.connect_ex(("127.0.0.1", port)) == 0:
            raise RuntimeError(f"127.0.0.1:{port} answers; expected a closed port")
    return port


def smallest_inventory(path: Path) -> Path:
    port = _closed_port()
    path.write_text(
        "# The smallest valid inventory: one site, its XiVO pair, on a closed local port.\n"
        "[ssh]\nconnect_timeout = 5.0\n"
        f'[site.x.xivo.master]\nssh = "127.0.0.1"\nport = {port}\nvoip_ip = "10.0.0.1"\n'
        f'[site.x.xivo.slave]\nssh = "127.0.0.1"\nport = {port}\nvoip_ip = "10.0.0.2"\n'
    )
    return path


def _resil_tui() -> list[str]:
    script = Path(sys.executable).with_name("resil-tui")
    return [str(script)] if script.exists() else [sys.executable, "-m", "resil_tui"]


def _env(tmp: Path) -> dict[str, str]:
    # No user config (theme, keymap) nor state from ~; the checkout on the path.
    return dict(
        os.environ,
        XDG_STATE_HOME=str(tmp / "state"),
        XDG_CONFIG_HOME=str(tmp / "config"),
        PYTHONPATH=str(ROOT),
    )


def _wall(argv: list[str], env: dict[str, str], ok: tuple[int, ...]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(
        argv, capture_output=True, env=env, stdin=subprocess.DEVNULL, timeout=TIMEOUT, check=False
    )
    elapsed = time.perf_counter() - t0
    if proc.returncode not in ok:
        raise RuntimeError(
            f"{argv[-2:]} exited {proc.returncode}: {proc.stderr.decode(errors='replace')[-400:]}"
        )
    return elapsed


def _first_screen(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(seconds to the first screen, seconds to exit) of a harness child."""
    t0 = time.monotonic()
    proc = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=TIMEOUT,
        check=False,
    )
    ended = time.monotonic() - t0
    marks = [
        line.split()[1] for line in proc.stdout.splitlines() if line.startswith("FIRST-SCREEN ")
    ]
    if not marks:
        raise RuntimeError(f"no first screen ({proc.returncode}): {proc.stderr[-600:]}")
    return float(marks[0]) - t0, ended


def measure(tmp: Path, runs: int = RUNS) -> dict[str, list[float]]:
    env = _env(tmp)
    inv = smallest_inventory(tmp / "smallest.toml")
    py = sys.executable
    times: dict[str, list[float]] = {
        k: []
        for k in (
            "pass",
            "check",
            "status_closed",
            "status_lab",
            "tui",
            "tui_exit",
            "minimal",
            "minimal_exit",
        )
    }
    # An installed package has its bytecode compiled (pip does it); a checkout run with
    # PYTHONDONTWRITEBYTECODE=1 would compile every edited module at each start instead.
    subprocess.run([py, "-m", "compileall", "-q", str(ROOT / "resil_tui")], check=True, env=env)
    with lab_process(tmp / "lab", 1, cc=False, edge=False, mds=0) as lab_inv:
        for _ in range(runs):
            times["pass"].append(_wall([py, "-c", "pass"], env, (0,)))
            times["check"].append(_wall([*_resil_tui(), "check-config", str(inv)], env, (0,)))
            # Exit 2 (CRITICAL): both nodes are down, as they should be.
            times["status_closed"].append(
                _wall([*_resil_tui(), "--hosts", str(inv), "status", "--json"], env, (2,))
            )
            times["status_lab"].append(
                _wall([*_resil_tui(), "--hosts", str(lab_inv), "status", "--json"], env, (0, 1))
            )
            first, ended = _first_screen([py, "-c", _FIRST_SCREEN, "resil", str(inv)], env)
            times["tui"].append(first)
            times["tui_exit"].append(ended)
            first, ended = _first_screen([py, "-c", _FIRST_SCREEN, "minimal"], env)
            times["minimal"].append(first)
            times["minimal_exit"].append(ended)
    return times


def run(quick: bool = False) -> list[Measured]:
    with tempfile.TemporaryDirectory(prefix="resil-startup-") as d:
        found = measure(Path(d), QUICK_RUNS if quick else RUNS)
        t = {k: statistics.median(v) for k, v in found.items()}
    ms = {k: v * 1000 for k, v in t.items()}
    table = [
        "| process | median ms | ratio | to |",
        "| --- | ---: | ---: | --- |",
        f"| `python -c pass` | {ms['pass']:.0f} | 1.00 | itself |",
        f"| `resil-tui check-config` (smallest inventory, no SSH) | {ms['check']:.0f} "
        f"| {t['check'] / t['pass']:.1f} | `python -c pass` |",
        f"| `resil-tui status --json` (smallest inventory, closed port, 1 retry after 0.5 s) "
        f"| {ms['status_closed']:.0f} | {t['status_closed'] / t['pass']:.1f} | `python -c pass` |",
        f"| `resil-tui status --json` (2 lab nodes, full poll) | {ms['status_lab']:.0f} "
        f"| {t['status_lab'] / t['pass']:.1f} | `python -c pass` |",
        f"| minimal Textual app, first screen (headless) | {ms['minimal']:.0f} | 1.00 | itself |",
        f"| `resil-tui` TUI, first screen (headless) | {ms['tui']:.0f} "
        f"| {t['tui'] / t['minimal']:.2f} | minimal Textual app |",
        f"| minimal Textual app, to exit | {ms['minimal_exit']:.0f} | 1.00 | itself |",
        f"| `resil-tui` TUI, to exit | {ms['tui_exit']:.0f} "
        f"| {t['tui_exit'] / t['minimal_exit']:.2f} | minimal Textual app |",
    ]
    check = f"check-config {ms['check']:.0f} ms / python -c pass {ms['pass']:.0f} ms"
    return [
        Measured(table, t["tui"] / t["minimal"]),
        Measured([check], t["check"] / t["pass"]),
    ]


if __name__ == "__main__":
    for m, target in zip(run("--quick" in sys.argv), TARGETS, strict=True):
        print("\n".join(m.lines))
        print(target.result_line(m.value))
