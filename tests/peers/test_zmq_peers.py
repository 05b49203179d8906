"""ZeroMQ peers against every zmq service in the manifests: libzmq (pyzmq) REQ and DEALER
clients, ZMTP 3.1 heartbeats (RFC 37: PING answered with PONG), peers that vanish in the middle
of a message, and a JeroMQ client (services/java's test-scoped `bench.zmq.JeromqPeer`)."""

from __future__ import annotations

import json
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import zmq

from harness import REPO
from harness.clients.zmq import ZmqClient
from harness.contract.endpoint import Endpoint
from harness.contract.manifest import discover
from harness.processes.supervisor import Proc, Supervisor, process_tree
from harness.verify.fuzzgen import zmtp_greeting, zmtp_ready

ZMQ_SERVICES = sorted(name for name, svc in discover().items() if "zmq" in svc.commands and not svc.missing_programs())
JAVA_TARGET = REPO / "services" / "java" / "target"


@pytest.fixture(scope="module", params=ZMQ_SERVICES)
def zmq_service(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        tuple[Proc, Endpoint]]:
    """One zmq service per parameter, shared by this module's tests."""
    with Supervisor(tmp_path_factory.mktemp(f"zmq-{request.param}")) as sup:
        yield sup.start(discover()[request.param], "zmq")


def _wait(what: str, done: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s} s"
        time.sleep(0.02)


def test_libzmq_req_and_dealer_clients(zmq_service: tuple[Proc, Endpoint]) -> None:
    """pyzmq REQ and DEALER: echo (5 B, 1 MiB), diff, health, an unknown op."""
    _, ep = zmq_service
    big = bytes(range(256)) * 4096
    for socket_type in ("req", "dealer"):
        client = ZmqClient(ep.host, ep.port, socket_type=socket_type)
        try:
            assert client.call("echo", b"hello").body == b"hello"
            assert client.call("echo", big).body == big
            diff = client.call("diff", json.dumps({"a": ["x", "y"], "b": ["y"]}).encode())
            assert json.loads(diff.body) == {"opcodes": [["delete", 0, 1, 0, 0], ["equal", 1, 2, 0, 1]]}
            assert json.loads(client.call("health", b"").body)["service"] == ep.service
            assert client.call("frobnicate", b"").error == "unknown_op"
        finally:
            client.close()


def _events(monitor: zmq.Socket[bytes], timeout_ms: int) -> list[int]:
    from zmq.utils.monitor import recv_monitor_message

    seen = []
    while monitor.poll(timeout_ms):
        seen.append(int(recv_monitor_message(monitor)["event"]))
    return seen


HEARTBEAT = {"HEARTBEAT_IVL": 100, "HEARTBEAT_TIMEOUT": 1000, "HEARTBEAT_TTL": 2000}  # ms
IDLE_MS = 2500  # 25 PINGs; a peer that never answers is dropped after 1 s


def _heartbeat_events(port: int) -> list[str]:
    """A libzmq DEALER with heartbeats, idle for IDLE_MS: the monitor events it saw, by name."""
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    try:
        s = ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        for name, value in HEARTBEAT.items():
            s.setsockopt(getattr(zmq, name), value)
        # The monitor first: a handshake done before it is attached would be missed.
        monitor = s.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED)
        s.connect(f"tcp://127.0.0.1:{port}")
        seen = _events(monitor, IDLE_MS)
        s.disable_monitor()
        monitor.close()
        s.close()
        return [zmq.Event(e).name or str(e) for e in seen]
    finally:
        ctx.term()


def test_libzmq_heartbeats_keep_the_connection(zmq_service: tuple[Proc, Endpoint]) -> None:
    """ZMTP 3.1 heartbeats from libzmq (every 100 ms, 1 s timeout): the service answers PING and
    the idle connection stays up for 2.5 s."""
    _, ep = zmq_service
    events = _heartbeat_events(ep.port)
    assert events == ["HANDSHAKE_SUCCEEDED"], f"{events}: libzmq dropped an idle heartbeating connection?"
    client = ZmqClient(ep.host, ep.port, socket_type="dealer")
    try:
        assert client.call("echo", b"after").body == b"after"
    finally:
        client.close()


def test_heartbeat_check_fails_against_a_peer_that_ignores_ping() -> None:
    """The check above can fail: a ZMTP peer that completes the handshake and never answers PING."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    conns: list[socket.socket] = []

    def serve() -> None:
        listener.settimeout(5)
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        conns.append(conn)
        conn.sendall(zmtp_greeting(minor=1)[:32] + b"\x01" + b"\x00" * 31 + zmtp_ready(b"ROUTER"))
        conn.settimeout(5)
        try:
            while conn.recv(4096):  # read and ignore everything, PINGs included
                pass
        except OSError:
            pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        events = _heartbeat_events(port)
        assert events[0] == "HANDSHAKE_SUCCEEDED" and "DISCONNECTED" in events, events
    finally:
        listener.close()
        for c in conns:
            c.close()
        t.join(10)


def _raw_peer(port: int) -> tuple[socket.socket, bytearray]:
    """A raw TCP peer that has sent its greeting and READY and read the service's greeting;
    returns the socket and what it received after that greeting."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(zmtp_greeting(minor=1) + zmtp_ready(b"DEALER"))
    got = bytearray()
    while len(got) < 64:
        chunk = s.recv(4096)
        assert chunk, "the service closed during the handshake"
        got.extend(chunk)
    return s, got[64:]


def _read_frame(s: socket.socket, buf: bytearray) -> tuple[int, bytes]:
    """The next frame's (flags, body), reading as needed; `buf` holds bytes already received."""
    def need(n: int) -> None:
        while len(buf) < n:
            chunk = s.recv(65536)
            assert chunk, "the service closed the connection"
            buf.extend(chunk)

    need(2)
    flags = buf[0]
    if flags & 2:
        need(9)
        size, head = struct.unpack(">Q", bytes(buf[1:9]))[0], 9
    else:
        size, head = buf[1], 2
    need(head + size)
    body = bytes(buf[head:head + size])
    del buf[:head + size]
    return flags, body


def test_ping_is_answered_with_pong_carrying_the_context(zmq_service: tuple[Proc, Endpoint]) -> None:
    """RFC 37: PING (TTL, context) after the handshake is answered by PONG with the same context."""
    _, ep = zmq_service
    s, buf = _raw_peer(ep.port)
    with s:
        flags, body = _read_frame(s, buf)
        assert flags & 4 and body.startswith(b"\x05READY")
        context = b"ctx-42"
        ping = b"\x04PING" + struct.pack(">H", 10) + context
        s.sendall(bytes([0x04, len(ping)]) + ping)
        flags, body = _read_frame(s, buf)
        assert flags & 4, f"a message frame where PONG was due: {body[:40]!r}"
        assert body == b"\x04PONG" + context


def _fds(pid: int) -> int:
    return sum(p.num_fds() for p in process_tree(pid))


FAULTY_PEERS = 60  # of each kind


def test_peers_vanishing_mid_message(zmq_service: tuple[Proc, Endpoint]) -> None:
    """Peers that close after half a frame, or after the first frame of a multipart (MORE), or in
    the greeting: a client keeps being served meanwhile, and no socket is left behind."""
    proc, ep = zmq_service
    kinds = {
        "half a frame": b"\x00\x10" + b"\x00" * 7,                 # says 16 bytes, sends 7
        "half a long frame": b"\x03" + struct.pack(">Q", 1 << 20) + b"x" * 1000,
        "first frame with MORE": b"\x01\x00",                      # the empty delimiter, then gone
        "first two frames with MORE": b"\x01\x00\x01\x04echo",
    }
    client = ZmqClient(ep.host, ep.port, socket_type="dealer")
    stop = threading.Event()
    answered: list[int] = []
    failures: list[str] = []

    def keep_calling() -> None:
        while not stop.is_set():
            try:
                if client.call("echo", b"still here").body != b"still here":
                    failures.append("wrong reply")
                answered.append(1)
            except Exception as e:  # collected and asserted below
                failures.append(repr(e))
                return

    try:
        assert client.call("echo", b"warm").body == b"warm"
        baseline = _fds(proc.pid)
        t = threading.Thread(target=keep_calling)
        t.start()
        for _ in range(FAULTY_PEERS):
            for data in kinds.values():
                s, _ = _raw_peer(ep.port)
                with s:
                    s.sendall(data)
            with socket.create_connection((ep.host, ep.port), timeout=5) as s:
                s.sendall(zmtp_greeting(minor=1)[:30])               # half a greeting
        stop.set()
        t.join(30)
        assert failures == []
        assert len(answered) > 0 and proc.alive()
        _wait(f"file descriptors back to {baseline} + 2", lambda: _fds(proc.pid) <= baseline + 2, 10)
        assert client.call("echo", b"after").body == b"after"
    finally:
        stop.set()
        client.close()
    print(f"\n{ep.service}/zmq: {FAULTY_PEERS * (len(kinds) + 1)} vanishing peers, {len(answered)} calls "
          f"answered meanwhile, fds {baseline} -> {_fds(proc.pid)}")


@pytest.mark.skipif(shutil.which("java") is None or not (JAVA_TARGET / "test-classes").exists(),
                    reason="the JeroMQ client needs java and services/java built (make build)")
def test_jeromq_client(zmq_service: tuple[Proc, Endpoint]) -> None:
    """JeroMQ 0.6.0 REQ and DEALER (and DEALER with heartbeats) get correct replies."""
    _, ep = zmq_service
    cp = f"{JAVA_TARGET / 'bench-service.jar'}:{JAVA_TARGET / 'test-classes'}"
    r = subprocess.run(["java", "-XX:TieredStopAtLevel=1", "-cp", cp, "bench.zmq.JeromqPeer", str(ep.port)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    assert r.stdout.count("PASS ") == 12

