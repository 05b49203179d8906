"""The reliable Redis list queue transport (CONTRACT.md "redis").

Each worker thread has its own connection and loops: `BLMOVE queue processing RIGHT LEFT`
(1 s timeout so SIGTERM is honoured), compute, then in one pipeline: `LPUSH reply_key
"<status> <id>\\n<body>"`, `EXPIRE reply_key 60`, `LREM processing 1 msg` (and the next
`BLMOVE`). A message whose header cannot
be parsed is moved to `<queue>:dead` the same way. At start, everything left in
`<queue>:processing` is moved back to the right end of the queue.

A lost connection to redis (a broker restart) is not fatal: the worker thread reconnects with
a bounded backoff (50 ms doubling to 2 s), then recovers `<queue>:processing` as at start, so
the message it held (and whatever another connection left there) is served again. The outage
is logged once when it is first seen and once when redis answers again, whatever the number
of threads.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import redis

from bench_service.ops import Service

log = logging.getLogger(__name__)

HEADER_SCAN = 1024
REPLY_TTL_S = 60
BLOCK_TIMEOUT_S = 1


class Header:
    """A parsed message header: `<op> <request-id> <reply-key>`."""

    __slots__ = ("op", "request_id", "reply_key", "body_start")

    def __init__(self, op: str, request_id: bytes, reply_key: bytes, body_start: int) -> None:
        self.op = op
        self.request_id = request_id
        self.reply_key = reply_key
        self.body_start = body_start


def parse_header(msg: bytes) -> Header | None:
    """Parse the first line of a message; None when it cannot be parsed (-> dead letter)."""
    end = msg.find(b"\n", 0, HEADER_SCAN)
    if end < 0:
        return None
    line = msg[:end]
    if not line.isascii():
        return None
    fields = line.split(b" ")
    if len(fields) != 3 or not all(fields):
        return None
    return Header(fields[0].decode("ascii"), fields[1], fields[2], end + 1)


def recover(conn: redis.Redis, queue: str) -> int:
    """Move every element of `<queue>:processing` back to the right end of `queue`."""
    processing = f"{queue}:processing"
    moved = 0
    while conn.lmove(processing, queue, "RIGHT", "RIGHT") is not None:
        moved += 1
    return moved


BACKOFF_FIRST_S = 0.05
BACKOFF_MAX_S = 2.0


def backoff_delays(first_s: float = BACKOFF_FIRST_S, max_s: float = BACKOFF_MAX_S) -> Iterator[float]:
    """Reconnect delays: `first_s`, doubling, capped at `max_s` (forever; the caller stops)."""
    delay = first_s
    while True:
        yield delay
        delay = min(delay * 2, max_s)


class Outage:
    """Logs a redis outage once, however many threads see it: when it starts, when it ends.

    Threads see one outage at different times (one computing a long request finds its
    connection dead after the others have reconnected): each connection is tagged with the
    outage `generation` it was opened in, and a loss of a connection from an earlier
    generation is part of an outage already logged.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.lock = threading.Lock()
        self.since: float | None = None
        self.generation = 0

    def lost(self, who: str, error: BaseException, generation: int) -> None:
        """A thread lost a connection opened in `generation`; the first loss of an outage logs it."""
        with self.lock:
            if self.since is None and generation == self.generation:
                self.since = time.monotonic()
                log.warning("%s: lost redis at %s (%s: %s); reconnecting (backoff %d ms doubling to %d s)",
                            who, self.url, type(error).__name__, error, BACKOFF_FIRST_S * 1000, BACKOFF_MAX_S)

    def restored(self, recovered: int) -> int:
        """A thread reconnected; the first one after an outage logs how long it lasted.
        Returns the generation of connections opened from now on."""
        with self.lock:
            if self.since is not None:
                log.warning("redis at %s answers again after %.2f s; recovered %d message(s) from processing",
                            self.url, time.monotonic() - self.since, recovered)
                self.since = None
                self.generation += 1
            return self.generation


class Worker(threading.Thread):
    """One worker thread with its own connection serving the queue until `stop` is set.

    Each round trip sends the previous message's reply commands (`LPUSH`, `EXPIRE`, `LREM`)
    and the next `BLMOVE` in one pipelined write, so a message costs one round trip.
    """

    def __init__(self, service: Service, url: str, queue: str, stop: threading.Event, index: int,
                 outage: Outage | None = None) -> None:
        super().__init__(name=f"redis-worker-{index}", daemon=True)
        self.service = service
        self.pool = redis.ConnectionPool.from_url(url, socket_keepalive=True, socket_connect_timeout=2)
        self.outage = outage or Outage(url)
        self.queue = queue
        self.processing = f"{queue}:processing"
        self.dead = f"{queue}:dead"
        self.stop = stop
        self.failure: BaseException | None = None

    def run(self) -> None:
        """Serve until `stop` is set; a failure is recorded and stops the whole service."""
        try:
            generation = self.outage.generation
            while not self.stop.is_set():
                try:
                    self._loop()
                except (redis.ConnectionError, redis.TimeoutError) as e:  # the broker went away
                    self.outage.lost(self.name, e, generation)
                    self.pool.disconnect()
                    generation = self._reconnect()
        except BaseException as e:  # report to the main thread, which exits non-zero
            log.exception("%s failed", self.name)
            self.failure = e
            self.stop.set()
        finally:
            self.pool.disconnect()

    def _reconnect(self) -> int:
        """Wait with backoff until redis answers, then recover `<queue>:processing` (as at start);
        returns the outage generation of the new connection.

        The message this thread held when the connection broke is either answered and removed
        (if the pipeline got through) or still in processing and served again: never lost.
        """
        conn = redis.Redis(connection_pool=self.pool)
        for delay in backoff_delays():
            if self.stop.wait(delay):
                break
            try:
                moved = recover(conn, self.queue)
            except (redis.ConnectionError, redis.TimeoutError):
                self.pool.disconnect()
                continue
            return self.outage.restored(moved)
        return self.outage.generation

    def _replies(self, msg: bytes) -> list[tuple[Any, ...]]:
        """The commands that answer `msg` (or dead-letter it) and take it off processing."""
        header = parse_header(msg)
        if header is None:
            commands: list[tuple[Any, ...]] = [("LPUSH", self.dead, msg)]
        else:
            code, body = self.service.handle(header.op, msg[header.body_start:])
            status = b"ok " if code is None else b"error "
            commands = [("LPUSH", header.reply_key, status + header.request_id + b"\n" + body),
                        ("EXPIRE", header.reply_key, REPLY_TTL_S)]
        commands.append(("LREM", self.processing, 1, msg))
        return commands

    def _loop(self) -> None:
        connection = self.pool.get_connection()
        try:
            self._serve(connection)
        finally:
            self.pool.release(connection)

    def _serve(self, connection: Any) -> None:
        blmove = ("BLMOVE", self.queue, self.processing, "RIGHT", "LEFT", BLOCK_TIMEOUT_S)
        pending: list[tuple[Any, ...]] = []
        stop = self.stop
        while not stop.is_set():
            connection.send_packed_command(connection.pack_commands([*pending, blmove]))
            self._read_replies(connection, len(pending))
            msg = connection.read_response()
            pending = [] if msg is None else self._replies(msg)
        if pending:  # answer the last message before leaving
            connection.send_packed_command(connection.pack_commands(pending))
            self._read_replies(connection, len(pending))

    def _read_replies(self, connection: Any, count: int) -> None:
        for _ in range(count):
            try:
                connection.read_response()
            except redis.ResponseError as e:  # e.g. a reply key of the wrong type: the client's bug
                log.warning("%s: redis refused a reply command: %s", self.name, e)


def serve(service: Service, url: str, queue: str, workers: int) -> None:
    """Recover `<queue>:processing`, then serve the queue with `workers` threads until SIGTERM."""
    stop = threading.Event()

    def on_term(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_term)
    admin = redis.Redis.from_url(url)
    try:
        admin.ping()
    except redis.RedisError as e:
        raise SystemExit(f"cannot reach redis at {url}: {e}; is redis-server running there?") from e
    moved = recover(admin, queue)
    admin.close()
    log.info("redis queue %r: recovered %d message(s) from %s:processing; %d worker(s)",
             queue, moved, queue, workers)
    outage = Outage(url)
    threads = [Worker(service, url, queue, stop, i, outage) for i in range(workers)]
    for t in threads:
        t.start()
    while not stop.wait(0.5):
        pass
    for t in threads:
        t.join()
    failures = [t.failure for t in threads if t.failure is not None]
    if failures:
        raise SystemExit(f"redis worker failed: {failures[0]!r}")
    log.info("SIGTERM received, stopped")
