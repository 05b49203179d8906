"""Locust users for interop-bench, in three layers.

1. the client: `harness.clients` (one per transport), wrapping the transport;
2. `BenchUser`: an abstract User that sets `self.client`, times each call with
   `perf_counter_ns`, checks every reply, records microseconds into the harness's HDR
   histograms and fires Locust's `request` event (which feeds Locust's UI only);
3. one concrete User class per target x payload, generated from `BENCH_TARGETS` and
   `BENCH_PAYLOADS`, named `<service>_<transport>_<payload>` (the class picker of `make ui`).

How the load is shaped comes from `BENCH_PLAN` (see `harness/plan.py`): a list of phases, each
closed loop (every user sends as soon as its previous reply arrived) or open loop (requests
are due at a fixed or Poisson arrival rate; latency is measured from each request's *intended*
send time, so a slow reply delays no measurement: no coordinated omission). Without a plan
(the web UI) the load is closed loop and everything is measured.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gevent  # noqa: E402
import grpc.experimental.gevent  # noqa: E402
from locust import User, constant, events, task  # noqa: E402

from harness.clients import Client, make_client  # noqa: E402
from harness.errors import ClientError  # noqa: E402
from harness.loadshape import Schedule, Tracker  # noqa: E402
from harness.payloads import Payload, make_payload, user_class_name  # noqa: E402
from harness.plan import Plan  # noqa: E402
from harness.supervisor import Endpoint  # noqa: E402

grpc.experimental.gevent.init_gevent()

TIMEOUT_S = float(os.environ.get("BENCH_TIMEOUT_S", "10"))
PLAN = Plan.from_env(os.environ.get("BENCH_PLAN"))
TRACKER = Tracker(PLAN)
SCHEDULE: Schedule | None = None


MICRO_TAB = "microseconds"
MICRO_COLUMNS = [("name", "cell (service_transport_payload)"), ("requests", "# requests"), ("errors", "errors"),
                 ("wrong", "wrong replies"), ("p50", "p50 µs"), ("p90", "p90 µs"), ("p99", "p99 µs"),
                 ("p99_9", "p99.9 µs"), ("max", "max µs")]


@events.init.add_listener
def _on_init(environment: Any, **_kw: Any) -> None:
    """In the web UI: a tab with the harness's microsecond percentiles (Locust's columns round to ms)."""
    web_ui = environment.web_ui
    if web_ui is None:
        return
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


@events.test_start.add_listener
def _on_test_start(environment: Any, **_kw: Any) -> None:
    global SCHEDULE
    TRACKER.start(time.monotonic())
    if PLAN.open_loop:
        SCHEDULE = Schedule(TRACKER.phases, PLAN.arrival, seed=PLAN.seed)
    out = os.environ.get("BENCH_OUT")
    if out:
        Path(out + ".window").write_text(json.dumps(TRACKER.window()))
    if PLAN.slo is not None:
        gevent.spawn(_watch_slo, environment)


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


@events.test_stop.add_listener
def _on_test_stop(environment: Any, **_kw: Any) -> None:
    out = os.environ.get("BENCH_OUT")
    if SCHEDULE is not None:
        SCHEDULE.count_dropped(time.monotonic())
    if out:
        tmp = Path(out + ".tmp")
        tmp.write_text(json.dumps(TRACKER.results()))
        tmp.replace(out)


class BenchUser(User):
    """Abstract: one harness client per simulated user; subclasses name the target and payload."""

    abstract = True
    endpoint: Endpoint
    payload: Payload
    variant = ""
    wait_time = constant(0)

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.client: Client = make_client(self.endpoint, timeout_s=TIMEOUT_S, variant=self.variant)
        self.cell = type(self).__name__
        self.request_type = self.endpoint.transport
        self.label = f"{self.endpoint.service}/{self.payload.name}"

    def on_stop(self) -> None:
        """Release the connection."""
        self.client.close()

    @task
    def call(self) -> None:
        """One request: (in open loop, at its due time) timed, checked, recorded."""
        intended_ns: int | None = None
        if SCHEDULE is not None:
            slot = SCHEDULE.next_slot()
            if slot is None:  # the schedule is over: idle until Locust stops the test
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


_define_users()
