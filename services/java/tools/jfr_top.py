"""Aggregate a JFR recording's CPU samples (jdk.ExecutionSample): the hottest top frames and the
methods most often on the stack, per thread if asked.

Usage (a JDK's `jfr` on PATH):
    python tools/jfr_top.py RECORDING.jfr [--top 30] [--thread grpc-caller] [--depth 1]

`--depth N` counts the top N frames of each sample as one key (the caller's context of a hot
method); "self" is the share of samples whose top frame is the method, "total" the share of
samples with the method anywhere on the stack.
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys


def frame_name(f: dict) -> str:
    m = f["method"]
    cls = m["type"]["name"].rsplit(".", 1)[-1]
    return f"{cls}.{m['name']}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recording")
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--thread", default="", help="only samples of threads whose name contains this")
    p.add_argument("--depth", type=int, default=1)
    a = p.parse_args()
    out = subprocess.run(["jfr", "print", "--json", "--stack-depth", "64", "--events", "jdk.ExecutionSample",
                          a.recording], capture_output=True, text=True, check=True).stdout
    events = json.loads(out)["recording"]["events"]
    selfc: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    n = 0
    for e in events:
        v = e["values"]
        tname = (v.get("sampledThread") or {}).get("javaName") or "?"
        threads[tname] += 1
        if a.thread and a.thread not in tname:
            continue
        frames = (v.get("stackTrace") or {}).get("frames") or []
        if not frames:
            continue
        n += 1
        selfc[" < ".join(frame_name(f) for f in frames[:a.depth])] += 1
        for name in {frame_name(f) for f in frames}:
            total[name] += 1
    print(f"# {len(events)} samples; threads: " + ", ".join(f"{t} {c}" for t, c in threads.most_common(8)))
    print(f"# {n} samples selected\n## self")
    for k, c in selfc.most_common(a.top):
        print(f"{100 * c / n:5.1f}%  {k}")
    print("## total")
    for k, c in total.most_common(a.top):
        print(f"{100 * c / n:5.1f}%  {k}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
