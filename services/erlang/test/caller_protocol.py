"""The Erlang caller's side of Locust's master/worker channel, against a real ZeroMQ ROUTER
(pyzmq) speaking Locust's own messages (`locust.rpc.protocol.Message`):

- the first message is `client_ready` with Locust's version, from a DEALER whose identity is
  the node id `<hostname>_<32 hex>`; after `ack`, `bench_hello` every 0.5 s until `bench_config`;
- heartbeats every second with the worker's state;
- `quit` exits 0; a `bench_config` of another protocol is refused with `exception` and a
  non-zero exit; a master that goes silent makes the worker exit non-zero after
  BENCH_MASTER_TIMEOUT_S; a master that dies (its socket closed) too: no orphan beam.smp.

The full test (spawn, stop, bench_results through the real Locust master) is the harness's
tests/test_callers.py, parametrised over every manifest caller.

Run: .venv/bin/python services/erlang/test/caller_protocol.py  (exit status 0 when all pass).
"""
from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator

import psutil
import zmq
from locust.rpc.protocol import Message
from support import SERVICE, Checks, free_port

check = Checks()


@contextlib.contextmanager
def caller(port: int, timeout_s: float = 2.0) -> Iterator[subprocess.Popen]:
    """The caller as the harness starts it, killed at the end if it is still running."""
    env = {**os.environ, "BENCH_MASTER_TIMEOUT_S": str(timeout_s)}
    proc = subprocess.Popen([str(SERVICE / "bin" / "bench-erlang"), "caller", "--master-host", "127.0.0.1",
                             "--master-port", str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


@contextlib.contextmanager
def master(port: int) -> Iterator[zmq.Socket]:
    """A ROUTER bound where the Locust master would be."""
    s = zmq.Context.instance().socket(zmq.ROUTER)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVTIMEO, 5000)
    s.bind(f"tcp://127.0.0.1:{port}")
    try:
        yield s
    finally:
        s.close()


def recv(s: zmq.Socket) -> tuple[bytes, Message]:
    ident, frame = s.recv_multipart()
    return ident, Message.unserialize(frame)


def send(s: zmq.Socket, ident: bytes, type_: str, data: object) -> None:
    s.send_multipart([ident, Message(type_, data, "master").serialize()])


def until(s: zmq.Socket, type_: str, limit: int = 20) -> tuple[bytes, Message]:
    for _ in range(limit):
        ident, msg = recv(s)
        if msg.type == type_:
            return ident, msg
    raise AssertionError(f"no {type_} in {limit} messages")


def handshake_and_quit() -> None:
    port = free_port()
    with caller(port, timeout_s=10.0) as proc:  # before the master binds: the worker retries like a DEALER
        time.sleep(0.5)
        with master(port) as m:
            ident, msg = recv(m)
            check(msg.type == "client_ready" and msg.data == "2.47.0", f"first message {msg.type} {msg.data!r}")
            check(re.fullmatch(r".+_[0-9a-f]{32}", msg.node_id) is not None, f"node id {msg.node_id}")
            check(ident == msg.node_id.encode(), "the DEALER's identity is the node id")
            send(m, ident, "ack", {"index": 0})
            hellos = []
            t0 = time.monotonic()
            while len(hellos) < 3:
                _, msg = recv(m)
                if msg.type == "bench_hello":
                    hellos.append(time.monotonic())
                    check(msg.data == {"protocol": 1, "caller": "erlang", "pid": proc.pid}, f"hello {msg.data}")
            check(0.8 < hellos[-1] - hellos[0] < 1.6, f"hello every 0.5 s: {hellos[-1] - hellos[0]:.2f} s for 3")
            _, hb = until(m, "heartbeat")
            check(hb.data["state"] == "ready" and isinstance(hb.data["current_memory_usage"], int),
                  f"heartbeat {hb.data}")
            send(m, ident, "heartbeat", None)
            # current_cpu_usage: the node's CPU since the last heartbeat, percent of one core,
            # as psutil (Locust's own worker) measures it over the same second
            ps = psutil.Process(proc.pid)
            ps.cpu_percent()
            _, hb2 = until(m, "heartbeat")
            theirs = ps.cpu_percent()
            send(m, ident, "heartbeat", None)
            cpu = hb2.data["current_cpu_usage"]
            check(isinstance(cpu, float) and 0.0 <= cpu <= 100.0 * os.cpu_count()
                  and abs(cpu - theirs) < 25.0, f"heartbeat cpu {cpu} against psutil's {theirs}")
            send(m, ident, "quit", None)
            code = proc.wait(timeout=10)
            check(code == 0, f"quit exits 0, got {code}")
            check(time.monotonic() - t0 < 10, "quit is prompt")


def refuses_another_protocol() -> None:
    port = free_port()
    with master(port) as m, caller(port) as proc:
        ident, _ = until(m, "client_ready")
        send(m, ident, "ack", {"index": 0})
        until(m, "bench_hello")
        send(m, ident, "bench_config", {"protocol": 99})
        _, exc = until(m, "exception")
        check("99" in exc.data["msg"] and "1" in exc.data["msg"], f"exception names both versions: {exc.data}")
        code = proc.wait(timeout=10)
        check(code != 0, f"refusing a config exits non-zero, got {code}")


def silent_master() -> None:
    port = free_port()
    with master(port) as m, caller(port, timeout_s=2.0) as proc:
        ident, _ = until(m, "client_ready")
        send(m, ident, "ack", {"index": 0})
        t0 = time.monotonic()
        code = proc.wait(timeout=15)
        waited = time.monotonic() - t0
        check(code != 0, f"a silent master: non-zero exit, got {code}")
        check(1.5 < waited < 5.0, f"exits after BENCH_MASTER_TIMEOUT_S=2: {waited:.1f} s")
        check("no word from the Locust master" in proc.stderr.read(), "says why on stderr")


def dead_master() -> None:
    port = free_port()
    with caller(port, timeout_s=2.0) as proc:
        with master(port) as m:
            until(m, "client_ready")
        # the master's process is gone: its socket closed
        code = proc.wait(timeout=10)
        check(code != 0, f"a dead master: non-zero exit, got {code}")
        check("lost the Locust master" in proc.stderr.read(), "says it lost the master")


def main() -> int:
    handshake_and_quit()
    refuses_another_protocol()
    silent_master()
    dead_master()
    print(f"caller_protocol: {check.count} checks, {len(check.failures)} failures")
    return 1 if check.failures else 0


if __name__ == "__main__":
    sys.exit(main())
