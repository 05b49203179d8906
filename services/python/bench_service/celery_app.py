"""The Celery transport: a real Celery worker with tasks `bench.echo`, `bench.diff`,
`bench.health` on one queue, JSON only, Redis as broker and result backend.

Contract errors are task failures `ValueError("<code>: <message>")`.

A broker restart loses nothing: tasks are acknowledged late (after their result is stored;
`task_acks_late`), a result store that meets a dead connection is retried
(`result_backend_always_retry`, 50 ms doubling to 2 s), and the worker reconnects forever
(`broker_connection_retry`, `broker_connection_max_retries=None`; kombu's own backoff, 2 s
growing by 2 s to 30 s, which Celery's settings do not expose). A message that was delivered
but not acknowledged when the connection broke (the task running, and the prefetched ones) stays
in kombu's `unacked` hash and is put back on the queue once it is `visibility_timeout` seconds
old (`BENCH_CELERY_VISIBILITY_TIMEOUT_S`, default 60; checked every second): it runs again
(at least once). The visibility timeout must exceed the longest task plus its wait behind the
prefetched ones, or a slow task is run twice. kombu's fetch itself (`BRPOP`, then the unacked
record) could lose the message in between: celery_transport.py makes it atomic.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import Celery
from celery.worker.consumer import Consumer

from bench_service.ops import BAD_REQUEST, INTERNAL, BenchError, Service, check_no_surrogates, check_tokens

log = logging.getLogger(__name__)
PER_TASK_LOGGERS = ("celery.worker.strategy", "celery.app.trace")


# celery.worker.request: "Couldn't ack <id>" (CRITICAL, with a traceback) while the broker is down.
RETRY_LOGGERS = ("celery.backends.base", "celery.worker.consumer.consumer", "kombu.transport.virtual.base",
                 "celery.worker.request")


class OnePerOutage(logging.Filter):
    """Broker-outage warnings without their tracebacks, each text at most once per `quiet_s`.

    Celery logs every retry of a result store, with a traceback: a flood in a long outage.
    """

    def __init__(self, quiet_s: float = 30.0) -> None:
        super().__init__()
        self.quiet_s = quiet_s
        self.last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        """True for the first record of a text within `quiet_s` (traceback dropped)."""
        if record.levelno < logging.WARNING:
            return True
        text = record.getMessage()
        now = record.created
        if now - self.last.get(text, -self.quiet_s) < self.quiet_s:
            return False
        self.last[text] = now
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            record.msg, record.args = f"{text} ({type(error).__name__}: {error})", None
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


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


DEFAULT_VISIBILITY_TIMEOUT_S = 60


def visibility_timeout_s(env: dict[str, str] | None = None) -> int:
    """`BENCH_CELERY_VISIBILITY_TIMEOUT_S` (seconds, default 60): when an unacked task is redelivered."""
    raw = (os.environ if env is None else env).get("BENCH_CELERY_VISIBILITY_TIMEOUT_S", "").strip()
    if not raw:
        return DEFAULT_VISIBILITY_TIMEOUT_S
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"BENCH_CELERY_VISIBILITY_TIMEOUT_S must be a whole number of seconds > 0: {raw!r}")
    return int(raw)


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
        broker_connection_retry=True,
        broker_connection_max_retries=None,
        # kombu's Redis transport with an atomic fetch (celery_transport.py: BRPOP can lose a message).
        broker_transport="bench_service.celery_transport:ReliableTransport",
        broker_transport_options={"visibility_timeout": visibility_timeout_s(), "priority_steps": [0],
                                  "unacked_restore_interval": 1, "unacked_restore_throttle": 1},
        result_backend_always_retry=True,
        result_backend_base_sleep_between_retries_ms=50,
        result_backend_max_sleep_between_retries_ms=2000,
        task_acks_late=True,
        # The solo pool runs a task inside the event loop, so none is running when the loss is
        # seen; with threads, a task whose ack can no longer be sent is redelivered anyway.
        worker_cancel_long_running_tasks_on_connection_loss=True,
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
    quiet = OnePerOutage()
    for name in RETRY_LOGGERS:
        logging.getLogger(name).addFilter(quiet)
    app.worker_main(argv)
