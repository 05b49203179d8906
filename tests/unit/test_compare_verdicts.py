"""The noise verdict of `harness compare` on synthetic cells."""

from __future__ import annotations

from harness.results.compare import diff_cells
from harness.results.schema import Cell, Cpu


def cell(p50: float, rps: float, cpu: float, rep: int) -> Cell:
    return Cell(service="s", transport="http", payload="echo-64B", kind="closed", status="ok", rep=rep,
                latency_us={"p50": p50, "p99": p50 * 3}, throughput_rps=rps,
                cpu=Cpu(wall_s=1, service_s=1, loadgen_s=1, redis_s=0, service_util=1, loadgen_util=1, redis_util=0,
                        service_us_per_req=cpu))


def test_same_within_noise_and_real_regression() -> None:
    a = [cell(100, 1000, 50, 0), cell(104, 980, 52, 1), cell(97, 1010, 49, 2)]
    same = [cell(102, 995, 51, 0), cell(99, 1005, 50, 1), cell(101, 990, 50, 2)]
    slow = [cell(160, 700, 90, 0), cell(165, 690, 92, 1), cell(158, 705, 91, 2)]
    assert all(c.verdict == "same" for c in diff_cells(a, same))
    verdicts = {c.metric: c.verdict for c in diff_cells(a, slow)}
    assert verdicts == {"p50": "worse", "p99": "worse", "throughput_rps": "worse", "service_us_per_req": "worse"}
    faster = {c.metric: c.verdict for c in diff_cells(slow, a)}
    assert faster["p50"] == "better" and faster["throughput_rps"] == "better"


def test_single_runs_use_a_wide_default_noise() -> None:
    changes = diff_cells([cell(100, 1000, 50, 0)], [cell(110, 950, 54, 0)])
    assert all(c.verdict == "same" and c.noise_pct == 15.0 for c in changes)
