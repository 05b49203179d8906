"""Locust users for interop-bench, in three layers.

1. the client: `harness.clients` (one per transport), wrapping the transport;
2. `BenchUser`: an abstract User that sets `self.client`, times each call with
   `perf_counter_ns`, checks every reply, records microseconds into the harness's HDR
   histograms and fires Locust's `request` event (which feeds Locust's UI only);
3. one concrete User class per target x payload, generated from `BENCH_TARGETS` and
   `BENCH_PAYLOADS`, named `<service>_<transport>_<payload>` (the class picker of `make ui`);
   in a distributed run, the one class `BenchCell`, configured by the master's message.

How the load is shaped comes from `BENCH_PLAN` (see `harness/plan.py`): a list of phases, each
closed loop (every user sends as soon as its previous reply arrived) or open loop (requests
are due at a fixed or Poisson arrival rate; latency is measured from each request's *intended*
send time when the send was held back by busy users: no coordinated omission). Without a plan
(the web UI) the load is closed loop and everything is measured.

Distributed (`BENCH_DISTRIBUTED=1`, `bench --workers N`): the master sends each worker the cell
(`bench_config`) when it connects and the start time (`bench_start`) when the test starts; it
ends the test itself when the plan is over; each worker answers `stop` by sending its
histograms (`bench_results`), which the master merges exactly (harness/distributed.py).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import gevent  # noqa: E402
import gevent.event  # noqa: E402
import grpc.experimental.gevent  # noqa: E402
from locust import User, constant, events, task  # noqa: E402
from locust.runners import MasterRunner, WorkerRunner  # noqa: E402

from harness.clients import Client, make_client  # noqa: E402
from harness.errors import ClientError  # noqa: E402
from harness.loadgen.merge import merge_results, self_cpu_seconds, worker_plan  # noqa: E402
from harness.loadgen.payloads import Payload, make_payload, user_class_name  # noqa: E402
from harness.loadgen.plan import Plan  # noqa: E402
from harness.loadgen.schedule import Schedule, Tracker  # noqa: E402
from harness.processes.supervisor import Endpoint  # noqa: E402

grpc.experimental.gevent.init_gevent()

TIMEOUT_S = float(os.environ.get("BENCH_TIMEOUT_S", "10"))
DISTRIBUTED = os.environ.get("BENCH_DISTRIBUTED") == "1"
STATE: dict[str, Any] = {"plan": Plan.from_env(os.environ.get("BENCH_PLAN")), "schedule": None, "cpu": [],
                         "results": {}, "worker_index": 0}
TRACKER = Tracker(STATE["plan"])
CONFIGURED = gevent.event.Event()


def _schedule() -> Schedule | None:
    schedule: Schedule | None = STATE["schedule"]
    return schedule


# -- the web UI's microsecond tab -----------------------------------------------------------

MICRO_TAB = "microseconds"
MICRO_COLUMNS = [("name", "cell (service_transport_payload)"), ("requests", "# requests"), ("errors", "errors"),
                 ("wrong", "wrong replies"), ("p50", "p50 µs"), ("p90", "p90 µs"), ("p99", "p99 µs"),
                 ("p99_9", "p99.9 µs"), ("max", "max µs")]


def _install_micro_tab(web_ui: Any) -> None:
    """A tab with the harness's microsecond percentiles (Locust's own columns round to ms)."""
    web_ui.template_args["extended_tabs"] = [{"title": "Microseconds", "key": MICRO_TAB}]
    web_ui.template_args["extended_tables"] = [
        {"key": MICRO_TAB, "structure": [{"key": k, "title": t} for k, t in MICRO_COLUMNS]}]

    from flask import request

    @web_ui.app.after_request
    def _add_microseconds(response: Any) -> Any:
        if request.path == "/stats/requests" and response.is_json:
            response.set_data(json.dumps({**response.json, "extended_stats": [
                {"key": MICRO_TAB, "data": microsecond_rows()}]}))
        return response


def microsecond_rows() -> list[dict[str, Any]]:
    """One row per cell of the current test: counts and percentiles from the harness's histograms."""
    rows = []
    for phase in TRACKER.phases:
        for name, c in sorted(phase.cells.items()):
            n = c.corrected.get_total_count()
            pct = {k: (c.corrected.get_value_at_percentile(p) if n else 0)
                   for k, p in (("p50", 50), ("p90", 90), ("p99", 99), ("p99_9", 99.9))}
            rows.append({"name": name, "safe_name": name, "requests": c.requests, "errors": c.errors,
                         "wrong": c.wrong, **pct, "max": c.corrected.get_max_value() if n else 0})
    return rows


# -- lifecycle -------------------------------------------------------------------------------

@events.init.add_listener
def _on_init(environment: Any, **_kw: Any) -> None:
    runner = environment.runner
    if environment.web_ui is not None:
        _install_micro_tab(environment.web_ui)
    if isinstance(runner, MasterRunner):
        runner.register_message("bench_results", _on_results)

        def _send_config(msg: Any, **_kw: Any) -> None:
            known = STATE.setdefault("connected", [])
            if msg.node_id not in known:
                known.append(msg.node_id)
            runner.send_message("bench_config", {
                "targets": os.environ.get("BENCH_TARGETS"), "payloads": os.environ.get("BENCH_PAYLOADS"),
                "plan": os.environ.get("BENCH_PLAN"), "workers": int(os.environ.get("BENCH_EXPECT_WORKERS", "1")),
                "index": known.index(msg.node_id)}, client_id=msg.node_id)

        runner.register_message("bench_hello", _send_config)
    elif isinstance(runner, WorkerRunner):
        runner.register_message("bench_config", _on_config)
        runner.register_message("bench_start", _on_start)
        gevent.spawn(_ask_for_config, runner)


def _ask_for_config(runner: Any) -> None:
    """Worker: ask the master for the cell until it answers (messages sent before init was done are lost)."""
    while not CONFIGURED.is_set():
        runner.send_message("bench_hello", {})
        CONFIGURED.wait(timeout=0.5)


def _on_config(msg: Any, **_kw: Any) -> None:
    """Worker: the cell to drive and this worker's share of the plan."""
    d = msg.data
    plan = Plan.from_env(d["plan"])
    STATE["plan"] = worker_plan(plan, d["workers"], d["index"]) if plan.phases else plan
    STATE["worker_index"] = d["index"]
    TRACKER.plan = STATE["plan"]
    ep = Endpoint(**json.loads(d["targets"])[0])
    BenchCell.endpoint = ep
    BenchCell.payload = make_payload(json.loads(d["payloads"])[0])
    CONFIGURED.set()


def _on_start(msg: Any, **_kw: Any) -> None:
    """Worker: the phases start at the master's wall-clock time (converted to this host's monotonic clock)."""
    _start_plan(msg.data["start_wall"] - time.time() + time.monotonic())


def _start_plan(start_mono: float) -> None:
    TRACKER.start(start_mono)
    plan = STATE["plan"]
    if plan.open_loop:
        STATE["schedule"] = Schedule(TRACKER.phases, plan.arrival, seed=plan.seed)
    if DISTRIBUTED:
        gevent.spawn(_sample_own_cpu)


def _sample_own_cpu() -> None:
    """Worker: this process's CPU seconds at every phase boundary (sent with the results)."""
    bounds = [p.start for p in TRACKER.phases] + [TRACKER.phases[-1].end] if TRACKER.phases else []
    for t in bounds:
        delay = t - time.monotonic()
        if delay > 0:
            gevent.sleep(delay)
        STATE["cpu"].append(self_cpu_seconds())


@events.test_start.add_listener
def _on_test_start(environment: Any, **_kw: Any) -> None:
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        return  # a worker starts on the master's bench_start
    now = time.monotonic()
    if isinstance(runner, MasterRunner):
        start_wall = time.time() + 0.2
        runner.send_message("bench_start", {"start_wall": start_wall})
        TRACKER.start(now + 0.2)
        gevent.spawn(_end_when_plan_is_over, environment)
    else:
        _start_plan(now)
        if STATE["plan"].slo is not None:
            gevent.spawn(_watch_slo, environment)
    out = os.environ.get("BENCH_OUT")
    if out:
        Path(out + ".window").write_text(json.dumps(TRACKER.window()))


def _watch_slo(environment: Any) -> None:
    """Stop a sweep after the first measured step that breaks the objective."""
    for phase in TRACKER.phases:
        delay = phase.end - time.monotonic()
        if delay > 0:
            gevent.sleep(delay + 0.05)
        if phase.measured and TRACKER.breaks_slo(phase):
            TRACKER.stopped_early = phase.name
            environment.runner.quit()
            return


def _end_when_plan_is_over(environment: Any) -> None:
    """Master: stop the workers when the plan ends (they send their results on stop), then quit."""
    end = TRACKER.phases[-1].end if TRACKER.phases else time.monotonic()
    gevent.sleep(max(0.0, end - time.monotonic()) + 0.1)
    environment.runner.stop()  # waits until every worker reported it has stopped; fires test_stop
    environment.runner.quit()


def _on_results(msg: Any, **_kw: Any) -> None:
    """Master: one worker's histograms and CPU."""
    STATE["results"][msg.node_id] = msg.data


@events.test_stop.add_listener
def _on_test_stop(environment: Any, **_kw: Any) -> None:
    runner = environment.runner
    schedule = _schedule()
    if schedule is not None:
        schedule.count_dropped(time.monotonic())
    if isinstance(runner, WorkerRunner):
        if TRACKER.phases:
            runner.send_message("bench_results", {"index": STATE["worker_index"], "results": TRACKER.results(),
                                                  "cpu": STATE["cpu"]})
        return
    out = os.environ.get("BENCH_OUT")
    if not out:
        return
    if isinstance(runner, MasterRunner):
        expected = int(os.environ.get("BENCH_EXPECT_WORKERS", "1"))
        deadline = time.monotonic() + 10
        while len(STATE["results"]) < expected and time.monotonic() < deadline:
            gevent.sleep(0.05)
        workers = sorted(STATE["results"].values(), key=lambda w: w["index"])
        data = merge_results([w["results"] for w in workers])
        data["workers"] = workers
    else:
        data = TRACKER.results()
    tmp = Path(out + ".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(out)


# -- users -----------------------------------------------------------------------------------

class BenchUser(User):
    """Abstract: one harness client per simulated user; subclasses name the target and payload."""

    abstract = True
    endpoint: Endpoint
    payload: Payload
    variant = ""
    wait_time = constant(0)

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        if DISTRIBUTED and not CONFIGURED.wait(timeout=30):
            raise RuntimeError("no cell configuration from the master within 30 s")
        self.client: Client = make_client(self.endpoint, timeout_s=TIMEOUT_S, variant=self.variant)
        self.cell = user_class_name(self.endpoint.service, self.endpoint.transport, self.payload.name)
        self.request_type = self.endpoint.transport
        self.label = f"{self.endpoint.service}/{self.payload.name}"

    def on_stop(self) -> None:
        """Release the connection."""
        self.client.close()

    @task
    def call(self) -> None:
        """One request: (in open loop, at its due time) timed, checked, recorded."""
        if DISTRIBUTED and not TRACKER.phases:
            gevent.sleep(0.01)  # a worker waits for the master's start time
            return
        intended_ns: int | None = None
        schedule = _schedule()
        if schedule is not None:
            slot = schedule.next_slot()
            if slot is None:  # the schedule is over: idle until the test stops
                gevent.sleep(0.5)
                return
            due, phase_index = slot
            now = time.monotonic()
            if due > now:
                # A free user: it sends when it wakes. gevent's timers wake it up to ~1 ms late;
                # that lag is the harness's, not the service's, so it is counted apart.
                gevent.sleep(due - now)
                TRACKER.note_wakeup(phase_index, time.monotonic() - due)
            else:
                # Every user was busy when this request fell due: the service's slowness delayed
                # the send, so its latency counts from the intended time (no coordinated omission).
                TRACKER.note_queued(phase_index, now - due)
                intended_ns = int(due * 1e9)
        p = self.payload
        t0 = time.perf_counter_ns()  # CLOCK_MONOTONIC on Linux: comparable with time.monotonic()
        exc: Exception | None = None
        reply = None
        try:
            reply = self.client.call(p.op, p.body)
            if not p.check(reply):
                exc = ValueError(f"wrong reply: ok={reply.ok} error={reply.error} {reply.error_message()[:120]}")
        except ClientError as e:
            exc = e
        t1 = time.perf_counter_ns()
        TRACKER.record(self.cell, t0 if intended_ns is None else intended_ns, t0, t1,
                       error=reply is None, wrong=reply is not None and exc is not None,
                       message=str(exc) if exc else "")
        self.environment.events.request.fire(
            request_type=self.request_type, name=self.label, response_time=(t1 - t0) / 1e6,
            response_length=len(reply.body) if reply else 0, exception=exc, context={})


class BenchCell(BenchUser):
    """The one user class of a distributed run: its target and payload come from the master."""

    abstract = not DISTRIBUTED
    __doc__ = "the cell the master configured (distributed runs)"


def _define_users() -> None:
    targets = json.loads(os.environ.get("BENCH_TARGETS", "[]"))
    specs = json.loads(os.environ.get("BENCH_PAYLOADS", "[]"))
    payloads = [make_payload(s) for s in specs]
    for t in targets:
        ep = Endpoint(**t)
        for p in payloads:
            name = user_class_name(ep.service, ep.transport, p.name)
            doc = f"{p.op} {p.name} on {ep.service} over {ep.transport}"
            globals()[name] = type(name, (BenchUser,), {"endpoint": ep, "payload": p, "__module__": __name__,
                                                        "__doc__": doc})


if not DISTRIBUTED:
    _define_users()
