"""Runs a scenario's matrix cell by cell and writes results as it goes.

For each service x transport: the supervisor starts the service (pinned to the scenario's
service cores) and, for queue transports, the private redis-server; then for each payload and
repetition a headless Locust process (pinned to the load-generator cores) drives the cell.
Its users record every request in microseconds; the runner samples CPU of the service tree,
the load generator and redis-server exactly over the measured window. A failing cell is
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
from harness.errors import HarnessError
from harness.meta import collect_meta
from harness.services import TRANSPORTS, Service, select
from harness.stats import CpuSample, cpu_delta
from harness.supervisor import Endpoint, Proc, Supervisor, spawn, stop_group, tree_cpu_seconds

SCHEMA_VERSION = 1
# Schema history: 1 (2026-11) - cells.json {schema, run, scenario, cells: [cell]}; cell keys in
# `Cell.as_dict`; histograms in hist/<cell-id>.hdr as HdrHistogram base64 text.

DEFAULT_PLACEMENT = {"loadgen": "0", "services": "1", "redis": "1"}


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
    raw: dict[str, Any] = field(default_factory=dict)

    def cells_for(self, svc: Service) -> list[tuple[str, dict[str, Any], int]]:
        """(transport, payload, repetition) of one service, in run order (gaps included)."""
        return [(t, p, r) for t in self.transports for p in self.payloads for r in range(self.repetitions)]


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
    placement = {**DEFAULT_PLACEMENT, **data.get("placement", {})}
    return Scenario(
        name=str(data.get("name", path.stem)), path=path, services=list(data.get("services", [])),
        transports=list(transports), payloads=payloads, users=int(load.get("users", 4)),
        duration_s=float(load.get("duration_s", 5)), warmup_s=float(load.get("warmup_s", 1)),
        repetitions=int(load.get("repetitions", 1)), placement={k: str(v) for k, v in placement.items()},
        seed=int(data.get("seed", 1)), raw=data,
    )


def cell_id(service: str, transport: str, payload: str, rep: int) -> str:
    """The stable name of a cell, used for files and in reports."""
    return f"{service}.{transport}.{payload}.r{rep}"


class Progress:
    """Terminal progress: cell n of N, elapsed, estimated remaining."""

    def __init__(self, total: int, per_cell_s: float) -> None:
        self.total = total
        self.done = 0
        self.start = time.monotonic()
        self.per_cell_s = per_cell_s

    def line(self, text: str) -> None:
        """Print one progress line."""
        elapsed = time.monotonic() - self.start
        avg = elapsed / self.done if self.done else self.per_cell_s
        remaining = avg * (self.total - self.done)
        print(f"[{self.done:>3}/{self.total} {_mmss(elapsed)} elapsed, ~{_mmss(remaining)} left] {text}", flush=True)


def _mmss(s: float) -> str:
    return f"{int(s // 60)}m{int(s % 60):02d}s"


class Runner:
    """Runs one scenario into results/<run-id>/."""

    def __init__(self, scenario: Scenario, out_dir: Path) -> None:
        self.scenario = scenario
        self.out = out_dir
        self.cells: list[dict[str, Any]] = []
        self.services = select(scenario.services or None)
        self.interrupted = False

    def run(self) -> Path:
        """Run every cell; returns the results folder (valid even if interrupted)."""
        sc = self.scenario
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "hist").mkdir(exist_ok=True)
        (self.out / "logs").mkdir(exist_ok=True)
        meta = collect_meta(sc, self.services)
        (self.out / "meta.json").write_text(json.dumps(meta, indent=2))
        total = sum(1 for s in self.services for t, _, _ in sc.cells_for(s) if t in s.commands)
        per_cell = sc.warmup_s + sc.duration_s + 2.5
        progress = Progress(total, per_cell)
        print(f"run {self.out.name}: scenario {sc.name}, {len(self.services)} services, {total} cells, "
              f"~{_mmss(total * per_cell)} expected; placement {sc.placement}", flush=True)
        old_int = signal.getsignal(signal.SIGINT)
        old_term = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, _raise_interrupt)
        sup = Supervisor(self.out / "logs", redis_cores=sc.placement.get("redis"))
        try:
            for svc in self.services:
                for transport in sc.transports:
                    if transport not in svc.commands:
                        for p in sc.payloads:
                            self._record_gap(svc, transport, p)
                        continue
                    self._run_transport(sup, svc, transport, progress)
        except KeyboardInterrupt:
            self.interrupted = True
            print("\ninterrupted: stopping every process; the cells finished so far are kept", flush=True)
        finally:
            sup.close()
            signal.signal(signal.SIGINT, old_int)
            signal.signal(signal.SIGTERM, old_term)
            self._write()
        return self.out

    def _run_transport(self, sup: Supervisor, svc: Service, transport: str, progress: Progress) -> None:
        sc = self.scenario
        try:
            proc, endpoint = sup.start(svc, transport, cores=sc.placement.get("services"))
        except HarnessError as e:
            for p in sc.payloads:
                for rep in range(sc.repetitions):
                    progress.done += 1
                    self._record_failed(svc, transport, p, rep, f"service did not start: {e}")
                    progress.line(f"{svc.name}/{transport}/{p['name']} FAILED to start")
            return
        try:
            warmup = max(sc.warmup_s, svc.warmup_s)
            for p in sc.payloads:
                for rep in range(sc.repetitions):
                    progress.done += 1
                    if not proc.alive():
                        self._record_failed(svc, transport, p, rep,
                                            f"service exited (code {proc.popen.returncode}); log: {proc.log_path}\n"
                                            f"{proc.log_tail(10)}")
                        progress.line(f"{svc.name}/{transport}/{p['name']} FAILED: service died")
                        continue
                    cell = self._run_cell(sup, svc, proc, endpoint, p, rep, warmup)
                    self.cells.append(cell)
                    self._write()
                    progress.line(_cell_line(cell))
                    warmup = sc.warmup_s  # the service is warm after the first cell
        finally:
            sup.stop(proc)

    def _run_cell(self, sup: Supervisor, svc: Service, proc: Proc, endpoint: Endpoint,
                  payload: dict[str, Any], rep: int, warmup: float) -> dict[str, Any]:
        sc = self.scenario
        cid = cell_id(svc.name, endpoint.transport, payload["name"], rep)
        out = self.out / "hist" / f"{cid}.json"
        base = self._base(svc, endpoint.transport, payload, rep)
        env = {
            "BENCH_TARGETS": json.dumps([endpoint.__dict__]),
            "BENCH_PAYLOADS": json.dumps([payload]),
            "BENCH_OUT": str(out),
            "BENCH_WARMUP_S": str(warmup),
            "BENCH_DURATION_S": str(sc.duration_s),
            "BENCH_SEED": str(sc.seed),
        }
        user_class = f"{svc.name}_{endpoint.transport}_{payload['name']}".replace("-", "_").replace(".", "_")
        run_time = math.ceil(warmup + sc.duration_s + 0.5)  # Locust takes whole seconds
        argv = [sys.executable, "-m", "locust", "-f", str(REPO / "scenarios" / "locustfile.py"), "--headless",
                "-u", str(sc.users), "-r", str(max(sc.users, 1) * 10), "-t", f"{run_time}s",
                "--only-summary", "--loglevel", "WARNING", "--stop-timeout", "5", "--skip-log-setup",
                "--web-host", "127.0.0.1", user_class]
        gen = spawn(f"locust:{cid}", argv, self.out / "logs" / f"locust-{cid}.log", cwd=REPO, env=env,
                    cores=sc.placement.get("loadgen"))
        redis_proc = sup.redis.proc if (sup.redis and endpoint.transport in ("redis", "celery")) else None
        try:
            window = _wait_window(out, gen, timeout_s=60)
            before = _sample_at(window["start"], proc, gen, redis_proc)
            after = _sample_at(window["end"], proc, gen, redis_proc)
            code = gen.popen.wait(timeout=run_time + 60)
        except (subprocess.TimeoutExpired, HarnessError) as e:
            stop_group(gen.popen)
            return {**base, "status": "failed", "reason": f"load generator: {e}\n{gen.log_tail(10)}"}
        finally:
            stop_group(gen.popen)
        if not out.exists():
            return {**base, "status": "failed",
                    "reason": f"load generator wrote no results (exit {code}); log {gen.log_path}:\n{gen.log_tail(10)}"}
        data = json.loads(out.read_text())["cells"].get(user_class)
        if data is None:
            return {**base, "status": "failed", "reason": "no requests were made (is the user class right?)"}
        hist_file = self.out / "hist" / f"{cid}.hdr"
        hist_file.write_text(data.pop("histogram"))
        out.unlink()
        requests = int(data["requests"])
        cpu = cpu_delta(before, after, requests)
        duration = sc.duration_s
        cell = {
            **base,
            "status": "ok" if requests and not data["errors"] and not data["wrong"] else "errors",
            "requests": requests, "errors": data["errors"], "wrong": data["wrong"],
            "error_samples": data["error_samples"], "warmup_requests": data["warmup_requests"],
            "warmup_s": warmup, "duration_s": duration,
            "throughput_rps": round(requests / duration, 1),
            "latency_us": data["latency_us"], "cpu": cpu,
            "client_bound": bool(cpu["loadgen_util"] >= 0.9),
            "histogram_file": str(hist_file.relative_to(self.out)),
        }
        if not requests:
            cell["status"] = "failed"
            cell["reason"] = "no request completed in the measured window: " + "; ".join(data["error_samples"][:2])
        return cell

    def _base(self, svc: Service, transport: str, payload: dict[str, Any], rep: int) -> dict[str, Any]:
        return {"id": cell_id(svc.name, transport, payload["name"], rep), "service": svc.name,
                "language": svc.language, "transport": transport, "payload": payload["name"],
                "op": payload["op"], "payload_spec": payload, "rep": rep, "users": self.scenario.users}

    def _record_gap(self, svc: Service, transport: str, payload: dict[str, Any]) -> None:
        self.cells.append({**self._base(svc, transport, payload, 0), "status": "gap",
                           "reason": svc.gap(transport)})

    def _record_failed(self, svc: Service, transport: str, payload: dict[str, Any], rep: int, reason: str) -> None:
        self.cells.append({**self._base(svc, transport, payload, rep), "status": "failed", "reason": reason})
        self._write()

    def _write(self) -> None:
        doc = {"schema": SCHEMA_VERSION, "run": self.out.name, "scenario": self.scenario.name,
               "interrupted": self.interrupted, "cells": self.cells}
        tmp = self.out / "cells.json.tmp"
        tmp.write_text(json.dumps(doc, indent=1))
        tmp.replace(self.out / "cells.json")


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _wait_window(out: Path, gen: Proc, timeout_s: float) -> dict[str, float]:
    path = Path(str(out) + ".window")
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if not gen.alive():
            raise HarnessError(f"locust exited with code {gen.popen.returncode} before starting")
        if time.monotonic() > deadline:
            raise HarnessError("locust did not start its test within 60 s")
        time.sleep(0.02)
    time.sleep(0.01)
    window: dict[str, float] = json.loads(path.read_text())
    path.unlink()
    return window


def _sample_at(when: float, service: Proc, gen: Proc, redis_proc: Proc | None) -> CpuSample:
    delay = when - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    return CpuSample(wall=time.monotonic(), service=tree_cpu_seconds(service.pid),
                     loadgen=tree_cpu_seconds(gen.pid),
                     redis=tree_cpu_seconds(redis_proc.pid) if redis_proc else 0.0)


def _cell_line(cell: dict[str, Any]) -> str:
    name = f"{cell['service']}/{cell['transport']}/{cell['payload']}"
    if cell["status"] == "failed":
        return f"{name} FAILED: {cell.get('reason', '').splitlines()[0]}"
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
