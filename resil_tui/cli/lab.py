"""`resil-tui lab`: the simulated deployment standalone, with its fault prompt."""

from __future__ import annotations

import argparse

from resil_tui.cli.common import GlobalArgs, Io


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--state-dir", metavar="DIR", help="keep the lab's state in DIR between runs")
    p.add_argument("--fast", action="store_true", help="sub-second timings (tests, quick tries)")
    p.add_argument(
        "--edges",
        metavar="NAMES",
        help="give the demo site a 3-server Edge: comma-separated node names (web,sip)",
    )


def offline(ns: argparse.Namespace, options: GlobalArgs, io: Io) -> int:
    from resil_tui.lab.standalone import main as lab_main

    argv = ["--state-dir", ns.state_dir] if ns.state_dir else []
    if ns.edges:
        argv += ["--edges", ns.edges]
    return lab_main([*argv, "--fast"] if ns.fast else argv)
