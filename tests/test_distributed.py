"""A Locust master and two workers on this machine: histograms merged exactly through Locust's messaging."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness import REPO
from harness.results.stats import decode, merge


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


def test_report_of_a_distributed_run_shows_the_merged_cells(dist_run: Path) -> None:
    page = (dist_run / "index.html").read_text()
    cells = json.loads((dist_run / "cells.json").read_text())["cells"]
    rows = (dist_run / "cells.csv").read_text().splitlines()
    for c in cells:
        # The summary and the CSV carry the merged request count of both workers, not one worker's.
        assert f"<td>{c['requests']:,}</td>" in page, c["id"]
        assert any(f",{c['requests']}," in r and c["payload"] in r for r in rows), c["id"]
