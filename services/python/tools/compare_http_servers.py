"""Measure service CPU per request of candidate HTTP servers for a 64 B `POST /echo`.

Each server runs as `python -m bench_service http --http-server NAME` pinned to one core;
`wrk` runs pinned to the other. CPU is utime+stime summed over the server's process tree from
/proc/<pid>/stat, read before and after the measured run; CPU µs/request = delta / requests.

    python tools/compare_http_servers.py [--duration 10] [--repeats 3] [--connections 8]

Prints a Markdown table (medians over the repeats) for README.md.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
SERVICE_DIR = HERE.parent
TICK = os.sysconf("SC_CLK_TCK")
SERVERS = ["uvicorn", "waitress", "gunicorn-gthread", "gunicorn-gevent"]


@dataclass
class Sample:
    """One measured wrk run against one server."""

    requests: int
    rps: float
    p50_us: float
    p99_us: float
    cpu_s: float
    errors: str

    @property
    def cpu_us_per_request(self) -> float:
        """Server CPU per request in microseconds."""
        return self.cpu_s * 1e6 / self.requests


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def tree_cpu_seconds(root: int) -> float:
    """utime+stime of `root` and all its live descendants, in seconds."""
    parent: dict[int, int] = {}
    cpu: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()
        pid = int(entry)
        parent[pid] = int(fields[1])
        cpu[pid] = int(fields[11]) + int(fields[12])
    total, frontier = 0, [root]
    seen = set()
    while frontier:
        pid = frontier.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += cpu.get(pid, 0)
        frontier.extend(child for child, ppid in parent.items() if ppid == pid)
    return total / TICK


def to_us(value: str) -> float:
    """A wrk latency such as `448.00us` or `1.54ms` in microseconds."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", value)
    if match is None:
        raise ValueError(f"cannot read wrk latency {value!r}")
    number, unit = match.groups()
    return float(number) * {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}[unit]


def run_wrk(port: int, seconds: int, connections: int, core: str) -> tuple[int, float, float, float, str]:
    """Run wrk pinned to `core`; returns requests, requests/s, p50 µs, p99 µs and any error lines."""
    cmd = ["taskset", "-c", core, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
           "-s", str(HERE / "post.lua"), f"http://127.0.0.1:{port}/echo"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    try:
        requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
        p50 = to_us(re.search(r"50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
        p99 = to_us(re.search(r"99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    except (AttributeError, ValueError) as e:
        raise SystemExit(f"cannot read wrk output ({e}):\n{out}") from e
    errors = "; ".join(line.strip() for line in out.splitlines()
                       if "Non-2xx" in line or "Socket errors" in line)
    return requests, rps, p50, p99, errors


def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """Poll `GET /health` until it answers 200; exit if the server dies or the deadline passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"server not ready on port {port} after {timeout}s")


def measure(server: str, args: argparse.Namespace) -> list[Sample]:
    """Start one server, warm it up, and measure it `args.repeats` times."""
    port = free_port()
    cmd = ["taskset", "-c", args.server_core, sys.executable, "-m", "bench_service", "http",
           "--port", str(port), "--http-server", server]
    log = open(HERE / f"compare-{server}.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, cwd=SERVICE_DIR, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    samples = []
    try:
        wait_ready(port, proc)
        run_wrk(port, args.warmup, args.connections, args.client_core)
        for _ in range(args.repeats):
            before = tree_cpu_seconds(proc.pid)
            requests, rps, p50, p99, errors = run_wrk(port, args.duration, args.connections, args.client_core)
            cpu = tree_cpu_seconds(proc.pid) - before
            samples.append(Sample(requests, rps, p50, p99, cpu, errors))
            print(f"  {server}: {requests} req, {rps:.0f} req/s, p50 {p50:.0f} µs, "
                  f"CPU {cpu:.2f} s = {samples[-1].cpu_us_per_request:.1f} µs/req {errors}", file=sys.stderr)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
        log.close()
    return samples


def main() -> int:
    """Measure every server and print a Markdown table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--servers", nargs="+", default=SERVERS)
    p.add_argument("--duration", type=int, default=10, help="seconds per measured wrk run")
    p.add_argument("--warmup", type=int, default=2, help="seconds of unmeasured wrk before the runs")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--server-core", default="1")
    p.add_argument("--client-core", default="0")
    args = p.parse_args()
    rows = []
    for server in args.servers:
        samples = measure(server, args)
        rows.append((server, samples))
    print(f"| server | CPU µs/request | requests/s | p50 µs | p99 µs | notes |  (median of {args.repeats} "
          f"x {args.duration} s, wrk -t1 -c{args.connections}, 64 B POST /echo)")
    print("|---|---:|---:|---:|---:|---|")
    for server, samples in rows:
        med = statistics.median
        cpu = med(s.cpu_us_per_request for s in samples)
        per_request = [s.cpu_us_per_request for s in samples]
        spread = f"{min(per_request):.1f}-{max(per_request):.1f}"
        errors = "; ".join(sorted({s.errors for s in samples if s.errors}))
        print(f"| {server} | {cpu:.1f} ({spread}) | {med(s.rps for s in samples):.0f} | "
              f"{med(s.p50_us for s in samples):.0f} | {med(s.p99_us for s in samples):.0f} | {errors} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
