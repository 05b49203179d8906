"""Measure the gRPC server's CPU per 64 B `Echo` for several thread-pool sizes.

The server runs pinned to one core (`--workers N` = ThreadPoolExecutor size); a grpcio client
pinned to the other keeps `--in-flight` calls outstanding for `--duration` seconds. CPU is
utime+stime of the server's process tree from /proc.

    python tools/compare_grpc_threads.py --workers 1 2 4 8
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

REQUEST = b"\n\x40" + b"x" * 64  # Blob{data: 64 bytes}


def load(port: int, seconds: float, in_flight: int) -> int:
    """Keep `in_flight` Echo calls outstanding for `seconds`; returns the number completed."""
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    echo = channel.unary_unary("/bench.v1.Bench/Echo")
    deadline = time.monotonic() + seconds
    done = 0
    lock = threading.Lock()
    finished = threading.Semaphore(0)

    def fire() -> None:
        future = echo.future(REQUEST, timeout=10, wait_for_ready=True)
        future.add_done_callback(on_done)

    failures: list[str] = []

    def on_done(future: grpc.Future) -> None:
        nonlocal done
        error = future.exception()
        ok = error is None and future.result() == REQUEST
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
    """Measure each thread-pool size and print a Markdown table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8])
    p.add_argument("--duration", type=float, default=10)
    p.add_argument("--in-flight", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    os.sched_setaffinity(0, {0})
    print(f"| grpc threads | calls/s | server CPU µs/call |  (64 B Echo, {args.in_flight} in flight, "
          f"median of {args.repeats} x {args.duration:.0f} s)")
    print("|---:|---:|---:|")
    for workers in args.workers:
        port = free_port()
        cmd = ["taskset", "-c", "1", sys.executable, "-m", "bench_service", "grpc", "--port", str(port),
               "--workers", str(workers)]
        with open(HERE / f"grpc-{workers}.log", "wb") as log:
            proc = subprocess.Popen(cmd, cwd=HERE.parent, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        try:
            load(port, 2, args.in_flight)  # warm-up, also waits for readiness via the call timeouts
            rates, costs = [], []
            for _ in range(args.repeats):
                t0, cpu0 = time.monotonic(), tree_cpu_seconds(proc.pid)
                calls = load(port, args.duration, args.in_flight)
                elapsed, cpu = time.monotonic() - t0, tree_cpu_seconds(proc.pid) - cpu0
                rates.append(calls / elapsed)
                costs.append(cpu * 1e6 / calls)
            rate, cost = statistics.median(rates), statistics.median(costs)
            print(f"| {workers} | {rate:.0f} | {cost:.1f} |", flush=True)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
