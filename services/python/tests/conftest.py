"""Fixtures: a real redis-server on a free port, and the built gRPC stubs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support import REPO, SERVICE_DIR, free_port, started, wait_until


@pytest.fixture(scope="session", autouse=True)
def grpc_stubs() -> None:
    """Generate bench_service/_pb the way the manifest's build step does, if missing."""
    out = SERVICE_DIR / "bench_service" / "_pb"
    if (out / "bench_pb2.py").exists():
        return
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{REPO / 'contract'}",
                    f"--python_out={out}", f"--pyi_out={out}", str(REPO / "contract" / "bench.proto")],
                   check=True)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private redis-server on a free port for the whole session."""
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail("redis-server is not on PATH; install it (apt-get install redis-server)")
    port = free_port()
    workdir: Path = tmp_path_factory.mktemp("redis")
    log = workdir / "redis.log"
    argv = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(workdir)]
    with started(argv, log) as proc:
        client = redis.Redis(port=port)
        wait_until(lambda: bool(client.ping()), "redis-server", proc, log=log)
        client.close()
        yield f"redis://127.0.0.1:{port}/0"
