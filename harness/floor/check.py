"""Whether the floor is a floor: no service undercuts its transport's floor in the same run.

A floor (architecture.md, measurement rule 5) keeps its meaning only if, in every run, each
transport's floor has the lowest p50 latency and the lowest service CPU per request. This
compares, per transport and caller, the floor's row with every service's row of the same payload
(the median of the repetitions of each: aggregate's `p50_reps` and `service_us_per_req`), and
says where a service did as well as or better than the floor; tests/test_floor.py asserts there
is no such place.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.results.aggregate import Row


@dataclass(frozen=True)
class Undercut:
    """A service measured below its transport's floor on one metric."""

    caller: str
    transport: str
    service: str
    metric: str  # "p50_us" or "service_cpu_us_per_req"
    floor: float
    value: float

    def __str__(self) -> str:
        return (f"{self.caller}->{self.service}/{self.transport}: {self.metric} {self.value:.1f} is below the "
                f"floor's {self.floor:.1f}")


def _p50(row: Row) -> float | None:
    med = row.p50_reps.get("median") if row.p50_reps else None
    return float(med) if med is not None else None


def undercuts(rows: list[Row], margin: float = 0.0) -> tuple[list[Undercut], list[str]]:
    """Every service that undercut its floor, and every comparison that could not be made (why).

    `margin` (a fraction) lets a service be that much below the floor before it counts: 0 is
    the strict comparison. Rows that are not closed-loop service cells of a payload the floor
    ran are not compared; a service row or floor that was not measured is a comparison missed.
    """
    floors = {(r.caller, r.transport, r.payload): r for r in rows if r.is_floor}
    found: list[Undercut] = []
    missed: list[str] = []
    for floor in floors.values():
        if floor.status != "ok" or _p50(floor) is None or floor.service_us_per_req is None:
            missed.append(f"{floor.caller}->floor/{floor.transport}: not measured ({floor.status}: {floor.reason})")
    for r in rows:
        if r.is_floor or r.kind != "closed":
            continue
        base = floors.get((r.caller, r.transport, r.payload))
        if base is None:
            continue
        if r.status != "ok" or _p50(r) is None or r.service_us_per_req is None:
            missed.append(f"{r.caller}->{r.service}/{r.transport}: not measured ({r.status}: {r.reason})")
            continue
        for metric, fv, sv in (("p50_us", _p50(base), _p50(r)),
                               ("service_cpu_us_per_req", base.service_us_per_req, r.service_us_per_req)):
            if fv is None or sv is None:
                continue
            if sv < fv * (1.0 - margin):
                found.append(Undercut(r.caller, r.transport, r.service, metric, fv, sv))
    return found, missed
