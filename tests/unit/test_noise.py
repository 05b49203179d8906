"""Repetitions and noise: bootstrap confidence intervals and the unstable-measurement warnings."""

from __future__ import annotations

from harness.results.noise import ADVICE, bootstrap_ci, spread_warning, summarize_reps, unstable
from harness.results.schema import Cell


def test_bootstrap_interval_holds_the_median_and_narrows_with_agreement() -> None:
    lo, hi = bootstrap_ci([100, 102, 98, 101, 99])
    assert lo <= 100 <= hi and hi - lo <= 4
    wide = bootstrap_ci([50, 100, 150, 200, 250])
    assert wide[1] - wide[0] > 50
    assert bootstrap_ci([7.0]) == (7.0, 7.0) and bootstrap_ci([]) == (0.0, 0.0)
    assert bootstrap_ci([1, 2, 3, 9]) == bootstrap_ci([1, 2, 3, 9])  # seeded: the same every time


def test_summarize_reps() -> None:
    s = summarize_reps([100, 110, 90])
    assert (s["median"], s["min"], s["max"], s["n"]) == (100, 90, 110, 3)
    assert s["spread_pct"] == 10.0
    assert summarize_reps([]) == {}


def _cell(rep: int, p50: float, rps: float, caller: str = "python") -> Cell:
    return Cell(caller=caller, service="s", transport="http", payload="echo", status="ok", rep=rep,
                latency_us={"p50": p50}, throughput_rps=rps)


def test_unstable_flags_disagreeing_repetitions_per_cell_and_caller() -> None:
    steady = [_cell(r, 100 + r, 1000) for r in range(3)]
    shaky = [_cell(r, p, 1000, caller="java") for r, p in enumerate((100, 200, 300))]
    found = unstable(steady + shaky)
    assert [(u.cell, u.metric) for u in found] == [("java->s/http/echo (closed)", "p50")]
    lines = spread_warning(steady + shaky)
    assert lines[0].startswith("WARNING: java->s/http/echo") and lines[-1].strip() == ADVICE
    assert spread_warning(steady) == []


def test_failed_cells_and_single_runs_are_not_judged() -> None:
    failed = Cell(service="s", transport="http", payload="echo", status="failed")
    assert unstable([_cell(0, 100, 1), failed]) == []
