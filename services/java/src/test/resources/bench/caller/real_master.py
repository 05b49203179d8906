"""Run the harness's own Locust master (harness/loadgen/locustfile.py) for one Java caller's cell.

For the Java caller's protocol test (LocustWorkerTest) and tools/caller_cpu.py, so that both
speak to what a real run starts, not to a stand-in:

    .venv/bin/python real_master.py --config JSON --dir DIR --port P --users N

JSON is a bench_config as LOADGEN.md has it, with the body as `body_b64`. The cell file is
written as the runner writes it (`CellFile`, workers 1: one manifest caller) to DIR/cell.json,
with the merged results going to DIR/results.json and the phase start times to
DIR/phases.json; then this process becomes the master (exec, so that its pid is the master's),
with the command line `harness.run.generators.start_generators` gives a manifest caller's
master (`locust_argv("--master", "--headless", "--expect-workers", "1", ...)`), plus `--csv
DIR/locust` so that a test can read what Locust's own statistics (its UI) counted.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import sys
from pathlib import Path

REPO = next(d for d in Path(__file__).resolve().parents if (d / "harness" / "loadgen" / "locustfile.py").exists())
sys.path.insert(0, str(REPO))

from harness.loadgen import protocol as lp  # noqa: E402
from harness.run.generators import locust_argv  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="the bench_config, JSON, the body as body_b64")
    p.add_argument("--dir", required=True, type=Path, help="where the cell, results and Locust's csv go")
    p.add_argument("--port", required=True, type=int, help="the master's bind port")
    p.add_argument("--users", required=True, type=int)
    a = p.parse_args()
    doc = json.loads(a.config)
    doc["request"]["body"] = base64.b64decode(doc["request"].pop("body_b64"))
    config = lp.CellConfig.from_message(doc)
    a.dir.mkdir(parents=True, exist_ok=True)
    path = a.dir / "cell.json"
    cell = lp.CellFile(config, results=str(a.dir / "results.json"), phases=str(a.dir / "phases.json"), workers=1)
    cell.write(path)
    # as harness.run.generators.start_generators, for a caller of a manifest
    run_time = math.ceil(config.plan.total_s + 0.5)
    argv = locust_argv("--master", "--headless", "--expect-workers", "1", "--expect-workers-max-wait", "60",
                       "--master-bind-host", "127.0.0.1", "--master-bind-port", str(a.port), "-u", str(a.users),
                       "-r", str(max(a.users, 1) * 10), "-t", f"{run_time + 30}s", "--only-summary",
                       "--stop-timeout", "5", "--bench-cell", str(path), "--csv", str(a.dir / "locust"),
                       lp.WORKER_CLASS)
    os.chdir(REPO)
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main()
