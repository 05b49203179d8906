"""Shared fixtures: a real redis-server and a supervisor for real service processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.contract.manifest import Service, discover
from harness.processes.supervisor import RedisServer, Supervisor, start_redis


@pytest.fixture(scope="session")
def python_service() -> Service:
    """The Python service's manifest (the reference implementation of the contract)."""
    return discover()["python"]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A private redis-server on a free port, stopped at the end of the session."""
    server = start_redis(tmp_path_factory.mktemp("redis"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def supervisor(tmp_path: Path) -> Iterator[Supervisor]:
    """A supervisor whose every process is stopped when the test ends."""
    sup = Supervisor(tmp_path / "logs", extra_env={"BENCH_TEST_HOOKS": "1"})
    try:
        yield sup
    finally:
        sup.close()


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run of tests/scenarios/tiny.toml (Python over http and zmq), with its report."""
    import subprocess
    import sys

    from harness import REPO

    out = tmp_path_factory.mktemp("run") / "tiny"
    proc = subprocess.run([sys.executable, "-m", "harness", "bench", "--scenario",
                           str(REPO / "tests" / "scenarios" / "tiny.toml"), "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"report: {out / 'index.html'}" in proc.stdout
    return out
