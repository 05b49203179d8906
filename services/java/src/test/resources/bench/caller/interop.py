"""The Python side of the Java caller's interop tests: what Python's hdrh and Locust make of Java's bytes.

`interop.py hdr` reads {"values": [µs...], "java": <base64 of the Java histogram of those values>}
on stdin, decodes the Java histogram with hdrh, compares it with a Python histogram of the same
values (the harness's parameters) count by count and at every percentile, adds the two, and
prints the comparison, Python's encoding, the merge's, and harness.results.stats.summarize of Java's.

`interop.py msgpack` reads a base64 frame the Java worker encoded, decodes it with Locust's own
Message.unserialize, and prints it, plus a base64 `spawn` frame as Locust's master encodes one.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[6]))

from harness.results.stats import decode, encode, new_histogram, record, summarize  # noqa: E402


def hdr() -> None:
    doc = json.load(sys.stdin)
    py = new_histogram()
    for v in doc["values"]:
        record(py, v)
    java = decode(doc["java"])
    diffs = []
    if java.get_total_count() != py.get_total_count():
        diffs.append(f"count {java.get_total_count()} != {py.get_total_count()}")
    percentiles = [0.0, 0.1, 1.0, *range(5, 100, 5), 99.0, 99.5, 99.9, 99.99, 99.999, 100.0]
    for p in percentiles:
        a, b = java.get_value_at_percentile(p), py.get_value_at_percentile(p)
        if a != b:
            diffs.append(f"p{p}: {a} != {b}")
    for name in ("get_min_value", "get_max_value", "get_mean_value"):
        a, b = getattr(java, name)(), getattr(py, name)()
        if a != b:
            diffs.append(f"{name}: {a} != {b}")
    buckets_java = {i.value_iterated_to: i.count_at_value_iterated_to for i in java.get_recorded_iterator()}
    buckets_py = {i.value_iterated_to: i.count_at_value_iterated_to for i in py.get_recorded_iterator()}
    if buckets_java != buckets_py:
        diffs.append("bucket counts differ")
    merged = new_histogram()
    merged.add(py)
    merged.add(java)
    print(json.dumps({"diffs": diffs, "python": encode(py), "merged": encode(merged),
                      "merged_count": merged.get_total_count(), "merged_p99": merged.get_value_at_percentile(99),
                      "summary": summarize(java)}))


def msgpack_() -> None:
    from locust.rpc.protocol import Message

    frame = base64.b64decode(sys.stdin.read().strip())
    m = Message.unserialize(frame)
    spawn = Message("spawn", {"timestamp": 1764579000.25, "user_classes_count": {"BenchCell": 3}, "host": None,
                              "stop_timeout": None, "parsed_options": {"num_users": 3, "tags": None}}, "vm_1")
    print(json.dumps({"type": m.type, "node_id": m.node_id, "data": repr(m.data),
                      "spawn": base64.b64encode(spawn.serialize()).decode()}))


if __name__ == "__main__":
    {"hdr": hdr, "msgpack": msgpack_}[sys.argv[1]]()
