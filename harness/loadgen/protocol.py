"""The load-generator protocol of contract/LOADGEN.md, as the harness's Python code speaks it.

Both sides import this module: the runner (which writes a cell's `CellFile` for the Locust
master and reads back its results) and the locustfile (the master, which hands each worker
its `CellConfig`, and Python's own generator, which follows the same `Plan`). Any change here
is a change of the written protocol: update LOADGEN.md and `PROTOCOL` with it.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.contract.endpoint import Endpoint
from harness.results.stats import decode, encode, merge, summarize

PROTOCOL = 1
"""The version of contract/LOADGEN.md this code implements."""

HELLO = "bench_hello"
CONFIG = "bench_config"
START = "bench_start"
RESULTS = "bench_results"

HARNESS_CALLER = "python"
"""The caller the harness itself is: Locust's own users, in the harness's language (LOADGEN.md, "Roles")."""

WORKER_CLASS = "BenchCell"
"""The one user class a worker runs; Locust's `spawn` counts users of it."""

LATE_S = 0.005
"""A free user waking more than 5 ms after its due time is a late wake-up; a slot taken more
than 5 ms late by a busy user is queued (LOADGEN.md, "Timing and checking")."""

START_DELAY_S = 0.2
"""How far ahead of `bench_start` the master puts the plan's start, so every worker hears it in time."""
LOCAL_START_DELAY_S = 0.05
"""The same when every worker is on the master's host (a message takes a millisecond; a late start
would only shorten the unmeasured warm-up)."""
STOP_MARGIN_S = 0.1
"""How long after the plan's end the master sends `stop`, so that no worker's last phase is cut short."""
LOCAL_STOP_MARGIN_S = 0.03
"""The same when every worker is on the master's host (one clock)."""


@dataclass
class PhaseSpec:
    """One phase of a plan: `rate` None is closed loop; unmeasured phases are run, not reported."""

    name: str
    duration_s: float
    rate: float | None = None
    measured: bool = True


@dataclass
class Slo:
    """The objective a sweep step must meet to count as sustainable."""

    p99_us: float
    max_error_rate: float = 0.01


@dataclass
class Plan:
    """Phases, loop kind, arrival process and (for sweeps) the objective (LOADGEN.md, "The plan")."""

    phases: list[PhaseSpec] = field(default_factory=list)
    open_loop: bool = False
    arrival: str = "constant"
    seed: int = 1
    slo: Slo | None = None

    @staticmethod
    def closed(warmup_s: float, duration_s: float) -> Plan:
        """Closed loop: a warm-up, then one measured phase."""
        return Plan([PhaseSpec("warmup", warmup_s, None, False), PhaseSpec("measure", duration_s)])

    @staticmethod
    def open(warmup_s: float, duration_s: float, rate: float, arrival: str, seed: int) -> Plan:
        """Open loop at one rate: a warm-up at that rate, then one measured phase."""
        return Plan([PhaseSpec("warmup", warmup_s, rate, False), PhaseSpec("measure", duration_s, rate)],
                    open_loop=True, arrival=arrival, seed=seed)

    @staticmethod
    def sweep(warmup_s: float, step_s: float, rates: list[float], arrival: str, seed: int, slo: Slo) -> Plan:
        """Open loop stepping through `rates`, stopped at the first step that breaks `slo`."""
        phases = [PhaseSpec("warmup", warmup_s, rates[0], False)]
        phases += [PhaseSpec(f"step-{i + 1}", step_s, float(r)) for i, r in enumerate(rates)]
        return Plan(phases, open_loop=True, arrival=arrival, seed=seed, slo=slo)

    @staticmethod
    def endless() -> Plan:
        """The web UI's plan: one endless measured closed-loop phase."""
        return Plan([PhaseSpec("all", math.inf)])

    @property
    def total_s(self) -> float:
        """The plan's length in seconds."""
        return sum(p.duration_s for p in self.phases)

    def to_dict(self) -> dict[str, Any]:
        """The plan as LOADGEN.md's `plan` object."""
        return asdict(self)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Plan:
        """A plan from LOADGEN.md's `plan` object."""
        slo = Slo(**d["slo"]) if d.get("slo") else None
        return Plan([PhaseSpec(**p) for p in d["phases"]], bool(d["open_loop"]), str(d["arrival"]), int(d["seed"]),
                    slo)

    def share(self, workers: int, index: int) -> Plan:
        """Worker `index`'s share of the plan: open-loop rates divided by `workers`, its own seed.

        N independent Poisson streams of rate r/N add up to one Poisson stream of rate r. The
        objective stays with the master.
        """
        return Plan([PhaseSpec(p.name, p.duration_s, p.rate / workers if p.rate else p.rate, p.measured)
                     for p in self.phases], self.open_loop, self.arrival, self.seed * 1000 + index, None)


@dataclass
class Request:
    """The one request a cell sends again and again, with what its reply must be."""

    op: str
    body: bytes
    opcodes: list[list[Any]] | None = None
    expect: bytes | None = None

    def to_message(self) -> dict[str, Any]:
        """LOADGEN.md's `request` object (bytes stay bytes: msgpack bin)."""
        return {"op": self.op, "body": self.body, "expect": self.expect, "opcodes": self.opcodes}


@dataclass
class CellConfig:
    """What the master sends one worker in `bench_config` (LOADGEN.md)."""

    cell: str
    name: str
    target: Endpoint
    request: Request
    plan: Plan
    index: int = 0
    workers: int = 1
    timeout_s: float = 10.0
    protocol: int = PROTOCOL

    def to_message(self) -> dict[str, Any]:
        """The `bench_config` data."""
        return {"protocol": self.protocol, "cell": self.cell, "name": self.name, "index": self.index,
                "workers": self.workers, "timeout_s": self.timeout_s, "target": asdict(self.target),
                "request": self.request.to_message(), "plan": self.plan.to_dict()}

    @staticmethod
    def from_message(d: dict[str, Any]) -> CellConfig:
        """A config from `bench_config` data; ValueError for another protocol version."""
        if d.get("protocol") != PROTOCOL:
            raise ValueError(f"bench_config speaks load-generator protocol {d.get('protocol')!r}; this generator "
                             f"speaks {PROTOCOL} (contract/LOADGEN.md)")
        r = d["request"]
        return CellConfig(cell=d["cell"], name=d["name"], target=Endpoint(**d["target"]),
                          request=Request(r["op"], bytes(r["body"]), r.get("opcodes"), r.get("expect")),
                          plan=Plan.from_dict(d["plan"]), index=int(d["index"]), workers=int(d["workers"]),
                          timeout_s=float(d["timeout_s"]))


@dataclass
class CellFile:
    """What the runner tells the Locust master about a cell: one JSON file, `--bench-cell PATH`.

    `results` is where the master writes the merged `bench_results` (the runner reads it when
    Locust exits); `phases` is where it writes the phases' start times as soon as the test
    starts, so that the runner samples CPU at every phase boundary. `workers` is how many
    generator processes join (0: Python's users run inside the master process itself);
    `remote`: some of them are on other hosts (the start and stop margins are wider).
    """

    config: CellConfig
    results: str
    phases: str
    workers: int = 0
    remote: bool = False

    @property
    def start_delay_s(self) -> float:
        """How far ahead of `bench_start` the plan starts."""
        return START_DELAY_S if self.remote else LOCAL_START_DELAY_S

    @property
    def stop_margin_s(self) -> float:
        """How long after the plan's end `stop` goes out."""
        return STOP_MARGIN_S if self.remote else LOCAL_STOP_MARGIN_S

    def write(self, path: Path) -> None:
        """Write the file (bytes as latin-1 text: JSON has no bytes)."""
        doc: dict[str, Any] = {"config": self.config.to_message(), "results": self.results, "phases": self.phases,
               "workers": self.workers, "remote": self.remote}
        doc["config"]["request"]["body"] = self.config.request.body.decode("latin-1")
        path.write_text(json.dumps(doc), encoding="utf-8")

    @staticmethod
    def read(path: Path) -> CellFile:
        """Read a file written by `write`."""
        doc = json.loads(path.read_text(encoding="utf-8"))
        doc["config"]["request"]["body"] = doc["config"]["request"]["body"].encode("latin-1")
        return CellFile(CellConfig.from_message(doc["config"]), doc["results"], doc["phases"], int(doc["workers"]),
                        bool(doc.get("remote", False)))


def write_json_atomically(path: Path, doc: Any) -> None:
    """Write JSON so that a reader polling for the file never sees half of it."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc), encoding="utf-8")
    tmp.replace(path)


_SUMS = ("issued", "dropped", "late_wakeups", "queued")


def merge_results(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One `bench_results` from several workers' (LOADGEN.md): counters and rates summed, histograms added.

    Histograms add bucket by bucket, so the merged percentiles are exactly those of one
    histogram holding every worker's requests. Wake-up lag and queue delay summaries cannot be
    merged from summaries: the first worker's stands, and each worker's is kept in "workers".
    """
    if not results:
        return {"phases": [], "stopped_early": None}
    base = results[0]["phases"]
    phases = []
    for i, first in enumerate(base):
        parts = [r["phases"][i] for r in results if i < len(r["phases"])]
        merged: dict[str, Any] = {k: first[k] for k in ("name", "measured", "rate", "duration_s")}
        if first["rate"] is not None:
            merged["rate"] = sum(p["rate"] or 0 for p in parts)
        for k in _SUMS:
            merged[k] = sum(p[k] for p in parts)
        merged["wakeup_lag_us"] = first["wakeup_lag_us"]
        merged["queue_delay_us"] = first["queue_delay_us"]
        cells: dict[str, Any] = {}
        for name in sorted({n for p in parts for n in p["cells"]}):
            cs = [p["cells"][name] for p in parts if name in p["cells"]]
            corrected = merge(decode(c["histogram"]) for c in cs)
            uncorrected = merge(decode(c["histogram_uncorrected"]) for c in cs)
            cells[name] = {
                "requests": sum(c["requests"] for c in cs), "errors": sum(c["errors"] for c in cs),
                "wrong": sum(c["wrong"] for c in cs),
                "error_samples": [s for c in cs for s in c["error_samples"]][:5],
                "latency_us": summarize(corrected), "latency_uncorrected_us": summarize(uncorrected),
                "histogram": encode(corrected), "histogram_uncorrected": encode(uncorrected),
            }
        merged["cells"] = cells
        phases.append(merged)
    stopped = next((r["stopped_early"] for r in results if r.get("stopped_early")), None)
    return {"phases": phases, "stopped_early": stopped}
