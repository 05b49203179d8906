"""The Locust entry point of interop-bench: the master side of contract/LOADGEN.md and Python's generator.

One file, four roles, chosen by Locust's own flags and ours:

- `--bench-cell FILE` (headless, no `--master`): Python's generator for one cell in this one
  process: `BenchCell` users follow the cell's plan and the results go where FILE says.
- `--master --bench-cell FILE`: the master of a cell whose generators are Locust workers, in
  any language (Python's `--worker`, or a caller of a service's manifest). It answers each
  worker's `bench_hello` with its `bench_config`, starts the plan with `bench_start`, stops the
  test when the plan is over and merges the workers' `bench_results`.
- `--worker`: Python's generator as a Locust worker of such a master.
- `--bench-ui FILE` (the web UI): one user class per service x transport x payload in FILE, a
  class picker, closed loop, everything measured; the Microseconds tab shows the harness's
  own histograms (Locust's columns round to milliseconds).

The users are three layers (style.md): the client (`harness.clients`, one per transport);
`BenchUser`, an abstract User that times each call with `perf_counter_ns`, checks every reply,
records microseconds (`harness.loadgen.schedule.Tracker`) and fires Locust's `request` event
(which feeds Locust's UI only); and the concrete classes.
"""

from __future__ import annotations

import json
import math
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

from harness.clients import Client  # noqa: E402
from harness.contract.endpoint import Endpoint  # noqa: E402
from harness.contract.transports import make_client  # noqa: E402
from harness.errors import ClientError  # noqa: E402
from harness.loadgen import protocol as lp  # noqa: E402
from harness.loadgen.payloads import Payload, make_payload, payload_of, user_class_name  # noqa: E402
from harness.loadgen.schedule import Schedule, Tracker  # noqa: E402
from harness.results.stats import percentiles  # noqa: E402

grpc.experimental.gevent.init_gevent()


def _flag(name: str) -> str:
    """A flag's value from the command line, before Locust has parsed it (the user classes depend on it)."""
    for i, arg in enumerate(sys.argv):
        if arg == name and i + 1 < len(sys.argv):
            return sys.argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return ""


IS_WORKER = "--worker" in sys.argv
IS_MASTER = "--master" in sys.argv
CELL_PATH = _flag("--bench-cell")
UI_PATH = _flag("--bench-ui")
CELL: lp.CellFile | None = lp.CellFile.read(Path(CELL_PATH)) if CELL_PATH else None
CONFIG: lp.CellConfig | None = CELL.config if CELL else None
TRACKER = Tracker(CONFIG.plan if CONFIG else lp.Plan.endless())
CONFIGURED = gevent.event.Event()
STATE: dict[str, Any] = {"schedule": None, "cpu": [], "results": {}, "connected": []}
if CONFIG is not None:
    CONFIGURED.set()


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any) -> None:
    parser.add_argument("--bench-cell", default="", help="interop-bench: the cell file the runner wrote")
    parser.add_argument("--bench-ui", default="", help="interop-bench: targets and payloads for the web UI")


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
            pct = dict(zip(("p50", "p90", "p99", "p99_9"), percentiles(c.corrected, (50, 90, 99, 99.9)), strict=True))
            rows.append({"name": name, "safe_name": name, "requests": c.requests, "errors": c.errors,
                         "wrong": c.wrong, **pct, "max": c.corrected.get_max_value() if n else 0})
    return rows


# -- the master --------------------------------------------------------------------------------

def _send_config(runner: Any, msg: Any) -> None:
    """Master: a worker said bench_hello; send it the cell with its share of the plan."""
    assert CONFIG is not None and CELL is not None
    known: list[str] = STATE["connected"]
    if msg.node_id not in known:
        known.append(msg.node_id)
    index = known.index(msg.node_id)
    share = lp.CellConfig(cell=CONFIG.cell, name=CONFIG.name, target=CONFIG.target, request=CONFIG.request,
                          plan=CONFIG.plan.share(CELL.workers, index), index=index, workers=CELL.workers,
                          timeout_s=CONFIG.timeout_s)
    runner.send_message(lp.CONFIG, share.to_message(), client_id=msg.node_id)


def _on_results(msg: Any, **_kw: Any) -> None:
    """Master: one worker's bench_results; with every worker's in, the cell's results are written at once.

    The runner reads them as soon as they exist (harness/run/generators.py) instead of waiting
    for Locust's own stop and quit, which poll in whole seconds.
    """
    STATE["results"][msg.node_id] = msg.data
    if CELL is not None and len(STATE["results"]) >= CELL.workers and not STATE.get("written"):
        lp.write_json_atomically(Path(CELL.results), _merged_worker_results())
        STATE["written"] = True


def _end_when_plan_is_over(environment: Any) -> None:
    """Stop when the plan ends (a master's workers send their results on stop), then quit.

    The plan, not Locust's `-t`, ends a cell: `-t` is only a backstop, so that a process slowed
    by a loaded machine cannot be cut off before its last measured phase is over.
    """
    end = TRACKER.phases[-1].end if TRACKER.phases else time.monotonic()
    if not math.isfinite(end):
        return  # the web UI's endless plan: the person at the browser stops it
    gevent.sleep(max(0.0, end - time.monotonic()) + (CELL.stop_margin_s if CELL is not None else lp.STOP_MARGIN_S))
    environment.runner.stop()  # waits until every worker reported it has stopped; fires test_stop
    environment.runner.quit()


def _merged_worker_results() -> dict[str, Any]:
    """Master: every worker's results merged (LOADGEN.md), each worker's kept beside them."""
    assert CELL is not None
    deadline = time.monotonic() + 10
    while len(STATE["results"]) < CELL.workers and time.monotonic() < deadline:
        gevent.sleep(0.05)
    workers = sorted(STATE["results"].values(), key=lambda w: w["index"])
    data = lp.merge_results(workers)
    data["workers"] = [{"index": w["index"], "caller": w.get("caller", ""), "cpu": w.get("cpu", []),
                        "phases": w["phases"]} for w in workers]
    return data


# -- a worker (Python's generator under a master) ----------------------------------------------

def _ask_for_config(runner: Any) -> None:
    """Worker: say bench_hello until the master answers (messages sent before its init are lost)."""
    while not CONFIGURED.is_set():
        runner.send_message(lp.HELLO, {"protocol": lp.PROTOCOL, "caller": lp.HARNESS_CALLER, "pid": os.getpid()})
        CONFIGURED.wait(timeout=0.5)


def _on_config(msg: Any, **_kw: Any) -> None:
    """Worker: the cell to drive and this worker's share of the plan."""
    global CONFIG
    CONFIG = lp.CellConfig.from_message(msg.data)
    TRACKER.plan = CONFIG.plan
    BenchCell.endpoint = CONFIG.target
    BenchCell.payload = payload_of(CONFIG.name, CONFIG.request)
    BenchCell.cell = CONFIG.name
    CONFIGURED.set()


def _on_start(msg: Any, **_kw: Any) -> None:
    """Worker: the plan starts at the master's wall-clock time (converted once to this host's monotonic clock)."""
    _start_plan(msg.data["start_wall"] - time.time() + time.monotonic(), own_cpu=True)


def _self_cpu_seconds() -> float:
    """CPU seconds of this process, all threads (schedstat nanoseconds where available)."""
    total = 0
    try:
        for tid in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{tid}/schedstat", "rb") as f:
                total += int(f.read().split(b" ", 1)[0])
        return total / 1e9
    except (OSError, ValueError):
        return time.process_time()


def _sample_own_cpu() -> None:
    """Worker: this process's CPU seconds at every phase boundary (LOADGEN.md `cpu`, for other hosts)."""
    bounds = [p.start for p in TRACKER.phases] + [TRACKER.phases[-1].end] if TRACKER.phases else []
    for t in bounds:
        delay = t - time.monotonic()
        if delay > 0:
            gevent.sleep(delay)
        STATE["cpu"].append(_self_cpu_seconds())


# -- the plan, in every role ---------------------------------------------------------------

def _start_plan(start_mono: float, own_cpu: bool = False) -> None:
    TRACKER.start(start_mono)
    plan = TRACKER.plan
    if plan.open_loop:
        STATE["schedule"] = Schedule(TRACKER.phases, plan.arrival, seed=plan.seed)
    if own_cpu:
        gevent.spawn(_sample_own_cpu)


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


class _ShortSleeps:
    """`time` for locust.main, whose headless master looks for its workers with `time.sleep(1)`."""

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        time.sleep(min(seconds, 0.02))


def _poll_for_workers_faster() -> None:
    """A headless master starts as soon as its worker is ready, not at the next whole second.

    Locust's `start_automatic_run` (locust/main.py of the pinned 2.x) waits for
    `--expect-workers` in one-second sleeps, which cost every caller's cell up to a second. Only
    that module's `time` is replaced, after the master exists; no other sleep of Locust changes.
    """
    import locust.main

    if hasattr(locust.main, "time"):
        locust.main.time = _ShortSleeps()  # type: ignore[assignment]


@events.init.add_listener
def _on_init(environment: Any, **_kw: Any) -> None:
    runner = environment.runner
    if environment.web_ui is not None:
        _install_micro_tab(environment.web_ui)
    if isinstance(runner, MasterRunner):
        if CELL is None:
            raise SystemExit("interop-bench: a master needs --bench-cell FILE (the runner writes it)")
        runner.register_message(lp.RESULTS, _on_results)
        runner.register_message(lp.HELLO, lambda msg, **_kw: _send_config(runner, msg))
        if environment.web_ui is None:
            _poll_for_workers_faster()
    elif isinstance(runner, WorkerRunner):
        runner.register_message(lp.CONFIG, _on_config)
        runner.register_message(lp.START, _on_start)
        gevent.spawn(_ask_for_config, runner)


def _wait_until_every_worker_has_its_config(timeout_s: float = 30.0) -> None:
    """Master: bench_start goes out only after every worker's bench_config (the same channel keeps the order).

    Locust starts a test once its workers said `client_ready`, which can come before their
    `bench_hello`; a worker that got bench_start first would run the default plan.
    """
    assert CELL is not None
    deadline = time.monotonic() + timeout_s
    while len(STATE["connected"]) < CELL.workers and time.monotonic() < deadline:
        gevent.sleep(0.01)


@events.test_start.add_listener
def _on_test_start(environment: Any, **_kw: Any) -> None:
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        return  # a worker starts on the master's bench_start
    if isinstance(runner, MasterRunner):
        _wait_until_every_worker_has_its_config()
    now = time.monotonic()
    if isinstance(runner, MasterRunner):
        delay = CELL.start_delay_s if CELL is not None else lp.START_DELAY_S
        runner.send_message(lp.START, {"start_wall": time.time() + delay})
        TRACKER.start(now + delay)
        gevent.spawn(_end_when_plan_is_over, environment)
    else:
        _start_plan(now)
        gevent.spawn(_end_when_plan_is_over, environment)
        if TRACKER.plan.slo is not None:
            gevent.spawn(_watch_slo, environment)
    if CELL is not None:
        lp.write_json_atomically(Path(CELL.phases), TRACKER.window())


@events.test_stop.add_listener
def _on_test_stop(environment: Any, **_kw: Any) -> None:
    runner = environment.runner
    schedule: Schedule | None = STATE["schedule"]
    if schedule is not None:
        schedule.count_dropped(time.monotonic())
    if isinstance(runner, WorkerRunner):
        if TRACKER.phases:
            runner.send_message(lp.RESULTS, {"index": CONFIG.index if CONFIG else 0, "caller": lp.HARNESS_CALLER,
                                             "protocol": lp.PROTOCOL, **TRACKER.results(), "cpu": STATE["cpu"]})
        return
    if CELL is None:
        return
    if STATE.get("written"):
        return  # a master that had every worker's results wrote them when the last arrived
    data = _merged_worker_results() if isinstance(runner, MasterRunner) else TRACKER.results()
    lp.write_json_atomically(Path(CELL.results), data)
    STATE["written"] = True


# -- users -----------------------------------------------------------------------------------

class BenchUser(User):
    """Abstract: one harness client per simulated user; subclasses name the target and payload."""

    abstract = True
    endpoint: Endpoint
    payload: Payload
    cell = ""
    variant = ""
    wait_time = constant(0)

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        if IS_WORKER and not CONFIGURED.wait(timeout=30):
            raise RuntimeError("no bench_config from the master within 30 s")
        timeout_s = CONFIG.timeout_s if CONFIG else float(os.environ.get("BENCH_TIMEOUT_S", "10"))
        self.client: Client = make_client(self.endpoint, timeout_s=timeout_s, variant=self.variant)
        self.request_type = self.endpoint.transport
        self.label = f"{self.endpoint.service}/{self.payload.name}"

    def on_stop(self) -> None:
        """Release the connection."""
        self.client.close()

    @task
    def call(self) -> None:
        """One request: (in open loop, at its due time) timed, checked, recorded."""
        if IS_WORKER and not TRACKER.phases:
            gevent.sleep(0.01)  # a worker waits for the master's start time
            return
        intended_ns: int | None = None
        schedule: Schedule | None = STATE["schedule"]
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
    """The cell the runner or the master configured."""

    abstract = not (CONFIG is not None or IS_WORKER)
    if CONFIG is not None:
        endpoint = CONFIG.target
        payload = payload_of(CONFIG.name, CONFIG.request)
        cell = CONFIG.name


def _define_ui_users(path: Path) -> None:
    """One user class per target x payload of the UI file, named `<service>_<transport>_<payload>`."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    payloads = [make_payload(s) for s in doc["payloads"]]
    for t in doc["targets"]:
        ep = Endpoint(**t)
        for p in payloads:
            name = user_class_name(ep.service, ep.transport, p.name)
            doc_text = f"{p.op} {p.name} on {ep.service} over {ep.transport}"
            globals()[name] = type(name, (BenchUser,), {"endpoint": ep, "payload": p, "cell": name,
                                                        "__module__": __name__, "__doc__": doc_text})


if UI_PATH:
    _define_ui_users(Path(UI_PATH))
