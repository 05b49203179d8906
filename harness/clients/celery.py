"""A plain Celery client: `send_task(...).get()`, JSON only.

It does not know which language the worker is written in; that is the point of the contract.
Contract errors arrive as task failures whose message is `"<code>: <message>"`; a task the
worker does not know fails with Celery's `NotRegistered`.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from celery import Celery
from celery.exceptions import TimeoutError as CeleryTimeout

from harness.clients.base import ERROR_CODES, Reply
from harness.errors import ClientError


class NotExpressible(ClientError):
    """A request Celery's JSON arguments cannot carry (e.g. echo of bytes that are not UTF-8)."""


@lru_cache(maxsize=8)
def celery_app(redis_url: str) -> Celery:
    """One client app per Redis URL, JSON serializer only."""
    app = Celery("interop-bench-client", broker=redis_url, backend=redis_url)
    app.conf.update(
        task_serializer="json", result_serializer="json", accept_content=["json"],
        result_accept_content=["json"], broker_connection_retry_on_startup=True,
        task_protocol=2, result_extended=False,
    )
    return app


class CeleryClient:
    """Sends the contract's tasks to queue `bench.<service>` and waits for their results."""

    def __init__(self, redis_url: str, queue: str, timeout_s: float = 10.0) -> None:
        self.app = celery_app(redis_url)
        self.queue = queue
        self.timeout_s = timeout_s

    def task(self, name: str, args: list[Any]) -> Any:
        """Run one task and return its result (raises the task's exception on failure)."""
        result = self.app.send_task(name, args=args, queue=self.queue)
        try:
            return result.get(timeout=self.timeout_s, propagate=True)
        finally:
            result.forget()

    def call(self, op: str, body: bytes) -> Reply:
        """echo: the body as text; diff: the JSON body's `a` and `b` as arguments."""
        if op == "echo":
            try:
                args: list[Any] = [body.decode("utf-8")]
            except UnicodeDecodeError as e:
                raise NotExpressible("celery: bench.echo takes text; these bytes are not UTF-8") from e
        elif op == "diff":
            try:
                doc = json.loads(body)
            except ValueError as e:
                raise NotExpressible("celery: the diff body is not JSON") from e
            if not isinstance(doc, dict) or "a" not in doc or "b" not in doc:
                raise NotExpressible("celery: bench.diff takes two arguments a and b")
            args = [doc["a"], doc["b"]]
        else:
            args = []
        try:
            value = self.task(f"bench.{op}", args)
        except CeleryTimeout as e:
            raise ClientError(f"celery: no result for bench.{op} on {self.queue} within {self.timeout_s} s") from e
        except Exception as e:  # the task's own exception, rebuilt by Celery
            return self.error_reply(op, e)
        if op == "echo":
            if not isinstance(value, str):
                raise ClientError(f"celery: bench.echo returned {type(value).__name__}, not str")
            return Reply(ok=True, body=value.encode("utf-8"))
        if op == "diff":
            if not isinstance(value, list):
                raise ClientError(f"celery: bench.diff returned {type(value).__name__}, not a list")
            return Reply(ok=True, opcodes=value)
        return Reply(ok=True, body=json.dumps(value).encode())

    @staticmethod
    def error_reply(op: str, exc: Exception) -> Reply:
        """The contract error a failed task stands for (Celery raises the worker's exception in the client)."""
        name = type(exc).__name__
        text = str(exc)
        code = text.split(":", 1)[0].strip()
        if name == "NotRegistered":
            code = "unknown_op"
        elif code not in ERROR_CODES:
            code = f"celery_{name}"
        body = json.dumps({"error": code, "message": text}).encode()
        return Reply(ok=False, body=body, error=code, status=name)

    def ready(self) -> bool:
        """True when `bench.health` returns an object."""
        return isinstance(self.task("bench.health", []), dict)

    def close(self) -> None:
        """Nothing to release per client: the app and its pools are shared."""
