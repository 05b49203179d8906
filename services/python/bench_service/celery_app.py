"""The Celery transport: a real Celery worker with tasks `bench.echo`, `bench.diff`,
`bench.health` on one queue, JSON only, Redis as broker and result backend.

Contract errors are task failures `ValueError("<code>: <message>")`.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from celery.worker.consumer import Consumer

from bench_service.ops import BAD_REQUEST, INTERNAL, BenchError, Service, check_no_surrogates, check_tokens

log = logging.getLogger(__name__)
PER_TASK_LOGGERS = ("celery.worker.strategy", "celery.app.trace")


def _as_value_error(e: Exception) -> ValueError:
    if isinstance(e, BenchError):
        return ValueError(f"{e.code}: {e.message}")
    log.error("internal error in celery task", exc_info=e)
    return ValueError(f"{INTERNAL}: internal error: {type(e).__name__}: {e}")


def _diff_args(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any]:
    if len(args) == 2 and not kwargs:
        return args[0], args[1]
    if not args and set(kwargs) == {"a", "b"}:
        return kwargs["a"], kwargs["b"]
    raise BenchError(BAD_REQUEST, "bench.diff takes two arguments a and b (arrays of strings)")


class JsonOnlyConsumer(Consumer):
    """Celery's consumer, answering a task message it refuses (pickle, YAML, a malformed message).

    Celery's own consumer logs such a message and rejects or acks it, so its client waits for a
    result that never comes. The contract wants an answer: the task fails with `bad_request`,
    as the Java and Erlang workers fail it.
    """

    def on_invalid_task(self, body: Any, message: Any, exc: Exception) -> None:
        """A message Celery cannot run (a refused serializer lands here): log, reject, then fail the task."""
        super().on_invalid_task(body, message, exc)
        self._fail(message)

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        """A message Celery cannot decode at all: log and ack as Celery does, then fail the task."""
        super().on_decode_error(message, exc)
        self._fail(message)

    def _fail(self, message: Any) -> None:
        task_id = (message.headers or {}).get("id")
        if task_id:
            kind = message.content_type
            why = (f'content type "{kind}" is not accepted (JSON only)' if kind != "application/json" else
                   "not a task message Celery can run")
            self.app.backend.mark_as_failure(task_id, ValueError(f"{BAD_REQUEST}: {why}"))


def create_app(service: Service, redis_url: str, queue: str) -> Celery:
    """The Celery app with the three tasks registered, routed to `queue`."""
    app = Celery("bench", broker=redis_url, backend=redis_url, set_as_current=True)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_default_queue=queue,
        task_create_missing_queues=True,
        result_expires=600,
        worker_enable_remote_control=False,
        worker_send_task_events=False,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        broker_connection_retry_on_startup=True,
        task_acks_late=False,
        worker_prefetch_multiplier=4,
        worker_disable_rate_limits=True,
        worker_consumer="bench_service.celery_app:JsonOnlyConsumer",
    )

    @app.task(name="bench.echo", typing=False)
    def echo(*args: Any, **kwargs: Any) -> str:
        try:
            if len(args) != 1 or kwargs or not isinstance(args[0], str):
                raise BenchError(BAD_REQUEST, "bench.echo takes one string argument")
            text: str = args[0]
            try:  # the text stands for bytes: a lone surrogate has no UTF-8 form (contract: bad_request)
                size = len(text.encode("utf-8"))
            except UnicodeEncodeError:
                raise BenchError(BAD_REQUEST, "'text' holds a string with a lone surrogate") from None
            service.check_size(size)
            service.extra_work()
            return text
        except Exception as e:
            raise _as_value_error(e) from None

    @app.task(name="bench.diff", typing=False)
    def diff(*args: Any, **kwargs: Any) -> list[list[Any]]:
        try:
            raw_a, raw_b = _diff_args(args, kwargs)
            a = check_tokens(raw_a, "a")
            b = check_tokens(raw_b, "b")
            check_no_surrogates(a, "a")
            check_no_surrogates(b, "b")
            return [list(op) for op in service.diff_tokens(a, b)]
        except Exception as e:
            raise _as_value_error(e) from None

    @app.task(name="bench.health")
    def health() -> dict[str, Any]:
        return service.health_object()

    return app


def serve(service: Service, redis_url: str, queue: str, workers: int) -> None:
    """Run a Celery worker (solo pool) on `queue` until SIGTERM (warm shutdown)."""
    app = create_app(service, redis_url, queue)
    pool = "solo" if workers == 1 else "threads"
    argv = ["worker", "--pool", pool, "--concurrency", str(workers), "--queues", queue,
            "--hostname", f"bench-python-{queue}@%h", "--loglevel", "INFO",
            "--without-heartbeat", "--without-gossip", "--without-mingle"]
    log.info("celery worker: pool=%s concurrency=%d queue=%s", pool, workers, queue)
    # No per-task log lines ("received", "succeeded in"): they would cost more than an echo.
    for name in PER_TASK_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    app.worker_main(argv)
