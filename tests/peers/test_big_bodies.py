"""Memory under big bodies: 16 concurrent senders of 16 MiB echoes (exactly the limit: answered),
then 16 of 16 MiB + 1 byte (`too_large`), on every service x transport that carries bytes
(http, zmq, redis, grpc) in the manifests, and one 16 MiB text (and one over) through Celery.

The service's process tree RSS is sampled throughout (psutil, every 20 ms); the service must
stay alive and answer the next small request. The peak is printed (docs/reliability.md keeps the
table) and must stay under PEAK_RSS_BOUND.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.contract.endpoint import Endpoint
from harness.contract.manifest import discover
from harness.contract.transports import make_client
from harness.errors import ClientError
from harness.processes.supervisor import Proc, Supervisor, tree_rss_bytes

LIMIT = 16 * 1024 * 1024
SENDERS = 16
# 16 x 16 MiB is 256 MiB per copy; 3 GiB allows about a dozen copies, far more than any service needs.
PEAK_RSS_BOUND = 3 * 1024**3
CELLS = [(name, t) for name, svc in sorted(discover().items()) if not svc.missing_programs()
         for t in ("http", "zmq", "redis", "grpc") if t in svc.commands]
CELERY = [name for name, svc in sorted(discover().items()) if not svc.missing_programs() and "celery" in svc.commands]


class PeakRss:
    """Samples the RSS of a process tree every 20 ms in a thread; `peak` is the highest seen."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.baseline = tree_rss_bytes(pid)
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, tree_rss_bytes(self.pid))

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def _concurrently(n: int, call: Callable[[int], str | None]) -> list[str]:
    """Run `call(i)` for i < n in n threads; the problems they report."""
    problems: list[str] = []

    def run(i: int) -> None:
        try:
            problem = call(i)
        except Exception as e:  # collected and asserted by the caller
            problem = f"sender {i}: {type(e).__name__}: {e}"
        if problem:
            problems.append(problem)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    return problems


@pytest.fixture
def started(tmp_path: Path) -> Iterator[Callable[[str, str], tuple[Proc, Endpoint]]]:
    """Starts a service's transport (through the Supervisor); all stopped after the test."""
    with Supervisor(tmp_path / "logs") as sup:
        yield lambda service, transport: sup.start(discover()[service], transport)


def _echo_round(ep: Endpoint, body: bytes, expect: str) -> list[str]:
    def one(i: int) -> str | None:
        client = make_client(ep, timeout_s=120, variant="dealer" if ep.transport == "zmq" else "")
        try:
            try:
                reply = client.call("echo", body)
            except ClientError as e:
                return f"sender {i}: {e}"
            if expect == "ok" and not (reply.ok and reply.body == body):
                return f"sender {i}: not echoed ({reply.error or len(reply.body)})"
            if expect == "too_large" and reply.error != "too_large":
                return f"sender {i}: {reply.error or 'ok'} where too_large was due"
            return None
        finally:
            client.close()

    return _concurrently(SENDERS, one)


@pytest.mark.parametrize(("service", "transport"), CELLS)
def test_sixteen_senders_of_sixteen_mib(service: str, transport: str,
                                        started: Callable[[str, str], tuple[Proc, Endpoint]]) -> None:
    proc, ep = started(service, transport)
    at_limit = bytes(range(256)) * (LIMIT // 256)
    over = at_limit + b"!"
    t0 = time.monotonic()
    with PeakRss(proc.pid) as rss:
        problems = _echo_round(ep, at_limit, "ok")
        assert proc.alive(), f"died under 16 x 16 MiB:\n{proc.log_tail(30)}"
        problems += _echo_round(ep, over, "too_large")
        assert proc.alive(), f"died under 16 x (16 MiB + 1):\n{proc.log_tail(30)}"
    assert problems == [], "\n".join(problems[:8])
    client = make_client(ep, timeout_s=10)
    try:
        assert client.call("echo", b"small").body == b"small"
    finally:
        client.close()
    assert rss.peak < PEAK_RSS_BOUND, f"peak RSS {rss.peak / 2**20:.0f} MiB"
    print(f"\n{service}/{transport}: 16 x 16 MiB ok + 16 x (16 MiB + 1) too_large in {time.monotonic() - t0:.1f} s; "
          f"RSS {rss.baseline / 2**20:.0f} MiB -> peak {rss.peak / 2**20:.0f} MiB")


@pytest.mark.parametrize("service", CELERY)
def test_celery_sixteen_mib_text(service: str, started: Callable[[str, str], tuple[Proc, Endpoint]]) -> None:
    """Celery carries text: one 16 MiB text is echoed, one a byte longer is too_large."""
    proc, ep = started(service, "celery")
    text = "abcdefgh" * (LIMIT // 8)
    with PeakRss(proc.pid) as rss:
        client = make_client(ep, timeout_s=120)
        try:
            assert client.call("echo", text.encode()).body == text.encode()
            assert client.call("echo", (text + "!").encode()).error == "too_large"
            assert client.call("echo", b"small").body == b"small"
        finally:
            client.close()
    assert proc.alive()
    assert rss.peak < PEAK_RSS_BOUND, f"peak RSS {rss.peak / 2**20:.0f} MiB"
    print(f"\n{service}/celery: 16 MiB text ok, 16 MiB + 1 too_large; "
          f"RSS {rss.baseline / 2**20:.0f} MiB -> peak {rss.peak / 2**20:.0f} MiB")
