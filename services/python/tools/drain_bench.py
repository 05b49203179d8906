"""Measure the redis and celery workers by draining a pre-filled queue.

The queue is filled first (so no client is running while the worker is measured), then the
worker starts; the clock runs from the worker's first reply until the last one. CPU is
utime+stime of the worker's process tree (from /proc). Used to choose `--workers` for redis
and the pool for celery (README.md).

    python tools/drain_bench.py redis --workers 1 2 4 --messages 50000
    python tools/drain_bench.py celery --workers 1 2 4 --messages 10000
    python tools/drain_bench.py redis --workers 2 --parsers hiredis python --size 65536

`--parsers hiredis python` measures redis-py's reply parser both ways, in turns: `python`
runs the worker with a `hiredis` module on its path that fails to import, so redis-py (and
kombu) fall back to the pure-Python RESP parser as if hiredis were not installed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SERVICE_DIR = HERE.parent
sys.path.insert(0, str(HERE))

from compare_http_servers import tree_cpu_seconds  # noqa: E402

NO_HIREDIS = "raise ImportError('hidden by tools/drain_bench.py --parsers python')\n"


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait(check: object, what: str, timeout: float = 60) -> None:
    """Poll `check()` until true; exit when the deadline passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.005)
    raise SystemExit(f"timed out waiting for {what}")


def fill_redis(url: str, queue: str, n: int, body: str) -> tuple[object, str]:
    """Push `n` echo messages replying to one list; returns a connection and that list's key."""
    import redis

    conn = redis.Redis.from_url(url)
    conn.delete(queue, "replies")
    pipe = conn.pipeline(transaction=False)
    for i in range(n):
        pipe.lpush(queue, f"echo {i} replies\n{body}".encode())
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()
    return conn, "replies"


def fill_celery(url: str, queue: str, n: int, body: str) -> tuple[object, str]:
    """Send `n` `bench.echo` tasks; returns a connection and the pattern of their result keys."""
    from celery import Celery

    app = Celery("drain", broker=url, backend=url, set_as_current=False)
    app.conf.update(task_serializer="json", accept_content=["json"], result_accept_content=["json"])
    with app.producer_or_acquire() as producer:
        for _ in range(n):
            app.send_task("bench.echo", args=[body], queue=queue, producer=producer)
    import redis

    return redis.Redis.from_url(url), "celery-task-meta-*"


def count_done(conn: object, key: str) -> int:
    """How many replies (list length) or results (keys matching a pattern) exist."""
    if key.endswith("*"):
        total = 0
        for _ in conn.scan_iter(match=key, count=10000):  # type: ignore[attr-defined]
            total += 1
        return total
    return int(conn.llen(key))  # type: ignore[attr-defined]


def run_one(transport: str, url: str, workers: int, n: int, core: str, size: int = 64,
            env: dict[str, str] | None = None) -> tuple[float, float]:
    """Fill the queue, start the worker, time it from its first reply to its last: (rate, CPU µs/msg)."""
    queue = f"drain.{transport}.{workers}"
    import redis

    redis.Redis.from_url(url).flushdb()
    conn, key = (fill_redis if transport == "redis" else fill_celery)(url, queue, n, "x" * size)
    cmd = ["taskset", "-c", core, sys.executable, "-m", "bench_service", transport, "--redis-url", url,
           "--queue", queue, "--workers", str(workers)]
    with open(HERE / f"drain-{transport}-{workers}.log", "wb") as log:
        proc = subprocess.Popen(cmd, cwd=SERVICE_DIR, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, env=env)
    try:
        wait(lambda: count_done(conn, key) > 0, "first reply")
        t0, cpu0, done0 = time.monotonic(), tree_cpu_seconds(proc.pid), count_done(conn, key)
        poll = 0.05 if transport == "redis" else 0.5
        while count_done(conn, key) < n:
            if proc.poll() is not None:
                raise SystemExit(f"worker exited with {proc.returncode}")
            time.sleep(poll)
        elapsed, cpu = time.monotonic() - t0, tree_cpu_seconds(proc.pid) - cpu0
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    served = n - done0
    return served / elapsed, cpu * 1e6 / served


def main() -> int:
    """Start a private redis-server, drain for each worker count, print a Markdown table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("transport", choices=["redis", "celery"])
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--messages", type=int, default=20000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--worker-core", default="1", help="taskset cores for the worker (redis-server gets 0)")
    p.add_argument("--size", type=int, default=64, help="bytes of each echoed body")
    p.add_argument("--parsers", nargs="+", choices=["hiredis", "python"], default=["hiredis"],
                   help="redis-py reply parsers to measure in turns (python: hiredis hidden)")
    args = p.parse_args()
    port = free_port()
    tmp = tempfile.mkdtemp()
    redis_proc = subprocess.Popen(["taskset", "-c", "0", shutil.which("redis-server") or "redis-server",
                                   "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                                   "no", "--dir", tmp], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        import redis

        wait(lambda: _ping(redis, url), "redis-server")
        envs = {"hiredis": None, "python": _env_without_hiredis(tmp)}
        runs: dict[tuple[str, int], list[tuple[float, float]]] = {}
        for _ in range(args.repeats):  # in turns, so the machine's drifting load touches all alike
            for parser in args.parsers:
                for workers in args.workers:
                    rate, cpu = run_one(args.transport, url, workers, args.messages, args.worker_core,
                                        args.size, envs[parser])
                    runs.setdefault((parser, workers), []).append((rate, cpu))
                    print(f"  {parser} {workers}: {rate:.0f}/s, {cpu:.1f} µs/message", file=sys.stderr)
        print(f"| parser | {args.transport} workers | messages/s | worker CPU µs/message (min-max) |  "
              f"({args.messages} x {args.size} B echo, median of {args.repeats}, worker on core "
              f"{args.worker_core})")
        print("|---|---:|---:|---:|")
        for (parser, workers), samples in runs.items():
            rate = statistics.median(r for r, _ in samples)
            costs = [c for _, c in samples]
            print(f"| {parser} | {workers} | {rate:.0f} | {statistics.median(costs):.1f} "
                  f"({min(costs):.1f}-{max(costs):.1f}) |", flush=True)
    finally:
        redis_proc.terminate()
        redis_proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _env_without_hiredis(tmp: str) -> dict[str, str]:
    """The environment for a worker that must not find hiredis (redis-py's pure-Python parser)."""
    shim = Path(tmp) / "no-hiredis"
    shim.mkdir(exist_ok=True)
    (shim / "hiredis.py").write_text(NO_HIREDIS)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(shim), env.get("PYTHONPATH")]))
    return env


def _ping(redis_module: object, url: str) -> bool:
    try:
        return bool(redis_module.Redis.from_url(url).ping())  # type: ignore[attr-defined]
    except Exception:
        return False


if __name__ == "__main__":
    sys.exit(main())
