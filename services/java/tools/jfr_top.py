#!/usr/bin/env python3
"""Where a JFR recording's CPU samples went: jdk.ExecutionSample by top frame, and by the
first frame (from the top) in each of the given package prefixes, of the threads named.

    python3 tools/jfr_top.py REC.jfr [--thread grpc-default-worker] [--top 25]

Reads `jfr print --json --events jdk.ExecutionSample` (the JDK's own jfr tool). "self" is the
share of samples whose top frame is the method; "incl." is the share of samples with the
method (or package prefix) anywhere in the stack.
"""
import argparse
import collections
import json
import subprocess
import sys


def frames(ev):
    st = ev["values"].get("stackTrace") or {}
    for f in st.get("frames", []):
        m = f["method"]
        yield f"{m['type']['name']}.{m['name']}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("recording")
    ap.add_argument("--thread", default="", help="only threads whose name starts with this")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--incl", default="bench.,io.grpc.netty.shaded.io.netty.handler.codec.http2,"
                    "io.grpc.netty.shaded.io.netty.channel.epoll,io.grpc.internal,io.grpc.netty,"
                    "io.grpc.netty.shaded.io.netty.buffer,com.google.protobuf,zmq.,org.zeromq,java.,jdk.,sun.",
                    help="package prefixes whose inclusive share is printed")
    a = ap.parse_args()
    out = subprocess.run(["jfr", "print", "--json", "--events", "jdk.ExecutionSample", a.recording],
                         check=True, capture_output=True, text=True).stdout
    events = json.loads(out)["recording"]["events"]
    top = collections.Counter()
    incl = collections.Counter()
    pkg = collections.Counter()
    threads = collections.Counter()
    n = 0
    for ev in events:
        th = (ev["values"].get("sampledThread") or {}).get("javaName") or ""
        threads[th] += 1
        if not th.startswith(a.thread):
            continue
        fs = [f.replace("/", ".") for f in frames(ev)]
        if not fs:
            continue
        n += 1
        top[fs[0]] += 1
        for f in set(fs):
            incl[f] += 1
        for p in a.incl.split(","):
            if any(f.startswith(p) for f in fs):
                pkg[p] += 1
    if not n:
        sys.exit(f"no samples of threads starting with {a.thread!r}; threads: {dict(threads)}")
    print(f"{n} samples of threads '{a.thread}*' (all threads: {sum(threads.values())}: "
          + ", ".join(f"{t} {c}" for t, c in threads.most_common(6)) + ")")
    print("\nself (top frame):")
    for f, c in top.most_common(a.top):
        print(f"  {100 * c / n:5.1f} %  {f}")
    print("\ninclusive (method anywhere in the stack):")
    for f, c in incl.most_common(a.top):
        print(f"  {100 * c / n:5.1f} %  {f}")
    print("\ninclusive by package prefix:")
    for p, c in pkg.most_common():
        print(f"  {100 * c / n:5.1f} %  {p}")


if __name__ == "__main__":
    main()
