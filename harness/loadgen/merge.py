"""Distributed load: merging what several Locust workers measured, exactly.

Each worker sends the master its Tracker results (per phase and cell: counters and the HDR
histograms as text) through Locust's own messaging. Histograms are added bucket by bucket,
so the merged percentiles are exactly those of one histogram holding every request.
"""

from __future__ import annotations

import os
from typing import Any

from harness.loadgen.plan import Plan
from harness.results.stats import decode, encode, merge, summarize

_SUMS = ("issued", "dropped", "late_wakeups", "queued")


def merge_results(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One Tracker result (see harness.loadgen.schedule.Tracker.results) from several workers' results."""
    if not results:
        return {"phases": [], "stopped_early": None}
    base = results[0]["phases"]
    phases = []
    for i, first in enumerate(base):
        parts = [r["phases"][i] for r in results if i < len(r["phases"])]
        merged: dict[str, Any] = {k: first[k] for k in ("name", "start", "end", "rate", "measured")}
        if first["rate"] is not None:
            merged["rate"] = sum(p["rate"] or 0 for p in parts)
        for k in _SUMS:
            merged[k] = sum(p[k] for p in parts)
        merged["wakeup_lag_us"] = first["wakeup_lag_us"]  # per worker in "workers"; not mergeable from summaries
        merged["queue_delay_us"] = first["queue_delay_us"]
        cells: dict[str, Any] = {}
        for name in sorted({n for p in parts for n in p["cells"]}):
            cs = [p["cells"][name] for p in parts if name in p["cells"]]
            corrected = merge(decode(c["histogram"]) for c in cs)
            uncorrected = merge(decode(c["histogram_uncorrected"]) for c in cs)
            cells[name] = {
                "requests": sum(c["requests"] for c in cs), "errors": sum(c["errors"] for c in cs),
                "wrong": sum(c["wrong"] for c in cs),
                "error_samples": [s for c in cs for s in c["error_samples"]][:5],
                "latency_us": summarize(corrected), "latency_uncorrected_us": summarize(uncorrected),
                "histogram": encode(corrected), "histogram_uncorrected": encode(uncorrected),
            }
        merged["cells"] = cells
        phases.append(merged)
    stopped = next((r["stopped_early"] for r in results if r.get("stopped_early")), None)
    return {"phases": phases, "stopped_early": stopped}


def worker_plan(plan: Plan, workers: int, index: int) -> Plan:
    """A worker's share of the plan: open-loop rates divided by the number of workers, its own seed.

    N independent Poisson streams of rate r/N add up to one Poisson stream of rate r.
    """
    share = Plan([type(p)(p.name, p.duration_s, p.rate / workers if p.rate else p.rate, p.measured)
                  for p in plan.phases], plan.open_loop, plan.arrival, plan.seed * 1000 + index, None)
    return share


def self_cpu_seconds() -> float:
    """CPU seconds of this process, all threads (schedstat nanoseconds where available)."""
    total = 0
    try:
        for tid in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{tid}/schedstat", "rb") as f:
                total += int(f.read().split(b" ", 1)[0])
        return total / 1e9
    except (OSError, ValueError):
        import time

        return time.process_time()
