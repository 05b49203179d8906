"""Beyond one machine, on one machine: a service in one network namespace (a "host"), the
harness with a master and two workers in another, joined by a veth pair. The service is
described in a hosts file, so the harness does not start it; it checks its health only."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import REPO


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)


@pytest.fixture
def two_hosts() -> Iterator[tuple[str, str, str]]:
    """(service namespace, load namespace, service address); skipped where namespaces cannot be made."""
    if shutil.which("ip") is None:
        pytest.skip("iproute2's `ip` is not installed (Debian package iproute2)")
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root (ip netns add)")
    n = os.getpid() % 200 + 20
    svc, load, a, b = f"ib-svc-{n}", f"ib-load-{n}", f"ibv{n}s", f"ibv{n}l"
    made = _ip("netns", "add", svc)
    if made.returncode != 0:
        pytest.skip(f"cannot create a network namespace here: {made.stderr.strip()}")
    try:
        steps = [("netns", "add", load), ("link", "add", a, "type", "veth", "peer", "name", b),
                 ("link", "set", a, "netns", svc), ("link", "set", b, "netns", load),
                 ("-n", svc, "addr", "add", f"10.231.{n}.1/24", "dev", a),
                 ("-n", load, "addr", "add", f"10.231.{n}.2/24", "dev", b),
                 ("-n", svc, "link", "set", a, "up"), ("-n", load, "link", "set", b, "up"),
                 ("-n", svc, "link", "set", "lo", "up"), ("-n", load, "link", "set", "lo", "up")]
        for step in steps:
            r = _ip(*step)
            if r.returncode != 0:
                pytest.skip(f"cannot wire the test hosts (ip {' '.join(step)}): {r.stderr.strip()}")
        yield svc, load, f"10.231.{n}.1"
    finally:
        for ns in (svc, load):
            pids = _ip("netns", "pids", ns).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), 9)
                except ProcessLookupError:
                    pass
            _ip("netns", "del", ns)


def test_service_on_one_host_workers_on_another(two_hosts: tuple[str, str, str], tmp_path: Path) -> None:
    svc_ns, load_ns, addr = two_hosts
    log = open(tmp_path / "service.log", "w")
    service = subprocess.Popen(["ip", "netns", "exec", svc_ns, sys.executable, "-m", "bench_service", "http",
                                "--host", addr, "--port", "8080"], cwd=REPO / "services" / "python",
                               stdout=log, stderr=subprocess.STDOUT)
    hosts = tmp_path / "hosts.toml"
    hosts.write_text(f'[[endpoint]]\nservice = "python"\ntransport = "http"\nhost = "{addr}"\nport = 8080\n')
    out = tmp_path / "run"
    try:
        proc = subprocess.run(["ip", "netns", "exec", load_ns, sys.executable, "-m", "harness", "bench",
                               "--scenario", str(REPO / "tests" / "scenarios" / "tiny.toml"), "-t", "http",
                               "--hosts", str(hosts), "--workers", "2", "--out", str(out)],
                              cwd=REPO, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        doc = json.loads((out / "cells.json").read_text())
        health = doc["external"]["python/http"]["health"]
        assert health["language"] == "Python" and health["runtime"]
        for c in doc["cells"]:
            assert c["status"] == "ok", c
            assert c["requests"] > 0 and len(c["workers"]) == 2
            assert c["cpu"]["service_us_per_req"] is None  # measured on the other host, not here
    finally:
        service.kill()
        service.wait(timeout=10)
        log.close()
    time.sleep(0.1)
