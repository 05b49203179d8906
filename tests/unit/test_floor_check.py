"""harness.floor.check: a service below its floor is found; one above it, or within the noise, is not."""

from __future__ import annotations

from harness.floor.check import undercuts
from harness.results.aggregate import Row


def _row(service: str, p50s: list[float], cpu: float, transport: str = "zmq", kind: str = "closed",
         status: str = "ok") -> Row:
    med = sorted(p50s)[len(p50s) // 2]
    return Row(caller="python", service=service, language=service, transport=transport, payload="echo-64B",
               op="echo", kind=kind, reps=len(p50s), status=status,
               p50_reps={"median": med, "min": min(p50s), "max": max(p50s)}, service_us_per_req=cpu)


def test_a_service_below_the_floor_is_found_on_each_metric() -> None:
    rows = [_row("floor", [420, 424, 430], 10, kind="floor"), _row("java", [390, 394, 400], 12),
            _row("python", [500, 510, 520], 8)]
    found, missed = undercuts(rows)
    assert missed == []
    assert {(u.service, u.metric) for u in found} == {("java", "p50_us"), ("python", "service_cpu_us_per_req")}
    assert "python->java/zmq: p50_us 394.0 is below the floor's 424.0" in [str(u) for u in found]


def test_services_above_the_floor_within_its_noise_and_on_other_transports_pass() -> None:
    rows = [_row("floor", [90, 100, 130], 5, kind="floor"), _row("java", [120, 125, 140], 12),
            _row("erlang", [80, 95, 110], 5),  # median below, but its range overlaps the floor's: noise
            _row("java", [50, 50, 50], 1, transport="http")]  # http has no floor row here: not compared
    assert undercuts(rows) == ([], [])


def test_a_comparison_not_made_is_reported() -> None:
    rows = [_row("floor", [100], 5, kind="floor"), _row("python", [0], 0, status="failed")]
    found, missed = undercuts(rows)
    assert found == []
    assert len(missed) == 1 and "python/zmq: not measured (failed" in missed[0]
    rows = [_row("floor", [100], 5, kind="floor", status="failed"), _row("python", [200], 9)]
    assert "python->floor/zmq: not measured" in undercuts(rows)[1][0]
