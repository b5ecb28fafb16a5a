"""`python -m bench`: every benchmark ends with exactly one RESULT line (bench/driver.py).

The benchmarks themselves take minutes (`make bench-quick` runs them all in under 120 s);
here the driver runs stand-in benchmark modules, and the real modules are checked to
declare what the driver needs.
"""

from __future__ import annotations

import inspect
import math
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench import driver
from bench.results import Measured, Section, Target, render

RESULT = re.compile(r"^RESULT (\S+) (\S+) ((?:<=|>=)\S+) (ok|short)$")


def stand_in(*values: float | None, fail: bool = False) -> SimpleNamespace:
    targets = tuple(Target(f"fig-{i}", f"Figure {i}", 1.0) for i in range(len(values)))

    def run(quick: bool = False) -> list[Measured]:
        if fail:
            raise RuntimeError("the lab did not start")
        return [Measured([f"measured {v}"], v) for v in values]

    return SimpleNamespace(TARGETS=targets, run=run, NOTES="how")


def test_each_benchmark_ends_with_one_result_line(capsys: pytest.CaptureFixture[str]) -> None:
    values = (0.5, 2.0, None, float("nan"))
    sections = driver.run_module("x", stand_in(*values), quick=True)  # type: ignore[arg-type]
    blocks = capsys.readouterr().out.split("== ")[1:]
    assert len(blocks) == 4 == len(sections)
    results = []
    for block in blocks:
        lines = block.strip().splitlines()
        assert RESULT.match(lines[-1]), lines[-1]
        assert sum(1 for line in lines if line.startswith("RESULT ")) == 1
        results.append(lines[-1])
    assert results == [
        "RESULT fig-0 0.50x <=1.00x ok",
        "RESULT fig-1 2.00x <=1.00x short",
        "RESULT fig-2 failed <=1.00x short",  # not measured: never "ok"
        "RESULT fig-3 failed <=1.00x short",  # NaN (a tool missing, a node not read): the same
    ]
    assert [s.failed for s in sections] == [False, False, True, True]


def test_a_failing_module_still_prints_its_result_lines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    sections = driver.run_module("x", stand_in(1.0, 1.0, fail=True), quick=False)  # type: ignore[arg-type]
    out = capsys.readouterr().out
    assert out.count("RESULT ") == 2 and out.count(" failed ") == 2
    assert "FAILED: RuntimeError: the lab did not start" in out
    assert all(s.failed for s in sections)


def test_a_missed_criterion_makes_the_result_short_whatever_its_figure(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A rate kept up but a lag over its bound (bench/logs.py) is not "ok"."""
    target = Target("lagged", "A rate with a lag bound", 0.98, "", True, 3)
    module = SimpleNamespace(
        TARGETS=(target, Target("fine", "The same, within bounds", 0.98, "", True, 3)),
        run=lambda quick=False: [
            Measured(["lag p99 117.6 ms (target < 100: MISSED)"], 0.999, missed=("lag p99",)),
            Measured(["lag p99 20.0 ms (target < 100: met)"], 0.999),
        ],
        NOTES="",
    )
    driver.run_module("x", module, quick=True)  # type: ignore[arg-type]
    out = capsys.readouterr().out
    assert "not met besides the figure: lag p99\nRESULT lagged 0.999 >=0.980 short" in out
    assert "RESULT fine 0.999 >=0.980 ok" in out


def test_the_logs_criteria_besides_the_rate() -> None:
    from bench import logs

    within = {"p99": 23.6, "rss": 0.0, "received": 2_000_000.0}
    assert logs.e2e_pane_missed(within) == ()
    assert logs.e2e_pane_missed({**within, "p99": 50.0}) == ("lag p99 50.0 ms",)
    # Growth is judged per 2,000,000 lines: 12 MB over a quick run's 450,000 is 53 MB.
    grown = logs.e2e_pane_missed({**within, "rss": 12.0, "received": 450_000.0})
    assert grown == ("RSS growth 53.3 MB per 2,000,000 lines",)


def test_higher_is_better_targets() -> None:
    t = Target("rate", "Rate", 100_000, "/s", higher_is_better=True, digits=0)
    assert t.result_line(123_456.7) == "RESULT rate 123457/s >=100000/s ok"
    assert t.result_line(99.0) == "RESULT rate 99/s >=100000/s short"
    assert t.result_line(float("nan")) == "RESULT rate failed >=100000/s short"


def test_results_md_lists_every_result() -> None:
    sections = [
        Section("A", ["| a | b |", "| --- | --- |", "| 1 | 2 |"], result="RESULT a 1x <=2x ok"),
        Section("B", ["one line"], failed=True, result="RESULT b failed <=1x short"),
    ]
    text = render(sections)
    assert text.count("RESULT a 1x <=2x ok") == 2  # the summary and the section
    assert "**This benchmark failed in this run:**" in text and "## Machine" in text


def test_every_real_module_declares_its_targets() -> None:
    names = []
    for name, module in driver.MODULES:
        assert module is not None, f"bench/{name}.py does not import"
        assert module.TARGETS, name
        assert "quick" in inspect.signature(module.run).parameters, name
        names += [t.name for t in module.TARGETS]
    assert len(names) == len(set(names))
    assert all(re.fullmatch(r"[a-z0-9-]+", n) for n in names)


def test_every_benchmark_module_is_run_by_the_driver() -> None:
    # `python -m bench --quick` runs every benchmark: a new module must be in MODULES.
    helpers = {"__init__", "__main__", "driver", "results", "labproc", "collector"}
    files = {p.stem for p in Path(driver.__file__).parent.glob("*.py")} - helpers
    assert files == {name for name, _ in driver.MODULES}


def test_fanout_compares_the_same_rounds_of_both_tools() -> None:
    from bench.fanout import Tool, _median, _runs

    def tool(key: str, times: list[float], error: str = "") -> Tool:
        return Tool(key, "1", lambda _: {}, key=key, times=times, error=error)

    # The deadline stopped pssh after 2 rounds: ours' third run is left out of the ratio.
    tools = [tool("ours", [1.0, 2.0, 9.0]), tool("pssh", [2.0, 2.0])]
    runs = min(_runs(tools, "ours"), _runs(tools, "pssh"))
    assert (runs, _median(tools, "ours", runs), _median(tools, "pssh", runs)) == (2, 1.5, 2.0)
    assert _median(tools, "ours") == 2.0  # the table's figure: every run
    # No run of one, or a failed run: no figure.
    assert math.isnan(_median([tool("ours", [1.0]), tool("pssh", [])], "ours", 0))
    assert math.isnan(_median([tool("pssh", [1.0], error="boom")], "pssh"))
