"""The Erlang service's celery transport against a real Celery 5.7 client and a real
redis-server: results and exceptions through `send_task(...).get()`, the stored document,
its expiry, ignore_result, the dead list, recovery of `<queue>:processing`, and a worker
killed (SIGKILL) in the middle of a task whose message is run again after restart.

Run: /work/main/.venv/bin/python test/celery_interop.py  (exit status 0 when all pass)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import redis
from celery import Celery
from celery.exceptions import NotRegistered
from support import SERVICE, Checks, body, redis_server, service, stop, vectors, wait_for

QUEUE = "bench.erlang"
check = Checks()


def client(url: str) -> Celery:
    app = Celery("erlang-test-client", broker=url, backend=url)
    app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"],
                    result_accept_content=["json"], task_protocol=2, result_extended=False)
    return app


def run(app: Celery, name: str, *args, timeout: float = 20, **kwargs):
    """The task's value, or the exception `.get()` raised."""
    result = app.send_task(name, args=list(args), kwargs=kwargs, queue=QUEUE)
    try:
        return result.get(timeout=timeout)
    except Exception as e:  # the task's own exception, rebuilt by Celery
        return e
    finally:
        result.forget()


def is_value_error(value, code: str) -> bool:
    return isinstance(value, ValueError) and str(value).startswith(f"{code}: ")


def ready(app: Celery) -> bool:
    return isinstance(run(app, "bench.health", timeout=2), dict)


def test_tasks(url: str) -> None:
    app = client(url)
    r = redis.Redis.from_url(url)
    with service("celery", "--redis-url", url, "--queue", QUEUE, "--workers", "2",
                 ready=lambda _port: ready(app)) as (_port, log):
        health = run(app, "bench.health")
        check(health == {**health, "service": "erlang", "language": "Erlang",
                         "ops": ["echo", "diff", "health"]}, f"health {health!r}")
        for text in ["", "hello", "héllo wörld", "😀 astral", "x" * 100_000]:
            check(run(app, "bench.echo", text) == text, f"echo {text[:20]!r}")
        for v in vectors("echo"):
            try:
                text = body(v["body"]).decode("utf-8")
            except UnicodeDecodeError:
                continue
            check(run(app, "bench.echo", text) == text, f"echo vector {v['name']}")
        for v in vectors("diff"):
            got = run(app, "bench.diff", v["a"], v["b"])
            check(got == v["opcodes"], f"diff vector {v['name']}: {str(got)[:200]}")
        v = vectors("diff")[1]
        check(run(app, "bench.diff", a=v["a"], b=v["b"]) == v["opcodes"], "diff with kwargs")

        for args, what in [((1, 2), "numbers"), ((["a"], None), "b null"), (([1], []), "number token"),
                           (([["x"]], []), "nested token"), ((["a"],), "one argument")]:
            check(is_value_error(run(app, "bench.diff", *args), "bad_request"), f"diff {what}")
        check(is_value_error(run(app, "bench.echo"), "bad_request"), "echo without argument")
        check(is_value_error(run(app, "bench.echo", 5), "bad_request"), "echo of a number")
        check(is_value_error(run(app, "bench.echo", "\ud800"), "bad_request"), "echo lone surrogate")
        check(is_value_error(run(app, "bench.diff", ["\udc00\ud800"], []), "bad_request"),
              "diff reversed surrogates")
        check(is_value_error(run(app, "bench.echo", "x" * (16 * 1024 * 1024 + 1), timeout=60),
                             "too_large"), "echo over 16 MiB")
        check(run(app, "bench.echo", "y" * (16 * 1024 * 1024), timeout=60) == "y" * (16 * 1024 * 1024),
              "echo of exactly 16 MiB")
        check(is_value_error(run(app, "bench.diff", ["t"] * 60_000, ["t"] * 40_001), "too_large"),
              "diff over the token limit")
        check(is_value_error(run(app, "bench.diff", ["__bench_fault__:internal"], ["x"]), "internal"),
              "internal-fault hook")
        nr = run(app, "bench.frobnicate", 1)
        check(isinstance(nr, NotRegistered) and "bench.frobnicate" in str(nr), f"unknown task {nr!r}")

        # The stored document and its expiry, read before the client forgets it.
        result = app.send_task("bench.echo", args=["kept"], queue=QUEUE)
        check(result.get(timeout=10) == "kept", "echo kept")
        key = f"celery-task-meta-{result.id}"
        doc = json.loads(r.get(key))
        check(list(doc) == ["status", "result", "traceback", "children", "date_done", "task_id"]
              and doc["status"] == "SUCCESS" and doc["task_id"] == result.id, f"document {doc}")
        check(500 < r.ttl(key) <= 600, f"result expiry {r.ttl(key)}")
        result.forget()

        # ignore_result: run, acknowledged, nothing stored.
        tid = str(uuid.uuid4())
        app.send_task("bench.echo", args=["quiet"], queue=QUEUE, task_id=tid, ignore_result=True)
        check(run(app, "bench.echo", "after") == "after", "echo after ignore_result")
        check(r.get(f"celery-task-meta-{tid}") is None, "ignore_result stores nothing")

        # A message without a task id goes to the dead list, logged; serving goes on.
        r.lpush(QUEUE, b"not a celery message")
        check(run(app, "bench.echo", "still here") == "still here", "served after a dead letter")
        check(r.lrange(f"{QUEUE}:dead", 0, -1) == [b"not a celery message"], "dead list")
        check("not a celery message" not in log.read_text() and "dead" in log.read_text(),
              "dead letter logged")
        check(r.llen(f"{QUEUE}:processing") == 0, "processing list empty")


def test_recovery(url: str) -> None:
    """A message a dead worker left in `<queue>:processing` is run after a restart."""
    app = client(url)
    r = redis.Redis.from_url(url)
    result = app.send_task("bench.echo", args=["left behind"], queue=QUEUE)
    check(r.lmove(QUEUE, f"{QUEUE}:processing", "RIGHT", "LEFT") is not None, "message parked")
    with service("celery", "--redis-url", url, "--queue", QUEUE) as (_port, log):
        check(result.get(timeout=20) == "left behind", "recovered message run")
        check("recovered 1 message(s)" in log.read_text(), "recovery logged")
        check(r.llen(f"{QUEUE}:processing") == 0, "processing list empty after recovery")
    result.forget()


def test_killed_mid_task(url: str) -> None:
    """SIGKILL while a task runs (slowed by BENCH_EXTRA_WORK_US): its message stays in
    `<queue>:processing`, no result is stored; after a restart it runs and `.get()` returns."""
    app = client(url)
    r = redis.Redis.from_url(url)
    env = {**os.environ, "BENCH_EXTRA_WORK_US": "5000000"}
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "killed.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([str(SERVICE / "bin" / "bench-erlang"), "celery",
                                     "--redis-url", url, "--queue", QUEUE, "--workers", "1"],
                                    cwd=SERVICE, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        try:
            result = app.send_task("bench.echo", args=["slow"], queue=QUEUE)
            wait_for(lambda: r.llen(f"{QUEUE}:processing") == 1, 20, proc, log)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        finally:
            stop(proc)
    check(r.llen(f"{QUEUE}:processing") == 1, "message still in processing after SIGKILL")
    check(r.get(f"celery-task-meta-{result.id}") is None, "no result from the killed worker")
    with service("celery", "--redis-url", url, "--queue", QUEUE):
        check(result.get(timeout=20) == "slow", "the killed task run again after restart")
        check(r.llen(f"{QUEUE}:processing") == 0, "processing list empty after the rerun")
    result.forget()


def main() -> int:
    with redis_server() as url:
        test_tasks(url)
        test_recovery(url)
        test_killed_mid_task(url)
    print(f"celery interop: {check.count - len(check.failures)}/{check.count} checks passed")
    return 1 if check.failures else 0


if __name__ == "__main__":
    sys.exit(main())
