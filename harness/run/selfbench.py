"""The harness's own benchmark (docs/performance.md): what the measuring costs.

1. Requests/s per client core, per transport: the harness's Locust users against the floor
   responders (no work done), enough users to saturate the load generator's core; rate per
   core = throughput / load-generator utilisation, and its inverse, client CPU µs per request.
2. Unloaded client overhead: p50 of a 64 B http echo with one user of the caller (the harness's
   users, or a manifest's caller with `--caller`), against `wrk -t1 -c1` on the same service (the
   reference service's http transport) in the same run.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.contract.manifest import Service, discover, discover_floors, reference_service
from harness.errors import HarnessError
from harness.loadgen.protocol import HARNESS_CALLER, Plan
from harness.processes.supervisor import Supervisor
from harness.run.residents import Residents
from harness.run.runner import Runner, resolve_callers
from harness.run.scenario import CellSpec, Scenario

TARGETS = {"http": 20_000, "zmq": 25_000, "redis": 10_000}
ECHO = {"name": "echo-64B", "op": "echo", "size": 64}
WRK_LUA = ('wrk.method = "POST"\nwrk.body = string.rep("x", 64)\n'
           'wrk.headers["Content-Type"] = "application/octet-stream"\n')


def _scenario(out: Path, users: int, duration_s: float) -> Scenario:
    return Scenario(name="selfbench", path=out / "selfbench", services=[], transports=["http", "zmq", "redis", "grpc"],
                    payloads=[ECHO], users=users, duration_s=duration_s, warmup_s=1.0, repetitions=1,
                    placement={"loadgen": "0", "services": "1", "redis": "1"}, seed=1)


def client_rates(out: Path, users: int, duration_s: float, caller: str = HARNESS_CALLER,
                 warmup_s: float | None = None, transport_env: bool = True) -> list[dict[str, Any]]:
    """Throughput per client core of a caller (default: the harness's users) against each transport's floor.

    Each cell's warm-up is `warmup_s`, or else the caller's own for the transport (a JIT's steady state
    wants more); a resident caller (LOADGEN.md) serves the cells from one process, as in a run.
    Without `transport_env` the caller runs without its manifest's `[caller.transport_env]` (settings
    chosen for a run's short cells, such as Java's C1-only JIT for gRPC): its steady state.
    """
    sc = _scenario(out, users, duration_s)
    runner = Runner(sc, out)
    runner.callers = resolve_callers([caller])
    runner.residents = Residents(out / "logs")
    svc = runner.callers[caller]
    if not transport_env and svc is not None and svc.caller is not None:
        svc = runner.callers[caller] = replace(svc, caller=replace(svc.caller, transport_env={}))
    floor = discover_floors()[0]
    with Supervisor(out / "logs", redis_cores=sc.placement["redis"]) as sup:
        try:
            rows = [_client_rate(runner, sup, floor, t, svc, users, duration_s, warmup_s, caller)
                    for t in sc.transports if t in floor.commands]
        finally:
            runner.residents.close()
    return rows


def _client_rate(runner: Runner, sup: Supervisor, floor: Service, t: str, svc: Service | None, users: int,
                 duration_s: float, warmup_s: float | None, caller: str) -> dict[str, Any]:
    """One transport's row of `client_rates` (and wrk's, for http, on the same floor and core)."""
    sc = runner.scenario
    own = svc.caller.warmup_for(t) if svc is not None and svc.caller is not None else 0.0
    warmup = warmup_s if warmup_s is not None else max(sc.warmup_s, own)
    proc, endpoint = sup.start(floor, t, cores=sc.placement["services"])
    cell = runner.run_cell(sup, floor, proc, endpoint,
                           CellSpec("floor", ECHO, 0, users, Plan.closed(warmup, duration_s), caller=caller))
    wrk = _wrk_per_core(f"http://{endpoint.host}:{endpoint.port}/echo", runner.out, users, duration_s,
                        sc.placement["loadgen"]) if t == "http" and shutil.which("wrk") else None
    sup.stop(proc)
    if not cell.measured or cell.cpu is None:
        return {"transport": t, "error": cell.reason}
    util = cell.cpu.loadgen_util
    rps = cell.throughput_rps
    return {"transport": t, "users": users, "warmup_s": warmup, "throughput_rps": rps, "loadgen_util": util,
            "client_us_per_req": round(util * 1e6 / rps, 1) if rps else None,
            "rps_per_client_core": round(rps / util) if util else None,
            "target": TARGETS.get(t) if caller == HARNESS_CALLER else None,
            "p50_us": cell.latency_us["p50"],
            "server_util": cell.cpu.service_util,
            "wrk_rps_per_client_core": round(wrk[0]) if wrk else None,
            "wrk_client_us_per_req": round(wrk[1], 1) if wrk else None,
            "wrk_rps": round(wrk[2]) if wrk else None}


def _wrk_lua(out: Path) -> Path:
    """The wrk script of a 64 B POST, written into the results folder."""
    lua = out / "post64.lua"
    lua.write_text(WRK_LUA)
    return lua


def _wrk_per_core(url: str, out: Path, connections: int, seconds: float, cores: str) -> tuple[float, float, float]:
    """(requests per CPU-second of wrk, wrk's µs per request, wrk's req/s) of `wrk -t1 -c<connections>` on the
    caller's responder and core: the native client's cost, the reference for a caller's http figure."""
    from harness.run.native import wrk_client_cpu

    lua = _wrk_lua(out)
    requests, cpu = wrk_client_cpu(url, lua, seconds, cores, connections)
    if not requests or cpu <= 0:
        raise HarnessError(f"{url}: wrk completed no request or used no CPU: run it by hand to see why")
    return requests / cpu, cpu * 1e6 / requests, requests / seconds


def _wrk_p50_us(url: str, lua: Path, seconds: int, cores: str) -> tuple[float, float]:
    if shutil.which("wrk") is None:
        raise HarnessError("wrk is not installed: run `make setup` (Debian package wrk)")
    out = subprocess.run(["taskset", "-c", cores, "wrk", "-t1", "-c1", f"-d{seconds}s", "--latency", "-s", str(lua),
                          url], capture_output=True, text=True, timeout=seconds + 30).stdout
    m = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    r = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m or not r:
        raise HarnessError(f"could not read wrk's output:\n{out}")
    scale = {"us": 1.0, "ms": 1000.0, "s": 1e6}[m.group(2)]
    return float(m.group(1)) * scale, float(r.group(1))


def client_overhead(out: Path, service: str, duration_s: float, caller: str = HARNESS_CALLER) -> dict[str, Any]:
    """p50 of one user of `caller` against `wrk -t1 -c1` on the same running http service."""
    svc = discover()[service] if service else reference_service()
    sc = _scenario(out, 1, duration_s)
    runner = Runner(sc, out)
    runner.callers = resolve_callers([caller])
    csvc = runner.callers[caller]
    # a manifest caller's own warm-up (the JIT of a Java caller), as in client_rates
    warmup = max(1.0, csvc.caller.warmup_for("http") if csvc is not None and csvc.caller is not None else 0.0)
    lua = _wrk_lua(out)
    with Supervisor(out / "logs") as sup:
        proc, endpoint = sup.start(svc, "http", cores=sc.placement["services"])
        warm = max(2.0, svc.warmup_s)
        _wrk_p50_us(f"http://{endpoint.host}:{endpoint.port}/echo", lua, int(warm), sc.placement["loadgen"])
        wrk_p50, wrk_rps = _wrk_p50_us(f"http://{endpoint.host}:{endpoint.port}/echo", lua, int(duration_s),
                                       sc.placement["loadgen"])
        cell = runner.run_cell(sup, svc, proc, endpoint, CellSpec("closed", ECHO, 0, 1, Plan.closed(warmup, duration_s),
                                                                  caller=caller))
    if not cell.measured:
        raise HarnessError(f"selfbench: the {caller} caller's cell against {svc.name}/http failed: {cell.reason}")
    harness_p50 = cell.latency_us["p50"]
    # issue 13: a manifest caller (Java's) within 1.1x of wrk; the harness's gevent users within 1.25x
    return {"service": svc.name, "caller": caller, "wrk_p50_us": wrk_p50, "wrk_rps": wrk_rps,
            "harness_p50_us": harness_p50, "harness_rps": cell.throughput_rps, "ratio": round(harness_p50 / wrk_p50, 2),
            "target_ratio": 1.25 if caller == HARNESS_CALLER else 1.1}


def run_selfbench(out: Path, users: int = 32, duration_s: float = 5.0, service: str = "",
                  caller: str = HARNESS_CALLER, native: bool = True, native_only: bool = False,
                  rounds: int = 3, warmup_s: float | None = None, transport_env: bool = True) -> dict[str, Any]:
    """The measurements; written to <out>/selfbench.json and printed as tables.

    `native` adds nginx and every http service under the same wrk load (harness/run/native.py);
    `native_only` runs only that; `transport_env` False: see `client_rates`.
    """
    out.mkdir(parents=True, exist_ok=True)
    (out / "hist").mkdir(exist_ok=True)
    (out / "logs").mkdir(exist_ok=True)
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    native_rows = None
    if native or native_only:
        from harness.run import native as nat

        native_rows = nat.native_http(out, list(discover().values()), seconds=duration_s, rounds=rounds)
        nat.print_table(native_rows, duration_s)
        if native_only:
            result = {"started": started, "duration_s": duration_s, "native_http": nat.as_json(native_rows)}
            (out / "selfbench.json").write_text(json.dumps(result, indent=1))
            return result
    rates = client_rates(out, users, duration_s, caller, warmup_s, transport_env)
    overhead = client_overhead(out, service, duration_s, caller)
    result = {"started": started, "users": users, "duration_s": duration_s, "warmup_s": warmup_s,
              "transport_env": transport_env, "client_rates": rates, "client_overhead": overhead}
    if native_rows is not None:
        from harness.run.native import as_json

        result["native_http"] = as_json(native_rows)
    (out / "selfbench.json").write_text(json.dumps(result, indent=1))
    warm = f"{warmup_s:g} s" if warmup_s is not None else "the caller's own"
    env = "" if transport_env else ", without the manifest's [caller.transport_env]"
    print(f"\n{caller} caller: requests/s per client core (64 B echo against the floor, {users} users, "
          f"{duration_s:g} s after {warm} warm-up{env}):")
    print(f"{'transport':10} {'req/s':>8} {'client util':>12} {'client µs/req':>14} {'req/s per core':>15} "
          f"{'target':>8}")
    for r in rates:
        if "error" in r:
            print(f"{r['transport']:10} failed: {r['error']}")
            continue
        target = f"{r['target']:,}" if r["target"] else "–"
        print(f"{r['transport']:10} {r['throughput_rps']:>8,.0f} {r['loadgen_util']:>12.0%} "
              f"{r['client_us_per_req']:>14.1f} {r['rps_per_client_core']:>15,} {target:>8}")
        if r.get("wrk_rps_per_client_core"):
            print(f"{'  wrk':10} {r['wrk_rps']:>8,} {'':>12} {r['wrk_client_us_per_req']:>14.1f} "
                  f"{r['wrk_rps_per_client_core']:>15,} {'':>8}  (wrk -t1 -c{users}, same floor and core)")
    o = overhead
    if o is not None:
        print(f"\nunloaded client overhead, 64 B http echo on {o['service']}: {caller} p50 {o['harness_p50_us']:.0f} "
              f"µs, wrk -c1 p50 {o['wrk_p50_us']:.0f} µs: ratio {o['ratio']} (target <= {o['target_ratio']})")
    return result
