"""Inside the load generator: the arrival schedule and what each phase measured.

`Schedule` hands out intended send times (constant or Poisson arrivals) in order to whichever
user is free; a user that is idle sleeps until its slot, a slot nobody was free to take is
sent late and its latency still counts from the intended time (the corrected histogram). The
uncorrected histogram counts from the actual send. Late wake-ups of idle users are the load
generator's own lag, counted apart: a cell with many of them is client-bound.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

from harness.loadgen.protocol import LATE_S, Plan
from harness.results.stats import encode, new_histogram, percentiles, record, summarize


@dataclass
class CellStats:
    """What one cell measured in one phase."""

    corrected: HdrHistogram = field(default_factory=new_histogram)
    uncorrected: HdrHistogram = field(default_factory=new_histogram)
    requests: int = 0
    errors: int = 0
    wrong: int = 0
    closed_loop: bool = False
    samples: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Counters, summaries and both histograms as text."""
        if self.closed_loop:
            self.uncorrected = self.corrected
        return {"requests": self.requests, "errors": self.errors, "wrong": self.wrong, "error_samples": self.samples,
                "latency_us": summarize(self.corrected), "latency_uncorrected_us": summarize(self.uncorrected),
                "histogram": encode(self.corrected), "histogram_uncorrected": encode(self.uncorrected)}


@dataclass
class Phase:
    """A phase with its absolute times (time.monotonic) and its measurements."""

    name: str
    start: float
    end: float
    rate: float | None
    measured: bool
    cells: dict[str, CellStats] = field(default_factory=dict)
    issued: int = 0
    dropped: int = 0
    late_wakeups: int = 0
    queued: int = 0
    wakeup_lag: HdrHistogram = field(default_factory=new_histogram)
    queue_delay: HdrHistogram = field(default_factory=new_histogram)

    def as_dict(self) -> dict[str, Any]:
        """The phase as LOADGEN.md's `bench_results` phase object."""
        return {"name": self.name, "measured": self.measured, "rate": self.rate,
                "duration_s": self.end - self.start if math.isfinite(self.end) else None,
                "issued": self.issued, "dropped": self.dropped,
                "late_wakeups": self.late_wakeups, "queued": self.queued,
                "wakeup_lag_us": summarize(self.wakeup_lag), "queue_delay_us": summarize(self.queue_delay),
                "cells": {name: c.as_dict() for name, c in self.cells.items()}}


class Tracker:
    """Attributes every request to the phase of its intended send time."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.phases: list[Phase] = []
        self.stopped_early: str | None = None

    def start(self, now: float) -> None:
        """Fix the phases' absolute times from the start of the test."""
        t = now
        self.phases = []
        for spec in self.plan.phases:
            self.phases.append(Phase(spec.name, t, t + spec.duration_s, spec.rate, spec.measured))
            t += spec.duration_s

    def window(self) -> dict[str, Any]:
        """The phases' times on this host's monotonic clock, for the runner's CPU sampling."""
        return {"phases": [{"name": p.name, "start": p.start, "end": p.end if math.isfinite(p.end) else None,
                            "measured": p.measured} for p in self.phases]}

    def phase_index(self, t: float) -> int | None:
        """The phase holding time t, or None outside the plan."""
        for i, p in enumerate(self.phases):
            if p.start <= t < p.end:
                return i
        return None

    def record(self, cell: str, intended_ns: int, sent_ns: int, done_ns: int, error: bool, wrong: bool,
               message: str) -> None:
        """One request: corrected latency from the intended time, uncorrected from the send."""
        i = self.phase_index(intended_ns / 1e9)
        if i is None:
            return
        stats = self.phases[i].cells.get(cell)
        if stats is None:
            stats = self.phases[i].cells[cell] = CellStats()
        stats.requests += 1
        if error or wrong:
            if error:
                stats.errors += 1
            else:
                stats.wrong += 1
            if len(stats.samples) < 5:
                stats.samples.append(message[:300])
        record(stats.corrected, (done_ns - intended_ns) / 1000.0)
        if self.plan.open_loop:
            record(stats.uncorrected, (done_ns - sent_ns) / 1000.0)
        else:
            stats.closed_loop = True  # every request is sent when intended: one histogram serves as both

    def note_wakeup(self, phase_index: int, lag_s: float) -> None:
        """An idle user woke up `lag_s` after its slot's due time."""
        p = self.phases[phase_index]
        record(p.wakeup_lag, lag_s * 1e6)
        if lag_s > LATE_S:
            p.late_wakeups += 1

    def note_queued(self, phase_index: int, delay_s: float) -> None:
        """A slot was taken `delay_s` after its due time because every user was busy."""
        p = self.phases[phase_index]
        record(p.queue_delay, delay_s * 1e6)
        if delay_s > LATE_S:
            p.queued += 1

    def breaks_slo(self, phase: Phase) -> bool:
        """Whether a finished phase broke the plan's objective (p99 or error rate)."""
        slo = self.plan.slo
        if slo is None:
            return False
        requests = sum(c.requests for c in phase.cells.values())
        if requests == 0:
            return True
        bad = sum(c.errors + c.wrong for c in phase.cells.values())
        p99 = max(percentiles(c.corrected, (99.0,))[0] for c in phase.cells.values())
        behind = phase.rate is not None and requests < 0.9 * phase.issued  # fell behind its own schedule
        return bad / requests > slo.max_error_rate or p99 > slo.p99_us or behind

    def results(self) -> dict[str, Any]:
        """Every phase and whether a sweep stopped early: the body of LOADGEN.md's `bench_results`."""
        return {"phases": [p.as_dict() for p in self.phases], "stopped_early": self.stopped_early}


class Schedule:
    """Intended send times across the plan's phases, handed out in order."""

    def __init__(self, phases: list[Phase], arrival: str, seed: int) -> None:
        if arrival not in ("constant", "poisson"):
            raise ValueError(f"arrival is 'constant' or 'poisson', not {arrival!r}")
        self.phases = phases
        self.poisson = arrival == "poisson"
        self.rng = random.Random(seed)
        self.i = 0
        self.t = phases[0].start if phases else 0.0

    def _advance(self) -> tuple[float, int] | None:
        while self.i < len(self.phases):
            ph = self.phases[self.i]
            if not ph.rate or ph.rate <= 0 or not math.isfinite(ph.end):
                self._next_phase()
                continue
            gap = self.rng.expovariate(ph.rate) if self.poisson else 1.0 / ph.rate
            t = self.t + gap
            if t >= ph.end:
                self._next_phase()
                continue
            self.t = t
            return t, self.i
        return None

    def _next_phase(self) -> None:
        self.i += 1
        if self.i < len(self.phases):
            self.t = self.phases[self.i].start

    def next_slot(self) -> tuple[float, int] | None:
        """The next (due time, phase index), or None when the plan is over."""
        slot = self._advance()
        if slot is not None:
            self.phases[slot[1]].issued += 1
        return slot

    def count_dropped(self, now: float) -> None:
        """Slots that fell due before `now` (and inside the plan) but were never sent."""
        while True:
            slot = self._advance()
            if slot is None or slot[0] >= now:
                return
            self.phases[slot[1]].dropped += 1
