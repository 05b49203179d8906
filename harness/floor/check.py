"""Whether the floor is a floor: no service undercuts its transport's floor in the same run.

A floor (architecture.md, measurement rule 5) keeps its meaning only if, in every run, each
transport's floor has the lowest p50 latency and the lowest service CPU per request. This
compares, per transport and caller, the floor's row with every service's row of the same payload
and says where a service did better than the floor; tests/test_floor.py asserts there is no such
place. Noise: each side is its repetitions' median (aggregate's `service_us_per_req`, `p50_reps`).
CPU per request is compared strictly (it is robust: on this machine its repetitions agree within
tens of per cent, and the floors are two to ten times below the services). A p50 below the
floor's counts when the two are apart by more than the noise, that is when every repetition of
the service is below every repetition of the floor (their ranges do not overlap); on a busy
machine a closed loop's p50 moves by half between repetitions of the same cell, and a queue's
p50 is mostly the broker's and the client's.
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


def _p50(row: Row, key: str = "median") -> float | None:
    value = row.p50_reps.get(key) if row.p50_reps else None
    return float(value) if value is not None else None


def undercuts(rows: list[Row]) -> tuple[list[Undercut], list[str]]:
    """Every service that undercut its floor, and every comparison that could not be made (why).

    Rows that are not closed-loop service cells of a payload the floor ran are not compared; a
    service row or floor that was not measured is a comparison missed.
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
        fcpu, scpu = base.service_us_per_req, r.service_us_per_req
        if fcpu is not None and scpu is not None and scpu < fcpu:
            found.append(Undercut(r.caller, r.transport, r.service, "service_cpu_us_per_req", fcpu, scpu))
        fp50, sp50, floor_min, service_max = _p50(base), _p50(r), _p50(base, "min"), _p50(r, "max")
        if (fp50 is not None and sp50 is not None and floor_min is not None and service_max is not None
                and sp50 < fp50 and service_max < floor_min):
            found.append(Undercut(r.caller, r.transport, r.service, "p50_us", fp50, sp50))
    return found, missed
