"""Sweeps run to the break: the offered rates, the outcome of a sweep, and repeated sweeps merged."""

from __future__ import annotations

from pathlib import Path

from harness.loadgen.protocol import Slo
from harness.results.aggregate import aggregate, sweep_text
from harness.results.schema import Cell, Cpu, Step
from harness.run.measure import sweep_cell
from harness.run.scenario import sweep_rates

SLO = Slo(p99_us=1000.0, max_error_rate=0.01)


def _step(offered: float, achieved: float, p99: float, client_bound: bool = False) -> Step:
    requests = int(achieved * 2)
    return Step(step=f"step-{offered:.0f}", offered_rps=offered, throughput_rps=achieved, requests=requests,
                issued=int(offered * 2), latency_us={"p50": p99 / 3, "p99": p99},
                cpu=Cpu(wall_s=2, service_s=1, loadgen_s=1, redis_s=0, service_util=0.5,
                        loadgen_util=0.95 if client_bound else 0.4, redis_util=0),
                client_bound=client_bound, client_bound_reason="load generator at 95% of its core" if client_bound
                else "")


def _cell(steps: list[Step], rep: int = 0) -> Cell:
    base = Cell(id=f"python.svc.http.echo-64B.sweep.r{rep}", caller="python", service="svc", transport="http",
                payload="echo-64B", kind="sweep", rep=rep, status="ok")
    return sweep_cell(base, steps, None, SLO)


def test_rates_double_past_the_listed_ones_up_to_the_cap() -> None:
    assert sweep_rates({"rates": [100, 200], "max_rate": 1600}) == [100, 200, 400, 800, 1600]
    assert sweep_rates({"rates": [100, 200], "to_break": False}) == [100, 200]
    assert sweep_rates({"rates": [8000]})[-1] <= 1_000_000 < sweep_rates({"rates": [8000]})[-1] * 2


def test_a_sweep_the_service_broke_has_a_true_maximum() -> None:
    cell = _cell([_step(100, 100, 300), _step(200, 200, 400), _step(400, 310, 90_000)])
    assert cell.sweep_outcome == "broken"
    assert cell.max_sustainable_rps == 200
    assert cell.broke_at_rps == 400
    assert not cell.client_bound
    assert sweep_text(cell.sweep_outcome, cell.max_sustainable_rps) == "200 req/s"


def test_a_sweep_broken_by_a_saturated_caller_is_a_lower_bound() -> None:
    cell = _cell([_step(100, 100, 300), _step(200, 200, 400, client_bound=True), _step(400, 250, 50_000, True)])
    assert cell.sweep_outcome == "client_bound"
    assert cell.client_bound
    assert sweep_text(cell.sweep_outcome, cell.max_sustainable_rps) == \
        "≥ 200 req/s (objective not broken; client-bound at 200)"


def test_a_sweep_that_never_broke_is_a_lower_bound_at_its_top_step() -> None:
    cell = _cell([_step(100, 100, 300), _step(200, 199, 400)])
    assert cell.sweep_outcome == "not_broken"
    assert cell.broke_at_rps is None
    assert sweep_text(cell.sweep_outcome, cell.max_sustainable_rps, 200).startswith("≥ 199 req/s")


def test_repeated_sweeps_give_the_median_their_spread_and_the_least_conclusive_outcome(tmp_path: Path) -> None:
    broken = [_cell([_step(100, 100, 300), _step(200, m, 400), _step(400, 300, 90_000)], rep)
              for rep, m in enumerate([180.0, 200.0])]
    bound = _cell([_step(100, 100, 300), _step(200, 190, 400, True), _step(400, 260, 60_000, True)], 2)
    (row,) = aggregate(tmp_path, [*broken, bound])
    assert row.reps == 3
    assert row.max_sustainable_rps == 190
    assert (row.max_sustainable_reps["min"], row.max_sustainable_reps["max"]) == (180, 200)
    assert row.sweep_outcome == "client_bound"
    assert len(row.rep_steps) == 3
    assert row.steps is bound.steps  # the median repetition's steps are the ones charted in full
