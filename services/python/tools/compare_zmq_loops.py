"""Compare two receive loops for the zmq ROUTER: `poll` + non-blocking receives, and a blocking
receive with RCVTIMEO. Both reply with `bench_service.zmq_server.reply_frames`.

The server runs pinned to core 1; a DEALER client on core 0 keeps 8 64-byte echoes in flight.
CPU = utime+stime of the server process from /proc.

    python tools/compare_zmq_loops.py [--duration 5] [--repeats 3]
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import zmq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from compare_http_servers import free_port, tree_cpu_seconds  # noqa: E402

from bench_service.ops import Service  # noqa: E402
from bench_service.zmq_server import reply_frames  # noqa: E402

VARIANTS = ("poll", "rcvtimeo")
REQUEST = [b"", b"echo", b"x" * 64]


def serve(variant: str, port: int) -> None:
    """Serve echo with the given loop until SIGTERM."""
    service = Service()
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.bind(f"tcp://127.0.0.1:{port}")
    stopping = False

    def on_term(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_term)
    if variant == "poll":
        while not stopping:
            if not sock.poll(500):
                continue
            while True:
                try:
                    frames = sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                sock.send_multipart(reply_frames(service, frames))
    else:
        sock.setsockopt(zmq.RCVTIMEO, 500)
        while not stopping:
            try:
                frames = sock.recv_multipart()
            except zmq.Again:
                continue
            sock.send_multipart(reply_frames(service, frames))
    sock.close(linger=0)
    ctx.term()


def drive(port: int, seconds: float) -> int:
    """Keep 8 requests in flight for `seconds`; returns the number of replies."""
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    dealer = ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.RCVTIMEO, 10_000)
    dealer.connect(f"tcp://127.0.0.1:{port}")
    for _ in range(8):
        dealer.send_multipart(REQUEST)
    done, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        dealer.recv_multipart()
        dealer.send_multipart(REQUEST)
        done += 1
    dealer.close(linger=0)
    ctx.term()
    return done


def main() -> int:
    """Measure both loops `--repeats` times and print one line per run."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--serve", choices=VARIANTS, help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--duration", type=float, default=5)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return 0
    import os

    os.sched_setaffinity(0, {0})
    print("| run | loop | requests/s | server CPU µs/request |")
    print("|---:|---|---:|---:|")
    for run in range(1, args.repeats + 1):
        for variant in VARIANTS:
            port = free_port()
            proc = subprocess.Popen(["taskset", "-c", "1", sys.executable, __file__, "--serve", variant,
                                     "--port", str(port)])
            try:
                drive(port, 1)  # warm-up; the DEALER queues until the server has bound
                cpu0 = tree_cpu_seconds(proc.pid)
                n = drive(port, args.duration)
                cpu = tree_cpu_seconds(proc.pid) - cpu0
                print(f"| {run} | {variant} | {n / args.duration:.0f} | {cpu * 1e6 / n:.1f} |", flush=True)
            finally:
                proc.terminate()
                proc.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
