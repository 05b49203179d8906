"""The command line: usage errors that say how to fix them, and a taken port."""

from __future__ import annotations

import socket
import subprocess

import pytest

from tests.support import SERVICE_DIR, service_argv


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(service_argv(*args), cwd=SERVICE_DIR, capture_output=True, text=True,
                          timeout=60, env=full_env)


@pytest.mark.parametrize(("args", "hint"), [
    (("http",), "--port"),
    (("redis", "--queue", "q"), "--redis-url"),
    (("celery", "--redis-url", "redis://127.0.0.1:1/0"), "--queue"),
    (("zmq", "--port", "1", "--workers", "0"), "positive integer"),
])
def test_usage_errors_say_how_to_fix(args: tuple[str, ...], hint: str) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert hint in result.stderr


def test_bad_extra_work_setting_is_a_usage_error() -> None:
    result = run("zmq", "--port", "1", env={"BENCH_EXTRA_WORK_US": "lots"})
    assert result.returncode == 2 and "BENCH_EXTRA_WORK_US" in result.stderr


@pytest.mark.parametrize("transport", ["http", "zmq", "grpc"])
def test_taken_port_is_reported(transport: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(transport, "--port", str(port))
    assert result.returncode != 0
    assert "in use" in result.stderr
