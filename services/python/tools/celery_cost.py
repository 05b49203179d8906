"""What one Celery task costs the Python worker: CPU per task, the worker's CPU when idle, and
the redis commands per task (redis-server's `INFO commandstats`).

    python tools/celery_cost.py [--messages 3000] [--repeats 3] [--idle-s 5]

A private redis-server (core 0) is filled with `--messages` 64 B `bench.echo` tasks while no
worker runs; then the worker starts (solo pool, core 1: the manifest's command) and drains them.
CPU is utime+stime of the worker's process tree from its first result to its last; the commands
are counted from the worker's start (start-up included, a few dozen). Before the first fill,
the worker runs `--idle-s` seconds with nothing to do: its idle CPU per second is what a task
is charged at low rates (README.md "Celery: over 2x at 64 B, and why").
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from compare_http_servers import tree_cpu_seconds  # noqa: E402
from drain_bench import SERVICE_DIR, _ping, count_done, fill_celery, free_port, wait  # noqa: E402


def start_worker(url: str, queue: str) -> subprocess.Popen[bytes]:
    """The manifest's Celery worker on core 1."""
    cmd = ["taskset", "-c", "1", sys.executable, "-m", "bench_service", "celery", "--redis-url", url,
           "--queue", queue]
    return subprocess.Popen(cmd, cwd=SERVICE_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the worker's group and wait for it."""
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(30)


def commands(conn: object) -> dict[str, int]:
    """redis-server's calls per command since the last CONFIG RESETSTAT."""
    stats = conn.info("commandstats")  # type: ignore[attr-defined]
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}


def main() -> int:
    """Idle CPU, then drains; prints CPU per task and commands per task."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--messages", type=int, default=3000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--idle-s", type=float, default=5)
    args = p.parse_args()
    import redis

    port = free_port()
    tmp = tempfile.mkdtemp()
    redis_server = shutil.which("redis-server") or "redis-server"
    server = subprocess.Popen(["taskset", "-c", "0", redis_server, "--port", str(port), "--bind", "127.0.0.1",
                               "--save", "", "--appendonly", "no", "--dir", tmp], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        wait(lambda: _ping(redis, url), "redis-server")
        conn = redis.Redis.from_url(url)
        worker = start_worker(url, "cost.idle")
        try:
            time.sleep(3)  # start-up
            cpu0 = tree_cpu_seconds(worker.pid)
            time.sleep(args.idle_s)
            idle = (tree_cpu_seconds(worker.pid) - cpu0) / args.idle_s
        finally:
            stop(worker)
        print(f"idle worker: {idle * 1e3:.1f} ms CPU per second", flush=True)
        for rep in range(args.repeats):
            conn.flushdb()
            queue = f"cost.{rep}"
            _, key = fill_celery(url, queue, args.messages, "x" * 64)
            conn.config_resetstat()
            worker = start_worker(url, queue)
            try:
                wait(lambda key=key: count_done(conn, key) > 0, "first result")
                t0, cpu0, done0 = time.monotonic(), tree_cpu_seconds(worker.pid), count_done(conn, key)
                while count_done(conn, key) < args.messages:
                    time.sleep(0.2)
                elapsed, cpu = time.monotonic() - t0, tree_cpu_seconds(worker.pid) - cpu0
            finally:
                stop(worker)
            served = args.messages - done0
            calls = commands(conn)
            ours = ("info", "config|resetstat", "scan", "flushdb")  # this tool's own
            calls = {k: v for k, v in calls.items() if k not in ours}
            ranked = sorted(calls.items(), key=lambda kv: -kv[1])
            per = ", ".join(f"{k} {v / args.messages:.2f}" for k, v in ranked)
            total = sum(calls.values()) / args.messages
            print(f"run {rep + 1}: {served / elapsed:.0f} tasks/s, {cpu * 1e6 / served:.0f} µs CPU/task; "
                  f"redis commands per task {total:.2f}: {per}", flush=True)
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
