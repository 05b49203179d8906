"""CPU per request of one responder, for choosing a floor: `python -m harness.floor.probe TRANSPORT -- COMMAND...`.

The responder runs pinned to core 1 (`{port}`, `{redis_url}` and `{queue}` in COMMAND are filled
in; for redis a private redis-server runs on core 1 too), one harness client (harness/clients/)
calls `echo` with 64 B in a closed loop from this process, which should be pinned to core 0
(`taskset -c 0`). It prints, per run, requests, the responder's CPU µs per request (user +
system from /proc, its whole process tree), requests/s and the load average.
Example: `taskset -c 0 python -m harness.floor.probe zmq -- harness/floor/bin/floor-zmq --port {port}`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.contract.manifest import fill
from harness.processes.supervisor import free_port, spawn, start_redis, tree_cpu_seconds


def _client(transport: str, port: int, redis_url: str, queue: str) -> Any:
    if transport == "zmq":
        from harness.clients.zmq import ZmqClient

        return ZmqClient("127.0.0.1", port)
    if transport == "redis":
        from harness.clients.redisq import RedisQueueClient

        return RedisQueueClient(redis_url, queue)
    if transport == "grpc":
        from harness.clients.grpc import GrpcClient

        return GrpcClient("127.0.0.1", port)
    from harness.clients.http import HttpClient

    return HttpClient("127.0.0.1", port)


def main(argv: list[str] | None = None) -> int:
    """Start the responder, warm it up, measure `--runs` runs of `--seconds` each."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("transport", choices=["http", "zmq", "redis", "grpc"])
    p.add_argument("command", nargs="+", help="the responder's command line (after --)")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seconds", type=float, default=3.0)
    a = p.parse_args(argv)
    logs = Path(tempfile.mkdtemp(prefix="floor-probe-"))
    redis = start_redis(logs, cores="1") if a.transport == "redis" else None
    port, queue = free_port("127.0.0.1"), "bench:probe"
    command = fill(" ".join(a.command), {"port": str(port), "redis_url": redis.url if redis else "", "queue": queue})
    proc = spawn("responder", command, logs / "responder.log", cores="1")
    body = b"x" * 64
    try:
        client = None
        deadline = time.monotonic() + 30
        while client is None:
            try:
                client = _client(a.transport, port, redis.url if redis else "", queue)
                if client.call("echo", body).body != body:
                    raise SystemExit(f"{command}: echo did not return the request bytes")
            except Exception:  # not listening yet: retry until the deadline
                client = None
                if time.monotonic() > deadline or not proc.alive():
                    raise SystemExit(f"{command} did not answer within 30 s; log {logs / 'responder.log'}") from None
                time.sleep(0.2)
        for _ in range(300):
            client.call("echo", body)
        for run in range(a.runs):
            before, t0, n = tree_cpu_seconds(proc.pid), time.perf_counter(), 0
            while time.perf_counter() - t0 < a.seconds:
                client.call("echo", body)
                n += 1
            used = tree_cpu_seconds(proc.pid) - before
            print(f"{a.transport} {a.command[0]}: run {run}: {n} requests, {used * 1e6 / n:.1f} µs CPU/request, "
                  f"{n / a.seconds:.0f} requests/s, load {os.getloadavg()[0]:.1f}", flush=True)
        client.close()
    finally:
        proc.stop()
        if redis is not None:
            redis.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
