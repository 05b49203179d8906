"""The load-generator protocol's Python side (contract/LOADGEN.md): messages, plans, the cell file, merging."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.contract.endpoint import Endpoint
from harness.loadgen.protocol import PROTOCOL, CellConfig, CellFile, PhaseSpec, Plan, Request, Slo, merge_results
from harness.results.stats import decode, encode, new_histogram, record, summarize


def test_merge_results_adds_histograms() -> None:
    def result(values: list[int]) -> dict:
        h = new_histogram()
        for v in values:
            record(h, v)
        cell = {"requests": len(values), "errors": 0, "wrong": 0, "error_samples": [], "histogram": encode(h),
                "histogram_uncorrected": encode(h)}
        phase = {"name": "measure", "duration_s": 1.0, "rate": None, "measured": True, "issued": 0, "dropped": 0,
                 "late_wakeups": 0, "queued": 0, "wakeup_lag_us": {}, "queue_delay_us": {}, "cells": {"c": cell}}
        return {"phases": [phase], "stopped_early": None}

    merged = merge_results([result([10, 20, 30]), result([40, 50])])
    cell = merged["phases"][0]["cells"]["c"]
    assert cell["requests"] == 5
    assert summarize(decode(cell["histogram"]))["p50"] == 30


def test_worker_plan_splits_the_rate() -> None:
    plan = Plan([PhaseSpec("warmup", 1, 300, False), PhaseSpec("measure", 2, 300)], open_loop=True, seed=7)
    share = plan.share(3, 1)
    assert [p.rate for p in share.phases] == [100, 100]
    assert share.seed != plan.share(3, 2).seed


def _config() -> CellConfig:
    plan = Plan.sweep(1.0, 2.0, [100, 200], "poisson", 3, Slo(p99_us=5000))
    return CellConfig(cell="python.java.http.echo-64B.r0", name="java_http_echo_64B",
                      target=Endpoint("java", "http", "127.0.0.1", 4000, "", ""),
                      request=Request("echo", bytes(range(256)) * 2), plan=plan, index=1, workers=2)


def test_config_round_trips_through_a_message() -> None:
    c = _config()
    back = CellConfig.from_message(c.to_message())
    assert back == c
    assert c.to_message()["request"]["body"] == bytes(range(256)) * 2  # bytes stay bytes (msgpack bin)


def test_a_config_of_another_protocol_version_is_refused() -> None:
    msg = {**_config().to_message(), "protocol": PROTOCOL + 1}
    with pytest.raises(ValueError, match="protocol"):
        CellConfig.from_message(msg)


def test_cell_file_keeps_binary_bodies(tmp_path: Path) -> None:
    f = CellFile(_config(), results=str(tmp_path / "r.json"), phases=str(tmp_path / "p.json"), workers=2)
    f.write(tmp_path / "cell.json")
    back = CellFile.read(tmp_path / "cell.json")
    assert back == f


def test_sweep_plan_phases_and_length() -> None:
    plan = Plan.sweep(1.0, 2.0, [100, 200, 400], "constant", 1, Slo(p99_us=1000))
    assert [p.name for p in plan.phases] == ["warmup", "step-1", "step-2", "step-3"]
    assert [p.rate for p in plan.phases] == [100, 100, 200, 400]
    assert not plan.phases[0].measured and all(p.measured for p in plan.phases[1:])
    assert plan.total_s == 7.0
    assert Plan.from_dict(plan.to_dict()) == plan


def test_a_share_keeps_the_phases_but_not_the_objective() -> None:
    plan = Plan.sweep(1.0, 2.0, [100, 200], "poisson", 5, Slo(p99_us=1000))
    share = plan.share(2, 0)
    assert [p.rate for p in share.phases] == [50, 50, 100]
    assert share.slo is None and share.total_s == plan.total_s
