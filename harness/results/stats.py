"""Microsecond HDR histograms, their merge, percentiles, and CPU accounting per cell.

Locust rounds response times under 100 ms to whole milliseconds, so the harness records
every request itself, in microseconds, with 3 significant digits, from 1 µs to 60 s.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass

from hdrh.histogram import HdrHistogram

from harness.results.schema import Cpu

LOWEST_US = 1
HIGHEST_US = 60_000_000
SIGNIFICANT = 3
PERCENTILES = (50.0, 90.0, 99.0, 99.9)


def new_histogram() -> HdrHistogram:
    """An empty latency histogram in microseconds (1 µs .. 60 s, 3 significant digits)."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT)


def record(h: HdrHistogram, micros: float) -> None:
    """Record one latency, clamped into the histogram's range (never silently dropped)."""
    v = int(micros + 0.5)
    h.record_value(LOWEST_US if v < LOWEST_US else HIGHEST_US if v > HIGHEST_US else v)


def encode(h: HdrHistogram) -> str:
    """The histogram as compressed base64 text (the HdrHistogram interchange format)."""
    data = h.encode()
    return data.decode("ascii") if isinstance(data, bytes) else str(data)


def decode(text: str) -> HdrHistogram:
    """A histogram from `encode`'s text."""
    return HdrHistogram.decode(text.encode("ascii") if isinstance(text, str) else text)


def merge(histograms: Iterable[HdrHistogram]) -> HdrHistogram:
    """One histogram holding every value of `histograms` (exact: counts add bucket by bucket)."""
    out = new_histogram()
    for h in histograms:
        out.add(h)
    return out


def _recorded(h: HdrHistogram) -> list[tuple[int, int]]:
    """(index, count) of every bucket that holds a value, in index order: one pass over the counts.

    HdrHistogram's own `get_value_at_percentile` and `get_mean_value` walk all 17,408 buckets in
    Python, each on its own (50 ms for a summary); these walk only the recorded ones.
    """
    n = min(h.counts_len, h.encoder.payload.counts_len)  # a decoded histogram's counts may be shorter
    counts = h.counts
    return [(i, c) for i, c in enumerate(counts[:n]) if c]


def percentiles(h: HdrHistogram, ps: Iterable[float]) -> list[float]:
    """`h.get_value_at_percentile(p)` for each of `ps`, exactly, in one walk over the recorded buckets."""
    return _percentiles(h, _recorded(h) if h.get_total_count() else [], list(ps))


def _percentiles(h: HdrHistogram, recorded: list[tuple[int, int]], wanted: list[float]) -> list[float]:
    if h.get_total_count() == 0:
        return [0.0 for _ in wanted]
    order = sorted(range(len(wanted)), key=lambda k: wanted[k])
    out = [0.0] * len(wanted)
    pos, total = 0, 0
    for k in order:
        p = wanted[k]
        target = h.get_target_count_at_percentile(p)
        while total < target and pos < len(recorded):
            total += recorded[pos][1]
            pos += 1
        if total < target:
            break  # never reached (as HdrHistogram's own walk answers: 0)
        value = h.get_value_from_index(recorded[pos - 1][0])
        out[k] = float(h.get_highest_equivalent_value(value) if p else h.get_lowest_equivalent_value(value))
    return out


def mean(h: HdrHistogram) -> float:
    """`h.get_mean_value()`, exactly: every bucket's count times its median equivalent value."""
    return _mean(h, _recorded(h) if h.get_total_count() else [])


def _mean(h: HdrHistogram, recorded: list[tuple[int, int]]) -> float:
    n = h.get_total_count()
    if n == 0:
        return 0.0
    total = 0
    half_magnitude, unit_magnitude = h.sub_bucket_half_count_magnitude, h.unit_magnitude
    for index, count in recorded:
        lowest = h.get_value_from_index(index)  # a bucket's first value, its range 2^(unit + bucket) wide
        bucket = max((index >> half_magnitude) - 1, 0)
        total += count * (lowest + ((1 << (unit_magnitude + bucket)) >> 1))
    return float(total) / n


def summarize(h: HdrHistogram) -> dict[str, float]:
    """p50, p90, p99, p99.9, min, mean, max and count of a histogram, in microseconds."""
    n = h.get_total_count()
    if n == 0:
        return {"count": 0}
    recorded = _recorded(h)  # one pass over the counts for the percentiles and the mean
    values = _percentiles(h, recorded, list(PERCENTILES))
    out: dict[str, float] = {f"p{p:g}": v for p, v in zip(PERCENTILES, values, strict=True)}
    out.update(min=float(h.get_min_value()), mean=round(_mean(h, recorded), 1),
               max=float(h.get_max_value()), count=float(n))
    return out


def spectrum(h: HdrHistogram, points: int = 60) -> list[tuple[float, float]]:
    """(percentile, latency µs) pairs spaced evenly on the 1/(1-p) log axis, HdrHistogram style."""
    if h.get_total_count() == 0:
        return []
    # From p0 to p99.999: x = 10**(5*i/(points-1)) nines-scale.
    ps = [100.0 * (1.0 - 10.0 ** (-(5.0 * i / (points - 1)))) for i in range(points)]
    return list(zip(ps, percentiles(h, ps), strict=True))


@dataclass
class CpuSample:
    """CPU seconds of the measured processes at one instant."""

    wall: float
    service: float
    loadgen: float
    redis: float


def cpu_delta(before: CpuSample, after: CpuSample, requests: int, service_measured: bool = True) -> Cpu:
    """CPU used between two samples: seconds per role, utilisation, and µs per request.

    `service_measured` False (a service on another host) leaves the service's figures unknown.
    """
    wall = max(after.wall - before.wall, 1e-9)
    svc = max(after.service - before.service, 0.0)
    gen = max(after.loadgen - before.loadgen, 0.0)
    red = max(after.redis - before.redis, 0.0)

    def per_req(seconds: float) -> float | None:
        return round(seconds * 1e6 / requests, 2) if requests else None

    return Cpu(
        wall_s=round(wall, 4), service_s=round(svc, 4) if service_measured else None, loadgen_s=round(gen, 4),
        redis_s=round(red, 4), service_util=round(svc / wall, 3) if service_measured else None,
        loadgen_util=round(gen / wall, 3), redis_util=round(red / wall, 3),
        service_us_per_req=per_req(svc) if service_measured else None,
        service_plus_redis_us_per_req=per_req(svc + red) if service_measured else None,
        loadgen_us_per_req=per_req(gen),
        note="" if service_measured else "the service runs on another host: its CPU is not measured",
    )


def b64(data: bytes) -> str:
    """Base64 text of bytes (for embedding images in reports)."""
    return base64.b64encode(data).decode("ascii")
