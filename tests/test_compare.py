"""`harness compare` end to end on real runs (the verdicts on synthetic cells: tests/unit/test_compare_verdicts.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness import REPO


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
    assert "service_us_per_req" in out.stdout and "WORSE" in out.stdout
    assert (slow / f"compare-{a.name}.png").stat().st_size > 1000

