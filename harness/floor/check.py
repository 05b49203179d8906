"""Whether the floor is a floor: no service undercuts its transport's floor in the same run.

A floor (architecture.md, measurement rule 5) keeps its meaning only if, in every run, each
transport's floor has the lowest p50 latency and the lowest service CPU per request. This
compares, per transport and caller, the floor's row with every service's row of the same payload
and says where a service did better than the floor; tests/test_floor.py asserts there is no such
place. Noise: each side is its repetitions' median (aggregate's `service_cpu_reps`, `p50_reps`),
and a service below the floor counts when the two are apart by more than the noise, that is when
every repetition of the service is below every repetition of the floor (their ranges do not
overlap). For the p50 that is needed because on a busy machine a closed loop's p50 moves by half
between repetitions of the same cell, and a queue's p50 is mostly the broker's and the client's;
for the CPU since the Go service's event loop on gnet does what the http floor does (one
`epoll_wait`, one `read`, one write per request), and the two are within the noise of a 1.5 s
cell of each other at the floor test's light load (docs/performance.md, "The floor").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
        if _below(r.service_cpu_reps, base.service_cpu_reps):
            found.append(Undercut(r.caller, r.transport, r.service, "service_cpu_us_per_req",
                                  float(base.service_cpu_reps["median"]), float(r.service_cpu_reps["median"])))
        if _below(r.p50_reps, base.p50_reps):
            found.append(Undercut(r.caller, r.transport, r.service, "p50_us", float(base.p50_reps["median"]),
                                  float(r.p50_reps["median"])))
    return found, missed


def _below(service: dict[str, Any], floor: dict[str, Any]) -> bool:
    """Whether the service's repetitions are below the floor's beyond the noise: a lower median and
    every repetition below every one of the floor's."""
    keys = ("median", "min", "max")
    if not all(service.get(k) is not None for k in keys) or not all(floor.get(k) is not None for k in keys):
        return False
    return float(service["median"]) < float(floor["median"]) and float(service["max"]) < float(floor["min"])
