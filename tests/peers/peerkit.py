"""What the peer suites share: the services to run against, the real tools (installed when
missing, skipped only when they cannot be), a raw HTTP/1.x connection, process-tree RSS, and
latency percentiles of a good client.

Services come from the manifests (harness.contract.manifest.discover), as in tests/test_reliability.py:
one that does not serve a transport is a skipped case with the manifest's reason, so a service
that gains the transport is covered without an edit here.
"""

from __future__ import annotations

import functools
import resource
import shutil
import socket
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from harness import REPO
from harness.contract.endpoint import Endpoint
from harness.contract.manifest import Service, discover
from harness.processes.supervisor import Proc, Supervisor

GO_TOOLS = REPO / ".build" / "bin"


def service_params(transport: str) -> list[object]:
    """One pytest param per discovered service; skipped when it does not serve `transport` or
    lacks a program it requires."""
    params: list[object] = []
    for name, svc in discover().items():
        gap = svc.gap(transport)
        missing = svc.missing_programs()
        if gap is not None:
            params.append(pytest.param(name, marks=pytest.mark.skip(
                reason=f"{name} does not serve {transport}: {gap}")))
        elif missing:
            params.append(pytest.param(name, marks=pytest.mark.skip(
                reason=f"{name} needs {', '.join(missing)}: run `make setup`")))
        else:
            params.append(name)
    return params


@contextmanager
def running(service: str, transport: str, log_dir: Path) -> Iterator[tuple[Proc, Endpoint]]:
    """One transport of one service, started by the Supervisor, stopped on exit."""
    svc: Service = discover()[service]
    with Supervisor(log_dir, extra_env={"BENCH_TEST_HOOKS": "1"}) as sup:
        yield sup.start(svc, transport)


@functools.cache
def _run_script(name: str, timeout_s: float = 900) -> str:
    """Run scripts/<name> once per session; its output, for the skip reason if it did not help."""
    proc = subprocess.run(["bash", str(REPO / "scripts" / name)], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout_s)
    return proc.stdout + proc.stderr


def system_tool(name: str) -> str:
    """Path of a system program (curl, ab, wrk); `make setup`'s script installs it when missing;
    the test is skipped only when that fails too."""
    path = shutil.which(name)
    if path is None:
        output = _run_script("ensure-system.sh")
        path = shutil.which(name)
        if path is None:
            pytest.skip(f"{name} is not installed and scripts/ensure-system.sh could not install it "
                        f"(run `make setup` as root):\n{output[-2000:]}")
    return path


def go_tool(name: str) -> Path:
    """Path of a peer tool built from Go (h2spec, grpcurl) by scripts/ensure-go-tools.sh, which
    is run when it is missing; the test is skipped only when the build fails."""
    path = GO_TOOLS / name
    if not path.exists():
        output = _run_script("ensure-go-tools.sh")
        if not path.exists():
            pytest.skip(f"{name} could not be built: `bash scripts/ensure-go-tools.sh` said:\n{output[-2000:]}")
    return path


def raise_nofile(wanted: int) -> int:
    """Raise this process's open-file limit towards `wanted` (up to the hard limit); the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def p50_ms(call: Callable[[], None], n: int = 200) -> float:
    """Median wall time of `n` sequential calls, in milliseconds."""
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


class RawHttp:
    """One HTTP/1.x connection on a plain socket: send bytes as they are, read responses one by
    one (Content-Length or chunked), and tell whether the server closed the connection."""

    def __init__(self, host: str, port: int, timeout_s: float = 5.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout_s)
        self.buf = bytearray()

    def send(self, data: bytes) -> None:
        """Write the bytes in one sendall (several requests at once are a pipeline)."""
        self.sock.sendall(data)

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"the server closed the connection; unread: {bytes(self.buf[:200])!r}")
        self.buf += chunk

    def _until(self, marker: bytes) -> bytes:
        while (i := self.buf.find(marker)) < 0:
            self._fill()
        out = bytes(self.buf[:i])
        del self.buf[:i + len(marker)]
        return out

    def _exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def response(self) -> tuple[int, dict[str, str], bytes]:
        """The next response: (status, headers lower-cased, body); interim 1xx responses skipped."""
        while True:
            head = self._until(b"\r\n\r\n").decode("latin-1")
            status_line, *lines = head.split("\r\n")
            status = int(status_line.split(" ", 2)[1])
            headers = {}
            for line in lines:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if status >= 200:
                break
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = bytearray()
            while size := int(self._until(b"\r\n").split(b";")[0], 16):
                body += self._exact(size)
                self._exact(2)
            self._until(b"\r\n")
            return status, headers, bytes(body)
        return status, headers, self._exact(int(headers.get("content-length", "0")))

    def closed_by_server(self, within_s: float) -> bool:
        """True when the server closes the connection within `within_s` (nothing more arrives)."""
        self.sock.settimeout(within_s)
        try:
            return not self.buf and self.sock.recv(1) == b""
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True

    def close(self) -> None:
        """Close our end."""
        self.sock.close()
