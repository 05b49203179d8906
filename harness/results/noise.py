"""Repetitions and noise: medians, bootstrap confidence intervals, and pyperf-style warnings.

A cell repeated N times gives N values of each metric. The report shows their median and a
95% bootstrap confidence interval of the median; when that interval is wide compared with the
median, the numbers are unstable and the harness says so, with what to try.
"""

from __future__ import annotations

import random
import statistics
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from harness.results.schema import Cell

UNSTABLE_PCT = 10.0
"""A confidence interval wider than this share of the median (either side) is a warning."""


def bootstrap_ci(values: list[float], iterations: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% bootstrap confidence interval of the median of `values` (degenerate for fewer than 2)."""
    if len(values) < 2:
        v = values[0] if values else 0.0
        return (v, v)
    rng = random.Random(seed)
    n = len(values)
    meds = sorted(statistics.median(rng.choices(values, k=n)) for _ in range(iterations))
    return (meds[int(0.025 * iterations)], meds[int(0.975 * iterations) - 1])


def summarize_reps(values: list[float]) -> dict[str, Any]:
    """Median, min, max, CI and relative spread of repeated measurements."""
    if not values:
        return {}
    med = statistics.median(values)
    lo, hi = bootstrap_ci(values)
    half = max(med - lo, hi - med)
    return {"median": med, "min": min(values), "max": max(values), "ci95": [lo, hi], "n": len(values),
            "spread_pct": round(100.0 * half / med, 1) if med else 0.0}


def group_reps(cells: list[Cell]) -> dict[tuple[str, str, str, str, str], list[Cell]]:
    """Measured cells grouped by caller, service, transport, payload and kind (their repetitions)."""
    groups: dict[tuple[str, str, str, str, str], list[Cell]] = defaultdict(list)
    for c in cells:
        if c.measured and c.kind != "sweep":
            groups[c.key].append(c)
    return groups


ADVICE = ("Try: more repetitions (load.repetitions), longer cells (load.duration_s), a longer warm-up, "
          "a quieter machine (nothing else running on these cores), or check [placement].")
"""What to do about unstable numbers; said once, after the list."""


@dataclass(frozen=True)
class Unstable:
    """One metric of one cell whose repetitions disagree by more than UNSTABLE_PCT."""

    cell: str
    metric: str
    median: float
    low: float
    high: float
    spread_pct: float
    runs: int

    def line(self) -> str:
        """The warning as one line, in the style of pyperf."""
        return (f"WARNING: {self.cell}: the {self.metric} is unstable: median {self.median:.0f}, "
                f"95% CI {self.low:.0f}..{self.high:.0f} (±{self.spread_pct:.0f}%) over {self.runs} runs.")


def unstable(cells: list[Cell]) -> list[Unstable]:
    """The p50s and throughputs whose repeated measurements disagree, cell by cell."""
    out = []
    for key, reps in group_reps(cells).items():
        if len(reps) < 2:
            continue
        for metric, values in (("p50", [c.latency_us["p50"] for c in reps]),
                               ("throughput", [c.throughput_rps for c in reps])):
            s = summarize_reps(values)
            if s["spread_pct"] > UNSTABLE_PCT:
                out.append(Unstable(f"{key[0]}->{'/'.join(key[1:4])} ({key[4]})", metric, s["median"], s["ci95"][0],
                                    s["ci95"][1], s["spread_pct"], s["n"]))
    return out


def spread_warning(cells: list[Cell]) -> list[str]:
    """Warnings, in the style of pyperf, for cells whose repetitions disagree; the advice last, once."""
    found = unstable(cells)
    return [u.line() for u in found] + ([f"  {ADVICE}"] if found else [])
