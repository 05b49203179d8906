"""The Celery transport: a real worker process and a plain Celery client."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from celery.exceptions import NotRegistered

from tests.support import body_of, load_vectors, service_argv, started, stop, wait_until


@pytest.fixture(scope="module")
def client(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Celery, str]]:
    queue = f"bench.test.{uuid.uuid4().hex[:8]}"
    log: Path = tmp_path_factory.mktemp("celery") / "service.log"
    app = Celery("bench-test-client", broker=redis_url, backend=redis_url, set_as_current=False)
    app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"],
                    result_accept_content=["json"])
    argv = service_argv("celery", "--redis-url", redis_url, "--queue", queue)
    with started(argv, log, {"BENCH_TEST_HOOKS": "1"}) as proc:
        def ready() -> bool:
            result = app.send_task("bench.health", queue=queue).get(timeout=1)
            return bool(result["language"] == "Python")

        wait_until(ready, "celery worker", proc, timeout=60, log=log)
        yield app, queue
        assert stop(proc) == 0, log.read_text()
    app.close()


def call(client: tuple[Celery, str], name: str, *args: Any) -> Any:
    app, queue = client
    return app.send_task(name, args=list(args), queue=queue).get(timeout=30)


def test_diff_vectors(client: tuple[Celery, str]) -> None:
    for vector in load_vectors("diff"):
        assert call(client, "bench.diff", vector["a"], vector["b"]) == vector["opcodes"], vector["name"]


def test_echo_text(client: tuple[Celery, str]) -> None:
    for vector in load_vectors("echo"):
        try:
            text = body_of(vector).decode("utf-8")
        except UnicodeDecodeError:
            continue  # celery's echo carries text
        assert call(client, "bench.echo", text) == text, vector["name"]


def error_of(client: tuple[Celery, str], name: str, *args: Any) -> str:
    with pytest.raises(ValueError) as e:
        call(client, name, *args)
    message = str(e.value)
    assert call(client, "bench.echo", "next") == "next"
    return message


def test_error_vectors(client: tuple[Celery, str]) -> None:
    for vector in load_vectors("errors"):
        if vector["layer"] not in ("args", "any") or vector["op"] not in ("diff", "echo"):
            continue
        if vector["op"] == "echo":
            message = error_of(client, "bench.echo", body_of(vector).decode())
        else:
            doc = json.loads(body_of(vector))
            message = error_of(client, "bench.diff", doc["a"], doc["b"])
        assert message.startswith(f"{vector['error']}: "), (vector["name"], message)


def test_failure_is_a_builtins_value_error(client: tuple[Celery, str]) -> None:
    app, queue = client
    result = app.send_task("bench.diff", args=[[], None], queue=queue)
    with pytest.raises(ValueError):
        result.get(timeout=30)
    meta = app.backend.get_task_meta(result.id)
    assert meta["status"] == "FAILURE"
    raw = app.backend.get(app.backend.get_key_for_task(result.id))
    stored = json.loads(raw)["result"]
    assert stored["exc_type"] == "ValueError" and stored["exc_module"] == "builtins"
    assert stored["exc_message"][0].startswith("bad_request: ")


def test_wrong_arguments_are_bad_request(client: tuple[Celery, str]) -> None:
    assert error_of(client, "bench.diff", ["x"]).startswith("bad_request: ")
    assert error_of(client, "bench.echo", 42).startswith("bad_request: ")
    assert error_of(client, "bench.diff", ["\ud800"], []).startswith("bad_request: ")


def test_unregistered_task_fails_instead_of_hanging(client: tuple[Celery, str]) -> None:
    app, queue = client
    with pytest.raises(NotRegistered):
        app.send_task("bench.nonexistent", queue=queue).get(timeout=5)
    assert call(client, "bench.echo", "next") == "next"


def test_broker_restart_settings() -> None:
    """Regression: acks were early, so a task whose result store met a broker restart was lost."""
    from bench_service.celery_app import create_app
    from bench_service.ops import Service

    conf = create_app(Service(), "redis://127.0.0.1:1/0", "bench.test").conf
    assert conf.task_acks_late is True
    assert conf.result_backend_always_retry is True
    assert conf.broker_connection_retry is True and conf.broker_connection_max_retries is None
    assert conf.broker_transport_options["visibility_timeout"] == 60
    # the atomic fetch (celery_transport.py) serves one queue without priority lists
    assert conf.broker_transport == "bench_service.celery_transport:ReliableTransport"
    assert conf.broker_transport_options["priority_steps"] == [0]


def test_visibility_timeout_setting() -> None:
    from bench_service.celery_app import visibility_timeout_s

    assert visibility_timeout_s({}) == 60
    assert visibility_timeout_s({"BENCH_CELERY_VISIBILITY_TIMEOUT_S": "5"}) == 5
    for bad in ("0", "-1", "1.5", "soon"):
        with pytest.raises(ValueError, match="BENCH_CELERY_VISIBILITY_TIMEOUT_S"):
            visibility_timeout_s({"BENCH_CELERY_VISIBILITY_TIMEOUT_S": bad})


def test_outage_warnings_are_not_a_flood() -> None:
    import logging

    from bench_service.celery_app import OnePerOutage

    quiet = OnePerOutage(quiet_s=30)

    def record(at: float, text: str) -> logging.LogRecord:
        try:
            raise ConnectionError("refused")
        except ConnectionError:
            import sys

            r = logging.LogRecord("celery.backends.base", logging.WARNING, __file__, 1, text, None,
                                  sys.exc_info())
        r.created = at
        return r

    first = record(0.0, "Failed operation _store_result. Retrying inf more times.")
    assert quiet.filter(first) and first.exc_info is None and "ConnectionError: refused" in first.getMessage()
    assert not quiet.filter(record(1.0, "Failed operation _store_result. Retrying inf more times."))
    assert quiet.filter(record(2.0, "another text"))
    assert quiet.filter(record(31.0, "Failed operation _store_result. Retrying inf more times."))
