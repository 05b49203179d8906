"""Scenarios (scenarios/*.toml) and the cells they expand to.

A scenario names what to run (callers, services, transports, payloads), with which load
(closed loop, open loop at a rate, a rate sweep, the diff cost curve), how often (repetitions)
and where (placement: the cores of the load generator, the services and redis-server).
"""

from __future__ import annotations

import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import REPO
from harness.contract.transports import TRANSPORTS
from harness.errors import HarnessError
from harness.loadgen.protocol import HARNESS_CALLER, Plan, Slo

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
    open: dict[str, Any] | None = None
    sweep: dict[str, Any] | None = None
    curve: dict[str, Any] | None = None
    floor: bool = True
    # The floor's repetitions once more after the transport's services (ids rep R..2R-1), so that its
    # range spans the minutes the services ran in: a p50 drift over them is on both sides of a comparison.
    floor_bracket: bool = False
    env: dict[str, str] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)
    callers: list[str] = field(default_factory=list)
    caller_matrix: dict[str, Any] = field(default_factory=dict)
    max_service_warmup_s: float | None = None

    def service_warmup(self, service_warmup_s: float) -> float:
        """The warm-up of a service's first cell: its manifest's, at most `[load] max_service_warmup_s`."""
        warm = max(self.warmup_s, service_warmup_s)
        return warm if self.max_service_warmup_s is None else max(self.warmup_s, min(warm, self.max_service_warmup_s))

    def other_caller_runs(self, spec: CellSpec, transport: str) -> bool:
        """Whether a caller other than the harness's own runs this cell (`[caller_matrix]` narrows what they run)."""
        m = self.caller_matrix
        return (spec.kind in m.get("kinds", ["closed", "open", "sweep", "curve", "floor"])
                and spec.payload["name"] in m.get("payloads", [spec.payload["name"]])
                and transport in m.get("transports", [transport]))


@dataclass
class CellSpec:
    """One cell to run: what kind, which payload, with how many users and what plan."""

    kind: str
    payload: dict[str, Any]
    rep: int
    users: int
    plan: Plan
    caller: str = HARNESS_CALLER
    warm_first_s: float | None = None
    """A resident caller's cell: the first phase's length when its process already served this
    transport (its JIT is warm, so the caller's `warmup_s` is not needed again); None: always the plan's."""

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
        wrong = [t for t in p.get("transports", []) if t not in TRANSPORTS]
        if wrong:
            raise HarnessError(f"{path}: payload {p['name']}: unknown transports {wrong}; choose from "
                               f"{', '.join(TRANSPORTS)}")
    for section in ("open", "sweep"):
        sec = data.get(section)
        if sec and sec.get("arrival", "poisson") not in ("constant", "poisson"):
            raise HarnessError(f"{path}: [{section}] arrival is \"constant\" or \"poisson\"")
    if data.get("sweep") and not data["sweep"].get("rates"):
        raise HarnessError(f"{path}: [sweep] needs rates = [...] (requests/s, increasing)")
    placement = {**DEFAULT_PLACEMENT, **data.get("placement", {})}
    callers = data.get("callers", [])
    if not isinstance(callers, list) or not all(isinstance(c, str) for c in callers):
        raise HarnessError(f"{path}: callers = [\"python\", \"java\", ...] (empty: every caller that exists)")
    matrix = data.get("caller_matrix", {})
    unknown = set(matrix) - {"payloads", "transports", "kinds"}
    if unknown:
        raise HarnessError(f"{path}: [caller_matrix] takes payloads, transports and kinds, not {sorted(unknown)}")
    return Scenario(
        name=str(data.get("name", path.stem)), path=path, services=list(data.get("services", [])),
        transports=list(transports), payloads=payloads, users=int(load.get("users", 4)),
        duration_s=float(load.get("duration_s", 5)), warmup_s=float(load.get("warmup_s", 1)),
        repetitions=int(load.get("repetitions", 1)), placement={k: str(v) for k, v in placement.items()},
        seed=int(data.get("seed", 1)), open=data.get("open"), sweep=data.get("sweep"), curve=data.get("curve"),
        floor=bool(data.get("floor", True)), floor_bracket=bool(data.get("floor_bracket", False)),
        env={k: str(v) for k, v in data.get("env", {}).items()}, raw=data,
        callers=list(callers), caller_matrix=dict(matrix),
        max_service_warmup_s=float(load["max_service_warmup_s"]) if "max_service_warmup_s" in load else None,
    )


def cell_specs(sc: Scenario, transport: str, warmup: float) -> list[CellSpec]:
    """Every cell of one service x transport, in run order. `warmup` applies to the first one."""
    specs: list[CellSpec] = []

    def w() -> float:
        return warmup if not specs else sc.warmup_s

    for p in sc.payloads:
        if transport not in p.get("transports", [transport]):
            continue  # a payload may name the transports it runs on
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
        rates = sweep_rates(s)
        for p in _select_payloads(sc, s):
            for rep in range(sc.repetitions):
                specs.append(CellSpec("sweep", p, rep, int(s.get("users", 32)),
                                      Plan.sweep(w(), float(s.get("step_s", 3)), rates, s.get("arrival", "poisson"),
                                                 sc.seed + rep, slo)))
    if sc.curve and transport in sc.curve.get("transports", ["http"]):
        c = sc.curve
        for tokens in c.get("tokens", [50, 200, 1000, 5000]):
            p = {"name": f"diff-{tokens}", "op": "diff", "tokens": int(tokens)}
            specs.append(CellSpec("curve", p, 0, int(c.get("users", 1)),
                                  Plan.closed(w(), float(c.get("duration_s", sc.duration_s)))))
    return specs


SWEEP_MAX_RATE = 1_000_000.0
"""Where a sweep that never breaks stops doubling (requests/s): past any caller this machine has."""


def sweep_rates(section: dict[str, Any]) -> list[float]:
    """A sweep's offered rates: the listed ones, then (`to_break`, the default) doubling the last one.

    The doubling goes on to `max_rate` (default SWEEP_MAX_RATE); a sweep stops at its first step
    that breaks the objective, so the extra steps only run while the objective holds. A sweep
    that reaches the end unbroken, or breaks only because its caller was client-bound, reports a
    lower bound (harness/run/measure.py `sweep_cell`).
    """
    rates = [float(r) for r in section["rates"]]
    if section.get("to_break", True):
        top = float(section.get("max_rate", SWEEP_MAX_RATE))
        while rates[-1] * 2 <= top:
            rates.append(rates[-1] * 2)
    return rates


def _select_payloads(sc: Scenario, section: dict[str, Any]) -> list[dict[str, Any]]:
    names = section.get("payloads")
    if not names:
        return sc.payloads
    found = [p for p in sc.payloads if p["name"] in names]
    if len(found) != len(names):
        raise HarnessError(f"{sc.path}: payloads {names} are not all defined under [[payloads]]")
    return found


def cell_id(caller: str, service: str, transport: str, label: str, rep: int) -> str:
    """The stable name of a cell, used for files and in reports."""
    return f"{caller}.{service}.{transport}.{label}.r{rep}"


def new_run_dir(results: Path, scenario: Scenario) -> Path:
    """results/<timestamp>-<scenario>, never an existing folder."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = results / f"{stamp}-{scenario.name}"
    n = 1
    while path.exists():
        n += 1
        path = results / f"{stamp}-{scenario.name}-{n}"
    return path
