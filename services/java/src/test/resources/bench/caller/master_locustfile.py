"""A minimal master side of contract/LOADGEN.md, for the Java caller's protocol test.

Until the harness's own master locustfile (harness/loadgen/locustfile.py) lands, this plays it:
it answers `bench_hello` with the `bench_config` read from $BENCH_TEST_CONFIG (JSON; the body as
`body_b64`), sends `bench_start` when the test starts, stops the workers when the plan is over
and quits; every worker's `bench_results` and `stats` reports go to $BENCH_TEST_OUT (JSON).
"""

from __future__ import annotations

import base64
import json
import os
import time
from typing import Any

import gevent
from locust import User, events, task
from locust.runners import MasterRunner

CONFIG: dict[str, Any] = json.loads(os.environ["BENCH_TEST_CONFIG"])
CONFIG["request"]["body"] = base64.b64decode(CONFIG["request"].pop("body_b64"))
OUT: dict[str, Any] = {"hellos": [], "results": [], "stats_requests": 0, "stats_failures": 0, "exceptions": []}


def _write() -> None:
    path = os.environ["BENCH_TEST_OUT"]
    with open(path + ".tmp", "w") as f:
        json.dump(OUT, f)
    os.replace(path + ".tmp", path)


class BenchCell(User):
    """The one user class; only the Java workers run it."""

    @task
    def noop(self) -> None:
        gevent.sleep(1)


@events.init.add_listener
def _on_init(environment: Any, **_kw: Any) -> None:
    runner = environment.runner
    if not isinstance(runner, MasterRunner):
        return

    def on_hello(msg: Any, **_kw: Any) -> None:
        OUT["hellos"].append(msg.data)
        runner.send_message("bench_config", CONFIG, client_id=msg.node_id)

    def on_results(msg: Any, **_kw: Any) -> None:
        OUT["results"].append(msg.data)
        _write()

    def on_report(client_id: str, data: dict[str, Any]) -> None:
        OUT["stats_requests"] += data["stats_total"]["num_requests"]
        OUT["stats_failures"] += data["stats_total"]["num_failures"]

    runner.register_message("bench_hello", on_hello)
    runner.register_message("bench_results", on_results)
    environment.events.worker_report.add_listener(on_report)


@events.test_start.add_listener
def _on_test_start(environment: Any, **_kw: Any) -> None:
    runner = environment.runner
    if not isinstance(runner, MasterRunner):
        return
    runner.send_message("bench_start", {"start_wall": time.time() + 0.2})
    total = sum(p["duration_s"] for p in CONFIG["plan"]["phases"])

    def end() -> None:
        gevent.sleep(0.2 + total + 0.1)
        environment.runner.stop()
        _write()
        if os.environ.get("BENCH_TEST_NO_QUIT") != "1":
            environment.runner.quit()

    gevent.spawn(end)
