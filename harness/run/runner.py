"""Runs a scenario's matrix cell by cell and writes results as it goes.

For each service x transport the supervisor starts the service (pinned to the scenario's
service cores) and, for queue transports, the private redis-server; then every cell of that
pair runs as one headless Locust process (pinned to the load-generator cores) following a
`Plan`: closed loop, open loop at a rate, a rate sweep, or a point of the diff cost curve.
The runner samples CPU of the service tree, the load generator and redis-server at every
phase boundary. The floor (the harness's own client against the cheapest responder, and a
raw socket ping-pong) is measured in the same run with the same placement. A failing cell is
recorded with its reason and the run goes on.
"""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import REPO
from harness.contract.manifest import TRANSPORTS, Service, load_manifest, select
from harness.errors import HarnessError
from harness.loadgen.payloads import user_class_name
from harness.loadgen.plan import Plan, Slo
from harness.processes.supervisor import Endpoint, Proc, Supervisor, free_port, spawn, stop_group, tree_cpu_seconds
from harness.results.noise import spread_warning
from harness.results.stats import CpuSample, cpu_delta
from harness.run.meta import collect_meta

SCHEMA_VERSION = 2
# Schema history:
#   1 (2026-11-23) cells.json {schema, run, scenario, interrupted, cells}; one closed-loop cell per
#     service x transport x payload x repetition; histograms in hist/<cell-id>.hdr.
#   2 (2026-11-23) adds cell "kind" (closed, open, sweep, curve, floor), "latency_uncorrected_us",
#     open-loop counters (offered_rps, late_wakeups, queued, dropped, wakeup_lag_us), sweep "steps"
#     and "max_sustainable_rps", and the run's "pingpong" floor.

DEFAULT_PLACEMENT = {"loadgen": "0", "services": "1", "redis": "1"}
FLOOR_MANIFEST = REPO / "harness" / "floor" / "service.toml"
CLIENT_BOUND_UTIL = 0.9
CLIENT_LAG_FRACTION = 0.01


@dataclass
class Scenario:
    """A scenario file: what to run, with which load, and where."""

    name: str
    path: Path
    services: list[str]
    transports: list[str]
    payloads: list[dict[str, Any]]
    users: int
    duration_s: float
    warmup_s: float
    repetitions: int
    placement: dict[str, str]
    seed: int
    open: dict[str, Any] | None = None
    sweep: dict[str, Any] | None = None
    curve: dict[str, Any] | None = None
    floor: bool = True
    env: dict[str, str] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class CellSpec:
    """One cell to run: what kind, which payload, with how many users and what plan."""

    kind: str
    payload: dict[str, Any]
    rep: int
    users: int
    plan: Plan

    @property
    def label(self) -> str:
        """The cell's name within its service x transport."""
        suffix = {"closed": "", "open": ".open", "sweep": ".sweep", "curve": ".curve", "floor": ""}[self.kind]
        return f"{self.payload['name']}{suffix}"


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario TOML file."""
    if not path.exists():
        choices = ", ".join(str(p.relative_to(REPO)) for p in sorted((REPO / "scenarios").glob("*.toml")))
        raise HarnessError(f"scenario {path} does not exist; choose one of: {choices}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise HarnessError(f"{path}: not valid TOML: {e}") from e
    load = data.get("load", {})
    transports = data.get("transports") or list(TRANSPORTS)
    bad = [t for t in transports if t not in TRANSPORTS]
    if bad:
        raise HarnessError(f"{path}: unknown transports {bad}; choose from {', '.join(TRANSPORTS)}")
    payloads = data.get("payloads", [])
    if not payloads:
        raise HarnessError(f"{path}: no [[payloads]]; add one, e.g. "
                           '[[payloads]] name = "echo-64B" op = "echo" size = 64')
    for p in payloads:
        if p.get("op") not in ("echo", "diff") or not p.get("name"):
            raise HarnessError(f"{path}: each payload needs name and op = \"echo\" or \"diff\": {p}")
    for section in ("open", "sweep"):
        sec = data.get(section)
        if sec and sec.get("arrival", "poisson") not in ("constant", "poisson"):
            raise HarnessError(f"{path}: [{section}] arrival is \"constant\" or \"poisson\"")
    if data.get("sweep") and not data["sweep"].get("rates"):
        raise HarnessError(f"{path}: [sweep] needs rates = [...] (requests/s, increasing)")
    placement = {**DEFAULT_PLACEMENT, **data.get("placement", {})}
    return Scenario(
        name=str(data.get("name", path.stem)), path=path, services=list(data.get("services", [])),
        transports=list(transports), payloads=payloads, users=int(load.get("users", 4)),
        duration_s=float(load.get("duration_s", 5)), warmup_s=float(load.get("warmup_s", 1)),
        repetitions=int(load.get("repetitions", 1)), placement={k: str(v) for k, v in placement.items()},
        seed=int(data.get("seed", 1)), open=data.get("open"), sweep=data.get("sweep"), curve=data.get("curve"),
        floor=bool(data.get("floor", True)), env={k: str(v) for k, v in data.get("env", {}).items()}, raw=data,
    )


def cell_specs(sc: Scenario, transport: str, warmup: float) -> list[CellSpec]:
    """Every cell of one service x transport, in run order. `warmup` applies to the first one."""
    specs: list[CellSpec] = []

    def w() -> float:
        return warmup if not specs else sc.warmup_s

    for p in sc.payloads:
        for rep in range(sc.repetitions):
            specs.append(CellSpec("closed", p, rep, sc.users, Plan.closed(w(), sc.duration_s)))
    if sc.open:
        o = sc.open
        for p in _select_payloads(sc, o):
            for rep in range(sc.repetitions):
                specs.append(CellSpec("open", p, rep, int(o.get("users", 16)),
                                      Plan.open(w(), float(o.get("duration_s", sc.duration_s)), float(o["rate"]),
                                                o.get("arrival", "poisson"), sc.seed + rep)))
    if sc.sweep and transport in sc.sweep.get("transports", TRANSPORTS):
        s = sc.sweep
        slo = Slo(p99_us=float(s.get("slo_p99_us", 20_000)), max_error_rate=float(s.get("max_error_rate", 0.01)))
        for p in _select_payloads(sc, s):
            specs.append(CellSpec("sweep", p, 0, int(s.get("users", 32)),
                                  Plan.sweep(w(), float(s.get("step_s", 3)), [float(r) for r in s["rates"]],
                                             s.get("arrival", "poisson"), sc.seed, slo)))
    if sc.curve and transport in sc.curve.get("transports", ["http"]):
        c = sc.curve
        for tokens in c.get("tokens", [50, 200, 1000, 5000]):
            p = {"name": f"diff-{tokens}", "op": "diff", "tokens": int(tokens)}
            specs.append(CellSpec("curve", p, 0, int(c.get("users", 1)),
                                  Plan.closed(w(), float(c.get("duration_s", sc.duration_s)))))
    return specs


def _select_payloads(sc: Scenario, section: dict[str, Any]) -> list[dict[str, Any]]:
    names = section.get("payloads")
    if not names:
        return sc.payloads
    found = [p for p in sc.payloads if p["name"] in names]
    if len(found) != len(names):
        raise HarnessError(f"{sc.path}: payloads {names} are not all defined under [[payloads]]")
    return found


def cell_id(service: str, transport: str, label: str, rep: int) -> str:
    """The stable name of a cell, used for files and in reports."""
    return f"{service}.{transport}.{label}.r{rep}"


class Progress:
    """Terminal progress: cell n of N, elapsed, estimated remaining."""

    def __init__(self, total: int, expected_s: float) -> None:
        self.total = total
        self.done = 0
        self.start = time.monotonic()
        self.expected_s = expected_s

    def line(self, text: str) -> None:
        """Print one progress line."""
        elapsed = time.monotonic() - self.start
        remaining = (elapsed / self.done * (self.total - self.done)) if self.done else self.expected_s
        print(f"[{self.done:>3}/{self.total} {_mmss(elapsed)} elapsed, ~{_mmss(remaining)} left] {text}", flush=True)


def _mmss(s: float) -> str:
    return f"{int(s // 60)}m{int(s % 60):02d}s"


class Runner:
    """Runs one scenario into results/<run-id>/."""

    def __init__(self, scenario: Scenario, out_dir: Path, workers: int = 0, remote_workers: int = 0,
                 master_bind: str = "127.0.0.1", master_port: int = 0,
                 external: dict[tuple[str, str], Endpoint] | None = None) -> None:
        self.scenario = scenario
        self.external = external or {}
        self.external_health: dict[str, Any] = {}
        self._external_now = False
        self.out = out_dir
        self.workers = workers
        self.remote_workers = remote_workers
        self.master_bind = master_bind
        self.master_port = master_port
        self.cells: list[dict[str, Any]] = []
        self.pingpong: dict[str, Any] | None = None
        self.services = select(scenario.services or None)
        self.interrupted = False

    def _plan_all(self) -> list[tuple[Service, str, list[CellSpec]]]:
        sc = self.scenario
        work: list[tuple[Service, str, list[CellSpec]]] = []
        if sc.floor:
            floor = load_manifest(FLOOR_MANIFEST)
            echo = next((p for p in sc.payloads if p["op"] == "echo"), {"name": "echo-64B", "op": "echo", "size": 64})
            for t in sc.transports:
                if t in floor.commands:
                    spec = CellSpec("floor", echo, 0, sc.users, Plan.closed(sc.warmup_s, sc.duration_s))
                    work.append((floor, t, [spec]))
        for svc in self.services:
            for t in sc.transports:
                if t in svc.commands or (svc.name, t) in self.external:
                    work.append((svc, t, cell_specs(sc, t, max(sc.warmup_s, svc.warmup_s))))
        return work

    def run(self) -> Path:
        """Run every cell; returns the results folder (valid even if interrupted)."""
        sc = self.scenario
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "hist").mkdir(exist_ok=True)
        (self.out / "logs").mkdir(exist_ok=True)
        meta = collect_meta(sc, self.services)
        (self.out / "meta.json").write_text(json.dumps(meta, indent=2))
        work = self._plan_all()
        total = sum(len(specs) for _, _, specs in work)
        expected = sum(s.plan.total_s + 2.5 for _, _, specs in work for s in specs)
        progress = Progress(total, expected)
        print(f"run {self.out.name}: scenario {sc.name}, {len(self.services)} services, {total} cells, "
              f"~{_mmss(expected)} expected; placement {sc.placement}", flush=True)
        old_int, old_term = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, _raise_interrupt)
        sup = Supervisor(self.out / "logs", redis_cores=sc.placement.get("redis"), extra_env=sc.env)
        try:
            for svc in self.services:
                for t in sc.transports:
                    if t not in svc.commands and (svc.name, t) not in self.external:
                        for p in sc.payloads:
                            self.cells.append({**self._base(svc, t, CellSpec("closed", p, 0, 0, Plan())),
                                               "status": "gap", "reason": svc.gap(t)})
            if sc.floor:
                self.pingpong = self._run_pingpong()
            for svc, t, specs in work:
                self._run_transport(sup, svc, t, specs, progress)
        except KeyboardInterrupt:
            self.interrupted = True
            print("\ninterrupted: stopping every process; the cells finished so far are kept", flush=True)
        finally:
            sup.close()
            signal.signal(signal.SIGINT, old_int)
            signal.signal(signal.SIGTERM, old_term)
            self._write()
        for warning in spread_warning(self.cells):
            print(warning, flush=True)
        return self.out

    def _run_pingpong(self) -> dict[str, Any] | None:
        from harness.floor.pingpong import run_pingpong

        try:
            result = run_pingpong(self.scenario.placement, self.out / "logs")
        except HarnessError as e:
            print(f"floor: raw socket ping-pong failed: {e}", flush=True)
            return {"error": str(e)}
        print(f"floor: raw TCP ping-pong, 64 B, p50 {result['latency_us']['p50']:.0f} µs, "
              f"p99 {result['latency_us']['p99']:.0f} µs", flush=True)
        return result

    def _run_transport(self, sup: Supervisor, svc: Service, transport: str, specs: list[CellSpec],
                       progress: Progress) -> None:
        sc = self.scenario
        proc: Proc | None = None
        try:
            if (svc.name, transport) in self.external:
                from harness.processes.hosts import check_external

                endpoint = self.external[(svc.name, transport)]
                self.external_health[f"{svc.name}/{transport}"] = {"endpoint": endpoint.describe(),
                                                                    "health": check_external(endpoint)}
            else:
                proc, endpoint = sup.start(svc, transport, cores=sc.placement.get("services"))
        except HarnessError as e:
            for spec in specs:
                progress.done += 1
                self._record_failed(svc, transport, spec, f"service did not start: {e}")
                progress.line(f"{svc.name}/{transport}/{spec.label} FAILED to start")
            return
        try:
            for spec in specs:
                progress.done += 1
                if proc is not None and not proc.alive():
                    self._record_failed(svc, transport, spec,
                                        f"service exited (code {proc.popen.returncode}); log: {proc.log_path}\n"
                                        f"{proc.log_tail(10)}")
                    progress.line(f"{svc.name}/{transport}/{spec.label} FAILED: service died")
                    continue
                cell = self._run_cell(sup, svc, proc, endpoint, spec)
                if proc is not None and not proc.alive():  # it died in the cell: what was measured is not the service
                    cell["status"] = "failed"
                    cell["reason"] = (f"the service died during the cell (exit code {proc.popen.returncode}); "
                                      f"log {proc.log_path}:\n{proc.log_tail(10)}\n{cell.get('reason', '')}").strip()
                self.cells.append(cell)
                self._write()
                progress.line(_cell_line(cell))
        finally:
            if proc is not None:
                sup.stop(proc)

    def _run_cell(self, sup: Supervisor, svc: Service, proc: Proc | None, endpoint: Endpoint,
                  spec: CellSpec) -> dict[str, Any]:
        cid = cell_id(svc.name, endpoint.transport, spec.label, spec.rep)
        out = self.out / "hist" / f"{cid}.json"
        base = self._base(svc, endpoint.transport, spec)
        env = {"BENCH_TARGETS": json.dumps([endpoint.__dict__]), "BENCH_PAYLOADS": json.dumps([spec.payload]),
               "BENCH_OUT": str(out), "BENCH_PLAN": spec.plan.to_json(),
               "BENCH_USER_CLASS": user_class_name(svc.name, endpoint.transport, spec.payload["name"])}
        run_time = math.ceil(spec.plan.total_s + 0.5)  # Locust takes whole seconds
        gens = self._spawn_loadgen(cid, spec, env, run_time)
        gen = gens[0]
        user_class = env["BENCH_USER_CLASS"]  # the tracker's name for the cell, whichever class drives it
        redis_proc = sup.redis.proc if (sup.redis and endpoint.transport in ("redis", "celery")) else None
        self._external_now = proc is None
        samples: list[CpuSample] = []
        try:
            window = _wait_window(out, gen, timeout_s=120)
            for when in _boundaries(window):
                if not gen.alive():
                    break
                samples.append(_sample_at(when, proc, gens, redis_proc))
            code = gen.popen.wait(timeout=run_time + 90)
        except (subprocess.TimeoutExpired, HarnessError) as e:
            return {**base, "status": "failed", "reason": f"load generator: {e}\n{gen.log_tail(10)}"}
        finally:
            for g in gens:
                stop_group(g.popen)
        if not out.exists():
            return {**base, "status": "failed",
                    "reason": f"load generator wrote no results (exit {code}); log {gen.log_path}:\n{gen.log_tail(10)}"}
        data = json.loads(out.read_text())
        out.unlink()
        phases = data["phases"]
        measured = [(i, ph) for i, ph in enumerate(phases) if ph["measured"]]
        stopped = data.get("stopped_early")
        if stopped:  # a sweep stopped at this step: later steps never ran fully
            last = next(i for i, ph in enumerate(phases) if ph["name"] == stopped)
            measured = [(i, ph) for i, ph in measured if i <= last]
        steps = []
        for i, ph in measured:
            cpu = cpu_delta(samples[i], samples[i + 1], 0) if i + 1 < len(samples) else None
            step = self._phase_result(cid, ph, user_class, cpu, step_name=ph["name"] if spec.kind == "sweep" else "")
            if step is not None:
                steps.append(step)
        if not steps:
            return {**base, "status": "failed", "reason": "no measured phase completed"}
        workers = self._worker_files(cid, data, measured)
        if spec.kind == "sweep":
            return {**self._sweep_cell(base, steps, data.get("stopped_early"), spec), **workers}
        return {**base, **steps[0], **workers}

    def _spawn_loadgen(self, cid: str, spec: CellSpec, env: dict[str, str], run_time: int) -> list[Proc]:
        """One headless Locust process, or a master and its local workers; the master first."""
        sc = self.scenario
        locust = [sys.executable, "-m", "locust", "-f", str(REPO / "harness" / "loadgen" / "locustfile.py")]
        cores = sc.placement.get("loadgen")
        logs = self.out / "logs"
        common = ["--loglevel", "WARNING", "--skip-log-setup"]
        if not self.workers and not self.remote_workers:
            argv = [*locust, "--headless", "-u", str(spec.users), "-r", str(max(spec.users, 1) * 10),
                    "-t", f"{run_time}s", "--only-summary", "--stop-timeout", "5", "--web-host", "127.0.0.1",
                    *common, env["BENCH_USER_CLASS"]]
            return [spawn(f"locust:{cid}", argv, logs / f"locust-{cid}.log", cwd=REPO, env=env, cores=cores)]
        expected = self.workers + self.remote_workers
        port = self.master_port or free_port()
        denv = {**env, "BENCH_DISTRIBUTED": "1", "BENCH_EXPECT_WORKERS": str(expected)}
        master = [*locust, "--master", "--headless", "--expect-workers", str(expected), "--expect-workers-max-wait",
                  "60", "--master-bind-host", self.master_bind, "--master-bind-port", str(port),
                  "-u", str(spec.users), "-r", str(max(spec.users, 1) * 10), "-t", f"{run_time + 30}s",
                  "--only-summary", "--stop-timeout", "5", *common, "BenchCell"]
        procs = [spawn(f"locust-master:{cid}", master, logs / f"locust-{cid}.master.log", cwd=REPO, env=denv,
                       cores=cores)]
        for k in range(self.workers):
            argv = [*locust, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port), *common]
            procs.append(spawn(f"locust-worker{k}:{cid}", argv, logs / f"locust-{cid}.worker{k}.log", cwd=REPO,
                               env={"BENCH_DISTRIBUTED": "1"}, cores=cores))
        return procs

    def _worker_files(self, cid: str, data: dict[str, Any], measured: list[tuple[int, Any]]) -> dict[str, Any]:
        """Per-worker histograms and counts of a distributed run (the merged ones are the cell's)."""
        workers = data.get("workers")
        if not workers:
            return {}
        out = []
        for w in workers:
            entry: dict[str, Any] = {"index": w["index"], "phases": []}
            cpu = w.get("cpu", [])
            for i, ph in measured:
                cells = w["results"]["phases"][i]["cells"]
                requests = sum(c["requests"] for c in cells.values())
                files = []
                for name, c in cells.items():
                    f = self.out / "hist" / f"{cid}.{ph['name']}.w{w['index']}.{name}.hdr"
                    f.write_text(c["histogram"])
                    files.append(str(f.relative_to(self.out)))
                cpu_s = cpu[i + 1] - cpu[i] if i + 1 < len(cpu) else None
                entry["phases"].append({"phase": ph["name"], "requests": requests, "histogram_files": files,
                                        "cpu_s": round(cpu_s, 4) if cpu_s is not None else None})
            out.append(entry)
        return {"workers": out}

    def _phase_result(self, cid: str, ph: dict[str, Any], user_class: str, cpu: dict[str, Any] | None,
                      step_name: str) -> dict[str, Any] | None:
        c = ph["cells"].get(user_class)
        duration = (ph["end"] or 0) - ph["start"]
        if c is None or cpu is None:
            return None
        stem = f"{cid}.{step_name}" if step_name else cid
        (self.out / "hist" / f"{stem}.hdr").write_text(c["histogram"])
        (self.out / "hist" / f"{stem}.uncorrected.hdr").write_text(c["histogram_uncorrected"])
        requests = int(c["requests"])
        if self._external_now:
            cpu = {**cpu, "service_s": None, "service_util": None, "service_us_per_req": None,
                   "service_plus_redis_us_per_req": None, "note": "the service runs on another host: CPU not measured"}
        elif requests:
            cpu = {**cpu, "service_us_per_req": round(cpu["service_s"] * 1e6 / requests, 2),
                   "service_plus_redis_us_per_req": round((cpu["service_s"] + cpu["redis_s"]) * 1e6 / requests, 2)}
        issued = max(int(ph["issued"]), 1)
        lagging = ph["rate"] is not None and ph["late_wakeups"] / issued > CLIENT_LAG_FRACTION
        result: dict[str, Any] = {
            "status": "ok" if requests and not c["errors"] and not c["wrong"] else "errors",
            "requests": requests, "errors": c["errors"], "wrong": c["wrong"], "error_samples": c["error_samples"],
            "duration_s": round(duration, 3), "throughput_rps": round(requests / duration, 1) if duration else 0,
            "latency_us": c["latency_us"], "latency_uncorrected_us": c["latency_uncorrected_us"], "cpu": cpu,
            "client_bound": bool(cpu["loadgen_util"] >= CLIENT_BOUND_UTIL or lagging),
            "client_bound_reason": ("load generator at {:.0%} of its core".format(cpu["loadgen_util"])
                                    if cpu["loadgen_util"] >= CLIENT_BOUND_UTIL else
                                    "load generator fell behind its arrival schedule" if lagging else ""),
            "histogram_file": f"hist/{stem}.hdr", "histogram_uncorrected_file": f"hist/{stem}.uncorrected.hdr",
        }
        if ph["rate"] is not None:
            result.update(offered_rps=ph["rate"], issued=ph["issued"], dropped=ph["dropped"],
                          late_wakeups=ph["late_wakeups"], queued=ph["queued"], wakeup_lag_us=ph["wakeup_lag_us"],
                          queue_delay_us=ph["queue_delay_us"])
        if step_name:
            result["step"] = step_name
        if not requests:
            result["status"] = "failed"
            result["reason"] = "no request completed in the measured window: " + "; ".join(c["error_samples"][:2])
        return result

    def _sweep_cell(self, base: dict[str, Any], steps: list[dict[str, Any]], stopped: str | None,
                    spec: CellSpec) -> dict[str, Any]:
        slo = spec.plan.slo
        assert slo is not None
        passing = []
        for s in steps:
            bad = (s["errors"] + s["wrong"]) / max(s["requests"], 1)
            s["meets_slo"] = (s["latency_us"].get("p99", math.inf) <= slo.p99_us and bad <= slo.max_error_rate
                              and s["requests"] >= 0.9 * s["issued"])
            if s["meets_slo"]:
                passing.append(s)
        best = max(passing, key=lambda s: s["throughput_rps"]) if passing else None
        last = best or steps[0]
        return {**base, "status": "ok" if best else "errors", "steps": steps, "stopped_early": stopped,
                "slo": {"p99_us": slo.p99_us, "max_error_rate": slo.max_error_rate},
                "max_sustainable_rps": best["throughput_rps"] if best else 0.0,
                "client_bound": any(s["client_bound"] for s in steps if s is best),
                "latency_us": last["latency_us"], "throughput_rps": last["throughput_rps"], "cpu": last["cpu"],
                "requests": sum(s["requests"] for s in steps), "errors": sum(s["errors"] for s in steps),
                "wrong": sum(s["wrong"] for s in steps), "histogram_file": last["histogram_file"],
                "error_samples": [x for s in steps for x in s["error_samples"]][:3]}

    def _base(self, svc: Service, transport: str, spec: CellSpec) -> dict[str, Any]:
        return {"id": cell_id(svc.name, transport, spec.label, spec.rep), "service": svc.name,
                "language": svc.language, "transport": transport, "payload": spec.payload["name"],
                "op": spec.payload["op"], "payload_spec": spec.payload, "kind": spec.kind, "rep": spec.rep,
                "users": spec.users, "tokens": spec.payload.get("tokens"), "size": spec.payload.get("size")}

    def _record_failed(self, svc: Service, transport: str, spec: CellSpec, reason: str) -> None:
        self.cells.append({**self._base(svc, transport, spec), "status": "failed", "reason": reason})
        self._write()

    def _write(self) -> None:
        doc = {"schema": SCHEMA_VERSION, "run": self.out.name, "scenario": self.scenario.name,
               "interrupted": self.interrupted, "pingpong": self.pingpong, "external": self.external_health,
               "cells": self.cells}
        tmp = self.out / "cells.json.tmp"
        tmp.write_text(json.dumps(doc, indent=1))
        tmp.replace(self.out / "cells.json")


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _boundaries(window: dict[str, Any]) -> list[float]:
    phases = window["phases"]
    times = [p["start"] for p in phases]
    if phases and phases[-1]["end"] is not None:
        times.append(phases[-1]["end"])
    return times


def _wait_window(out: Path, gen: Proc, timeout_s: float) -> dict[str, Any]:
    path = Path(str(out) + ".window")
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if not gen.alive():
            raise HarnessError(f"locust exited with code {gen.popen.returncode} before starting")
        if time.monotonic() > deadline:
            raise HarnessError(f"locust did not start its test within {timeout_s:.0f} s")
        time.sleep(0.02)
    time.sleep(0.01)
    window: dict[str, Any] = json.loads(path.read_text())
    path.unlink()
    return window


def _sample_at(when: float, service: Proc | None, gens: list[Proc], redis_proc: Proc | None) -> CpuSample:
    delay = when - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    return CpuSample(wall=time.monotonic(), service=tree_cpu_seconds(service.pid) if service else 0.0,
                     loadgen=sum(tree_cpu_seconds(g.pid) for g in gens),
                     redis=tree_cpu_seconds(redis_proc.pid) if redis_proc else 0.0)


def _cell_line(cell: dict[str, Any]) -> str:
    name = f"{cell['service']}/{cell['transport']}/{cell['payload']}" + (
        f" [{cell['kind']}]" if cell.get("kind") not in (None, "closed") else "")
    if cell["status"] == "failed":
        return f"{name} FAILED: {cell.get('reason', '').splitlines()[0]}"
    if cell.get("kind") == "sweep":
        return (f"{name}: max sustainable {cell['max_sustainable_rps']:.0f} req/s over {len(cell['steps'])} steps"
                + (f", stopped at {cell['stopped_early']}" if cell.get("stopped_early") else ""))
    lat = cell["latency_us"]
    flags = []
    if cell["errors"] or cell["wrong"]:
        flags.append(f"{cell['errors']} errors, {cell['wrong']} wrong")
    if cell["client_bound"]:
        flags.append("client-bound")
    return (f"{name}: p50 {lat['p50']:.0f} µs, p99 {lat['p99']:.0f} µs, {cell['throughput_rps']:.0f} req/s, "
            f"service {cell['cpu']['service_us_per_req']} µs CPU/req" + (f" ({'; '.join(flags)})" if flags else ""))


def new_run_dir(results: Path, scenario: Scenario) -> Path:
    """results/<timestamp>-<scenario>, never an existing folder."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = results / f"{stamp}-{scenario.name}"
    n = 1
    while path.exists():
        n += 1
        path = results / f"{stamp}-{scenario.name}-{n}"
    return path
