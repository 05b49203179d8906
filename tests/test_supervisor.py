"""The supervisor: process groups, readiness, early exits, no orphans."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import psutil
import pytest

from harness.errors import ServiceStartError
from harness.processes.supervisor import RedisServer, free_port, spawn, tree_cpu_seconds, wait_ready


def test_free_port_is_bindable() -> None:
    import socket

    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_stop_kills_the_whole_group(tmp_path: Path) -> None:
    # A shell that starts a child which ignores SIGTERM: the group must still be gone after stop().
    script = "trap '' TERM; sleep 300 & sleep 300"
    proc = spawn("group", ["/bin/sh", "-c", script], tmp_path / "g.log")
    deadline = time.monotonic() + 5
    while len(psutil.Process(proc.pid).children(recursive=True)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    members = [proc.pid] + [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
    assert len(members) >= 3
    proc.stop(grace_s=0.5)
    time.sleep(0.1)
    alive = [p for p in members if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert alive == []


def test_early_exit_is_reported_with_the_log(tmp_path: Path) -> None:
    proc = spawn("crasher", [sys.executable, "-c", "import sys; print('cannot bind: boom'); sys.exit(3)"],
                 tmp_path / "c.log")
    with pytest.raises(ServiceStartError) as e:
        wait_ready(proc, lambda: False, timeout_s=10)
    assert "exited with code 3" in str(e.value)
    assert "cannot bind: boom" in str(e.value)


def test_readiness_deadline(tmp_path: Path) -> None:
    proc = spawn("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "s.log")
    t0 = time.monotonic()
    with pytest.raises(ServiceStartError, match="not ready after"):
        wait_ready(proc, lambda: False, timeout_s=0.5)
    assert time.monotonic() - t0 < 5
    assert not proc.alive()


def test_cpu_accounting_counts_children(tmp_path: Path) -> None:
    busy = "import time\nt=time.process_time()\nwhile time.process_time()-t<0.3: pass\ntime.sleep(30)"
    proc = spawn("busy", ["/bin/sh", "-c", f"{sys.executable} -c '{busy}' & wait"], tmp_path / "b.log")
    try:
        deadline = time.monotonic() + 10
        while tree_cpu_seconds(proc.pid) < 0.25 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert tree_cpu_seconds(proc.pid) >= 0.25
    finally:
        proc.stop()


def test_cpu_accounting_keeps_the_time_of_exited_threads(tmp_path: Path) -> None:
    """A server with a thread per connection: what its finished threads used still counts."""
    script = tmp_path / "threads.py"
    script.write_text("import threading, time\n"
                      "def spin():\n    t = time.thread_time()\n    while time.thread_time() - t < 0.2: pass\n"
                      "for _ in range(5):\n    th = threading.Thread(target=spin); th.start(); th.join()\n"
                      "print('done', flush=True)\ntime.sleep(30)\n")
    proc = spawn("threads", [sys.executable, str(script)], tmp_path / "t.log")
    try:
        deadline = time.monotonic() + 20
        while "done" not in proc.log_tail() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "done" in proc.log_tail()
        cpu = tree_cpu_seconds(proc.pid)
        assert 0.95 <= cpu < 3.0, cpu  # five exited threads of 0.2 s each, and the interpreter's start
    finally:
        proc.stop()


def test_private_redis_has_no_persistence(redis_server: RedisServer) -> None:
    import redis

    r = redis.Redis.from_url(redis_server.url)
    assert r.config_get("save")["save"] == ""
    assert r.config_get("appendonly")["appendonly"] == "no"
    assert r.config_get("bind")["bind"] == "127.0.0.1"
