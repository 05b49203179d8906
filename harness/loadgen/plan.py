"""The load plan one Locust run follows: phases of closed or open loop load.

The runner builds a Plan per cell and hands it to the locustfile as JSON (`BENCH_PLAN`).
A phase lasts `duration_s`; `rate` is the offered load in requests/s for open loop (None for
closed loop); unmeasured phases (warm-up) are run but not reported. A sweep is a plan whose
measured phases step the rate up, with an objective (`slo`) that stops it at the first step
that breaks it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class PhaseSpec:
    """One phase of a plan."""

    name: str
    duration_s: float
    rate: float | None = None
    measured: bool = True


@dataclass
class Slo:
    """The objective a sweep step must meet to count as sustainable."""

    p99_us: float
    max_error_rate: float = 0.01


@dataclass
class Plan:
    """Phases, loop kind, arrival process and (for sweeps) the objective."""

    phases: list[PhaseSpec] = field(default_factory=list)
    open_loop: bool = False
    arrival: str = "constant"
    seed: int = 1
    slo: Slo | None = None

    @staticmethod
    def closed(warmup_s: float, duration_s: float) -> Plan:
        """Closed loop: a warm-up, then one measured phase."""
        return Plan([PhaseSpec("warmup", warmup_s, None, False), PhaseSpec("measure", duration_s)])

    @staticmethod
    def open(warmup_s: float, duration_s: float, rate: float, arrival: str, seed: int) -> Plan:
        """Open loop at one rate: a warm-up at that rate, then one measured phase."""
        return Plan([PhaseSpec("warmup", warmup_s, rate, False), PhaseSpec("measure", duration_s, rate)],
                    open_loop=True, arrival=arrival, seed=seed)

    @staticmethod
    def sweep(warmup_s: float, step_s: float, rates: list[float], arrival: str, seed: int, slo: Slo) -> Plan:
        """Open loop stepping through `rates`, stopped at the first step that breaks `slo`."""
        phases = [PhaseSpec("warmup", warmup_s, rates[0], False)]
        phases += [PhaseSpec(f"step-{i + 1}", step_s, float(r)) for i, r in enumerate(rates)]
        return Plan(phases, open_loop=True, arrival=arrival, seed=seed, slo=slo)

    @property
    def total_s(self) -> float:
        """The plan's length in seconds."""
        return sum(p.duration_s for p in self.phases)

    def to_json(self) -> str:
        """The plan as JSON, for BENCH_PLAN."""
        return json.dumps(asdict(self))

    @staticmethod
    def from_env(text: str | None) -> Plan:
        """The plan of BENCH_PLAN; without one (the web UI), one endless measured closed-loop phase."""
        if not text:
            return Plan([PhaseSpec("all", float("inf"))])
        d: dict[str, Any] = json.loads(text)
        slo = Slo(**d["slo"]) if d.get("slo") else None
        return Plan([PhaseSpec(**p) for p in d["phases"]], d["open_loop"], d["arrival"], d["seed"], slo)
