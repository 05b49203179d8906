"""The reliable Redis queue against a real redis-server."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support import body_of, diff_body, load_vectors, service_argv, started, stop, wait_until


class Client:
    """A minimal client of the queue protocol: LPUSH a request, BRPOP the reply key."""

    def __init__(self, url: str, queue: str) -> None:
        self.conn = redis.Redis.from_url(url)
        self.queue = queue

    def call(self, op: str, body: bytes, timeout: int = 30) -> tuple[bytes, bytes]:
        request_id = uuid.uuid4().hex
        reply_key = f"reply:{request_id}"
        self.conn.lpush(self.queue, f"{op} {request_id} {reply_key}\n".encode() + body)
        got = self.conn.brpop([reply_key], timeout)
        assert got is not None, f"no reply to {op} within {timeout}s"
        message = got[1]
        assert isinstance(message, bytes)
        header, _, reply = message.partition(b"\n")
        status, rid = header.split(b" ")
        assert rid.decode() == request_id
        assert self.conn.ttl(reply_key) in (-2, *range(1, 61))
        return status, reply


@pytest.fixture(scope="module")
def queue_service(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    queue = f"bench:test:{uuid.uuid4().hex[:8]}"
    conn = redis.Redis.from_url(redis_url)
    # A message left by a "crashed" worker must be served after recovery at start.
    conn.lpush(f"{queue}:processing", b"echo left-over reply:left-over\nrecovered")
    log: Path = tmp_path_factory.mktemp("redis-service") / "service.log"
    argv = service_argv("redis", "--redis-url", redis_url, "--queue", queue)
    with started(argv, log, {"BENCH_TEST_HOOKS": "1"}) as proc:
        client = Client(redis_url, queue)
        wait_until(lambda: client.call("health", b"", timeout=1)[0] == b"ok", "redis service", proc, log=log)
        yield redis_url, queue
        assert stop(proc) == 0, log.read_text()
    conn.close()


@pytest.fixture
def client(queue_service: tuple[str, str]) -> Client:
    return Client(*queue_service)


def test_recovered_message_was_served(client: Client) -> None:
    got = client.conn.brpop(["reply:left-over"], 10)
    assert got is not None and got[1] == b"ok left-over\nrecovered"
    assert client.conn.llen(f"{client.queue}:processing") == 0


def test_vectors(client: Client) -> None:
    for vector in load_vectors("diff"):
        status, reply = client.call("diff", diff_body(vector))
        assert status == b"ok" and json.loads(reply) == {"opcodes": vector["opcodes"]}, vector["name"]
    for vector in load_vectors("echo"):
        assert client.call("echo", body_of(vector)) == (b"ok", body_of(vector)), vector["name"]


def test_error_vectors_then_good_request(client: Client) -> None:
    for vector in load_vectors("errors"):
        status, reply = client.call(vector["op"], body_of(vector))
        assert status == b"error" and json.loads(reply)["error"] == vector["error"], vector["name"]
        assert client.call("echo", b"next") == (b"ok", b"next")
    assert client.conn.llen(f"{client.queue}:processing") == 0


@pytest.mark.parametrize("msg", [
    b"no newline at all",
    b"echo id\nbody",
    b"echo  id key\nbody",
    b"echo id key extra\nbody",
    "échо id key\nbody".encode(),
    b"x" * 1100 + b"\n",
])
def test_unparseable_header_goes_to_dead(client: Client, msg: bytes) -> None:
    dead = f"{client.queue}:dead"
    client.conn.delete(dead)
    client.conn.lpush(client.queue, msg)
    assert client.call("echo", b"after") == (b"ok", b"after")
    # With two workers the dead-lettering may finish just after the echo reply.
    wait_until(lambda: client.conn.lrange(dead, 0, -1) == [msg], "dead letter", timeout=5)
    wait_until(lambda: client.conn.llen(f"{client.queue}:processing") == 0, "processing empty", timeout=5)


def test_reply_key_of_wrong_type_does_not_stop_the_worker(client: Client) -> None:
    client.conn.set("reply:not-a-list", b"a string")
    client.conn.lpush(client.queue, b"echo wrong-type reply:not-a-list\nbody")
    assert client.call("echo", b"after") == (b"ok", b"after")
    wait_until(lambda: client.conn.llen(f"{client.queue}:processing") == 0, "processing empty", timeout=5)
    assert client.conn.get("reply:not-a-list") == b"a string"


def test_backoff_doubles_from_50_ms_to_2_s() -> None:
    from itertools import islice

    from bench_service.redis_worker import backoff_delays

    assert list(islice(backoff_delays(), 8)) == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]


def test_worker_survives_a_redis_restart(tmp_path: Path) -> None:
    """Regression: a redis restart made the worker exit (`redis worker failed: ConnectionError`).

    redis-server is stopped (keeping its data) while the worker holds a message, and started
    again on the same port 1 s later: the held message and the next request are answered by the
    same worker process, and the outage is logged once, not per retry.
    """
    import shutil
    import socket
    import time

    from tests.support import free_port

    exe = shutil.which("redis-server")
    assert exe is not None
    port = free_port()
    argv = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(tmp_path)]
    url = f"redis://127.0.0.1:{port}/0"
    queue = "bench:test:restart"
    log = tmp_path / "service.log"
    with started(argv, tmp_path / "redis-1.log") as first:
        conn = redis.Redis(port=port)
        wait_until(lambda: bool(conn.ping()), "redis-server", first)
        with started(service_argv("redis", "--redis-url", url, "--queue", queue),
                     log, {"BENCH_EXTRA_WORK_US": "1500000"}) as worker:  # 1.5 s per echo
            client = Client(url, queue)
            wait_until(lambda: client.call("health", b"", timeout=1)[0] == b"ok", "worker", worker, log=log)
            conn.lpush(queue, b"echo held reply:held\nheld")
            wait_until(lambda: conn.llen(f"{queue}:processing") == 1, "held message", worker, log=log)
            with socket.create_connection(("127.0.0.1", port)) as s:
                s.sendall(b"SHUTDOWN SAVE\r\n")
                while s.recv(1024):
                    pass
            first.wait(10)
            time.sleep(1.0)
            with started(argv, tmp_path / "redis-2.log") as second:
                conn = redis.Redis(port=port)
                wait_until(lambda: bool(conn.ping()), "redis-server again", second)
                got = conn.brpop(["reply:held"], 30)
                assert got is not None and got[1] == b"ok held\nheld"
                client = Client(url, queue)
                assert client.call("echo", b"after")[0] == b"ok"
                assert worker.poll() is None
                assert conn.llen(f"{queue}:processing") == 0
                text = log.read_text()
                assert text.count("lost redis") == 1 and text.count("answers again") == 1, text
