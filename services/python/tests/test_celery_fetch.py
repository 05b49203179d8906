"""The Celery worker's fetch (bench_service/celery_transport.py) with a real worker and redis-server:
a message is always in the queue, in `<queue>:processing` or in kombu's `unacked`."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from celery import Celery

from tests.support import service_argv, started, stop, wait_until


def _client(redis_url: str) -> Celery:
    app = Celery("bench-test-fetch", broker=redis_url, backend=redis_url, set_as_current=False)
    app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"],
                    result_accept_content=["json"])
    return app


@contextmanager
def _worker(redis_url: str, queue: str, log: Path) -> Iterator[None]:
    argv = service_argv("celery", "--redis-url", redis_url, "--queue", queue)
    with started(argv, log) as proc:
        app = _client(redis_url)
        try:
            def ready() -> bool:
                return bool(app.send_task("bench.health", queue=queue).get(timeout=1)["language"] == "Python")

            wait_until(ready, "celery worker", proc, timeout=60, log=log)
        finally:
            app.close()
        yield
        assert stop(proc) == 0, log.read_text()


@pytest.fixture
def queue_and_clients(redis_url: str) -> Iterator[tuple[str, redis.Redis, Celery]]:
    """A queue of its own, a redis client and a Celery client (closed afterwards)."""
    r = redis.Redis.from_url(redis_url)
    app = _client(redis_url)
    yield f"bench.test.fetch.{uuid.uuid4().hex[:8]}", r, app
    app.close()
    r.close()


def _raw_task(app: Celery, r: redis.Redis, text: str, queue: str) -> tuple[str, bytes]:
    """A `bench.echo` message for `queue` as Celery's client writes it (sent to a scratch queue
    first, so that no worker takes it): (task id, raw JSON)."""
    scratch = f"bench.test.scratch.{uuid.uuid4().hex[:8]}"
    task_id = app.send_task("bench.echo", args=[text], queue=scratch).id
    raw = r.rpop(scratch)
    assert isinstance(raw, bytes), "Celery's client wrote no message"
    message = json.loads(raw)
    message["properties"]["delivery_info"]["routing_key"] = queue
    return task_id, json.dumps(message).encode()


def test_a_message_left_in_processing_runs_when_a_worker_starts(
        redis_url: str, tmp_path: Path, queue_and_clients: tuple[str, redis.Redis, Celery]) -> None:
    """A consumer killed between its fetch and its unacked record leaves the message in processing."""
    queue, r, app = queue_and_clients
    task_id, raw = _raw_task(app, r, "left behind", queue)
    r.lpush(f"{queue}:processing", raw)
    with _worker(redis_url, queue, tmp_path / "worker.log"):
        assert app.AsyncResult(task_id).get(timeout=30) == "left behind"
        assert r.llen(f"{queue}:processing") == 0
    assert "recovered 1 message(s) from " + f"{queue}:processing" in (tmp_path / "worker.log").read_text()


def test_served_messages_leave_nothing_in_processing_or_unacked(
        redis_url: str, tmp_path: Path, queue_and_clients: tuple[str, redis.Redis, Celery]) -> None:
    queue, r, app = queue_and_clients
    with _worker(redis_url, queue, tmp_path / "worker.log"):
        results = [app.send_task("bench.echo", args=[f"m{i}"], queue=queue) for i in range(50)]
        assert [res.get(timeout=30) for res in results] == [f"m{i}" for i in range(50)]
        wait_until(lambda: r.llen(f"{queue}:processing") == 0, "processing emptied", timeout=5)
        tags = r.hgetall("unacked")
        assert not [t for t, v in tags.items() if queue.encode() in v], "served messages still unacked"


def test_a_message_not_json_goes_to_dead_and_the_worker_serves_on(
        redis_url: str, tmp_path: Path, queue_and_clients: tuple[str, redis.Redis, Celery]) -> None:
    queue, r, app = queue_and_clients
    with _worker(redis_url, queue, tmp_path / "worker.log"):
        r.lpush(queue, b"{not json")
        wait_until(lambda: r.llen(f"{queue}:dead") == 1, "the bad message in dead", timeout=10)
        assert app.send_task("bench.echo", args=["next"], queue=queue).get(timeout=30) == "next"
        assert r.lrange(f"{queue}:dead", 0, -1) == [b"{not json"]
        assert r.llen(f"{queue}:processing") == 0
    assert f"a message on {queue} is not JSON" in (tmp_path / "worker.log").read_text()
