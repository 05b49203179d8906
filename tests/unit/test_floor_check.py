"""harness.floor.check: a service below its floor is found, on the p50 and on the CPU per request; one
above it, or below it within the noise (the repetitions' ranges overlapping), is not."""

from __future__ import annotations

from harness.floor.check import undercuts
from harness.results.aggregate import Row


def _reps(values: list[float]) -> dict[str, float]:
    return {"median": sorted(values)[len(values) // 2], "min": min(values), "max": max(values)}


def _row(service: str, p50s: list[float], cpus: list[float], transport: str = "zmq", kind: str = "closed",
         status: str = "ok") -> Row:
    cpu = _reps(cpus)
    return Row(caller="python", service=service, language=service, transport=transport, payload="echo-64B",
               op="echo", kind=kind, reps=len(p50s), status=status, p50_reps=_reps(p50s),
               service_cpu_reps=cpu, service_us_per_req=cpu["median"])


def test_a_service_below_the_floor_is_found_on_each_metric() -> None:
    rows = [_row("floor", [420, 424, 430], [10, 10.5, 11], kind="floor"), _row("java", [390, 394, 400], [12, 12, 13]),
            _row("python", [500, 510, 520], [8, 8.2, 9])]
    found, missed = undercuts(rows)
    assert missed == []
    assert {(u.service, u.metric) for u in found} == {("java", "p50_us"), ("python", "service_cpu_us_per_req")}
    assert "python->java/zmq: p50_us 394.0 is below the floor's 424.0" in [str(u) for u in found]
    assert "python->python/zmq: service_cpu_us_per_req 8.2 is below the floor's 10.5" in [str(u) for u in found]


def test_services_above_the_floor_within_its_noise_and_on_other_transports_pass() -> None:
    rows = [_row("floor", [90, 100, 130], [14, 16.5, 18], kind="floor"), _row("java", [120, 125, 140], [30, 31, 33]),
            _row("erlang", [80, 95, 110], [20, 21, 22]),  # p50 median below, but its range overlaps the floor's
            _row("go", [100, 110, 120], [14.5, 14.8, 15.5]),  # CPU median below, its range overlapping: noise
            _row("java", [50, 50, 50], [1, 1, 1], transport="http")]  # http has no floor row here: not compared
    assert undercuts(rows) == ([], [])


def test_a_comparison_not_made_is_reported() -> None:
    rows = [_row("floor", [100], [5], kind="floor"), _row("python", [0], [0], status="failed")]
    found, missed = undercuts(rows)
    assert found == []
    assert len(missed) == 1 and "python/zmq: not measured (failed" in missed[0]
    rows = [_row("floor", [100], [5], kind="floor", status="failed"), _row("python", [200], [9])]
    assert "python->floor/zmq: not measured" in undercuts(rows)[1][0]
