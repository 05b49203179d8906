"""Faults: a queue worker killed under load, a service dying mid-run, the harness interrupted,
hung services, and what listens where. Every test uses real processes and a real redis-server."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import redis as redis_lib
from helpers import assert_all_gone

from harness import REPO
from harness.clients.redisq import RedisQueueClient
from harness.contract.endpoint import Endpoint
from harness.contract.manifest import discover
from harness.errors import ClientError
from harness.processes.supervisor import RedisServer, Supervisor, free_port, process_tree, spawn

QUEUE_SERVICES = [name for name, svc in discover().items() if "redis" in svc.commands and not svc.missing_programs()]


@pytest.mark.parametrize("service", QUEUE_SERVICES)
def test_queue_worker_killed_under_load_loses_nothing(service: str, tmp_path: Path) -> None:
    """kill -9 a queue worker mid-load, start another: every request id is answered, none stays in processing."""
    svc = discover()[service]
    with Supervisor(tmp_path / "logs") as sup:
        proc, ep = sup.start(svc, "redis")
        answered: dict[str, int] = {}
        duplicates = [0]
        errors: list[str] = []
        per_client, clients = 150, 4
        lock = threading.Lock()

        def client(k: int) -> None:
            c = RedisQueueClient(ep.redis_url, ep.queue, timeout_s=60)
            try:
                for i in range(per_client):
                    body = f"client {k} request {i}".encode()
                    try:
                        r = c.call("echo", body)
                    except ClientError as e:
                        errors.append(str(e))
                        continue
                    with lock:
                        if r.ok and r.body == body:
                            answered[body.decode()] = answered.get(body.decode(), 0) + 1
                        else:
                            errors.append(f"wrong reply {r}")
                with lock:
                    duplicates[0] += c.stale_replies
            finally:
                c.close()

        threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
        for t in threads:
            t.start()
        r = redis_lib.Redis.from_url(ep.redis_url)
        deadline = time.monotonic() + 30
        while sum(answered.values()) < per_client and time.monotonic() < deadline:
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)  # mid-load: messages may be in <queue>:processing
        proc.popen.wait(timeout=10)
        left_in_processing = r.llen(f"{ep.queue}:processing")
        sup.procs.remove(proc)
        sup.start(svc, "redis", queue=ep.queue)  # the new worker recovers what the dead one left
        for t in threads:
            t.join(timeout=120)
        assert errors == []
        assert len(answered) == clients * per_client, f"{clients * per_client - len(answered)} requests lost"
        deadline = time.monotonic() + 5
        while r.llen(f"{ep.queue}:processing") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert r.llen(f"{ep.queue}:processing") == 0
        assert r.llen(ep.queue) == 0
        # At-least-once: a reply sent just before the kill and then recovered comes twice; the client counts it.
        print(f"{service}: killed with {left_in_processing} in processing; {duplicates[0]} duplicate replies")


def _bench(scenario: str, out: Path) -> subprocess.Popen[str]:
    with open(out.parent / f"{out.name}.log", "w") as log:
        return subprocess.Popen([sys.executable, "-m", "harness", "bench", "--scenario",
                                 str(REPO / "tests" / "scenarios" / scenario), "--out", str(out)],
                                cwd=REPO, stdout=log, stderr=subprocess.STDOUT, text=True)


def _wait_cells(out: Path, n: int, proc: subprocess.Popen[str], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, (out.parent / f"{out.name}.log").read_text()
        try:
            if len(json.loads((out / "cells.json").read_text())["cells"]) >= n:
                return
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"fewer than {n} cells after {timeout_s} s")


def _descendants(pid: int) -> list[psutil.Process]:
    return process_tree(pid)[1:]


def test_service_death_mid_run_fails_its_cell_and_the_run_goes_on(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = _bench("tiny.toml", out)
    _wait_cells(out, 1, proc)
    victims = [p for p in _descendants(proc.pid) if "bench_service" in " ".join(p.cmdline()) and " http " in
               " ".join(p.cmdline()) + " "]
    assert victims, "the http service was not found among the harness's children"
    for v in victims:
        v.kill()
    code = proc.wait(timeout=180)
    assert code == 0
    cells = json.loads((out / "cells.json").read_text())["cells"]
    by = {(c["transport"], c["payload"]): c for c in cells}
    assert by[("http", "echo-64B")]["status"] == "ok"  # earlier cells stay intact
    dead = by[("http", "diff-200")]
    assert dead["status"] in ("failed", "errors")
    assert "the service died" in dead["reason"] and "python-http.log" in dead["reason"]
    assert by[("zmq", "echo-64B")]["status"] == "ok" and by[("zmq", "diff-200")]["status"] == "ok"
    assert (out / "index.html").exists()


def test_broker_death_mid_run_fails_its_cell_and_the_run_goes_on(tmp_path: Path) -> None:
    """redis-server killed during a queue cell: that cell fails saying so, the next ones run on a new broker."""
    out = tmp_path / "run"
    proc = _bench("tiny-queue.toml", out)
    _wait_cells(out, 1, proc)
    brokers = [p for p in _descendants(proc.pid) if p.name() == "redis-server"]
    assert brokers, "the private redis-server was not found among the harness's children"
    for b in brokers:
        b.kill()
    code = proc.wait(timeout=240)
    assert code == 0, (out.parent / f"{out.name}.log").read_text()
    cells = json.loads((out / "cells.json").read_text())["cells"]
    queue = [c for c in cells if c["transport"] == "redis"]
    assert queue[0]["status"] == "ok"  # the cell finished before the kill stays intact
    assert queue[1]["status"] == "failed" and "redis-server (the broker) died" in queue[1]["reason"], queue[1]
    assert queue[2]["status"] == "ok", queue[2]  # on a new redis-server, with the service started again
    assert "redis-server died; starting a new one" in (out.parent / f"{out.name}.log").read_text()
    assert [c["status"] for c in cells if c["transport"] == "http"] == ["ok", "ok", "ok"]  # the run went on


@pytest.mark.parametrize(("scenario", "sig"), [("tiny.toml", signal.SIGINT), ("tiny.toml", signal.SIGTERM),
                                               ("tiny-java-caller.toml", signal.SIGTERM)])
def test_interrupting_bench_leaves_no_process_and_a_valid_run(tmp_path: Path, scenario: str,
                                                              sig: signal.Signals) -> None:
    out = tmp_path / "run"
    proc = _bench(scenario, out)
    _wait_cells(out, 1, proc)
    if "java" in scenario:  # interrupted in the middle of the Java caller's second cell
        deadline = time.monotonic() + 60
        while not any("java" in " ".join(p.cmdline()) and "caller" in p.cmdline() for p in _descendants(proc.pid)):
            assert time.monotonic() < deadline, "no Java caller process came up"
            time.sleep(0.1)
    family = [p.pid for p in _descendants(proc.pid)]
    assert len(family) >= 2  # a service and a load generator at least (a redis-server for queue transports)
    proc.send_signal(sig)
    proc.wait(timeout=60)
    assert_all_gone(family, timeout_s=10)
    doc = json.loads((out / "cells.json").read_text())
    assert doc["interrupted"] is True and len(doc["cells"]) >= 1
    rep = subprocess.run([sys.executable, "-m", "harness", "report", str(out)], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert rep.returncode == 0, rep.stderr
    assert "This run was interrupted" in (out / "index.html").read_text()


@pytest.fixture
def silent_server(tmp_path: Path) -> Iterator[int]:
    """A TCP listener that accepts and never answers: a hung service."""
    port = free_port()
    code = ("import socket,time\ns=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
            f"s.bind(('127.0.0.1',{port}));s.listen(64)\nc=[]\nwhile True: c.append(s.accept())")
    proc = spawn("silent", [sys.executable, "-c", code], tmp_path / "silent.log")
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    yield port
    proc.stop()


@pytest.mark.parametrize("transport", ["http", "zmq", "grpc"])
def test_a_hung_service_cannot_hang_a_client(silent_server: int, transport: str) -> None:
    from harness.contract.transports import make_client

    client = make_client(Endpoint("silent", transport, "127.0.0.1", silent_server, "", ""), timeout_s=1.0)
    t0 = time.monotonic()
    with pytest.raises(ClientError):
        client.call("echo", b"hello")
    assert time.monotonic() - t0 < 5
    client.close()


@pytest.mark.parametrize("transport", ["redis", "celery"])
def test_a_queue_nobody_serves_cannot_hang_a_client(redis_server: RedisServer, transport: str) -> None:
    from harness.contract.transports import make_client

    ep = Endpoint("nobody", transport, "127.0.0.1", 0, redis_server.url, f"bench.nobody.{time.time_ns()}")
    client = make_client(ep, timeout_s=1.0)
    t0 = time.monotonic()
    with pytest.raises(ClientError):
        client.call("echo", b"hello")
    assert time.monotonic() - t0 < 5
    client.close()


def _loopback(ip: str) -> bool:
    import ipaddress

    addr = ipaddress.ip_address(ip)
    mapped = getattr(addr, "ipv4_mapped", None)
    return addr.is_loopback or (mapped is not None and mapped.is_loopback)


def test_every_listener_is_on_loopback(tmp_path: Path) -> None:
    """`harness up` for every service and transport: nothing listens beyond 127.0.0.1."""
    proc = subprocess.Popen([sys.executable, "-m", "harness", "up"], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("running;"):
                break
        else:
            raise AssertionError("harness up did not start")
        listeners = []
        for p in [psutil.Process(proc.pid), *_descendants(proc.pid)]:
            try:
                listeners += [(p.name(), c.laddr) for c in p.net_connections(kind="inet")
                              if c.status == psutil.CONN_LISTEN]
            except psutil.NoSuchProcess:
                continue
        assert len(listeners) >= 5
        exposed = [(name, addr) for name, addr in listeners if not _loopback(addr.ip)]
        assert exposed == []
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
        if proc.stdout is not None:
            proc.stdout.close()


def _wait_for(probe: Callable[[], Any], timeout_s: float) -> Any:
    """Poll `probe` until it returns something truthy; fail at the deadline."""
    deadline = time.monotonic() + timeout_s
    while not (value := probe()):
        assert time.monotonic() < deadline, f"nothing after {timeout_s} s"
        time.sleep(0.05)
    return value


CELERY_SERVICES = [name for name, svc in discover().items() if "celery" in svc.commands and not svc.missing_programs()]


@pytest.mark.parametrize("service", CELERY_SERVICES)
def test_celery_refuses_pickle(service: str, tmp_path: Path) -> None:
    """A pickled task is never run: it fails with bad_request (CONTRACT.md), and the worker goes on serving JSON."""
    from harness.clients.celery import CeleryClient, celery_app

    svc = discover()[service]
    with Supervisor(tmp_path / "logs") as sup:
        proc, ep = sup.start(svc, "celery")
        app = celery_app(ep.redis_url)
        pickled = app.send_task("bench.echo", args=["pickled"], queue=ep.queue, serializer="pickle")
        client = CeleryClient(ep.redis_url, ep.queue, timeout_s=10)
        assert client.call("echo", b"after pickle").body == b"after pickle"
        stored = _wait_for(lambda: redis_lib.Redis.from_url(ep.redis_url).get(f"celery-task-meta-{pickled.id}"), 10)
        meta = json.loads(stored)
        assert meta["status"] == "FAILURE", meta
        assert meta["result"]["exc_type"] == "ValueError"
        assert meta["result"]["exc_message"][0].startswith("bad_request: "), meta
        assert "pickle" not in str(meta["result"]["exc_message"]).replace("python-serialize", "")  # never ran
        assert proc.alive()
