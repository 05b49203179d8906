"""The caller axis: a load generator that joins the Locust master as a worker (contract/LOADGEN.md).

The caller here is Python's own Locust worker declared as a manifest's [caller], so these tests
check the harness's side of the protocol with a real master and a real worker process; each
language's caller has its own protocol tests in its folder.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import threading
import time
from pathlib import Path

import psutil
import pytest

from harness import REPO
from harness.contract.manifest import Service, discover, load_manifest
from harness.run.runner import Runner
from harness.run.scenario import load_scenario

LANGUAGE_CALLERS = {name: svc for name, svc in discover().items() if svc.caller and not svc.caller.missing_programs()}
CALLERS = ["python", "pyworker", *sorted(LANGUAGE_CALLERS)]
"""The harness's own users, Python's worker as a manifest caller, and every language's caller."""

RESPONDER = """
name = "{name}"
language = "Python"
[transports.http]
command = "{{python}} {responders} {mode} --host {{host}} --port {{port}}"
"""

MISBEHAVING = """
name = "misbehaving"
transports = ["http"]
floor = false
seed = 4
[load]
users = 2
duration_s = 2
warmup_s = 0.5
[open]
rate = 200
users = 4
arrival = "constant"
duration_s = 3
[caller_matrix]
kinds = ["closed", "open"]
[[payloads]]
name = "echo-64B"
op = "echo"
size = 64
"""

PYWORKER = """
name = "pyworker"
language = "Python"
[transports.http]
command = "true"
[caller]
command = '''{python} -m locust -f {repo}/harness/loadgen/locustfile.py --worker \
  --master-host {master_host} --master-port {master_port} --loglevel WARNING --skip-log-setup'''
transports = ["http"]
"""

RESIDENT = PYWORKER.replace('name = "pyworker"', 'name = "resworker"') + """\
resident_command = "{python} {repo}/tests/resident_worker.py --master-host {master_host}"
warmup_s = 1.5
"""

SCENARIO = """
name = "callers"
services = ["python"]
transports = ["http"]
floor = false
seed = 1
[env]
BENCH_EXTRA_WORK_US = "{extra}"
[load]
users = 1
duration_s = 2
warmup_s = 0.5
repetitions = 3
[[payloads]]
name = "echo-64B"
op = "echo"
size = 64
"""


@pytest.fixture(scope="module")
def pyworker(tmp_path_factory: pytest.TempPathFactory) -> Service:
    folder = tmp_path_factory.mktemp("callers") / "pyworker"
    folder.mkdir()
    (folder / "service.toml").write_text(PYWORKER)
    return load_manifest(folder / "service.toml")


def _run(tmp: Path, pyworker: Service, extra_us: int, name: str) -> list[dict]:
    scenario_file = tmp / f"{name}.toml"
    scenario_file.write_text(SCENARIO.format(extra=extra_us))
    runner = Runner(load_scenario(scenario_file), tmp / name)
    runner.callers = {"python": None, "pyworker": pyworker, **LANGUAGE_CALLERS}
    runner.run()
    cells: list[dict] = json.loads((tmp / name / "cells.json").read_text())["cells"]
    return cells


def test_every_caller_measures_the_same_added_latency(tmp_path: Path, pyworker: Service) -> None:
    base = _p50s(_run(tmp_path, pyworker, 0, "fast"))
    slow = _p50s(_run(tmp_path, pyworker, 1000, "slow"))
    assert set(base) == set(slow) == set(CALLERS)
    added = {caller: statistics.median(slow[caller]) - statistics.median(base[caller]) for caller in base}
    # 1 ms of extra CPU work per request, one user (no queueing), medians of 3 repetitions: each caller sees
    # it, and they agree within the noise of a 2-core machine (the busy-spin stretches when cores are shared).
    for caller, delta in added.items():
        assert 700 < delta < 8000, (caller, added, base, slow)
    spread = max(added.values()) - min(added.values())
    assert spread < max(1000, 0.5 * max(added.values())), (added, base, slow)


def _p50s(cells: list[dict]) -> dict[str, list[float]]:
    """Each caller's p50 per repetition, after checking every cell measured correctly."""
    out: dict[str, list[float]] = {}
    for c in cells:
        assert c["status"] == "ok" and c["requests"] > 50 and c["wrong"] == 0, c
        assert c["id"].startswith(f"{c['caller']}.python.http.")
        out.setdefault(c["caller"], []).append(c["latency_us"]["p50"])
    return out


def _run_killing(runner: Runner, cells: Path, pattern: str, nth: int, after_s: float, word: str) -> list[int]:
    """Run `runner`, and `after_s` into the `nth` cell whose phases file matches `pattern`, SIGKILL this
    process's descendants with `word` in their command line; returns their pids."""
    killed: list[int] = []

    def kill() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if len(list(cells.glob(pattern))) >= nth:
                time.sleep(after_s)
                for p in psutil.Process().children(recursive=True):
                    if word in " ".join(p.cmdline()):
                        p.kill()
                        killed.append(p.pid)
                return
            time.sleep(0.05)

    t = threading.Thread(target=kill)
    t.start()
    runner.run()
    t.join()
    return killed


def test_a_caller_that_dies_mid_cell_fails_the_cell_and_the_run_goes_on(tmp_path: Path, pyworker: Service) -> None:
    scenario_file = tmp_path / "die.toml"
    scenario_file.write_text(SCENARIO.format(extra=0).replace("duration_s = 2", "duration_s = 6")
                             .replace("repetitions = 3", "repetitions = 1"))
    runner = Runner(load_scenario(scenario_file), tmp_path / "die")
    runner.callers = {"pyworker": pyworker, "python": None}
    killed = _run_killing(runner, tmp_path / "die" / "cells", "pyworker.*.phases.json", 1, 1.5, "--worker")
    assert killed, "the worker was never seen"
    cells = {c["caller"]: c for c in json.loads((tmp_path / "die" / "cells.json").read_text())["cells"]}
    assert cells["pyworker"]["status"] == "failed"
    assert "exited with code -9" in cells["pyworker"]["reason"]
    assert cells["python"]["status"] == "ok"  # the run went on


def test_a_resident_caller_serves_the_cells_and_a_dead_one_is_started_again(tmp_path: Path) -> None:
    """One process for a run's cells (LOADGEN.md "A resident caller"); SIGKILL in its second cell fails that
    cell alone, the third cell has a new resident process, and none is left after the run. The caller's
    warm-up (1.5 s) is in each process's first cell over the transport; its second has the scenario's (0.5 s)."""
    folder = tmp_path / "resworker"
    folder.mkdir()
    (folder / "service.toml").write_text(RESIDENT)
    resworker = load_manifest(folder / "service.toml")
    scenario_file = tmp_path / "resident.toml"
    scenario_file.write_text(SCENARIO.format(extra=0))
    runner = Runner(load_scenario(scenario_file), tmp_path / "res")
    runner.callers = {"resworker": resworker}
    killed = _run_killing(runner, tmp_path / "res" / "cells", "resworker.*.phases.json", 2, 1.0, "resident_worker.py")
    assert len(killed) == 1, killed
    cells = json.loads((tmp_path / "res" / "cells.json").read_text())["cells"]
    assert [c["status"] for c in cells] == ["ok", "failed", "ok"], [(c["status"], c["reason"]) for c in cells]
    assert "exited with code -9" in cells[1]["reason"], cells[1]["reason"]
    assert all(c["requests"] > 50 and c["cpu"]["loadgen_util"] > 0.05 for c in (cells[0], cells[2])), cells
    warmups = [round(p["end"] - p["start"], 3) for c in cells for p in
               json.loads((tmp_path / "res" / "cells" / f"{c['id']}.phases.json").read_text())["phases"][:1]]
    assert warmups == [2.0, 0.5, 1.5], warmups  # the run's first cell also has the service's warm-up (2 s)
    logs = tmp_path / "res" / "logs"
    first, second = (logs / f"caller-resworker-resident{n}.log" for n in (1, 2))
    assert first.read_text().count("session: master port") == 2  # cells 1 and 2 in one process
    assert second.read_text().count("session: master port") == 1 and "end of input" in second.read_text()
    left = [p.pid for p in psutil.process_iter(["cmdline"])
            if "resident_worker.py" in " ".join(p.info["cmdline"] or [])]
    assert not left, left


def _responder(tmp: Path, mode: str) -> Service:
    folder = tmp / f"{mode}svc"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "service.toml").write_text(RESPONDER.format(name=f"{mode}svc", mode=mode,
                                                          responders=REPO / "tests" / "responders.py"))
    return load_manifest(folder / "service.toml")


def _against(tmp: Path, mode: str, caller: str, pyworker: Service, kind: str) -> dict:
    scenario_file = tmp / f"{mode}.toml"
    scenario_file.write_text(MISBEHAVING)
    runner = Runner(load_scenario(scenario_file), tmp / f"{mode}-{caller}")
    runner.services = [_responder(tmp, mode)]
    runner.callers = {"python": None, "pyworker": pyworker, **LANGUAGE_CALLERS}
    runner.callers = {caller: runner.callers[caller]}
    runner.run()
    cells = json.loads((tmp / f"{mode}-{caller}" / "cells.json").read_text())["cells"]
    found: dict = next(c for c in cells if c["kind"] == kind)
    return found


@pytest.mark.parametrize("caller", CALLERS)
def test_a_wrong_reply_is_counted_wrong(tmp_path: Path, pyworker: Service, caller: str) -> None:
    c = _against(tmp_path, "wrong", caller, pyworker, "closed")
    assert c["caller"] == caller and c["status"] == "errors"
    assert c["requests"] > 20 and c["wrong"] == c["requests"] and c["errors"] == 0, c


@pytest.mark.parametrize("caller", CALLERS)
def test_a_stalling_responder_inflates_the_corrected_histogram(tmp_path: Path, pyworker: Service,
                                                               caller: str) -> None:
    """100 ms stalls every 500 ms under 200 req/s open loop: queued sends count from their intended time."""
    c = _against(tmp_path, "stall", caller, pyworker, "open")
    assert c["caller"] == caller and c["status"] == "ok", c
    assert c["queued"] > 0, c
    corrected, uncorrected = c["latency_us"], c["latency_uncorrected_us"]
    assert corrected["count"] == uncorrected["count"] == c["requests"]
    assert corrected["p99"] >= 50_000, corrected  # the stall shows in full from the intended send time
    assert corrected["p90"] > 1.5 * uncorrected["p90"], (corrected, uncorrected)


@pytest.mark.parametrize("caller", sorted(LANGUAGE_CALLERS))
def test_the_web_ui_drives_a_caller(caller: str, tmp_path: Path) -> None:
    """`make ui CALLER=<name>`: started from the UI's swarm form, that caller's worker sends requests the
    UI counts; stopped from the UI; Ctrl-C stops every process (no JVM or BEAM left)."""
    import subprocess
    import sys

    import requests
    from helpers import assert_all_gone

    from harness.processes.supervisor import free_port, process_tree

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "harness", "ui", "python", "-t", "http", "--port", str(port),
                             "--caller", caller, "--target", "python/http",
                             "--scenario", str(REPO / "tests" / "scenarios" / "tiny.toml")],
                            cwd=REPO, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:  # the UI is up, and the caller's worker has joined its master
            assert proc.poll() is None, "harness ui exited early; see results/ui-logs/"
            try:
                if requests.get(url + "/stats/requests", timeout=1).json().get("worker_count") == 1:
                    break
            except (requests.RequestException, ValueError):
                pass
            assert time.monotonic() < deadline, "the web UI with one worker did not come up within 120 s"
            time.sleep(0.3)
        r = requests.post(url + "/swarm", data={"user_count": 2, "spawn_rate": 2}, timeout=10)
        assert r.status_code == 200, r.text
        deadline = time.monotonic() + 60
        total = 0
        while total < 100:
            stats = requests.get(url + "/stats/requests", timeout=5).json()
            total = sum(s["num_requests"] for s in stats["stats"] if s["name"] != "Aggregated")
            assert time.monotonic() < deadline, f"the {caller} worker's requests never reached the UI: {stats}"
            time.sleep(0.5)
        assert all(s["num_failures"] == 0 for s in stats["stats"]), stats["stats"]
        assert requests.post(url + "/stop", timeout=10).status_code == 200
        family = [p.pid for p in process_tree(proc.pid)]
        assert len(family) >= 4  # the harness, the service, the master, the caller
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)
        assert_all_gone(family, timeout_s=20)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
