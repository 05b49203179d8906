"""Per-cell changes between two runs: p50, p99, throughput and service CPU per request.

A change counts as real only when it is larger than the noise: the spread of the cell's
repetitions in either run (max - min over median), and at least `NOISE_FLOOR_PCT`.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from harness.report import load_run

NOISE_FLOOR_PCT = 5.0
METRICS = (("p50", "p50 µs", True), ("p99", "p99 µs", True), ("throughput_rps", "req/s", False),
           ("cpu_us_per_req", "CPU µs/req", True))


def _per_cell(cells: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, list[float]]]:
    out: dict[tuple[str, str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for c in cells:
        if c["status"] not in ("ok", "errors"):
            continue
        k = (c["service"], c["transport"], c["payload"])
        out[k]["p50"].append(c["latency_us"]["p50"])
        out[k]["p99"].append(c["latency_us"]["p99"])
        out[k]["throughput_rps"].append(c["throughput_rps"])
        if c["cpu"]["service_us_per_req"] is not None:
            out[k]["cpu_us_per_req"].append(c["cpu"]["service_us_per_req"])
    return out


def _spread_pct(values: list[float]) -> float:
    if len(values) < 2:
        return 0.0
    med = statistics.median(values)
    return 100.0 * (max(values) - min(values)) / med if med else 0.0


def compare_runs(run_a: Path, run_b: Path, fail_on_regression: float | None = None) -> int:
    """Print the table; return 1 when `fail_on_regression` is set and a cell got worse beyond it."""
    a, _ = load_run(run_a)
    b, _ = load_run(run_b)
    ca, cb = _per_cell(a["cells"]), _per_cell(b["cells"])
    keys = sorted(set(ca) & set(cb))
    if not keys:
        print("the two runs have no measured cell in common")
        return 1
    print(f"A = {run_a.name}\nB = {run_b.name}\n")
    print(f"{'cell':40} " + " ".join(f"{label:>22}" for _, label, _ in METRICS))
    regressions = []
    for k in keys:
        cols = []
        for m, _label, lower_is_better in METRICS:
            va, vb = ca[k].get(m, []), cb[k].get(m, [])
            if not va or not vb:
                cols.append(f"{'–':>22}")
                continue
            ma, mb = statistics.median(va), statistics.median(vb)
            change = 100.0 * (mb - ma) / ma if ma else 0.0
            noise = max(NOISE_FLOOR_PCT, _spread_pct(va), _spread_pct(vb))
            real = abs(change) > noise
            worse = (change > 0) == lower_is_better
            mark = (" WORSE" if worse else " better") if real else ""
            cols.append(f"{ma:>8.0f}->{mb:<8.0f}{change:+5.0f}%{mark[:2] if mark else '  '}")
            if real and worse and fail_on_regression is not None and abs(change) > fail_on_regression:
                regressions.append(f"{'/'.join(k)} {m} {change:+.1f}% (noise ±{noise:.1f}%)")
        print(f"{'/'.join(k):40} " + " ".join(cols))
    print("\nWO = worse beyond the noise, be = better beyond the noise; noise = max(5%, repetition spread)")
    if regressions:
        print("\nregressions beyond --fail-on-regression:")
        print("\n".join(f"  {r}" for r in regressions))
        return 1
    return 0
