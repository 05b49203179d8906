"""Service CPU per request of a 64 B HTTP echo, for each HTTP server candidate.

Usage (from services/java, after `mvn package`):
    /work/main/.venv/bin/python tools/http_cpu.py [--servers netty,undertow,jdk] [--seconds 10]

For each server: start the jar pinned to core 1 (`taskset -c 1`), wait for /health, warm the JIT
with one wrk run, then read utime+stime of the whole JVM process (all threads) from
/proc/<pid>/stat before and after a measured run of `taskset -c 0 wrk -t1 -c8 -d<seconds>s -s
tools/post64.lua http://127.0.0.1:P/echo`. Prints one line per server: requests/s and CPU
microseconds per request. JVM flags are the manifest's (service.toml).

With `--paired ROUNDS` all servers run at the same time, each with its own wrk (all wrks on core
0, all servers on core 1): on a machine shared with other work every server then sees the same
conditions, which makes the comparison fair even when absolute figures drift between runs.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
SERVICE = HERE.parent
TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def jvm_flags() -> list[str]:
    """The JVM flags of the manifest's http command (everything between `java` and `-jar`)."""
    manifest = tomllib.loads((SERVICE / "service.toml").read_text())
    words = shlex.split(manifest["transports"]["http"]["command"])
    return words[1:words.index("-jar")]


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)


def wait_ready(port: int, proc: subprocess.Popen[bytes], deadline_s: float = 30) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("server not ready in time")


def wrk(port: int, seconds: int, connections: int) -> float:
    out = subprocess.run(
        ["taskset", "-c", "0", "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(HERE / "post64.lua"),
         f"http://127.0.0.1:{port}/echo"], check=True, capture_output=True, text=True).stdout
    m = re.search(r"(\d+) requests in", out)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if not m or bad:
        raise SystemExit(f"wrk output not understood or errors:\n{out}")
    return float(m.group(1))


def measure(server: str, seconds: int, connections: int, workers: int | None,
            flags: list[str] | None = None) -> tuple[float, float]:
    port = free_port()
    jar = str(SERVICE / "target/bench-service.jar")
    cmd = ["taskset", "-c", "1", "java", *(jvm_flags() if flags is None else flags), "-jar", jar,
           "http", "--http-server", server, "--host", "127.0.0.1", "--port", str(port)]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_ready(port, proc)
        wrk(port, seconds, connections)  # JIT warm-up, not measured
        before = cpu_ticks(proc.pid)
        requests = wrk(port, seconds, connections)
        after = cpu_ticks(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    cpu_us = (after - before) * 1e6 / TICK
    return requests / seconds, cpu_us / requests


def measure_paired(servers: list[str], seconds: int, connections: int, workers: int | None,
                   flags: list[str] | None) -> list[tuple[float, float]]:
    """All servers at once, each with its own wrk: the same machine conditions for every one."""
    from concurrent.futures import ThreadPoolExecutor

    procs = []
    try:
        for server in servers:
            port = free_port()
            cmd = ["taskset", "-c", "1", "java", *(jvm_flags() if flags is None else flags),
                   "-jar", str(SERVICE / "target/bench-service.jar"), "http", "--http-server", server,
                   "--host", "127.0.0.1", "--port", str(port)]
            if workers is not None:
                cmd += ["--workers", str(workers)]
            procs.append((port, subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                                 start_new_session=True)))
        for port, proc in procs:
            wait_ready(port, proc)
        with ThreadPoolExecutor(len(procs)) as pool:
            list(pool.map(lambda pp: wrk(pp[0], seconds, connections), procs))  # warm-up
            before = [cpu_ticks(proc.pid) for _, proc in procs]
            counts = list(pool.map(lambda pp: wrk(pp[0], seconds, connections), procs))
            after = [cpu_ticks(proc.pid) for _, proc in procs]
    finally:
        for _, proc in procs:
            proc.send_signal(signal.SIGTERM)
        for _, proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    return [(n / seconds, (a - b) * 1e6 / TICK / n) for n, b, a in zip(counts, before, after, strict=True)]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--servers", default="netty,undertow,jdk")
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--workers", type=int, default=None, help="the service's --workers (default: its own)")
    p.add_argument("--jvm-flags", default=None, help="JVM flags instead of the manifest's (one string)")
    p.add_argument("--paired", type=int, default=0, metavar="ROUNDS",
                   help="run all servers at the same time (each with its own wrk), ROUNDS times")
    args = p.parse_args()
    flags = shlex.split(args.jvm_flags) if args.jvm_flags is not None else None
    shown = " ".join(jvm_flags() if flags is None else flags)
    print(f"jvm flags: {shown}; wrk -t1 -c{args.connections} -d{args.seconds}s, 64 B POST /echo, "
          f"service --workers {args.workers or 'default'}")
    print(f"{'server':10} {'req/s':>10} {'cpu us/req':>11}")
    if args.paired:
        servers = args.servers.split(",")
        for rnd in range(args.paired):
            for server, (rps, us) in zip(servers, measure_paired(servers, args.seconds, args.connections,
                                                                 args.workers, flags), strict=True):
                print(f"{server:10} {rps:10.0f} {us:11.1f}  (round {rnd + 1}, all servers at once)", flush=True)
        return 0
    for server in args.servers.split(","):
        rps, us = measure(server, args.seconds, args.connections, args.workers, flags)
        print(f"{server:10} {rps:10.0f} {us:11.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
