"""Helpers for the Erlang service's end-to-end tests: free ports, a real redis-server,
the service started as the harness starts it (bin/bench-erlang), the shared vectors."""
from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

SERVICE = Path(__file__).resolve().parent.parent
REPO = SERVICE.parent.parent
VECTORS = REPO / "contract" / "vectors"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def body(segments: list[list]) -> bytes:
    return b"".join(base64.b64decode(seg) * count for seg, count in segments)


def vectors(kind: str) -> list[dict]:
    return json.loads((VECTORS / f"{kind}.json").read_text())["vectors"]


def wait_for(check, deadline_s: float, proc: subprocess.Popen, log: Path) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"not ready after {deadline_s}s:\n{log.read_text()}")


def stop(proc: subprocess.Popen) -> int:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A real redis-server on a free port; yields its URL."""
    import redis

    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "redis.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", tmp],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            client = redis.Redis(port=port)
            wait_for(client.ping, 10, proc, log)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            stop(proc)


@contextlib.contextmanager
def service(transport: str, *args: str, env: dict[str, str] | None = None,
            ready=None) -> Iterator[tuple[int, Path]]:
    """bin/bench-erlang <transport> on a free port; yields (port, log path)."""
    port = free_port()
    full_env = {**os.environ, "BENCH_TEST_HOOKS": "1", **(env or {})}
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "service.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [str(SERVICE / "bin" / "bench-erlang"), transport, "--host", "127.0.0.1",
                 "--port", str(port), *args],
                cwd=SERVICE, env=full_env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        try:
            if ready is not None:
                wait_for(lambda: ready(port), 20, proc, log)
            yield port, log
        finally:
            code = stop(proc)
            if code != 0:
                raise RuntimeError(f"service exited with {code} on SIGTERM:\n{log.read_text()}")


class Checks:
    """A callable `check(cond, what)`: counts checks, keeps the failures (thread-safe), prints each."""

    def __init__(self) -> None:
        self.count = 0
        self.failures: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, cond: bool, what: str) -> None:
        with self._lock:
            self.count += 1
            if not cond:
                self.failures.append(what)
        if not cond:
            print("FAIL:", what, flush=True)


def zmq_healthy(port: int) -> bool:
    """Whether a REQ `health` to the port is answered `ok` within half a second."""
    import zmq

    s = zmq.Context.instance().socket(zmq.REQ)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVTIMEO, 500)
    s.connect(f"tcp://127.0.0.1:{port}")
    try:
        s.send_multipart([b"health", b""])
        return bool(s.recv_multipart()[0] == b"ok")
    except zmq.Again:
        return False
    finally:
        s.close()
