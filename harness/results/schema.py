"""Typed, versioned results: a run's cells.json as records, written atomically, read with a check.

`Run` holds the cells of one run; `Cell` is one measured (or failed, or missing) cell; `Step`
one step of a sweep; `Cpu` the CPU the harness sampled over a measured phase. Every metric has
one name, here, and every reader (report, compare, noise, selfbench) reads these records, never
raw keys. docs/results.md describes the format for readers outside the harness.

Schema history (the version is `schema` in cells.json):
  1 (2026-11-23) {schema, run, scenario, interrupted, cells}; one closed-loop cell per
    service x transport x payload x repetition; histograms in hist/<cell-id>.hdr.
  2 (2026-11-23) adds cell `kind` (closed, open, sweep, curve, floor), `latency_uncorrected_us`,
    open-loop counters (offered_rps, late_wakeups, queued, dropped, wakeup_lag_us), sweep `steps`
    and `max_sustainable_rps`, and the run's `pingpong` floor.
  3 (2026-12-01) typed records: every cell names its `caller` (the load generator's language;
    `python` for Locust's own users) and cell ids start with it; `cpu.loadgen_us_per_req`; the
    run records `caller_bound_util` (the threshold that marks a cell client-bound). Version 2
    runs are read by filling `caller = "python"` (the only caller then) and the id prefix.
  4 (2026-12-01) sweeps run to the break and are repeated like cells: a sweep cell adds
    `sweep_outcome` (broken: a true maximum; client_bound or not_broken: `max_sustainable_rps`
    is a lower bound) and `broke_at_rps` (the offered rate of the first step that broke the
    objective). Version 3 runs read as they are (their sweeps have no outcome: shown as before).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

SCHEMA_VERSION = 4
READABLE = (2, 3, 4)
"""Versions this harness reads; 2 is migrated on reading (see the history above)."""

Summary = dict[str, float]
"""A latency summary in µs: count, p50, p90, p99, p99.9, min, mean, max (`{"count": 0}` when empty)."""

STATUSES = ("ok", "errors", "failed", "gap")
"""ok: measured, every reply right; errors: measured, some errors or wrong replies; failed: not
measured (the reason says why); gap: the service does not serve the transport."""


class SchemaError(HarnessError):
    """A cells.json this harness cannot read correctly."""


@dataclass
class Cpu:
    """CPU seconds the harness sampled from /proc over one measured phase, and what they come to per request."""

    wall_s: float
    service_s: float | None
    loadgen_s: float
    redis_s: float
    service_util: float | None
    loadgen_util: float
    redis_util: float
    service_us_per_req: float | None = None
    service_plus_redis_us_per_req: float | None = None
    loadgen_us_per_req: float | None = None
    note: str = ""


@dataclass
class Measured:
    """What one measured phase gave: counts, latency, throughput, CPU, and where its histograms are."""

    requests: int = 0
    errors: int = 0
    wrong: int = 0
    error_samples: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    throughput_rps: float = 0.0
    latency_us: Summary = field(default_factory=dict)
    latency_uncorrected_us: Summary = field(default_factory=dict)
    cpu: Cpu | None = None
    client_bound: bool = False
    client_bound_reason: str = ""
    histogram_file: str = ""
    histogram_uncorrected_file: str = ""
    # Open loop only (None in closed loop).
    offered_rps: float | None = None
    issued: int | None = None
    dropped: int | None = None
    late_wakeups: int | None = None
    queued: int | None = None
    wakeup_lag_us: Summary | None = None
    queue_delay_us: Summary | None = None


@dataclass
class Step(Measured):
    """One step of a sweep: a measured phase at one offered rate."""

    step: str = ""
    status: str = "ok"
    reason: str = ""
    meets_slo: bool = False


@dataclass
class WorkerPhase:
    """One worker's share of one measured phase (distributed runs)."""

    phase: str
    requests: int
    histogram_files: list[str]
    cpu_s: float | None


@dataclass
class Worker:
    """One load-generator worker of a distributed cell."""

    index: int
    phases: list[WorkerPhase]


@dataclass
class Cell(Measured):
    """One cell: (caller, service, transport, payload, kind, repetition) and what it measured."""

    id: str = ""
    caller: str = ""
    service: str = ""
    language: str = ""
    transport: str = ""
    payload: str = ""
    op: str = ""
    payload_spec: dict[str, Any] = field(default_factory=dict)
    kind: str = "closed"
    rep: int = 0
    users: int = 0
    tokens: int | None = None
    size: int | None = None
    status: str = "failed"
    reason: str = ""
    # Sweeps only.
    steps: list[Step] = field(default_factory=list)
    stopped_early: str | None = None
    slo: dict[str, float] | None = None
    max_sustainable_rps: float | None = None
    sweep_outcome: str | None = None
    broke_at_rps: float | None = None
    # Distributed runs only.
    workers: list[Worker] = field(default_factory=list)

    @property
    def measured(self) -> bool:
        """Whether the cell produced numbers (ok or errors), as opposed to failed or a gap."""
        return self.status in ("ok", "errors")

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        """What repetitions share: caller, service, transport, payload, kind."""
        return (self.caller, self.service, self.transport, self.payload, self.kind)


@dataclass
class Run:
    """One run's cells and what the runner knew about the run as a whole."""

    run: str
    scenario: str
    cells: list[Cell] = field(default_factory=list)
    interrupted: bool = False
    pingpong: dict[str, Any] | None = None
    external: dict[str, Any] = field(default_factory=dict)
    caller_bound_util: float = 0.9
    schema: int = SCHEMA_VERSION
    migrated_from: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON document of cells.json."""
        doc = asdict(self)
        doc.pop("migrated_from")
        return doc

    def write(self, folder: Path) -> Path:
        """Write cells.json atomically (a reader never sees half a file)."""
        path = folder / "cells.json"
        tmp = folder / f".cells.json.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(self.to_json(), indent=1), encoding="utf-8")
        tmp.replace(path)
        return path


def _build(cls: type[Any], data: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    unknown = set(data) - set(known)
    if unknown:
        raise SchemaError(f"{where}: keys {sorted(unknown)} are not in schema {SCHEMA_VERSION}; the run was written by "
                          "a newer harness: read it with that version (its commit is in meta.json)")
    values = dict(data)
    if isinstance(values.get("cpu"), dict):
        values["cpu"] = _build(Cpu, values["cpu"], where + ".cpu")
    if cls is Cell:
        values["steps"] = [_build(Step, s, f"{where}.steps[{i}]") for i, s in enumerate(values.get("steps") or [])]
        values["workers"] = [Worker(w["index"], [WorkerPhase(**p) for p in w["phases"]])
                             for w in values.get("workers") or []]
    return cls(**values)


V2_CALLER = "python"
"""Schema 2 predates callers: every call of such a run started in the harness's own Locust users."""


def _migrate_2(doc: dict[str, Any]) -> dict[str, Any]:
    """Schema 2 -> 3: every cell's caller is the harness's own users; ids gain the caller prefix."""
    cells = []
    for c in doc.get("cells", []):
        c = {**c, "caller": V2_CALLER}
        if not str(c.get("id", "")).startswith(f"{V2_CALLER}."):
            c["id"] = f"{V2_CALLER}.{c.get('id', '')}"
        cells.append(c)
    return {**doc, "cells": cells, "schema": 3}


def parse_run(doc: dict[str, Any], where: str) -> Run:
    """A Run from a cells.json document; SchemaError (saying how to fix) for a version this harness cannot read."""
    version = doc.get("schema")
    if version not in READABLE:
        newer = isinstance(version, int) and version > SCHEMA_VERSION
        how = ("it was written by a newer harness: update this checkout (git pull) or read it with the harness at the "
               "commit in its meta.json" if newer else
               "re-run the benchmark (make bench), or render it with the harness at the commit in its meta.json "
               "(git checkout <commit> && make report RUN=...)")
        raise SchemaError(f"{where}: results schema {version!r}; this harness reads schema "
                          f"{', '.join(map(str, READABLE))}: {how}")
    migrated = None
    if version == 2:
        doc, migrated = _migrate_2(doc), 2
    elif version == 3:
        migrated = 3
    try:
        cells = [_build(Cell, c, f"{where}: cells[{i}]") for i, c in enumerate(doc.get("cells", []))]
        run = Run(run=str(doc.get("run", "")), scenario=str(doc.get("scenario", "")), cells=cells,
                  interrupted=bool(doc.get("interrupted", False)), pingpong=doc.get("pingpong"),
                  external=doc.get("external") or {}, caller_bound_util=float(doc.get("caller_bound_util", 0.9)),
                  schema=SCHEMA_VERSION, migrated_from=migrated)
    except (TypeError, KeyError) as e:
        raise SchemaError(f"{where}: not a valid schema {SCHEMA_VERSION} document ({e}); was it edited by hand? "
                          "Re-run the benchmark to get a fresh one") from e
    for c in run.cells:
        if c.status not in STATUSES:
            raise SchemaError(f"{where}: cell {c.id} has status {c.status!r}, not one of {', '.join(STATUSES)}")
    return run


def load_run(folder: Path) -> tuple[Run, dict[str, Any]]:
    """The Run of results/<run>/cells.json and its meta.json (empty when missing)."""
    path = folder / "cells.json"
    if not path.exists():
        raise HarnessError(f"{folder} has no cells.json: is it a results folder of `python -m harness bench`?")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise SchemaError(f"{path} is not JSON ({e}): the run may have been cut off; re-run it") from e
    if not isinstance(doc, dict):
        raise SchemaError(f"{path} is not a results document (a JSON object with 'schema' and 'cells')")
    meta_path = folder / "meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else {}
    return parse_run(doc, str(path)), meta
