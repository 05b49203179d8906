"""harness.floor.check: a service below its floor is found; one above it is not."""

from __future__ import annotations

from harness.floor.check import undercuts
from harness.results.aggregate import Row


def _row(service: str, p50: float, cpu: float, transport: str = "zmq", kind: str = "closed",
         status: str = "ok") -> Row:
    return Row(caller="python", service=service, language=service, transport=transport, payload="echo-64B",
               op="echo", kind=kind, reps=3, status=status, p50_reps={"median": p50}, service_us_per_req=cpu)


def test_a_service_below_the_floor_is_found_on_each_metric() -> None:
    rows = [_row("floor", 424, 10, kind="floor"), _row("java", 394, 12), _row("python", 500, 8)]
    found, missed = undercuts(rows)
    assert missed == []
    assert {(u.service, u.metric) for u in found} == {("java", "p50_us"), ("python", "service_cpu_us_per_req")}
    assert "java/zmq: p50_us 394.0 is below the floor's 424.0" in str(found[0])


def test_services_above_the_floor_and_other_transports_pass() -> None:
    rows = [_row("floor", 100, 5, kind="floor"), _row("java", 120, 12), _row("erlang", 100, 5),
            _row("java", 50, 1, transport="http")]  # http has no floor row here: not compared
    assert undercuts(rows) == ([], [])


def test_margin_and_missed_comparisons() -> None:
    rows = [_row("floor", 100, 5, kind="floor"), _row("java", 97, 6), _row("python", 0, 0, status="failed")]
    found, missed = undercuts(rows, margin=0.05)
    assert found == []
    assert len(missed) == 1 and "python/zmq: not measured (failed" in missed[0]
    assert [u.service for u in undercuts(rows, margin=0.0)[0]] == ["java"]
