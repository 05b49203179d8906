"""A Locust master and two workers on this machine: histograms merged exactly through Locust's messaging."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness import REPO
from harness.loadgen.merge import merge_results, worker_plan
from harness.loadgen.plan import PhaseSpec, Plan
from harness.results.stats import decode, encode, merge, new_histogram, record, summarize


@pytest.fixture(scope="module")
def dist_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist") / "run"
    proc = subprocess.run([sys.executable, "-m", "harness", "bench", "--scenario",
                           str(REPO / "tests" / "scenarios" / "tiny.toml"), "--workers", "2", "-t", "http",
                           "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_merged_counts_and_percentiles_are_exact(dist_run: Path) -> None:
    cells = json.loads((dist_run / "cells.json").read_text())["cells"]
    assert {c["payload"] for c in cells} == {"echo-64B", "diff-200"}
    for c in cells:
        assert c["status"] == "ok", c
        workers = c["workers"]
        assert [w["index"] for w in workers] == [0, 1]
        counts = [w["phases"][0]["requests"] for w in workers]
        assert all(n > 0 for n in counts), "both workers must have sent requests"
        assert c["requests"] == sum(counts)
        raw = [decode((dist_run / f).read_text()) for w in workers for f in w["phases"][0]["histogram_files"]]
        merged_raw = merge(raw)
        master = decode((dist_run / c["histogram_file"]).read_text())
        assert master.get_total_count() == merged_raw.get_total_count() == c["requests"]
        for p in (50, 90, 99, 99.9, 100):
            assert master.get_value_at_percentile(p) == merged_raw.get_value_at_percentile(p)
        assert all(w["phases"][0]["cpu_s"] is not None and w["phases"][0]["cpu_s"] > 0 for w in workers)


def test_report_of_a_distributed_run(dist_run: Path) -> None:
    assert (dist_run / "index.html").exists()


def test_merge_results_adds_histograms() -> None:
    def result(values: list[int]) -> dict:
        h = new_histogram()
        for v in values:
            record(h, v)
        cell = {"requests": len(values), "errors": 0, "wrong": 0, "error_samples": [], "histogram": encode(h),
                "histogram_uncorrected": encode(h)}
        phase = {"name": "measure", "start": 0, "end": 1, "rate": None, "measured": True, "issued": 0, "dropped": 0,
                 "late_wakeups": 0, "queued": 0, "wakeup_lag_us": {}, "queue_delay_us": {}, "cells": {"c": cell}}
        return {"phases": [phase], "stopped_early": None}

    merged = merge_results([result([10, 20, 30]), result([40, 50])])
    cell = merged["phases"][0]["cells"]["c"]
    assert cell["requests"] == 5
    assert summarize(decode(cell["histogram"]))["p50"] == 30


def test_worker_plan_splits_the_rate() -> None:
    plan = Plan([PhaseSpec("warmup", 1, 300, False), PhaseSpec("measure", 2, 300)], open_loop=True, seed=7)
    share = worker_plan(plan, 3, 1)
    assert [p.rate for p in share.phases] == [100, 100]
    assert share.seed != worker_plan(plan, 3, 2).seed
