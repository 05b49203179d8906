"""The reliable Redis list queue transport (CONTRACT.md "redis").

Each worker thread has its own connection and loops: `BLMOVE queue processing RIGHT LEFT`
(1 s timeout so SIGTERM is honoured), compute, then in one pipeline: `LPUSH reply_key
"<status> <id>\\n<body>"`, `EXPIRE reply_key 60`, `LREM processing 1 msg` (and the next
`BLMOVE`). A message whose header cannot
be parsed is moved to `<queue>:dead` the same way. At start, everything left in
`<queue>:processing` is moved back to the right end of the queue.
"""

from __future__ import annotations

import logging
import signal
import threading
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


class Worker(threading.Thread):
    """One worker thread with its own connection serving the queue until `stop` is set.

    Each round trip sends the previous message's reply commands (`LPUSH`, `EXPIRE`, `LREM`)
    and the next `BLMOVE` in one pipelined write, so a message costs one round trip.
    """

    def __init__(self, service: Service, url: str, queue: str, stop: threading.Event, index: int) -> None:
        super().__init__(name=f"redis-worker-{index}", daemon=True)
        self.service = service
        self.pool = redis.ConnectionPool.from_url(url, socket_keepalive=True)
        self.queue = queue
        self.processing = f"{queue}:processing"
        self.dead = f"{queue}:dead"
        self.stop = stop
        self.failure: BaseException | None = None

    def run(self) -> None:
        """Serve until `stop` is set; a failure is recorded and stops the whole service."""
        try:
            self._loop()
        except BaseException as e:  # report to the main thread, which exits non-zero
            log.exception("%s failed", self.name)
            self.failure = e
            self.stop.set()
        finally:
            self.pool.disconnect()

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
    threads = [Worker(service, url, queue, stop, i) for i in range(workers)]
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
