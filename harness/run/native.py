"""The HTTP services and nginx under the same native load: service CPU per request as a ratio to nginx's.

`wrk` (C, one thread, 8 keep-alive connections, 64 B POST bodies) drives each HTTP service and
an nginx on the same cores, in turns, in the same run; the service's CPU comes from /proc
(its whole process tree) over the measured window, divided by the requests wrk completed.
nginx has no echo: it reads and discards the 64 B body and returns 64 fixed bytes, which is the
least an HTTP/1.1 server can do for this request, so the ratio is the price of each service's
runtime and server over the cheapest well-known HTTP server.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.contract.manifest import Service
from harness.errors import HarnessError
from harness.processes.supervisor import Proc, Supervisor, free_port, spawn, tree_cpu_seconds, wait_ready

BODY = "x" * 64
WRK_LUA = (f'wrk.method = "POST"\nwrk.body = "{BODY}"\n'
           'wrk.headers["Content-Type"] = "application/octet-stream"\n')
NGINX_CONF = """daemon off;
master_process off;
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
  keepalive_requests 100000000;
  server {{
    listen 127.0.0.1:{port};
    location = /echo {{ default_type application/octet-stream; return 200 "{body}"; }}
  }}
}}
"""


@dataclass
class NativeResult:
    """One server under wrk: medians over the rounds, and the ratio of its CPU per request to nginx's."""

    server: str
    rounds: int
    rps: float
    service_us_per_req: float
    service_util: float
    us_per_req_rounds: list[float]
    ratio_to_nginx: float | None = None


def nginx_path() -> str:
    """The nginx binary, or a HarnessError saying how to get it."""
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if not found:
        raise HarnessError("nginx is not installed: run `make setup` (Debian package nginx-light), or "
                           "pass --no-native to selfbench")
    return found


def start_nginx(folder: Path, cores: str) -> tuple[Proc, int]:
    """nginx in the foreground on a free loopback port, pinned to `cores`, with its files under `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (folder / sub).mkdir(exist_ok=True)
    port = free_port()
    conf = folder / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=folder, port=port, body=BODY))
    proc = spawn("nginx", [nginx_path(), "-c", str(conf), "-p", str(folder)], folder / "nginx.log", cores=cores)

    def up() -> bool:
        import socket

        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True

    wait_ready(proc, up, 10.0)
    return proc, port


def _wrk_argv(url: str, lua: Path, seconds: float, cores: str, connections: int) -> list[str]:
    if shutil.which("wrk") is None:
        raise HarnessError("wrk is not installed: run `make setup` (Debian package wrk)")
    return ["taskset", "-c", cores, "wrk", "-t1", f"-c{connections}", f"-d{max(int(seconds), 1)}s", "-s", str(lua),
            url]


def _wrk_result(argv: list[str], url: str, stdout: str, stderr: str) -> tuple[int, float]:
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", stdout)
    if not m:
        raise HarnessError(f"could not read wrk's output ({' '.join(argv)}):\n{stdout}{stderr}")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", stdout)
    if bad:
        raise HarnessError(f"{url}: {bad.group(1)} non-2xx replies under wrk:\n{stdout}")
    scale = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[m.group(3)]
    return int(m.group(1)), float(m.group(2)) * scale


def run_wrk(url: str, lua: Path, seconds: float, cores: str, connections: int = 8) -> tuple[int, float]:
    """(requests, seconds) of one `wrk -t1 -c<connections>` run pinned to `cores`; errors say what failed."""
    argv = _wrk_argv(url, lua, seconds, cores, connections)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30)
    return _wrk_result(argv, url, done.stdout, done.stderr)


def wrk_client_cpu(url: str, lua: Path, seconds: float, cores: str, connections: int) -> tuple[int, float]:
    """(requests, CPU-seconds of wrk itself) of one pinned `wrk -t1 -c<connections>` run: the native
    client's own cost (taskset execs wrk, so the child's rusage is wrk's)."""
    argv = _wrk_argv(url, lua, seconds, cores, connections)
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(argv, stdout=out, stderr=err, text=True)
        try:
            _, _, usage = os.wait4(child.pid, 0)
        except BaseException:
            child.kill()
            child.wait()
            raise
        child.returncode = 0  # reaped by wait4
        out.seek(0)
        err.seek(0)
        requests, _ = _wrk_result(argv, url, out.read(), err.read())
    return requests, usage.ru_utime + usage.ru_stime


def _measure(pid: int, url: str, lua: Path, seconds: float, cores: str) -> tuple[float, float, float]:
    """(req/s, service µs per request, service utilisation) of one measured wrk window."""
    cpu0, t0 = tree_cpu_seconds(pid), time.monotonic()
    requests, wrk_s = run_wrk(url, lua, seconds, cores)
    cpu1, t1 = tree_cpu_seconds(pid), time.monotonic()
    if not requests:
        raise HarnessError(f"{url}: wrk completed no request")
    return requests / wrk_s, (cpu1 - cpu0) * 1e6 / requests, (cpu1 - cpu0) / (t1 - t0)


def native_http(out: Path, services: list[Service], seconds: float = 5.0, rounds: int = 3,
                placement: dict[str, str] | None = None, max_warmup_s: float = 20.0) -> list[NativeResult]:
    """nginx and every HTTP service under the same wrk load, in turns, `rounds` times; nginx's ratio is 1."""
    place = placement or {"loadgen": "0", "services": "1"}
    lua = out / "native-post64.lua"
    lua.write_text(WRK_LUA)
    http = [s for s in services if "http" in s.commands and not s.missing_programs()]
    samples: dict[str, list[tuple[float, float, float]]] = {"nginx": []}
    with Supervisor(out / "logs") as sup:
        nginx, port = start_nginx(out / "nginx", place["services"])
        targets: list[tuple[str, int, str]] = [("nginx", nginx.pid, f"http://127.0.0.1:{port}/echo")]
        try:
            run_wrk(targets[0][2], lua, 2, place["loadgen"])  # warm-up
            for svc in http:
                proc, ep = sup.start(svc, "http", cores=place["services"])
                url = f"http://{ep.host}:{ep.port}/echo"
                run_wrk(url, lua, min(max(2.0, svc.warmup_s), max_warmup_s), place["loadgen"])  # the JIT's warm-up
                targets.append((svc.name, proc.pid, url))
                samples[svc.name] = []
            for _ in range(rounds):
                for name, pid, url in targets:
                    samples[name].append(_measure(pid, url, lua, seconds, place["loadgen"]))
        finally:
            nginx.stop()
    results = []
    for name, got in samples.items():
        per_req = [round(s[1], 2) for s in got]
        results.append(NativeResult(server=name, rounds=len(got), rps=round(statistics.median(s[0] for s in got)),
                                    service_us_per_req=round(statistics.median(per_req), 2),
                                    service_util=round(statistics.median(s[2] for s in got), 3),
                                    us_per_req_rounds=per_req))
    base = results[0].service_us_per_req
    for r in results:
        r.ratio_to_nginx = round(r.service_us_per_req / base, 2) if base else None
    return results


def as_json(results: list[NativeResult]) -> list[dict[str, Any]]:
    """The results as selfbench.json's `native_http`."""
    return [asdict(r) for r in results]


def print_table(results: list[NativeResult], seconds: float) -> None:
    """The table selfbench prints: req/s, service CPU per request and the ratio to nginx, per server."""
    print(f"\nnative load: wrk -t1 -c8, 64 B POST /echo, {seconds:g} s x {results[0].rounds} rounds per server "
          "(medians; the server on the services' core, wrk on the load generator's):")
    print(f"{'server':10} {'req/s':>9} {'util':>6} {'CPU µs/req':>11} {'x nginx':>8}   rounds µs/req")
    for r in results:
        ratio = f"{r.ratio_to_nginx:.2f}" if r.ratio_to_nginx is not None else "–"
        print(f"{r.server:10} {r.rps:>9,.0f} {r.service_util:>6.0%} {r.service_us_per_req:>11.1f} {ratio:>8}   "
              + ", ".join(f"{v:.1f}" for v in r.us_per_req_rounds))
