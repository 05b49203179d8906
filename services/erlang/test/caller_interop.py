"""Interop of the Erlang caller's codecs with Python's: HdrHistogram V2 and msgpack.

- Histograms encoded by bench_hdr (Erlang) decode with Python's `hdrh` to the same count, min,
  max and percentiles as a Python histogram of the same values, `add`ing one to a Python
  histogram is exact (bucket by bucket), and bench_hdr's own summary agrees with `hdrh`'s.
- A message Locust's own protocol (`locust.rpc.protocol.Message`) serialises decodes in
  bench_msgpack to the same value, and bench_msgpack's encoding of it unserialises in Locust.

Run: .venv/bin/python services/erlang/test/caller_interop.py  (exit status 0 when all pass).
"""
from __future__ import annotations

import base64
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from hdrh.histogram import HdrHistogram
from locust.rpc.protocol import Message
from support import SERVICE, Checks

check = Checks()
EBIN = SERVICE / "_build" / "default" / "lib" / "bench" / "ebin"


def erl(expr: str) -> str:
    """The output of an Erlang expression printed with ~s by a fresh node."""
    code = f"io:format(\"~s\", [begin {expr} end]), halt()."
    out = subprocess.run(["erl", "-noshell", "-pa", str(EBIN), "-eval", code], capture_output=True, text=True,
                         timeout=60, check=True)
    return out.stdout


def erlang_histogram(values: list[int]) -> tuple[str, dict]:
    """bench_hdr's encoding of `values` and its summary (as JSON)."""
    with tempfile.NamedTemporaryFile("w", suffix=".erl-terms", delete=False) as f:
        f.write("[" + ",".join(map(str, values)) + "].\n")
    path = Path(f.name)
    try:
        text = erl(f"{{ok, [Vs]}} = file:consult(\"{path}\"), "
                   "H = bench_hdr:new(), [bench_hdr:record(H, V) || V <- Vs], "
                   "C = bench_hdr:snapshot(H), "
                   "[bench_hdr:encode_counts(C), \"\\n\", jiffy:encode(bench_hdr:summary(C))]")
    finally:
        path.unlink()
    encoded, summary = text.split("\n", 1)
    return encoded, json.loads(summary)


def python_histogram(values: list[int]) -> HdrHistogram:
    h = HdrHistogram(1, 60_000_000, 3)
    for v in values:
        h.record_value(v)
    return h


def counts(h: HdrHistogram) -> list[int]:
    return [h.get_count_at_index(i) for i in range(h.counts_len)]


PERCENTILES = (0.0, 1.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0)


def histograms() -> None:
    rng = random.Random(7)
    cases = {
        "one value": [100],
        "1..2000 (unit buckets)": list(range(1, 2001)),
        "lognormal latencies": [max(1, min(60_000_000, int(rng.lognormvariate(5, 1.5)))) for _ in range(20000)],
        "extremes": [1, 1, 60_000_000, 59_999_999, 2047, 2048, 2049, 4095, 4096],
        "many equal": [250] * 100000,
    }
    for name, values in cases.items():
        encoded, summary = erlang_histogram(values)
        theirs = HdrHistogram.decode(encoded.encode("ascii"))
        mine = python_histogram(values)
        check(theirs.get_total_count() == len(values), f"{name}: count {theirs.get_total_count()} != {len(values)}")
        check(theirs.get_min_value() == mine.get_min_value(), f"{name}: min")
        check(theirs.get_max_value() == mine.get_max_value(), f"{name}: max")
        for p in PERCENTILES:
            a, b = theirs.get_value_at_percentile(p), mine.get_value_at_percentile(p)
            check(a == b, f"{name}: p{p} {a} != {b}")
        for key, p in (("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99.9", 99.9)):
            check(summary[key] == mine.get_value_at_percentile(p), f"{name}: summary {key} {summary[key]}")
        check(summary["count"] == len(values), f"{name}: summary count")
        check(summary["min"] == mine.get_min_value() and summary["max"] == mine.get_max_value(),
              f"{name}: summary min/max {summary['min']} {summary['max']}")
        # add: a Python histogram plus the decoded Erlang one is bucket by bucket the histogram of both
        both = python_histogram(values)
        both.add(theirs)
        doubled = python_histogram(values + values)
        check(both.get_total_count() == 2 * len(values), f"{name}: add count")
        check(counts(both) == counts(doubled), f"{name}: add is not bucket-exact")
        # and Python's re-encoding decodes to the same counts as ours
        again = HdrHistogram.decode(mine.encode())
        check(counts(again) == counts(theirs), f"{name}: counts differ from Python's")
    empty, summary = erlang_histogram([])
    check(HdrHistogram.decode(empty.encode("ascii")).get_total_count() == 0, "empty histogram")
    check(summary == {"count": 0}, f"empty summary {summary}")


def msgpack_messages() -> None:
    data = {"user_classes_count": {"BenchCell": 4}, "host": "", "stop_timeout": None, "timestamp": 1764580000.25,
            "parsed_options": {"num_users": 4, "headless": True, "tags": [], "x": -70000}, "body": b"\x00\xff"}
    packed = Message("spawn", data, "host_0123").serialize()
    text = erl(f"{{ok, V}} = bench_msgpack:decode(base64:decode(<<\"{base64.b64encode(packed).decode()}\">>), "
               "#{bin_tag => true}), base64:encode(iolist_to_binary(bench_msgpack:encode(V)))")
    back = Message.unserialize(base64.b64decode(text))
    check(back.type == "spawn" and back.node_id == "host_0123" and back.data == data,
          f"Locust message round trip through bench_msgpack: {back.data}")


def main() -> int:
    histograms()
    msgpack_messages()
    print(f"caller_interop: {check.count} checks, {len(check.failures)} failures")
    return 1 if check.failures else 0


if __name__ == "__main__":
    sys.exit(main())
