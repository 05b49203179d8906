"""Client of the reliable Redis list queue (CONTRACT.md, transport `redis`).

Each client has its own reply key. A reply whose request id is not the one awaited (left by
a call that timed out, or a duplicate after a worker was restarted) is counted and skipped.
"""

from __future__ import annotations

import itertools
import json
import os
import uuid
from typing import cast

import redis

from harness.clients.base import Reply, error_reply
from harness.clients.resp import RespConnection
from harness.errors import ClientError


class RedisQueueClient:
    """LPUSH a request onto the service's queue, BRPOP the reply from a private key.

    Requests go through a minimal RESP connection (resp.py); `r` (redis-py) serves the rest:
    raw pushes and inspection of the queue's lists in tests and conformance.
    """

    def __init__(self, redis_url: str, queue: str, timeout_s: float = 10.0) -> None:
        self.queue = queue
        self.timeout_s = timeout_s
        self.r = redis.Redis.from_url(redis_url, socket_timeout=timeout_s + 5, socket_connect_timeout=timeout_s)
        self.conn = RespConnection(redis_url, timeout_s + 5)  # the hot path: see resp.py
        self.queue_b = queue.encode()
        self.reply_key = f"bench:reply:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self._ids = itertools.count(1)
        self.stale_replies = 0

    def push_raw(self, message: bytes) -> None:
        """LPUSH an arbitrary message onto the queue (for tests of malformed headers)."""
        self.r.lpush(self.queue, message)

    def call(self, op: str, body: bytes) -> Reply:
        """One request and its reply."""
        rid = f"{next(self._ids)}"
        header = f"{op} {rid} {self.reply_key}\n".encode()
        timeout = str(self.timeout_s).encode()
        key = self.reply_key.encode()
        # LPUSH and the first BRPOP in one round trip (a pipeline, not a transaction).
        got = self.conn.execute([b"LPUSH", self.queue_b, header + body], [b"BRPOP", key, timeout])[1]
        while True:
            if got is None:
                raise ClientError(f"redis: no reply to {op} {rid} on {self.queue} within {self.timeout_s} s")
            status, reply = self._parse(cast(bytes, got[1]))
            if status[1] == rid:
                break
            self.stale_replies += 1
            got = self.conn.execute([b"BRPOP", key, timeout])[0]
        if status[0] == "ok":
            return Reply(ok=True, body=reply)
        if status[0] == "error":
            return error_reply(reply)
        raise ClientError(f"redis: reply status {status[0]!r} is neither ok nor error")

    @staticmethod
    def _parse(message: bytes) -> tuple[tuple[str, str], bytes]:
        head, sep, body = message.partition(b"\n")
        parts = head.decode("ascii", "replace").split(" ")
        if not sep or len(parts) != 2:
            raise ClientError(f"redis: reply header is not '<status> <request-id>': {head[:80]!r}")
        return (parts[0], parts[1]), body

    def ready(self) -> bool:
        """True when op `health` answers ok with a JSON object."""
        reply = self.call("health", b"")
        return reply.ok and isinstance(json.loads(reply.body), dict)

    def close(self) -> None:
        """Drop the reply key and the connection."""
        try:
            self.r.delete(self.reply_key)
        except redis.RedisError:
            pass
        self.r.close()
        self.conn.close()
