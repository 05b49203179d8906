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
    stopped_early: str | None = None

    @property
    def is_floor(self) -> bool:
        """Whether this row is a transport's floor (the harness's client against a responder doing no work)."""
        return self.kind == "floor"

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
            m = measured[0]
            row.status, row.steps, row.slo = m.status, m.steps, m.slo
            row.max_sustainable_rps, row.stopped_early = m.max_sustainable_rps, m.stopped_early
        else:
            _merge_measured(run, row, measured)
        rows.append(row)
    order = {name: t.order for name, t in REGISTRY.items()}
    rows.sort(key=lambda r: (order.get(r.transport, 999), not r.is_floor, r.caller, r.service))
    return rows


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
