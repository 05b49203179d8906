"""Runs a scenario's matrix cell by cell and writes results as it goes.

For each service x transport the supervisor starts the service (pinned to the scenario's
service cores) and, for broker transports, the private redis-server; then every cell of that
pair runs as one Locust test following a `Plan` (closed loop, open loop at a rate, a rate
sweep, or a point of the diff cost curve), its generators started by `harness.run.generators`
and pinned to the load-generator cores. The runner samples the CPU of the service tree, the
generators and redis-server at every phase boundary (`harness.run.measure` turns that and the
generators' results into a `Cell`). The floor (the harness's own client against the cheapest
responder, and a raw socket ping-pong) is measured in the same run with the same placement. A
failing cell is recorded with its reason and the run goes on.
"""

from __future__ import annotations

import json
import signal
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.contract.endpoint import Endpoint
from harness.contract.manifest import Service, discover, discover_floors, select
from harness.contract.transports import get as get_transport
from harness.errors import HarnessError
from harness.loadgen.payloads import make_payload, user_class_name
from harness.loadgen.protocol import HARNESS_CALLER, CellConfig, CellFile, Plan
from harness.processes.supervisor import Proc, Supervisor, tree_cpu_seconds
from harness.results.noise import spread_warning
from harness.results.schema import Cell, Run
from harness.results.stats import CpuSample
from harness.run.generators import Generators, start_generators
from harness.run.measure import CLIENT_BOUND_UTIL, CellOutput, cell_from_results, cell_line
from harness.run.meta import collect_meta
from harness.run.progress import Progress, mmss
from harness.run.residents import Residents
from harness.run.scenario import CellSpec, Scenario, cell_id, cell_specs


class Runner:
    """Runs one scenario into results/<run-id>/."""

    def __init__(self, scenario: Scenario, out_dir: Path, workers: int = 0, remote_workers: int = 0,
                 master_bind: str = "127.0.0.1", master_port: int = 0,
                 external: dict[tuple[str, str], Endpoint] | None = None) -> None:
        self.scenario = scenario
        self.external = external or {}
        self.external_health: dict[str, Any] = {}
        self.out = out_dir
        self.workers = workers
        self.remote_workers = remote_workers
        self.master_bind = master_bind
        self.master_port = master_port
        self.services = select(scenario.services or None)
        self.callers = resolve_callers(scenario.callers)
        self.result = Run(run=out_dir.name, scenario=scenario.name, caller_bound_util=CLIENT_BOUND_UTIL)
        self.residents: Residents | None = None

    @property
    def cells(self) -> list[Cell]:
        """The cells recorded so far."""
        return self.result.cells

    @property
    def interrupted(self) -> bool:
        """Whether the run was cut short (Ctrl-C or SIGTERM)."""
        return self.result.interrupted

    def _plan_all(self) -> list[tuple[Service, str, list[CellSpec]]]:
        sc = self.scenario
        # (transport's place, 0 floor before / 1 services / 2 floor after, work): transport by transport,
        # its floor first: the floor is measured minutes, not a whole run, before the services it is
        # compared with (a busy machine's load drifts over a run); with `floor_bracket`, after them too.
        work: list[tuple[int, int, tuple[Service, str, list[CellSpec]]]] = []
        order = {t: i for i, t in enumerate(sc.transports)}
        if sc.floor:
            echo = next((p for p in sc.payloads if p["op"] == "echo"), {"name": "echo-64B", "op": "echo", "size": 64})
            # as many repetitions as a service's cells, to compare medians (again after them with the bracket)
            r = sc.repetitions
            brackets = [(0, range(r))] + ([(2, range(r, 2 * r))] if sc.floor_bracket else [])
            for floor in discover_floors():
                for t in sc.transports:
                    if t not in floor.commands:
                        continue
                    for when, reps in brackets:
                        specs = [CellSpec("floor", echo, rep, sc.users, Plan.closed(sc.warmup_s, sc.duration_s))
                                 for rep in reps]
                        work.append((order[t], when, (floor, t, self._caller_specs(specs, t))))
        for svc in self.services:
            for t in sc.transports:
                if t in svc.commands or (svc.name, t) in self.external:
                    specs = self._caller_specs(cell_specs(sc, t, sc.service_warmup(svc.warmup_s)), t)
                    work.append((order[t], 1, (svc, t, specs)))
        work.sort(key=lambda w: (w[0], w[1]))
        return [w for _, _, w in work]

    def _caller_specs(self, specs: list[CellSpec], transport: str) -> list[CellSpec]:
        """The harness's own cells, then each other caller's share of them (the scenario's [caller_matrix]).

        The harness's cells run first and warm the service up (its `warmup_s` is on the first of them;
        without them, on the first other caller's cell);
        each other caller's cell has the caller's own `warmup_s` for the transport (`transport_warmup_s`;
        or the scenario's, if longer): a fresh caller process per cell, or its resident process.
        """
        out = [s for s in specs] if HARNESS_CALLER in self.callers else []
        # Without the harness's cells, the service's own warm-up goes to the first other caller's cell.
        service_warm = specs[0].plan.phases[0].duration_s if specs and specs[0].plan.phases and not out else 0.0
        for name, svc in self.callers.items():
            if svc is None or svc.caller is None or transport not in svc.caller.transports:
                continue
            warm = max(self.scenario.warmup_s, svc.caller.warmup_for(transport))
            resident = bool(svc.caller.resident_command)
            for s in specs:
                if self.scenario.other_caller_runs(s, transport) and s.plan.phases:
                    least = max(self.scenario.warmup_s, service_warm) if not out else self.scenario.warmup_s
                    first = max(warm, service_warm) if not out else warm
                    plan = _first_phase(s.plan, first)
                    out.append(replace(s, caller=name, plan=plan, warm_first_s=least if resident else None))
        return out

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
        expected = sum(_expected_s(s) for _, _, specs in work for s in specs)
        progress = Progress(total, expected)
        print(f"run {self.out.name}: scenario {sc.name}, {len(self.services)} services, {total} cells, "
              f"~{mmss(expected)} expected; placement {sc.placement}", flush=True)
        old_int, old_term = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, _raise_interrupt)
        sup = Supervisor(self.out / "logs", redis_cores=sc.placement.get("redis"), extra_env=sc.env)
        self.residents = Residents(self.out / "logs")
        try:
            for svc in self.services:
                for t in sc.transports:
                    if t not in svc.commands and (svc.name, t) not in self.external:
                        for p in sc.payloads:
                            gap = self._base(svc, t, CellSpec("closed", p, 0, 0, Plan()))
                            self.cells.append(replace(gap, status="gap", reason=svc.gap(t) or ""))
            if sc.floor:
                self.result.pingpong = self._run_pingpong()
            for svc, t, specs in work:
                self._run_transport(sup, svc, t, specs, progress)
        except KeyboardInterrupt:
            self.result.interrupted = True
            print("\ninterrupted: stopping every process; the cells finished so far are kept", flush=True)
        finally:
            self.residents.close()
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
        proc: Proc | None = None
        remaining = list(specs)
        while remaining:
            try:
                proc, endpoint = self._start_service(sup, svc, transport)
            except HarnessError as e:
                for spec in remaining:
                    progress.done += 1
                    self._record_failed(svc, transport, spec, f"service did not start: {e}")
                    progress.line(f"{svc.name}/{transport}/{spec.label} FAILED to start")
                return
            try:
                remaining = self._run_cells(sup, svc, proc, endpoint, remaining, progress)
            finally:
                if proc is not None:
                    sup.stop(proc)
            if remaining:
                print(f"{svc.name}/{transport}: redis-server died; starting a new one and the service again for "
                      f"the {len(remaining)} cell(s) left", flush=True)

    def _start_service(self, sup: Supervisor, svc: Service, transport: str) -> tuple[Proc | None, Endpoint]:
        """The service's process (None for a service on another host) and its endpoint."""
        if (svc.name, transport) in self.external:
            from harness.processes.hosts import check_external

            endpoint = self.external[(svc.name, transport)]
            self.result.external[f"{svc.name}/{transport}"] = {"endpoint": endpoint.describe(),
                                                               "health": check_external(endpoint)}
            return None, endpoint
        return sup.start(svc, transport, cores=self.scenario.placement.get("services"))

    def _run_cells(self, sup: Supervisor, svc: Service, proc: Proc | None, endpoint: Endpoint,
                   specs: list[CellSpec], progress: Progress) -> list[CellSpec]:
        """Run `specs` against one started service; return those left when the broker died under them."""
        broker = get_transport(endpoint.transport).broker and proc is not None
        redis = sup.redis if broker else None
        for k, spec in enumerate(specs):
            progress.done += 1
            if proc is not None and not proc.alive():
                self._record_failed(svc, endpoint.transport, spec,
                                    f"service exited (code {proc.popen.returncode}); log: {proc.log_path}\n"
                                    f"{proc.log_tail(10)}")
                progress.line(f"{svc.name}/{endpoint.transport}/{spec.label} FAILED: service died")
                continue
            cell = self.run_cell(sup, svc, proc, endpoint, spec)
            if redis is not None and not redis.proc.alive():
                cell = replace(cell, status="failed", reason=(
                    f"redis-server (the broker) died during the cell (exit code {redis.proc.popen.returncode}); "
                    f"log {redis.proc.log_path}:\n{redis.proc.log_tail(5)}\n{cell.reason}").strip())
            elif proc is not None and not proc.alive():  # it died in the cell: what was measured is not the service
                cell = replace(cell, status="failed", reason=(
                    f"the service died during the cell (exit code {proc.popen.returncode}); "
                    f"log {proc.log_path}:\n{proc.log_tail(10)}\n{cell.reason}").strip())
            self.cells.append(cell)
            self._write()
            progress.line(cell_line(cell))
            if redis is not None and not redis.proc.alive():
                return specs[k + 1:]
        return []

    def run_cell(self, sup: Supervisor, svc: Service, proc: Proc | None, endpoint: Endpoint,
                 spec: CellSpec) -> Cell:
        """One cell against a started service (`proc` None: a service on another host)."""
        base = self._base(svc, endpoint.transport, spec)
        caller = self.callers.get(spec.caller)
        if (spec.warm_first_s is not None and caller is not None and caller.caller is not None
                and self.residents is not None
                and self.residents.served(caller, caller.caller.env_for(endpoint.transport), endpoint.transport)):
            spec = replace(spec, plan=_first_phase(spec.plan, spec.warm_first_s))
        payload = make_payload(spec.payload)
        name = user_class_name(svc.name, endpoint.transport, spec.payload["name"])
        config = CellConfig(cell=base.id, name=name, target=endpoint, request=payload.request(), plan=spec.plan)
        folder = self.out / "cells"
        folder.mkdir(parents=True, exist_ok=True)
        cell_file = CellFile(config, results=str(folder / f"{base.id}.results.json"),
                             phases=str(folder / f"{base.id}.phases.json"),
                             workers=self.workers + self.remote_workers, remote=self.remote_workers > 0)
        redis_proc = sup.redis.proc if (sup.redis and get_transport(endpoint.transport).broker) else None
        gens = start_generators(cell_file, folder / f"{base.id}.cell.json", spec.users, self.scenario.placement,
                                self.out / "logs", self.workers, self.remote_workers, self.master_bind,
                                self.master_port, caller=caller, residents=self.residents)
        results_in = False
        try:
            samples = self._sample_phases(gens, proc, redis_proc)
            data = gens.wait_results()
            died = gens.died()
            results_in = True
        except HarnessError as e:
            return replace(base, status="failed", reason=f"{gens.died()}\nload generator: {e}".strip())
        finally:
            if results_in:
                gens.finish()
            else:
                gens.stop()
        if died:
            return replace(base, status="failed", reason=died)
        out = CellOutput(self.out, base.id, service_measured=proc is not None)
        return cell_from_results(base, out, data, name, samples, spec.plan.slo)

    def _sample_phases(self, gens: Generators, service: Proc | None, redis_proc: Proc | None) -> list[CpuSample]:
        """CPU of the service, the generators and redis-server at every phase boundary of the running cell."""
        samples = []
        for when in gens.wait_phases():
            if not gens.alive():
                break
            delay = when - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            samples.append(CpuSample(wall=time.monotonic(),
                                     service=tree_cpu_seconds(service.pid) if service else 0.0,
                                     loadgen=gens.cpu_seconds(),
                                     redis=tree_cpu_seconds(redis_proc.pid) if redis_proc else 0.0))
        return samples

    def _base(self, svc: Service, transport: str, spec: CellSpec) -> Cell:
        return Cell(id=cell_id(spec.caller, svc.name, transport, spec.label, spec.rep), caller=spec.caller,
                    service=svc.name, language=svc.language, transport=transport, payload=spec.payload["name"],
                    op=spec.payload["op"], payload_spec=spec.payload, kind=spec.kind, rep=spec.rep, users=spec.users,
                    tokens=spec.payload.get("tokens"), size=spec.payload.get("size"))

    def _record_failed(self, svc: Service, transport: str, spec: CellSpec, reason: str) -> None:
        self.cells.append(replace(self._base(svc, transport, spec), status="failed", reason=reason))
        self._write()

    def _write(self) -> None:
        self.result.write(self.out)


def resolve_callers(names: list[str]) -> dict[str, Service | None]:
    """The scenario's callers: the harness's own (None: Locust's users) and the services whose manifest has one.

    Empty `names`: every caller that exists and whose programs are on PATH.
    """
    found: dict[str, Service | None] = {HARNESS_CALLER: None}
    found.update({name: s for name, s in discover().items() if s.caller is not None})
    if not names:
        return {n: s for n, s in found.items() if s is None or not (s.caller and s.caller.missing_programs())}
    unknown = [n for n in names if n not in found]
    if unknown:
        raise HarnessError(f"unknown caller(s) {', '.join(unknown)}; callers here: {', '.join(found)} "
                           "(a service declares one with a [caller] table in its manifest)")
    for n in names:
        s = found[n]
        missing = s.caller.missing_programs() if s is not None and s.caller is not None else []
        if missing:
            raise HarnessError(f"the {n} caller needs {', '.join(missing)} on PATH: run `make setup`")
    return {n: found[n] for n in names}


CELL_OVERHEAD_S = 1.0
"""A cell's seconds beyond its plan, for the run's first estimate (Locust's start, the start margin, the results)."""


def _expected_s(spec: CellSpec) -> float:
    """About how long a cell takes (a resident caller's: as if its process were warm)."""
    plan = spec.plan
    if spec.warm_first_s is not None and plan.phases:
        plan = _first_phase(plan, spec.warm_first_s)
    return plan.total_s + CELL_OVERHEAD_S


def _first_phase(plan: Plan, duration_s: float) -> Plan:
    """`plan` with its first (unmeasured warm-up) phase lasting `duration_s`."""
    return replace(plan, phases=[replace(plan.phases[0], duration_s=duration_s), *plan.phases[1:]])


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
