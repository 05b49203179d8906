"""Service CPU per request of a 64 B zmq echo, for different `--workers` settings.

Usage (from services/java, after `mvn package`):
    /work/main/.venv/bin/python tools/zmq_cpu.py [--workers 1,3] [--seconds 10] [--window 16]

For each setting: start the jar (manifest JVM flags, transport zmq) pinned to core 1, then from
this process (pinned to core 0) one pyzmq DEALER keeps `window` requests `["", "echo", body]` in
flight for a warm-up run and a measured run; CPU is utime+stime of the whole JVM from
/proc/<pid>/stat. One worker = the ROUTER thread computes replies itself; more = ROUTER ->
inproc DEALER proxy -> DEALER worker threads.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import zmq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from http_cpu import SERVICE, TICK, cpu_ticks, free_port  # noqa: E402

BODY = b"0123456789abcdef" * 4


def jvm_flags() -> list[str]:
    import shlex
    import tomllib

    manifest = tomllib.loads((SERVICE / "service.toml").read_text())
    words = shlex.split(manifest["transports"]["zmq"]["command"])
    return words[1:words.index("-jar")] + [f for f in os.environ.get("EXTRA_JVM", "").split() if f]


def drive(sock: zmq.Socket, seconds: float, window: int) -> int:
    end = time.monotonic() + seconds
    inflight = 0
    done = 0
    while True:
        now_ok = time.monotonic() < end
        while now_ok and inflight < window:
            sock.send_multipart([b"", b"echo", BODY])
            inflight += 1
        if inflight == 0:
            return done
        frames = sock.recv_multipart()
        if frames[1] != b"ok" or frames[2] != BODY:
            raise SystemExit(f"bad reply {frames[:2]!r}")
        inflight -= 1
        done += 1


def measure(workers: int, seconds: float, window: int) -> tuple[float, float]:
    port = free_port()
    jar = str(SERVICE / "target/bench-service.jar")
    cmd = ["taskset", "-c", os.environ.get("SERVICE_CPUS", "1"), "java", *jvm_flags(), "-jar", jar,
           "zmq", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, 30_000)
    try:
        sock.connect(f"tcp://127.0.0.1:{port}")
        sock.send_multipart([b"", b"health", b""])
        sock.recv_multipart()  # ready
        drive(sock, seconds, window)  # warm-up
        before = cpu_ticks(proc.pid)
        n = drive(sock, seconds, window)
        after = cpu_ticks(proc.pid)
    finally:
        sock.close()
        ctx.term()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return n / seconds, (after - before) * 1e6 / TICK / n


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--workers", default="1,3")
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--window", type=int, default=16)
    args = p.parse_args()
    os.sched_setaffinity(0, {0})
    print(f"jvm flags: {' '.join(jvm_flags())}; one DEALER, window {args.window}, 64 B echo, {args.seconds:g} s")
    print(f"{'workers':>7} {'req/s':>10} {'cpu us/req':>11}")
    for w in args.workers.split(","):
        rps, us = measure(int(w), args.seconds, args.window)
        print(f"{w:>7} {rps:10.0f} {us:11.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
