"""Typed, versioned results: cells.json written atomically, read back checked, older schemas migrated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.results.aggregate import aggregate, floors, payload_order
from harness.results.schema import SCHEMA_VERSION, Cell, Cpu, Run, SchemaError, Step, load_run
from harness.results.stats import encode, new_histogram, record


def _cpu(service_us: float) -> Cpu:
    return Cpu(wall_s=1.0, service_s=0.5, loadgen_s=0.3, redis_s=0.0, service_util=0.5, loadgen_util=0.3,
               redis_util=0.0, service_us_per_req=service_us, service_plus_redis_us_per_req=service_us,
               loadgen_us_per_req=30.0)


def _cell(folder: Path, rep: int, values: list[int], service: str = "java", kind: str = "closed") -> Cell:
    h = new_histogram()
    for v in values:
        record(h, v)
    name = f"python.{service}.http.echo-64B.r{rep}.{kind}"
    (folder / "hist").mkdir(exist_ok=True)
    (folder / "hist" / f"{name}.hdr").write_text(encode(h))
    return Cell(id=name, service=service, language=service.title(), transport="http", payload="echo-64B", op="echo",
                kind=kind, rep=rep, status="ok", requests=len(values), throughput_rps=1000.0 + rep,
                latency_us={"p50": float(sorted(values)[len(values) // 2])}, cpu=_cpu(10.0 + rep),
                histogram_file=f"hist/{name}.hdr")


def test_a_run_round_trips_through_cells_json(tmp_path: Path) -> None:
    sweep = Cell(id="s", service="java", transport="http", payload="echo-64B", kind="sweep", status="ok",
                 steps=[Step(step="step-1", offered_rps=100.0, meets_slo=True, cpu=_cpu(3.0))])
    run = Run(run="r", scenario="quick", cells=[_cell(tmp_path, 0, [10, 20, 30]), sweep])
    run.write(tmp_path)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    back, meta = load_run(tmp_path)
    assert back == run and meta == {}
    assert json.loads((tmp_path / "cells.json").read_text())["schema"] == SCHEMA_VERSION


def _write(folder: Path, doc: object) -> Path:
    (folder / "cells.json").write_text(json.dumps(doc))
    return folder


def test_a_newer_schema_says_how_to_read_it(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="newer harness"):
        load_run(_write(tmp_path, {"schema": SCHEMA_VERSION + 1, "cells": []}))


def test_an_old_unreadable_schema_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="re-run the benchmark"):
        load_run(_write(tmp_path, {"schema": 1, "cells": []}))


def test_schema_2_is_migrated_with_the_python_caller(tmp_path: Path) -> None:
    old = {"id": "java.http.echo-64B.r0", "service": "java", "transport": "http", "payload": "echo-64B",
           "status": "ok", "cpu": {"wall_s": 1, "service_s": 1, "loadgen_s": 1, "redis_s": 0, "service_util": 1,
                                   "loadgen_util": 1, "redis_util": 0, "service_us_per_req": 5}}
    run, _ = load_run(_write(tmp_path, {"schema": 2, "run": "old", "scenario": "quick", "cells": [old]}))
    assert run.migrated_from == 2
    c = run.cells[0]
    assert (c.caller, c.id) == ("python", "python.java.http.echo-64B.r0")
    assert c.cpu is not None and c.cpu.service_us_per_req == 5


def test_unknown_keys_and_statuses_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="not in schema"):
        load_run(_write(tmp_path, {"schema": SCHEMA_VERSION, "cells": [{"id": "x", "cpu_us_per_req": 3}]}))
    with pytest.raises(SchemaError, match="status 'fine'"):
        load_run(_write(tmp_path, {"schema": SCHEMA_VERSION, "cells": [{"id": "x", "status": "fine"}]}))
    with pytest.raises(SchemaError, match="not JSON"):
        (tmp_path / "cells.json").write_text("{")
        load_run(tmp_path)
    with pytest.raises(HarnessError, match="no cells.json"):
        load_run(tmp_path / "missing")


def test_aggregate_merges_histograms_and_takes_medians(tmp_path: Path) -> None:
    cells = [_cell(tmp_path, 0, [10] * 50), _cell(tmp_path, 1, [1000] * 50), _cell(tmp_path, 2, [30] * 60),
             _cell(tmp_path, 0, [5] * 10, service="floor", kind="floor")]
    cells[3].kind = "floor"
    rows = aggregate(tmp_path, cells)
    assert [r.service for r in rows] == ["floor", "java"]  # each transport's floor first
    java = rows[1]
    assert java.reps == 3 and java.requests == 160
    assert java.latency_us["count"] == 160 and java.latency_us["p50"] == 30  # of all 160, not a median of medians
    assert java.service_us_per_req == 11.0 and java.throughput_rps == 1001.0
    assert floors(rows)["http"].service == "floor"
    assert payload_order(cells) == ["echo-64B"]
