"""From what a cell's generators returned (LOADGEN.md `bench_results`) and the CPU the runner sampled, to a `Cell`.

Throughput is requests over the measured phase's length; CPU per request is what the runner
sampled from /proc over that phase divided by its requests; a cell is client-bound when the
generators used `CLIENT_BOUND_UTIL` of their cores while the service's side had room, or fell
behind their open-loop schedule (`saturation`).
Histograms are written to hist/ beside cells.json, one file per phase and kind.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.loadgen.protocol import Slo
from harness.results.aggregate import sweep_text
from harness.results.schema import Cell, Cpu, Measured, Step, Worker, WorkerPhase
from harness.results.stats import CpuSample, cpu_delta

CLIENT_BOUND_UTIL = 0.9
"""A load generator using this share of its cores is saturated: the cell measures it, not the service,
unless the service's side used as much (`saturation`)."""
CLIENT_LAG_FRACTION = 0.01
"""An open-loop generator with more than this share of late wake-ups fell behind its schedule."""


def saturation(cpu: Cpu) -> str:
    """Why the generator, not the service, limited a phase ("" if it did not), by CPU.

    The generator is the limit when it used `CLIENT_BOUND_UTIL` of its cores and the service's
    side did not: the service and the redis-server it uses (one core in the scenarios'
    placements). When both sides were at that share, the service was at its own limit as
    well: the throughput is the service's to within the share's headroom, so the phase is not
    client-bound. A service whose CPU is not measured (another host) cannot show that.
    """
    if cpu.loadgen_util < CLIENT_BOUND_UTIL:
        return ""
    service_side = None if cpu.service_util is None else cpu.service_util + cpu.redis_util
    if service_side is not None and service_side >= CLIENT_BOUND_UTIL:
        return ""
    side = f", the service's side at {service_side:.0%}" if service_side is not None else ""
    return f"load generator at {cpu.loadgen_util:.0%} of its core{side}"


@dataclass
class CellOutput:
    """Where a cell's histograms go, and whether the service's CPU could be measured."""

    folder: Path
    cell_id: str
    service_measured: bool = True

    def write(self, name: str, text: str) -> str:
        """Write one histogram under hist/; its path relative to the run folder."""
        path = self.folder / "hist" / name
        path.write_text(text, encoding="ascii")
        return str(path.relative_to(self.folder))


def phase_result(out: CellOutput, ph: dict[str, Any], name: str, cpu_before: CpuSample, cpu_after: CpuSample,
                 step: str = "") -> Step | None:
    """One measured phase of the results as a Step (a cell's single phase or a sweep's step); None if empty."""
    c = ph["cells"].get(name)
    if c is None:
        return None
    stem = f"{out.cell_id}.{step}" if step else out.cell_id
    requests = int(c["requests"])
    cpu = cpu_delta(cpu_before, cpu_after, requests, service_measured=out.service_measured)
    duration = float(ph["duration_s"] or 0.0)
    issued = max(int(ph["issued"]), 1)
    lagging = ph["rate"] is not None and ph["late_wakeups"] / issued > CLIENT_LAG_FRACTION
    saturated = saturation(cpu)
    result = Step(
        status="ok" if requests and not c["errors"] and not c["wrong"] else "errors",
        requests=requests, errors=int(c["errors"]), wrong=int(c["wrong"]), error_samples=list(c["error_samples"]),
        duration_s=round(duration, 3), throughput_rps=round(requests / duration, 1) if duration else 0.0,
        latency_us=c["latency_us"], latency_uncorrected_us=c["latency_uncorrected_us"], cpu=cpu,
        client_bound=bool(saturated) or lagging,
        client_bound_reason=saturated or ("load generator fell behind its arrival schedule" if lagging else ""),
        histogram_file=out.write(f"{stem}.hdr", c["histogram"]),
        histogram_uncorrected_file=out.write(f"{stem}.uncorrected.hdr", c["histogram_uncorrected"]),
        step=step,
    )
    if ph["rate"] is not None:
        result = replace(result, offered_rps=ph["rate"], issued=ph["issued"], dropped=ph["dropped"],
                         late_wakeups=ph["late_wakeups"], queued=ph["queued"], wakeup_lag_us=ph["wakeup_lag_us"],
                         queue_delay_us=ph["queue_delay_us"])
    if not requests:
        result = replace(result, status="failed", reason="no request completed in the measured window: "
                         + "; ".join(c["error_samples"][:2]))
    return result


def measured_phases(data: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """(index, phase) of the measured phases that ran fully (a sweep stopped early ends at its breaking step)."""
    phases = data["phases"]
    measured = [(i, ph) for i, ph in enumerate(phases) if ph["measured"]]
    stopped = data.get("stopped_early")
    if stopped:
        last = next(i for i, ph in enumerate(phases) if ph["name"] == stopped)
        measured = [(i, ph) for i, ph in measured if i <= last]
    return measured


def cell_from_results(base: Cell, out: CellOutput, data: dict[str, Any], name: str, samples: list[CpuSample],
                      slo: Slo | None) -> Cell:
    """The finished Cell of `base` from the generators' merged results and the CPU samples at phase boundaries."""
    steps: list[Step] = []
    measured = measured_phases(data)
    for i, ph in measured:
        if i + 1 >= len(samples):
            continue  # the generator stopped before this phase ended: no CPU figure for it
        step = phase_result(out, ph, name, samples[i], samples[i + 1], step=ph["name"] if slo else "")
        if step is not None:
            steps.append(step)
    if not steps:
        return replace(base, status="failed", reason="no measured phase completed")
    workers = _workers(out, data, measured)
    if slo is not None:
        return replace(sweep_cell(base, steps, data.get("stopped_early"), slo), workers=workers)
    first = steps[0]
    fields = {k: getattr(first, k) for k in Measured.__dataclass_fields__}
    return replace(base, **fields, status=first.status, reason=first.reason, workers=workers)


def sweep_cell(base: Cell, steps: list[Step], stopped: str | None, slo: Slo) -> Cell:
    """A sweep: every step judged against the objective; the best passing step is the maximum sustainable rate.

    The outcome says what the maximum means: `broken`, the objective broke while the caller kept
    up (a true maximum); `client_bound`, the caller was saturated at the best step or at the step
    that broke (a lower bound: the service may sustain more); `not_broken`, every step up to the
    last offered rate passed (a lower bound too).
    """
    for s in steps:
        bad = (s.errors + s.wrong) / max(s.requests, 1)
        s.meets_slo = (s.latency_us.get("p99", math.inf) <= slo.p99_us and bad <= slo.max_error_rate
                       and s.requests >= 0.9 * (s.issued or 0))
    passing = [s for s in steps if s.meets_slo]
    best = max(passing, key=lambda s: s.throughput_rps) if passing else None
    broke = next((s for s in steps if not s.meets_slo), None)
    if broke is None:
        outcome = "not_broken"
    elif broke.client_bound or (best is not None and best.client_bound):
        outcome = "client_bound"
    else:
        outcome = "broken"
    last = best or steps[0]
    return replace(base, status="ok" if best else "errors", steps=steps, stopped_early=stopped,
                   slo={"p99_us": slo.p99_us, "max_error_rate": slo.max_error_rate},
                   max_sustainable_rps=best.throughput_rps if best else 0.0,
                   sweep_outcome=outcome, broke_at_rps=broke.offered_rps if broke else None,
                   client_bound=outcome == "client_bound", latency_us=last.latency_us,
                   client_bound_reason=next((s.client_bound_reason for s in (broke, best) if s and s.client_bound), ""),
                   throughput_rps=last.throughput_rps, cpu=last.cpu, requests=sum(s.requests for s in steps),
                   errors=sum(s.errors for s in steps), wrong=sum(s.wrong for s in steps),
                   histogram_file=last.histogram_file,
                   error_samples=[x for s in steps for x in s.error_samples][:3])


def _workers(out: CellOutput, data: dict[str, Any], measured: list[tuple[int, Any]]) -> list[Worker]:
    """Per-worker histograms and counts of a cell with several generators (the merged ones are the cell's)."""
    found = []
    for w in data.get("workers") or []:
        cpu = w.get("cpu") or []
        phases = []
        for i, ph in measured:
            cells = w["phases"][i]["cells"]
            files = [out.write(f"{out.cell_id}.{ph['name']}.w{w['index']}.{name}.hdr", c["histogram"])
                     for name, c in cells.items()]
            cpu_s = cpu[i + 1] - cpu[i] if i + 1 < len(cpu) else None
            phases.append(WorkerPhase(ph["name"], sum(c["requests"] for c in cells.values()), files,
                                      round(cpu_s, 4) if cpu_s is not None else None))
        found.append(Worker(int(w["index"]), phases))
    return found


def cell_line(cell: Cell) -> str:
    """The cell as one line of terminal progress."""
    name = f"{cell.caller}->{cell.service}/{cell.transport}/{cell.payload}" + (
        f" [{cell.kind}]" if cell.kind != "closed" else "")
    if cell.status == "failed":
        return f"{name} FAILED: {(cell.reason.splitlines() or [''])[0]}"
    if cell.kind == "sweep":
        return (f"{name}: max sustainable {sweep_text(cell.sweep_outcome, cell.max_sustainable_rps)} over "
                f"{len(cell.steps)} steps"
                + (f", stopped at {cell.stopped_early}" if cell.stopped_early else ""))
    lat = cell.latency_us
    flags = []
    if cell.errors or cell.wrong:
        flags.append(f"{cell.errors} errors, {cell.wrong} wrong")
    if cell.client_bound:
        flags.append("client-bound")
    cpu: Cpu | None = cell.cpu
    per_req = cpu.service_us_per_req if cpu else None
    return (f"{name}: p50 {lat['p50']:.0f} µs, p99 {lat['p99']:.0f} µs, {cell.throughput_rps:.0f} req/s, "
            f"service {per_req} µs CPU/req" + (f" ({'; '.join(flags)})" if flags else ""))
