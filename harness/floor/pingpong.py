"""The loopback round trip of a raw socket ping-pong: the floor under every transport.

A TCP echo server pinned to the services' cores and a client pinned to the load generator's
cores exchange 64-byte messages one at a time; no protocol, no Python objects beyond bytes.
"""

from __future__ import annotations

import functools
import json
import socket
import sys
import time
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.processes.supervisor import free_port, spawn, wait_ready

ROUNDS = 20_000
SIZE = 64


def server(port: int) -> None:
    """Echo whatever arrives, one connection at a time, until killed."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(8)
    while True:
        conn, _ = ls.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)


def client(port: int, rounds: int) -> dict[str, Any]:
    """`rounds` ping-pongs of SIZE bytes; latency summary in µs."""
    from harness.results.stats import new_histogram, record, summarize

    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    msg = b"p" * SIZE
    h = new_histogram()
    for i in range(rounds + 1000):
        t0 = time.perf_counter_ns()
        s.sendall(msg)
        got = 0
        while got < SIZE:
            got += len(s.recv(SIZE - got))
        if i >= 1000:  # the first thousand warm the path up
            record(h, (time.perf_counter_ns() - t0) / 1000.0)
    s.close()
    return {"rounds": rounds, "size": SIZE, "latency_us": summarize(h)}


def _connectable(port: int) -> bool:
    socket.create_connection(("127.0.0.1", port), timeout=1).close()
    return True


def run_pingpong(placement: dict[str, str], log_dir: Path, rounds: int = ROUNDS) -> dict[str, Any]:
    """Run server and client with the scenario's placement; return the client's summary."""
    port = free_port()
    srv = spawn("pingpong-server", [sys.executable, "-m", "harness.floor.pingpong", "server", str(port)],
                log_dir / "pingpong-server.log", cores=placement.get("services"))
    try:
        wait_ready(srv, functools.partial(_connectable, port), 10)
        cli = spawn("pingpong-client", [sys.executable, "-m", "harness.floor.pingpong", "client", str(port),
                                        str(rounds)], log_dir / "pingpong-client.log", cores=placement.get("loadgen"))
        code = cli.popen.wait(timeout=120)
        lines = [ln for ln in cli.log_path.read_text().splitlines() if ln.startswith("{")]
        if code != 0 or not lines:
            raise HarnessError(f"ping-pong client failed (exit {code}): {cli.log_tail(5)}")
        result: dict[str, Any] = json.loads(lines[-1])
        result["placement"] = {"client": placement.get("loadgen"), "server": placement.get("services")}
        return result
    finally:
        srv.stop()


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(int(sys.argv[2]))
    else:
        print(json.dumps(client(int(sys.argv[2]), int(sys.argv[3]))), flush=True)
