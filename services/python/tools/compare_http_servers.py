"""Measure service CPU per request of candidate HTTP servers for a `POST /echo` (64 B by default).

Each server runs as `python -m bench_service http --http-server NAME` pinned to one core;
`wrk` runs pinned to the other. CPU is utime+stime summed over the server's process tree from
/proc/<pid>/stat, read before and after the measured run; CPU µs/request = delta / requests.

    python tools/compare_http_servers.py [--duration 10] [--repeats 3] [--connections 8]
        [--servers uvicorn granian-rsgi] [--size 65536] [--profile DIR]

`--size` sets the echoed body's bytes (wrk's script is generated for it). `--profile DIR`
also runs `py-spy record --native` on the server's worker process during the last measured
run and writes DIR/<server>-<size>.txt (collapsed stacks; `tools/profile_summary.py` reads
them). Prints a Markdown table (medians over the repeats) for README.md.
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
from typing import IO

HERE = Path(__file__).resolve().parent
SERVICE_DIR = HERE.parent
TICK = os.sysconf("SC_CLK_TCK")
SERVERS = ["uvicorn", "uvicorn-proxy-headers", "granian-rsgi", "granian-asgi", "waitress",
           "gunicorn-gthread", "gunicorn-gevent"]
PY_SPY = Path(sys.executable).parent / "py-spy"


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


def wrk_script(size: int) -> Path:
    """The wrk script that POSTs `size` bytes: tools/post.lua for 64, else a generated one."""
    if size == 64:
        return HERE / "post.lua"
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-post-{size}.lua"
    path.write_text(f'wrk.method = "POST"\nwrk.body = string.rep("x", {size})\n'
                    'wrk.headers["Content-Type"] = "application/octet-stream"\n')
    return path


def children(pid: int) -> list[int]:
    """The live child processes of `pid`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                raw = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(raw[raw.rindex(")") + 2:].split()[1]) == pid:
                found.append(int(entry))
    return found


def worker_pid(root: int) -> int:
    """The process that serves requests: the deepest descendant (granian and gunicorn fork one)."""
    pid = root
    while kids := children(pid):
        pid = max(kids)
    return pid


def run_wrk(port: int, seconds: int, connections: int, core: str,
            size: int = 64) -> tuple[int, float, float, float, str]:
    """Run wrk pinned to `core`; returns requests, requests/s, p50 µs, p99 µs and any error lines."""
    cmd = ["taskset", "-c", core, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
           "-s", str(wrk_script(size)), f"http://127.0.0.1:{port}/echo"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    try:
        requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
        p50 = to_us(re.search(r"^ *50% +(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
        p99 = to_us(re.search(r"^ *99% +(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
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


@dataclass
class Running:
    """One started server under comparison."""

    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: IO[bytes]


def start(server: str, args: argparse.Namespace) -> Running:
    """Start one server pinned to the server core and wait until it answers."""
    port = free_port()
    cmd = ["taskset", "-c", args.server_core, sys.executable, "-m", "bench_service", "http",
           "--port", str(port), "--http-server", server]
    log = open(HERE / f"compare-{server}.log", "wb")  # noqa: SIM115 - closed in stop()
    proc = subprocess.Popen(cmd, cwd=SERVICE_DIR, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    running = Running(server, port, proc, log)
    try:
        wait_ready(port, proc)
    except BaseException:
        stop(running)
        raise
    return running


def stop(running: Running) -> None:
    """SIGTERM the server's process group, wait, then SIGKILL it if it is still there."""
    try:
        os.killpg(running.proc.pid, signal.SIGTERM)
        running.proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(running.proc.pid, signal.SIGKILL)
        running.proc.wait(5)
    except ProcessLookupError:
        pass
    running.log.close()


def measure_once(running: Running, args: argparse.Namespace, profile: Path | None) -> Sample:
    """One measured wrk run against a started server, py-spy recording it when `profile` is set."""
    spy = None
    if profile is not None:
        profile.parent.mkdir(parents=True, exist_ok=True)
        spy = subprocess.Popen([str(PY_SPY), "record", "--native", "-r", "250", "-d",
                                str(max(1, args.duration - 1)), "-f", "raw", "-o", str(profile),
                                "-p", str(worker_pid(running.proc.pid))],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    before = tree_cpu_seconds(running.proc.pid)
    requests, rps, p50, p99, errors = run_wrk(running.port, args.duration, args.connections,
                                              args.client_core, args.size)
    cpu = tree_cpu_seconds(running.proc.pid) - before
    if spy is not None:
        spy.wait(30)
    sample = Sample(requests, rps, p50, p99, cpu, errors)
    print(f"  {running.name}: {requests} req, {rps:.0f} req/s, p50 {p50:.0f} µs, "
          f"CPU {cpu:.2f} s = {sample.cpu_us_per_request:.1f} µs/req {errors}", file=sys.stderr)
    return sample


def measure(args: argparse.Namespace) -> dict[str, list[Sample]]:
    """Start every server, warm each up, then measure them in turns, `args.repeats` rounds.

    Turns rather than one server after another: the machine's load drifts over minutes, and
    taking every server's n-th run within the same minute lets that drift touch all of them.
    """
    running: list[Running] = []
    samples: dict[str, list[Sample]] = {name: [] for name in args.servers}
    try:
        for server in args.servers:
            running.append(start(server, args))
        for r in running:
            run_wrk(r.port, args.warmup, args.connections, args.client_core, args.size)
        for repeat in range(args.repeats):
            for r in running:
                profile = None
                if args.profile is not None and repeat == args.repeats - 1:
                    profile = args.profile / f"{r.name}-{args.size}.txt"
                samples[r.name].append(measure_once(r, args, profile))
    finally:
        for r in running:
            stop(r)
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
    p.add_argument("--size", type=int, default=64, help="bytes of the echoed body")
    p.add_argument("--profile", type=Path, default=None, metavar="DIR",
                   help="py-spy the last measured run of each server into DIR/<server>-<size>.txt")
    args = p.parse_args()
    rows = list(measure(args).items())
    print(f"| server | CPU µs/request | requests/s | p50 µs | p99 µs | notes |  (median of {args.repeats} "
          f"x {args.duration} s, wrk -t1 -c{args.connections}, {args.size} B POST /echo)")
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
