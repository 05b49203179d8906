"""Helpers for the service's tests: free ports, vectors, real processes polled against deadlines."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SERVICE_DIR = Path(__file__).resolve().parent.parent
REPO = SERVICE_DIR.parent.parent
VECTORS = REPO / "contract" / "vectors"


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def load_vectors(kind: str) -> list[dict[str, Any]]:
    """The vectors of `contract/vectors/<kind>.json`."""
    doc = json.loads((VECTORS / f"{kind}.json").read_text())
    assert doc["version"] == 1
    vectors: list[dict[str, Any]] = doc["vectors"]
    return vectors


def body_of(vector: dict[str, Any]) -> bytes:
    """Decode a vector's segment list into bytes."""
    return b"".join(base64.b64decode(seg) * count for seg, count in vector["body"])


def diff_body(vector: dict[str, Any]) -> bytes:
    """The request body of a diff vector (with its extra keys)."""
    doc: dict[str, Any] = {"a": vector["a"], "b": vector["b"]}
    doc.update(vector.get("extra", {}))
    return json.dumps(doc).encode()


def wait_until(check: Callable[[], bool], what: str, proc: subprocess.Popen[bytes] | None = None,
               timeout: float = 20.0, log: Path | None = None) -> None:
    """Poll `check` until it returns True; fail if the deadline passes or `proc` exits."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            text = log.read_text() if log else ""
            raise AssertionError(f"{what}: process exited with {proc.returncode}\n{text}")
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
    text = log.read_text() if log else ""
    raise AssertionError(f"{what}: not ready after {timeout}s\n{text}")


def stop(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> int:
    """SIGTERM the process, wait, SIGKILL its group if it does not exit; returns its exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise AssertionError("process did not exit on SIGTERM") from None
    return proc.returncode


@contextmanager
def started(argv: list[str], log: Path,
            env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """Run argv in its own session, output to `log`; stop it at the end."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=SERVICE_DIR,
                                env=full_env, start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            try:
                stop(proc)
            except AssertionError:
                pass


def service_argv(transport: str, *args: str) -> list[str]:
    """The command line of the service for `transport`."""
    return [sys.executable, "-m", "bench_service", transport, *args]
