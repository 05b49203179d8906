"""The Locust fork server (harness/processes/zygote.py): real Locust processes forked from it."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.processes.forkserver import ForkServer, parse_cores
from harness.processes.supervisor import stop_group

SLEEPY = '''
import os
from collections.abc import Iterator
from pathlib import Path

from locust import User, constant, task

Path("env.txt").write_text(os.environ.get("BENCH_FORKSERVER_TEST", "unset"))


class Sleepy(User):
    wait_time = constant(0.2)

    @task
    def nothing(self) -> None:
        pass
'''


@pytest.fixture()
def server() -> Iterator[ForkServer]:
    s = ForkServer()
    yield s
    s.close()


def test_a_forked_locust_is_locust_with_its_exit_code_and_log(server: ForkServer, tmp_path: Path) -> None:
    log = tmp_path / "version.log"
    child = server.spawn(["--version"], log, tmp_path, dict(os.environ), None)
    assert child.wait(timeout=30) == 0
    assert "locust 2." in log.read_text()
    # no locustfile: Locust's own error and its exit code (as `python -m locust` gives), and the server serves on
    bad = server.spawn(["-f", "missing.py"], tmp_path / "bad.log", tmp_path, dict(os.environ), None)
    assert bad.wait(timeout=30) == 1
    assert "missing.py" in (tmp_path / "bad.log").read_text()
    assert server.spawn(["--version"], tmp_path / "again.log", tmp_path, dict(os.environ), None).wait(timeout=30) == 0


def test_a_forked_child_has_its_session_cores_cwd_and_environment(server: ForkServer, tmp_path: Path) -> None:
    (tmp_path / "sleepy.py").write_text(SLEEPY)
    env = {**os.environ, "BENCH_FORKSERVER_TEST": "yes"}
    child = server.spawn(["-f", "sleepy.py", "--headless", "-u", "1", "-r", "1", "-t", "60s"], tmp_path / "s.log",
                         tmp_path, env, "0")
    try:
        time.sleep(1.0)
        assert child.poll() is None
        assert os.getsid(child.pid) == child.pid and os.getpgid(child.pid) == child.pid
        assert os.sched_getaffinity(child.pid) == {0}
        assert os.readlink(f"/proc/{child.pid}/cwd") == str(tmp_path)
        assert (tmp_path / "env.txt").read_text() == "yes"  # written by the locustfile, in the child
    finally:
        stop_group(child, grace_s=5)
    assert child.poll() is not None  # stopped by its process group, its exit seen through the server


def test_a_closed_server_ends(tmp_path: Path) -> None:
    s = ForkServer()
    s.spawn(["--version"], tmp_path / "v.log", tmp_path, dict(os.environ), None).wait(timeout=30)
    proc = s.proc
    assert proc is not None
    s.close()
    assert proc.poll() is not None


def test_cores_in_taskset_syntax() -> None:
    assert parse_cores("0") == {0}
    assert parse_cores("0-2,5") == {0, 1, 2, 5}
    with pytest.raises(ValueError):
        parse_cores(" , ")


def test_a_child_forked_after_a_pause_keeps_time(server: ForkServer, tmp_path: Path) -> None:
    """gevent's loop caches its clock: a child forked from a server idle for a while must not
    fire its timers early (a Locust `-t 3s` run must last about 3 s, not end at once)."""
    server.spawn(["--version"], tmp_path / "v.log", tmp_path, dict(os.environ), None).wait(timeout=30)
    time.sleep(4.0)  # the server idles: its loop's clock goes stale
    (tmp_path / "sleepy.py").write_text(SLEEPY)
    t0 = time.monotonic()
    child = server.spawn(["-f", "sleepy.py", "--headless", "-u", "1", "-r", "1", "-t", "3s"], tmp_path / "s.log",
                         tmp_path, dict(os.environ), None)
    child.wait(timeout=60)
    assert time.monotonic() - t0 >= 2.9
