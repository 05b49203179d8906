"""Locust users for interop-bench, in three layers.

1. the client: `harness.clients` (one per transport), wrapping the transport;
2. `BenchUser`: an abstract User that sets `self.client`, times each call with
   `perf_counter_ns`, checks every reply, records microseconds into the harness's HDR
   histogram and fires Locust's `request` event (which feeds Locust's UI only);
3. one concrete User class per target x payload, generated from `BENCH_TARGETS` and
   `BENCH_PAYLOADS`, named `<service>_<transport>_<payload>` (the class picker of `make ui`).

The harness sets the environment: `BENCH_TARGETS` (JSON list of endpoints),
`BENCH_PAYLOADS` (JSON list of payload specs), `BENCH_OUT` (where to write histograms and
counters when the test stops), `BENCH_WARMUP_S` and `BENCH_DURATION_S` (the measured window,
from the start of the test; unset: everything is measured).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import grpc.experimental.gevent  # noqa: E402
from locust import User, events, task  # noqa: E402

from harness.clients import Client, make_client  # noqa: E402
from harness.errors import ClientError  # noqa: E402
from harness.payloads import Payload, make_payload  # noqa: E402
from harness.stats import encode, new_histogram, record, summarize  # noqa: E402
from harness.supervisor import Endpoint  # noqa: E402

grpc.experimental.gevent.init_gevent()

WARMUP_S = float(os.environ.get("BENCH_WARMUP_S", "0"))
DURATION_S = float(os.environ.get("BENCH_DURATION_S", "inf"))
TIMEOUT_S = float(os.environ.get("BENCH_TIMEOUT_S", "10"))


class Cell:
    """What one User class measures: counters and the microsecond histogram."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.hist = new_histogram()
        self.requests = 0
        self.errors = 0
        self.wrong = 0
        self.warmup_requests = 0
        self.error_samples: list[str] = []

    def as_dict(self) -> dict[str, Any]:
        """Counters, a few error messages, and the histogram as text."""
        return {"requests": self.requests, "errors": self.errors, "wrong": self.wrong,
                "warmup_requests": self.warmup_requests, "error_samples": self.error_samples,
                "latency_us": summarize(self.hist), "histogram": encode(self.hist)}


CELLS: dict[str, Cell] = {}
WINDOW = {"start": 0.0, "end": float("inf")}


@events.test_start.add_listener
def _on_test_start(environment: Any, **_kw: Any) -> None:
    now = time.monotonic()
    WINDOW["start"] = now + WARMUP_S
    WINDOW["end"] = WINDOW["start"] + DURATION_S
    out = os.environ.get("BENCH_OUT")
    if out:
        Path(out + ".window").write_text(json.dumps({"start": WINDOW["start"], "end": WINDOW["end"]}))


@events.test_stop.add_listener
def _on_test_stop(environment: Any, **_kw: Any) -> None:
    out = os.environ.get("BENCH_OUT")
    if out:
        data = {"window": WINDOW, "cells": {name: c.as_dict() for name, c in CELLS.items()}}
        tmp = Path(out + ".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(out)


class BenchUser(User):
    """Abstract: one harness client per simulated user; subclasses name the target and payload."""

    abstract = True
    endpoint: Endpoint
    payload: Payload
    variant = ""

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.client: Client = make_client(self.endpoint, timeout_s=TIMEOUT_S, variant=self.variant)
        self.cell = CELLS.setdefault(type(self).__name__, Cell(type(self).__name__))
        self.request_type = self.endpoint.transport

    def on_stop(self) -> None:
        """Release the connection."""
        self.client.close()

    @task
    def call(self) -> None:
        """One request: timed, checked, recorded."""
        p = self.payload
        t0 = time.perf_counter_ns()
        exc: Exception | None = None
        ok = False
        try:
            reply = self.client.call(p.op, p.body)
            ok = p.check(reply)
            if not ok:
                exc = ValueError(f"wrong reply: ok={reply.ok} error={reply.error}")
        except ClientError as e:
            exc = e
            reply = None
        elapsed_us = (time.perf_counter_ns() - t0) / 1000.0
        start = t0 / 1e9  # perf_counter is CLOCK_MONOTONIC on Linux, comparable with time.monotonic
        cell = self.cell
        if WINDOW["start"] <= start < WINDOW["end"]:
            cell.requests += 1
            if reply is None:
                cell.errors += 1
                if len(cell.error_samples) < 5:
                    cell.error_samples.append(str(exc)[:300])
            elif not ok:
                cell.wrong += 1
                if len(cell.error_samples) < 5:
                    cell.error_samples.append(str(exc)[:300])
            record(cell.hist, elapsed_us)
        elif start < WINDOW["start"]:
            cell.warmup_requests += 1
        self.environment.events.request.fire(
            request_type=self.request_type, name=f"{self.endpoint.service}/{p.name}",
            response_time=elapsed_us / 1000.0, response_length=len(reply.body) if reply else 0,
            exception=exc, context={})


def _define_users() -> None:
    targets = json.loads(os.environ.get("BENCH_TARGETS", "[]"))
    specs = json.loads(os.environ.get("BENCH_PAYLOADS", "[]"))
    payloads = [make_payload(s) for s in specs]
    for t in targets:
        ep = Endpoint(**t)
        for p in payloads:
            name = f"{ep.service}_{ep.transport}_{p.name}".replace("-", "_").replace(".", "_")
            cls = type(name, (BenchUser,), {"endpoint": ep, "payload": p, "__module__": __name__,
                                            "__doc__": f"{p.op} {p.name} on {ep.service} over {ep.transport}"})
            globals()[name] = cls


_define_users()
