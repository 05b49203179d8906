"""Measure the gRPC server's CPU per `Echo` (64 B by default) for several thread-pool sizes and grpc.aio.

The server runs pinned to one core (`--workers N` = ThreadPoolExecutor size); a grpcio client
pinned to the other keeps `--in-flight` calls outstanding for `--duration` seconds. CPU is
utime+stime of the server's process tree from /proc.

    python tools/compare_grpc_threads.py --workers 1 2 4 8
    python tools/compare_grpc_threads.py --workers 4 aio --size 65536

`aio` in `--workers` is the `grpc.aio` server (`--grpc-server aio`). Each repeat measures
every server once, in turns, so the machine's drifting load touches all of them alike.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from compare_http_servers import free_port, tree_cpu_seconds  # noqa: E402


def blob(size: int) -> bytes:
    """The serialized `Blob{data: size bytes}` (field 1, length-delimited)."""
    length, varint = size, b""
    while True:
        byte = length & 0x7F
        length >>= 7
        if length:
            varint += bytes([byte | 0x80])
        else:
            varint += bytes([byte])
            break
    return b"\n" + varint + b"x" * size


REQUEST = blob(64)


def load(port: int, seconds: float, in_flight: int, request: bytes = REQUEST) -> int:
    """Keep `in_flight` Echo calls outstanding for `seconds`; returns the number completed."""
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    echo = channel.unary_unary("/bench.v1.Bench/Echo")
    deadline = time.monotonic() + seconds
    done = 0
    lock = threading.Lock()
    finished = threading.Semaphore(0)

    def fire() -> None:
        future = echo.future(request, timeout=10, wait_for_ready=True)
        future.add_done_callback(on_done)

    failures: list[str] = []

    def on_done(future: grpc.Future) -> None:
        nonlocal done
        error = future.exception()
        ok = error is None and future.result() == request
        with lock:
            if ok:
                done += 1
            else:
                failures.append(repr(error) if error else "wrong reply")
        if ok and time.monotonic() < deadline:
            fire()
        else:
            finished.release()

    for _ in range(in_flight):
        fire()
    for _ in range(in_flight):
        finished.acquire()
    channel.close()
    if failures:
        raise SystemExit(f"{len(failures)} call(s) failed, first: {failures[0]}")
    return done


def main() -> int:
    """Measure each server (pool size or aio), in turns, and print a Markdown table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", nargs="+", default=["1", "2", "4", "8"],
                   help="thread-pool sizes to measure, and/or `aio`")
    p.add_argument("--duration", type=float, default=10)
    p.add_argument("--in-flight", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--size", type=int, default=64, help="bytes of the echoed data")
    args = p.parse_args()
    os.sched_setaffinity(0, {0})
    request = blob(args.size)
    procs: dict[str, tuple[int, subprocess.Popen[bytes]]] = {}
    rates: dict[str, list[float]] = {w: [] for w in args.workers}
    costs: dict[str, list[float]] = {w: [] for w in args.workers}
    try:
        for workers in args.workers:
            port = free_port()
            server = ["--grpc-server", "aio"] if workers == "aio" else ["--workers", workers]
            cmd = ["taskset", "-c", "1", sys.executable, "-m", "bench_service", "grpc", "--port", str(port),
                   *server]
            with open(HERE / f"grpc-{workers}.log", "wb") as log:
                procs[workers] = (port, subprocess.Popen(cmd, cwd=HERE.parent, stdout=log,
                                                         stderr=subprocess.STDOUT, start_new_session=True))
        for port, _ in procs.values():
            load(port, 2, args.in_flight, request)  # warm-up, also waits for readiness via the call timeouts
        for _ in range(args.repeats):
            for workers, (port, proc) in procs.items():
                t0, cpu0 = time.monotonic(), tree_cpu_seconds(proc.pid)
                calls = load(port, args.duration, args.in_flight, request)
                elapsed, cpu = time.monotonic() - t0, tree_cpu_seconds(proc.pid) - cpu0
                rates[workers].append(calls / elapsed)
                costs[workers].append(cpu * 1e6 / calls)
                print(f"  {workers}: {calls / elapsed:.0f} calls/s, {cpu * 1e6 / calls:.1f} µs/call",
                      file=sys.stderr, flush=True)
    finally:
        for _, proc in procs.values():
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(20)
    print(f"| grpc server | calls/s | server CPU µs/call (min-max) |  ({args.size} B Echo, {args.in_flight} "
          f"in flight, median of {args.repeats} x {args.duration:.0f} s, in turns)")
    print("|---|---:|---:|")
    for workers in args.workers:
        name = "grpc.aio" if workers == "aio" else f"{workers} threads"
        c = costs[workers]
        print(f"| {name} | {statistics.median(rates[workers]):.0f} | {statistics.median(c):.1f} "
              f"({min(c):.1f}-{max(c):.1f}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
