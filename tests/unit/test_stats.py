"""Histograms: recording, exact merge, encoding; CPU accounting arithmetic."""

from __future__ import annotations

import random

from harness.results.stats import (
    CpuSample,
    cpu_delta,
    decode,
    encode,
    mean,
    merge,
    new_histogram,
    percentiles,
    record,
    spectrum,
    summarize,
)


def test_merge_is_exact() -> None:
    rng = random.Random(7)
    parts = [new_histogram() for _ in range(3)]
    everything = new_histogram()
    for h in parts:
        for _ in range(5000):
            v = rng.lognormvariate(4, 1)
            record(h, v)
            record(everything, v)
    merged = merge(decode(encode(h)) for h in parts)
    assert merged.get_total_count() == sum(h.get_total_count() for h in parts) == 15000
    for p in (50, 90, 99, 99.9, 100):
        assert merged.get_value_at_percentile(p) == everything.get_value_at_percentile(p)


def test_record_clamps_instead_of_dropping() -> None:
    h = new_histogram()
    record(h, 0.2)
    record(h, 10 ** 12)
    assert h.get_total_count() == 2
    assert h.get_min_value() == 1
    assert h.get_max_value() >= 60_000_000


def test_microsecond_resolution() -> None:
    h = new_histogram()
    for v in (61, 62, 63, 64, 65):
        record(h, v)
    s = summarize(h)
    assert s["p50"] == 63 and s["min"] == 61 and s["count"] == 5


def test_the_one_walk_percentiles_and_mean_equal_hdrhistograms_own() -> None:
    """`percentiles` and `mean` walk only the recorded buckets; HdrHistogram walks every one."""
    rng = random.Random(11)
    shapes = [lambda: rng.lognormvariate(4, 1), lambda: rng.expovariate(1 / 300), lambda: rng.choice([3, 70, 5e6]),
              lambda: 1.0]
    ps = [0.0, 0.5, 1, 10, 50, 63.2, 90, 99, 99.9, 99.99, 99.999, 100.0]
    for n, shape in [(1, shapes[0]), (7, shapes[2]), (20_000, shapes[0]), (5000, shapes[1]), (300, shapes[3])]:
        h = new_histogram()
        for _ in range(n):
            record(h, shape())
        for candidate in (h, decode(encode(h))):  # a decoded histogram may have a shorter counts array
            assert percentiles(candidate, ps) == [float(candidate.get_value_at_percentile(p)) for p in ps]
            assert percentiles(candidate, list(reversed(ps))) == [float(candidate.get_value_at_percentile(p))
                                                                  for p in reversed(ps)]
            assert mean(candidate) == candidate.get_mean_value()
    empty = new_histogram()
    assert percentiles(empty, [50, 99]) == [0.0, 0.0] and mean(empty) == 0.0


def test_spectrum_is_monotonic() -> None:
    h = new_histogram()
    for v in range(1, 10001):
        record(h, v)
    points = spectrum(h)
    assert points[0][0] == 0.0
    assert all(a[1] <= b[1] for a, b in zip(points, points[1:], strict=False))
    assert summarize(new_histogram()) == {"count": 0}


def test_cpu_delta() -> None:
    d = cpu_delta(CpuSample(10.0, 1.0, 2.0, 0.5), CpuSample(12.0, 1.5, 3.9, 0.7), requests=1000)
    assert d.service_us_per_req == 500.0
    assert d.loadgen_util == 0.95
    assert d.loadgen_us_per_req == 1900.0
    assert d.service_plus_redis_us_per_req == 700.0
    assert cpu_delta(CpuSample(0, 0, 0, 0), CpuSample(1, 1, 1, 0), requests=0).service_us_per_req is None


def test_cpu_delta_of_a_service_on_another_host_leaves_its_figures_unknown() -> None:
    d = cpu_delta(CpuSample(0, 5.0, 0, 0), CpuSample(1, 6.0, 0.5, 0), requests=100, service_measured=False)
    assert d.service_s is None and d.service_us_per_req is None and d.service_util is None
    assert d.loadgen_us_per_req == 5000.0
    assert "another host" in d.note
