"""Repetitions merged: one `Row` per caller x service x transport x payload x kind of a run.

Latency comes from the repetitions' histograms added together (exact); rates and CPU per
request are the medians of the repetitions, with their spread. The report, the CSV and the
comparison of two runs all read rows, never cells' raw keys.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.contract.transports import REGISTRY
from harness.results.noise import summarize_reps
from harness.results.schema import Cell, Step, Summary
from harness.results.stats import decode, merge, spectrum, summarize


@dataclass
class Row:
    """A cell's repetitions, merged."""

    caller: str
    service: str
    language: str
    transport: str
    payload: str
    op: str
    kind: str
    reps: int
    tokens: int | None = None
    size: int | None = None
    status: str = "failed"
    reason: str = ""
    latency_us: Summary = field(default_factory=dict)
    latency_uncorrected_us: Summary = field(default_factory=dict)
    spectrum: list[tuple[float, float]] = field(default_factory=list)
    p50_reps: dict[str, Any] = field(default_factory=dict)
    throughput_reps: dict[str, Any] = field(default_factory=dict)
    throughput_rps: float | None = None
    service_us_per_req: float | None = None
    service_cpu_reps: dict[str, Any] = field(default_factory=dict)
    service_plus_redis_us_per_req: float | None = None
    loadgen_us_per_req: float | None = None
    loadgen_util: float | None = None
    service_util: float | None = None
    requests: int = 0
    errors: int = 0
    wrong: int = 0
    client_bound: bool = False
    client_bound_reason: str = ""
    error_samples: list[str] = field(default_factory=list)
    # Open loop.
    offered_rps: float | None = None
    late_wakeups: int = 0
    queued: int = 0
    dropped: int = 0
    issued: int = 0
    wakeup_lag_us: Summary = field(default_factory=dict)
    # Sweeps.
    steps: list[Step] = field(default_factory=list)
    slo: dict[str, float] | None = None
    max_sustainable_rps: float | None = None
    max_sustainable_reps: dict[str, Any] = field(default_factory=dict)
    sweep_outcome: str | None = None
    broke_at_rps: float | None = None
    rep_steps: list[list[Step]] = field(default_factory=list)
    stopped_early: str | None = None

    @property
    def is_floor(self) -> bool:
        """Whether this row is a transport's floor (the harness's client against a responder doing no work)."""
        return self.kind == "floor"

    @property
    def service_rps_per_core(self) -> float | None:
        """The service's capacity: requests per CPU-second of its process tree (1e6 / CPU µs per request).

        Exact when the service was the bottleneck; when the cell was client-bound the service ran
        below saturation and this is an estimate from its CPU per request at that load.
        """
        v = self.service_us_per_req
        return 1e6 / v if v else None

    @property
    def caller_rps_per_core(self) -> float | None:
        """The caller's capacity: requests per CPU-second of the load generator (exact when client-bound)."""
        v = self.loadgen_us_per_req
        return 1e6 / v if v else None

    def metric(self, name: str) -> float | None:
        """A scalar metric by name (for charts that plot one of several)."""
        value = getattr(self, name)
        return None if value is None else float(value)


def _median(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def aggregate(run: Path, cells: list[Cell]) -> list[Row]:
    """One row per caller x service x transport x payload x kind, in transport order, floors first."""
    groups: dict[tuple[str, str, str, str, str], list[Cell]] = {}
    for c in cells:
        groups.setdefault(c.key, []).append(c)
    rows = []
    for (caller, svc, t, p, kind), reps in groups.items():
        first = reps[0]
        row = Row(caller=caller, service=svc, language=first.language or svc, transport=t, payload=p, op=first.op,
                  kind=kind, reps=len(reps), tokens=first.tokens, size=first.size)
        measured = [c for c in reps if c.measured]
        if not measured:
            row.status, row.reason = first.status, first.reason
        elif kind == "sweep":
            _merge_sweeps(row, measured)
        else:
            _merge_measured(run, row, measured)
        rows.append(row)
    order = {name: t.order for name, t in REGISTRY.items()}
    rows.sort(key=lambda r: (order.get(r.transport, 999), not r.is_floor, r.caller, r.service))
    return rows


OUTCOME_RANK = {"broken": 0, "client_bound": 1, "not_broken": 2}
"""A sweep row's outcome is its repetitions' least conclusive one: one lower bound makes the row a lower bound."""


def _merge_sweeps(row: Row, measured: list[Cell]) -> None:
    """Repeated sweeps: the median maximum with its spread; the steps of the median repetition for the charts."""
    ranked = sorted(measured, key=lambda c: c.max_sustainable_rps or 0.0)
    mid = ranked[(len(ranked) - 1) // 2]
    row.status = "errors" if all(c.status == "errors" for c in measured) else "ok"
    row.steps, row.slo, row.stopped_early = mid.steps, mid.slo, mid.stopped_early
    row.rep_steps = [c.steps for c in measured]
    row.max_sustainable_rps = statistics.median(c.max_sustainable_rps or 0.0 for c in measured)
    row.max_sustainable_reps = summarize_reps([c.max_sustainable_rps or 0.0 for c in measured])
    outcomes = [c.sweep_outcome for c in measured if c.sweep_outcome]
    row.sweep_outcome = max(outcomes, key=lambda o: OUTCOME_RANK.get(o, 0)) if outcomes else None
    broke = [c.broke_at_rps for c in measured if c.broke_at_rps]
    row.broke_at_rps = statistics.median(broke) if broke else None
    row.client_bound = row.sweep_outcome == "client_bound"
    row.client_bound_reason = "; ".join(sorted({c.client_bound_reason for c in measured if c.client_bound_reason}))
    row.requests = sum(c.requests for c in measured)
    row.errors = sum(c.errors for c in measured)
    row.wrong = sum(c.wrong for c in measured)


def _merge_measured(run: Path, row: Row, measured: list[Cell]) -> None:
    hists = [decode((run / c.histogram_file).read_text()) for c in measured if c.histogram_file]
    merged = merge(hists) if hists else None
    unc = [run / c.histogram_uncorrected_file for c in measured if c.histogram_uncorrected_file]
    cpus = [c.cpu for c in measured if c.cpu is not None]
    row.status = "errors" if any(c.status == "errors" for c in measured) else "ok"
    row.latency_us = summarize(merged) if merged else {}
    row.latency_uncorrected_us = summarize(merge(decode(f.read_text()) for f in unc)) if unc else {}
    row.spectrum = spectrum(merged) if merged else []
    row.p50_reps = summarize_reps([c.latency_us["p50"] for c in measured])
    row.throughput_reps = summarize_reps([c.throughput_rps for c in measured])
    row.throughput_rps = statistics.median(c.throughput_rps for c in measured)
    row.service_us_per_req = _median([c.service_us_per_req for c in cpus])
    row.service_cpu_reps = summarize_reps([c.service_us_per_req for c in cpus if c.service_us_per_req is not None])
    row.service_plus_redis_us_per_req = _median([c.service_plus_redis_us_per_req for c in cpus])
    row.loadgen_us_per_req = _median([c.loadgen_us_per_req for c in cpus])
    row.loadgen_util = max((c.loadgen_util for c in cpus), default=None)
    row.service_util = _median([c.service_util for c in cpus])
    row.requests = sum(c.requests for c in measured)
    row.errors = sum(c.errors for c in measured)
    row.wrong = sum(c.wrong for c in measured)
    row.client_bound = any(c.client_bound for c in measured)
    row.client_bound_reason = "; ".join(sorted({c.client_bound_reason for c in measured if c.client_bound}))
    row.error_samples = [s for c in measured for s in c.error_samples][:3]
    if row.kind == "open":
        row.offered_rps = measured[0].offered_rps
        row.late_wakeups = sum(c.late_wakeups or 0 for c in measured)
        row.queued = sum(c.queued or 0 for c in measured)
        row.dropped = sum(c.dropped or 0 for c in measured)
        row.issued = sum(c.issued or 0 for c in measured)
        row.wakeup_lag_us = measured[0].wakeup_lag_us or {}


def sweep_text(outcome: str | None, max_rps: float | None, last_offered: float | None = None) -> str:
    """A sweep's result as a reader should quote it: a maximum, or a lower bound saying why."""
    n = f"{max_rps or 0:,.0f}"
    if outcome == "client_bound":
        return f"≥ {n} req/s (objective not broken; client-bound at {n})"
    if outcome == "not_broken":
        top = f" up to {last_offered:,.0f} offered" if last_offered else ""
        return f"≥ {n} req/s (objective not broken{top})"
    return f"{n} req/s"


def floors(rows: list[Row]) -> dict[str, Row]:
    """The floor row of each transport (the harness's client against the cheapest responder)."""
    return {r.transport: r for r in rows if r.is_floor and r.latency_us}


def payload_order(cells: list[Cell]) -> list[str]:
    """Payload names in the order the scenario listed them (closed-loop and floor cells)."""
    seen: list[str] = []
    for c in cells:
        if c.kind in ("closed", "floor") and c.payload not in seen:
            seen.append(c.payload)
    return seen
