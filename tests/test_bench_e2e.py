"""End to end: a tiny scenario through Locust, into results and a report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness import REPO
from harness.results.schema import SCHEMA_VERSION
from harness.results.stats import decode


@pytest.fixture(scope="module")
def run_dir(tiny_run: Path) -> Path:
    return tiny_run


def test_results_schema(run_dir: Path) -> None:
    doc = json.loads((run_dir / "cells.json").read_text())
    assert doc["schema"] == SCHEMA_VERSION
    cells = doc["cells"]
    assert {c["kind"] for c in cells} == {"closed"}
    assert {(c["transport"], c["payload"]) for c in cells} == {
        ("http", "echo-64B"), ("http", "diff-200"), ("zmq", "echo-64B"), ("zmq", "diff-200")}
    for c in cells:
        assert c["status"] == "ok", c
        assert c["requests"] > 50 and c["errors"] == 0 and c["wrong"] == 0
        assert c["cpu"]["service_s"] > 0 and c["cpu"]["service_us_per_req"] > 0
        hist = decode((run_dir / c["histogram_file"]).read_text())
        assert hist.get_total_count() == c["requests"]


def test_echo_latency_is_plausible_microseconds(run_dir: Path) -> None:
    cells = json.loads((run_dir / "cells.json").read_text())["cells"]
    for c in cells:
        if c["payload"] == "echo-64B":
            p50 = c["latency_us"]["p50"]
            # A loopback round trip: more than a few µs, far less than Locust's 1 ms resolution would suggest.
            assert 5 < p50 < 50_000, c["latency_us"]
            # Recorded at microsecond resolution: many distinct values, most not whole milliseconds.
            hist = decode((run_dir / c["histogram_file"]).read_text())
            values = [v.value_iterated_to for v in hist.get_recorded_iterator()]
            assert len(values) >= 20, values
            assert sum(v % 1000 != 0 for v in values) > 0.9 * len(values), values


def test_meta_records_provenance(run_dir: Path) -> None:
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["git"]["commit"]
    assert meta["machine"]["cores"] >= 1
    assert meta["placement"] == {"loadgen": "0", "services": "1", "redis": "1"}
    assert "python" in meta["services"] and meta["services"]["python"]["runtime"].startswith("CPython")
    assert meta["harness_python"]["libraries"]["locust"] != "not installed"


def test_report_and_csv(run_dir: Path) -> None:
    page = (run_dir / "index.html").read_text()
    assert page.count("data:image/png;base64,") >= 8
    assert "<table class='summary'>" in page
    lines = (run_dir / "cells.csv").read_text().splitlines()
    assert lines[0].startswith("caller,service,language,transport,payload")
    assert len(lines) == 5


def test_results_are_never_overwritten(run_dir: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "harness", "bench", "--scenario",
                           str(REPO / "tests" / "scenarios" / "tiny.toml"), "--out", str(run_dir)],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "never overwritten" in proc.stderr


@pytest.fixture(scope="module")
def measure_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "measure"
    proc = subprocess.run([sys.executable, "-m", "harness", "bench", "--scenario",
                           str(REPO / "tests" / "scenarios" / "tiny-measure.toml"), "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def _cells(run: Path, kind: str) -> list[dict]:
    return [c for c in json.loads((run / "cells.json").read_text())["cells"] if c.get("kind") == kind]


def test_floor_and_pingpong(measure_dir: Path) -> None:
    doc = json.loads((measure_dir / "cells.json").read_text())
    assert doc["pingpong"]["latency_us"]["p50"] > 1
    floors = _cells(measure_dir, "floor")
    assert len(floors) == 2  # as many repetitions as the services' cells (tiny-measure.toml: 2)
    for floor in floors:
        assert floor["service"] == "floor" and floor["transport"] == "http" and floor["status"] == "ok"


def test_repetitions_and_open_loop(measure_dir: Path) -> None:
    assert len(_cells(measure_dir, "closed")) == 2
    opens = _cells(measure_dir, "open")
    assert len(opens) == 2
    for c in opens:
        assert c["offered_rps"] == 200
        assert c["issued"] > 100 and c["requests"] > 100 and c["wrong"] == 0
        assert c["latency_uncorrected_us"]["count"] == c["latency_us"]["count"] == c["requests"]
        # Latency counted from the intended send is never below the one counted from the actual send.
        assert c["latency_us"]["p99"] >= c["latency_uncorrected_us"]["p99"]
        assert (measure_dir / c["histogram_uncorrected_file"]).exists()


def test_sweep_steps(measure_dir: Path) -> None:
    sweeps = _cells(measure_dir, "sweep")
    assert len(sweeps) == 2  # sweeps are repeated like cells
    page = (measure_dir / "index.html").read_text()
    rates = [100, 200, 400, 800, 1600]  # the listed rates, then doubled up to max_rate
    for sweep in sweeps:
        steps = sweep["steps"]
        offered = [s["offered_rps"] for s in steps]
        assert offered == rates[:len(offered)]
        passing = [s for s in steps if s["meets_slo"]]
        assert sweep["max_sustainable_rps"] == max((s["throughput_rps"] for s in passing), default=0.0)
        if len(passing) == len(steps):
            # nothing broke the generous objective: the sweep ran every doubling and is a lower bound
            assert offered == rates and sweep["sweep_outcome"] == "not_broken"
            assert "objective not broken" in page
        else:
            # a loaded machine can break it: the sweep stops at the first step that broke
            broke = next(s for s in steps if not s["meets_slo"])
            assert broke is steps[-1] and sweep["broke_at_rps"] == broke["offered_rps"]
            assert sweep["sweep_outcome"] in ("broken", "client_bound")
    assert "cells.csv" in page
    assert "sweep_outcome" in (measure_dir / "cells.csv").read_text().splitlines()[0]


def test_cost_curve_and_report(measure_dir: Path) -> None:
    curve = _cells(measure_dir, "curve")
    assert sorted(c["tokens"] for c in curve) == [50, 400]
    page = (measure_dir / "index.html").read_text()
    for heading in ("Open loop", "Rate sweeps", "Diff cost curve", "raw TCP ping-pong"):
        assert heading in page
