"""Where a JFR recording's CPU samples went (jdk.ExecutionSample): the hottest top frames, the
methods most often on the stack, and the share of each package prefix, per thread if asked.

Usage (a JDK's `jfr` on PATH):
    python3 tools/jfr_top.py RECORDING.jfr [--top 30] [--thread grpc-caller] [--depth 1] [--incl bench.,io.grpc.]

`--thread S` keeps the samples of threads whose name contains S; `--depth N` counts the top N
frames of each sample as one key (the caller's context of a hot method); "self" is the share of
samples whose top frame is the method, "total" the share of samples with the method anywhere on
the stack, "by package" the share of samples with a frame of that package prefix.
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
from typing import Any

PACKAGES = ("bench.,io.grpc.netty.shaded.io.netty.handler.codec.http2,io.grpc.netty.shaded.io.netty.channel.epoll,"
            "io.grpc.internal,io.grpc.netty,io.grpc.netty.shaded.io.netty.buffer,com.google.protobuf,zmq.,org.zeromq,"
            "java.,jdk.,sun.")


def frame_name(f: dict[str, Any]) -> str:
    """`package.Class.method` of a JFR frame."""
    m = f["method"]
    return f"{m['type']['name'].replace('/', '.')}.{m['name']}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recording")
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--thread", default="", help="only samples of threads whose name contains this")
    p.add_argument("--depth", type=int, default=1)
    p.add_argument("--incl", default=PACKAGES, help="package prefixes whose share is printed (comma-separated)")
    a = p.parse_args()
    out = subprocess.run(["jfr", "print", "--json", "--stack-depth", "64", "--events", "jdk.ExecutionSample",
                          a.recording], capture_output=True, text=True, check=True).stdout
    events = json.loads(out)["recording"]["events"]
    selfc: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    packages: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    prefixes = [x for x in a.incl.split(",") if x]
    n = 0
    for e in events:
        v = e["values"]
        tname = (v.get("sampledThread") or {}).get("javaName") or "?"
        threads[tname] += 1
        if a.thread and a.thread not in tname:
            continue
        frames = [frame_name(f) for f in (v.get("stackTrace") or {}).get("frames") or []]
        if not frames:
            continue
        n += 1
        selfc[" < ".join(frames[:a.depth])] += 1
        for name in set(frames):
            total[name] += 1
        for prefix in prefixes:
            if any(f.startswith(prefix) for f in frames):
                packages[prefix] += 1
    print(f"# {len(events)} samples; threads: " + ", ".join(f"{t} {c}" for t, c in threads.most_common(8)))
    if not n:
        print(f"no samples of threads containing {a.thread!r}", file=sys.stderr)
        return 1
    print(f"# {n} samples selected\n## self")
    for k, c in selfc.most_common(a.top):
        print(f"{100 * c / n:5.1f}%  {k}")
    print("## total")
    for k, c in total.most_common(a.top):
        print(f"{100 * c / n:5.1f}%  {k}")
    print("## by package")
    for k, c in packages.most_common():
        print(f"{100 * c / n:5.1f}%  {k}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
