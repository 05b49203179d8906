"""The native load of selfbench: nginx and an HTTP service under the same wrk load, with real processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness.contract.manifest import discover
from harness.run.native import native_http, run_wrk, start_nginx, wrk_client_cpu


def test_nginx_answers_wrk_with_its_fixed_64_bytes(tmp_path: Path) -> None:
    proc, port = start_nginx(tmp_path / "nginx", "0")
    try:
        lua = tmp_path / "post.lua"
        lua.write_text('wrk.method = "POST"\nwrk.body = string.rep("x", 64)\n')
        requests, seconds = run_wrk(f"http://127.0.0.1:{port}/echo", lua, 1, "0")
        assert requests > 100 and 0.5 < seconds < 5
        # wrk's own CPU, from its rusage: some, and at most the one core it is pinned to for its second
        requests, cpu = wrk_client_cpu(f"http://127.0.0.1:{port}/echo", lua, 1, "0", connections=4)
        assert requests > 100 and 0.0 < cpu < 1.5
    finally:
        proc.stop()


def test_a_service_and_nginx_share_one_native_load_and_nginx_is_the_unit(tmp_path: Path) -> None:
    results = native_http(tmp_path, [discover()["python"]], seconds=1, rounds=2)
    by = {r.server: r for r in results}
    assert set(by) == {"nginx", "python"}
    assert by["nginx"].ratio_to_nginx == 1.0
    for r in results:
        assert r.rounds == 2 and len(r.us_per_req_rounds) == 2
        assert r.rps > 0 and r.service_us_per_req > 0
    # a Python service does more per request than nginx's fixed reply: the ratio is measured, not assumed
    assert by["python"].ratio_to_nginx is not None and by["python"].ratio_to_nginx > 1.0


def test_selfbench_refuses_a_folder_that_holds_an_earlier_one(tmp_path: Path) -> None:
    (tmp_path / "cells").mkdir()
    r = subprocess.run([sys.executable, "-m", "harness", "selfbench", "--no-native", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "give a new --out" in r.stderr
    assert not (tmp_path / "selfbench.json").exists()
