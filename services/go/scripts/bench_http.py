"""CPU per request of the Go HTTP servers against nginx under the same native load (wrk).

    python3 scripts/bench_http.py [--rounds 3] [--duration-s 5] [--connections 32]
                                  [--servers fasthttp,gnet,nethttp]
                                  [--variant LABEL=VAR=VALUE[,VAR=VALUE]] ...

Each round measures, one after another and in the project's placement (wrk on core 0, the
server on core 1): nginx answering POST /echo with `return 200` of a fixed 64 B string (nginx
cannot echo a body: the issue's reference), then bin/bench-service http with each of --servers
echoing a 64 B body, and the default server again under each --variant's environment (GOGC, GOMAXPROCS,
...). CPU is utime+stime of the server's processes from /proc (nginx: master and
worker) over the measured seconds, divided by the requests wrk completed. Prints one line per
cell and round, then the medians, with `uptime` before and after. Standard library only.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
BODY = "x" * 64
TICK = os.sysconf("SC_CLK_TCK")
NGINX_CONF = """
daemon off;
master_process on;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port};
        location = /echo {{
            default_type application/octet-stream;
            return 200 "{body}";
        }}
    }}
}}
"""
WRK_LUA = f'wrk.method = "POST"\nwrk.body = "{BODY}"\nwrk.headers["Content-Type"] = "application/octet-stream"\n'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out]


def wait_port(port: int, proc: subprocess.Popen[bytes], deadline_s: float = 10.0) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            sys.exit(f"the server exited with {proc.returncode} before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing listens on {port} after {deadline_s} s")


def measure(name: str, cmd: list[str], port: int, args: argparse.Namespace, lua: Path,
            env: dict[str, str] | None = None) -> tuple[float, float]:
    proc = subprocess.Popen(["taskset", "-c", "1", *cmd], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True, env=env)
    try:
        wait_port(port, proc)
        pids = [proc.pid, *children(proc.pid)]
        url = f"http://127.0.0.1:{port}/echo"
        wrk = ["taskset", "-c", "0", "wrk", "-t1", f"-c{args.connections}", "-s", str(lua), url]
        subprocess.run([*wrk, "-d1s"], capture_output=True, check=True)  # warm-up
        before = cpu_ticks(pids)
        out = subprocess.run([*wrk, f"-d{args.duration_s}s"], capture_output=True, text=True, check=True).stdout
        used = (cpu_ticks(pids) - before) / TICK
        m = re.search(r"(\d+) requests in", out)
        if not m or "Non-2xx" in out:
            sys.exit(f"{name}: unexpected wrk output:\n{out}")
        requests = int(m.group(1))
        return used / requests * 1e6, requests / args.duration_s
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration-s", type=int, default=5)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--servers", default="fasthttp,gnet,nethttp",
                    help="the --http-server values to measure, comma-separated (default: all three)")
    ap.add_argument("--variant", action="append", default=[],
                    help="LABEL=VAR=VALUE[,VAR=VALUE]: the service's default server once more with this environment")
    args = ap.parse_args()
    for tool in ("wrk", "taskset", "pgrep"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not on PATH; run `make setup`")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    service = HERE / "bin" / "bench-service"
    if not service.exists():
        sys.exit(f"{service} is missing: run `python -m harness build go` first")
    print("uptime before:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    results: dict[str, list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
        lua = Path(tmp) / "post.lua"
        lua.write_text(WRK_LUA)
        for r in range(args.rounds):
            port = free_port()
            conf = Path(tmp) / "nginx.conf"
            conf.write_text(NGINX_CONF.format(dir=tmp, port=port, body=BODY))
            cells = [("nginx", [nginx, "-c", str(conf), "-e", f"{tmp}/error.log"], port)]
            for server in args.servers.split(","):
                p = free_port()
                cells.append((f"go-{server}", [str(service), "http", "--port", str(p), "--http-server", server], p))
            envs: dict[str, dict[str, str] | None] = {}
            for v in args.variant:
                label, _, assignments = v.partition("=")
                p = free_port()
                cells.append((f"go-{label}", [str(service), "http", "--port", str(p)], p))
                envs[f"go-{label}"] = dict(os.environ, **dict(a.split("=", 1) for a in assignments.split(",")))
            for name, cmd, p in cells:
                us, rps = measure(name, cmd, p, args, lua, env=envs.get(name))
                results.setdefault(name, []).append((us, rps))
                print(f"round {r + 1}  {name:13s} {us:6.1f} us CPU/request  {rps:9.0f} requests/s", flush=True)
    print("uptime after: ", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    ref = statistics.median(u for u, _ in results["nginx"])
    for name, rs in results.items():
        med = statistics.median(u for u, _ in rs)
        print(f"median {name:13s} {med:6.1f} us CPU/request  ({med / ref:.2f}x nginx)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
