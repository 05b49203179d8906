"""Broker faults: redis-server paused (SIGSTOP, SIGCONT) and restarted on the same port while a
queue is being served, for every service x queue transport (redis, celery) in the manifests.

The queue is loaded before the faults (and served slowly: `BENCH_EXTRA_WORK_US`), so that
messages are on the queue and in `<queue>:processing` when the broker goes away. The restart
keeps the broker's data (`SHUTDOWN SAVE`, as a broker with persistence does), so whatever is
lost is lost by the worker. Every message must be answered (duplicates are allowed:
at-least-once), the worker must still be the same process, and its log must not flood.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import redis as redis_lib

from harness import REPO
from harness.contract.manifest import discover
from harness.processes.supervisor import Proc, Supervisor

CELLS = [(name, transport) for name, svc in sorted(discover().items()) if not svc.missing_programs()
         for transport in ("redis", "celery") if transport in svc.commands]
MESSAGES = {"redis": 2000, "celery": 400}
EXTRA_WORK_US = {"redis": "1000", "celery": "10000"}
PAUSE_S = 3.0
DOWN_S = 1.5  # between the old server's exit and the new one's start
# Python's Celery worker redelivers an unacknowledged task this old (the others ignore it).
VISIBILITY_S = "5"
LOG_LINES_PER_FAULT = 10  # tracebacks, or a line per retry in every worker, pass this


def _wait(what: str, done: Callable[[], bool], proc: Proc, timeout_s: float,
          state: Callable[[], str] = lambda: "") -> float:
    """Poll `done` until true; fail if the worker exits or the deadline passes (saying `state()`,
    the broker's side). Returns seconds."""
    t0 = time.monotonic()
    while not done():
        assert proc.alive(), f"the worker exited ({proc.popen.returncode}):\n{proc.log_tail(40)}"
        assert time.monotonic() - t0 < timeout_s, f"{what}: not after {timeout_s} s; {state()}\n{proc.log_tail(40)}"
        time.sleep(0.02)
    return time.monotonic() - t0


def _broker_state(r: redis_lib.Redis, queue: str) -> str:
    """What is left where: the queue, its `:processing` list, kombu's unacked hash and index, and
    kombu's restore mutex (a mutex left held stops the unacked messages from coming back)."""
    sizes = {"list": r.llen, "hash": r.hlen, "zset": r.zcard}
    parts = []
    for key in (queue, f"{queue}:processing", "unacked", "unacked_index"):
        raw = r.type(key)
        kind = raw.decode() if isinstance(raw, bytes) else str(raw)
        size = sizes[kind](key) if kind in sizes else 0
        parts.append(f"{key} {kind} {size}")
    return "broker: " + ", ".join(parts) + f"; unacked_mutex ttl {r.pttl('unacked_mutex')} ms"


class RedisLoad:
    """`n` echo requests pushed raw onto the queue, all answered on one reply list."""

    def __init__(self, r: redis_lib.Redis, queue: str, n: int) -> None:
        self.r, self.queue, self.n = r, queue, n
        self.reply_key = f"bench:peers:replies:{uuid.uuid4().hex[:8]}"
        pipe = r.pipeline(transaction=False)
        for i in range(n):
            pipe.lpush(queue, f"echo {i} {self.reply_key}\n".encode() + f"message {i}".encode())
        pipe.execute()

    def answered(self) -> int:
        """Replies so far (duplicates included)."""
        return int(self.r.llen(self.reply_key))

    def check(self) -> tuple[int, int]:
        """(distinct ids answered correctly, duplicate replies)."""
        replies = [m for m in self.r.lrange(self.reply_key, 0, -1) if isinstance(m, bytes)]
        ids = set()
        for m in replies:
            head, _, body = m.partition(b"\n")
            status, rid = head.decode().split(" ")
            assert status == "ok" and body == f"message {rid}".encode(), m[:80]
            ids.add(int(rid))
        return len(ids), len(replies) - len(ids)


class CeleryLoad:
    """`n` `bench.echo` task messages as Celery's client writes them, pushed in one pipeline
    (sending them one by one through Celery is slower than the workers serve them)."""

    def __init__(self, r: redis_lib.Redis, url: str, queue: str, n: int) -> None:
        import base64
        import json

        from harness.clients.celery import celery_app

        self.r, self.n = r, n
        scratch = f"bench.peers.template.{uuid.uuid4().hex[:8]}"
        app = celery_app(url)
        try:
            app.send_task("bench.echo", args=["template"], queue=scratch)
        finally:
            app.backend.result_consumer.stop()  # the pub/sub connection send_task subscribed with
            app.close()  # its producer's connection pool
        raw = r.rpop(scratch)
        assert isinstance(raw, bytes), "Celery's client wrote no message"
        template = json.loads(raw)
        embed = json.loads(base64.b64decode(template["body"]))[2]
        self.ids = [str(uuid.uuid4()) for _ in range(n)]
        pipe = r.pipeline(transaction=False)
        for i, tid in enumerate(self.ids):
            m = json.loads(raw)
            m["headers"].update(id=tid, root_id=tid, argsrepr=repr([f"message {i}"]))
            m["properties"].update(correlation_id=tid, delivery_tag=str(uuid.uuid4()))
            m["properties"]["delivery_info"]["routing_key"] = queue
            m["body"] = base64.b64encode(json.dumps([[f"message {i}"], {}, embed]).encode()).decode()
            pipe.lpush(queue, json.dumps(m))
        pipe.execute()
        self.keys = [f"celery-task-meta-{tid}" for tid in self.ids]

    def answered(self) -> int:
        """Results stored so far."""
        return int(sum(self.r.exists(*self.keys[i:i + 500]) for i in range(0, self.n, 500)))

    def check(self) -> tuple[int, int]:
        """(tasks answered correctly, 0: a backend keeps one result per task)."""
        import json

        good = 0
        for i, raw in enumerate(self.r.mget(self.keys)):
            if raw is not None:
                doc = json.loads(raw)
                assert doc["status"] == "SUCCESS" and doc["result"] == f"message {i}", doc
                good += 1
        return good, 0


@pytest.mark.parametrize(("service", "transport"), CELLS)
def test_broker_pause_and_restart_lose_nothing(service: str, transport: str, tmp_path: Path) -> None:
    """Pause the broker 3 s, then restart it with the queue half served: all answered, same process."""
    svc = discover()[service]
    dumps_before = set((REPO / "services").glob("*/erl_crash.dump"))
    env = {"BENCH_EXTRA_WORK_US": EXTRA_WORK_US[transport], "BENCH_CELERY_VISIBILITY_TIMEOUT_S": VISIBILITY_S}
    with Supervisor(tmp_path / "logs", extra_env=env) as sup:
        proc, ep = sup.start(svc, transport)
        server = sup.ensure_redis()
        r = redis_lib.Redis.from_url(ep.redis_url, socket_timeout=10)
        n = MESSAGES[transport]
        load = RedisLoad(r, ep.queue, n) if transport == "redis" else CeleryLoad(r, ep.redis_url, ep.queue, n)
        lines0 = len(proc.log_tail(100_000).splitlines())

        _wait("a tenth of the queue served", lambda: load.answered() >= n // 10, proc, 60)
        server.pause(PAUSE_S)
        _wait("serving again after the pause", lambda: load.answered() >= n // 5, proc, 30)

        r.close()
        backlog = n - load.answered()
        assert backlog > n // 4, "the queue was served before the restart: raise MESSAGES or EXTRA_WORK_US"
        before = load.answered()
        down_s = server.restart(down_s=DOWN_S)
        r = redis_lib.Redis.from_url(ep.redis_url, socket_timeout=10)
        recovery_s = _wait("a reply after the restart", lambda: load.answered() > before, proc, 30)
        _wait(f"{n} replies", lambda: load.answered() >= n, proc, 120, lambda: _broker_state(r, ep.queue))
        # A duplicate reply (a message recovered from processing while a thread still held it)
        # counts in `answered()`, so n replies can come while a distinct message is still queued.
        _wait(f"all {n} distinct messages answered", lambda: load.check()[0] >= n, proc, 30)

        answered, duplicates = load.check()
        assert answered == n, f"{n - answered} of {n} messages lost"
        assert proc.alive()
        if transport == "redis":
            assert r.llen(f"{ep.queue}:processing") == 0 and r.llen(ep.queue) == 0
        fault_lines = len(proc.log_tail(100_000).splitlines()) - lines0
        assert fault_lines <= 2 * LOG_LINES_PER_FAULT, f"{fault_lines} log lines for two faults:\n{proc.log_tail(60)}"
        r.close()
    assert set((REPO / "services").glob("*/erl_crash.dump")) == dumps_before, "a VM crashed: see erl_crash.dump"
    print(f"\n{service}/{transport}: {n} messages, lost 0, {duplicates} duplicates; paused {PAUSE_S:.0f} s; "
          f"restart: down {down_s:.2f} s, first reply {recovery_s:.2f} s after; {fault_lines} log lines")
