"""`harness compare`: the noise verdict on synthetic cells, and end to end on real runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness import REPO
from harness.results.compare import diff_cells


def cell(p50: float, rps: float, cpu: float, rep: int) -> dict[str, Any]:
    return {"service": "s", "transport": "http", "payload": "echo-64B", "kind": "closed", "status": "ok", "rep": rep,
            "latency_us": {"p50": p50, "p99": p50 * 3}, "throughput_rps": rps, "cpu": {"service_us_per_req": cpu}}


def test_same_within_noise_and_real_regression() -> None:
    a = [cell(100, 1000, 50, 0), cell(104, 980, 52, 1), cell(97, 1010, 49, 2)]
    same = [cell(102, 995, 51, 0), cell(99, 1005, 50, 1), cell(101, 990, 50, 2)]
    slow = [cell(160, 700, 90, 0), cell(165, 690, 92, 1), cell(158, 705, 91, 2)]
    assert all(c.verdict == "same" for c in diff_cells(a, same))
    verdicts = {c.metric: c.verdict for c in diff_cells(a, slow)}
    assert verdicts == {"p50": "worse", "p99": "worse", "throughput_rps": "worse", "cpu_us_per_req": "worse"}
    faster = {c.metric: c.verdict for c in diff_cells(slow, a)}
    assert faster["p50"] == "better" and faster["throughput_rps"] == "better"


def test_single_runs_use_a_wide_default_noise() -> None:
    changes = diff_cells([cell(100, 1000, 50, 0)], [cell(110, 950, 54, 0)])
    assert all(c.verdict == "same" and c.noise_pct == 15.0 for c in changes)


def _bench(name: str, out: Path) -> Path:
    proc = subprocess.run([sys.executable, "-m", "harness", "bench", "--scenario",
                           str(REPO / "tests" / "scenarios" / f"{name}.toml"), "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    # Two runs of the same code are compared by hand on a quiet machine (docs/performance.md): on a
    # shared 2-core machine their spread between runs minutes apart is too wide for a test to assert.
    base = tmp_path_factory.mktemp("compare")
    return _bench("compare", base / "a"), _bench("compare-slow", base / "slow")


def test_compare_flags_a_slowed_service(runs: tuple[Path, Path]) -> None:
    a, slow = runs
    out = subprocess.run([sys.executable, "-m", "harness", "compare", str(a), str(slow), "--fail-on-regression", "20"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 1, out.stdout
    assert "cpu_us_per_req" in out.stdout and "WORSE" in out.stdout
    assert (slow / f"compare-{a.name}.png").stat().st_size > 1000

