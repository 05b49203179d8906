"""CPU per request of ZeroMQ servers under the same load: pyzmq DEALER clients on core 0.

    PYTHON scripts/bench_zmq.py [--seconds 5] [--rounds 3] NAME=COMMAND ...

Each COMMAND (with {port} in it) is started on core 1 and answers [op, body] requests; 8
DEALER sockets keep 16 requests each in flight with 64 B echo bodies. CPU is utime+stime of the
server from /proc over the measured seconds divided by the replies received. Needs pyzmq (the
harness's interpreter has it). Used for README.md "ZeroMQ binding".
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import zmq

TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ticks(pid: int) -> int:
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])


def load(port: int, seconds: float, sockets: int = 8, depth: int = 16) -> int:
    ctx = zmq.Context.instance()
    socks = []
    for _ in range(sockets):
        s = ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(f"tcp://127.0.0.1:{port}")
        socks.append(s)
    poller = zmq.Poller()
    for s in socks:
        poller.register(s, zmq.POLLIN)
        for _ in range(depth):
            s.send_multipart([b"", b"echo", b"x" * 64])
    done, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        for s, _ in poller.poll(1000):
            while True:
                try:
                    frames = s.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                if frames[1] != b"ok":
                    sys.exit(f"bad reply {frames!r}")
                done += 1
                s.send_multipart([b"", b"echo", b"x" * 64])
    for s in socks:
        s.close()
    return done


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("servers", nargs="+", help="NAME=COMMAND with {port}")
    args = ap.parse_args()
    os.sched_setaffinity(0, {0})
    print("uptime before:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    res: dict[str, list[float]] = {}
    for r in range(args.rounds):
        for spec in args.servers:
            name, cmd = spec.split("=", 1)
            port = free_port()
            proc = subprocess.Popen(["taskset", "-c", "1", *shlex.split(cmd.format(port=port))],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            try:
                time.sleep(0.5)
                load(port, 1.0)  # warm-up
                t0 = ticks(proc.pid)
                n = load(port, args.seconds)
                us = (ticks(proc.pid) - t0) / TICK / n * 1e6
            finally:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(10)
            res.setdefault(name, []).append(us)
            print(f"round {r + 1}  {name:12s} {us:6.1f} us CPU/request  {n / args.seconds:8.0f} replies/s", flush=True)
    print("uptime after: ", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    for name, v in res.items():
        print(f"median {name:12s} {statistics.median(v):6.1f} us CPU/request")
    return 0


if __name__ == "__main__":
    sys.exit(main())
