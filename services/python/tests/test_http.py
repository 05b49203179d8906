"""The HTTP transport over real sockets: vectors, errors, keep-alive after bad requests."""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import body_of, diff_body, free_port, load_vectors, service_argv, started, stop, wait_until

STATUS = {"bad_request": 400, "unknown_op": 404, "too_large": 413, "internal": 500}


@pytest.fixture(scope="module")
def http_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port = free_port()
    log: Path = tmp_path_factory.mktemp("http") / "service.log"
    with started(service_argv("http", "--port", str(port)), log, {"BENCH_TEST_HOOKS": "1"}) as proc:
        def ready() -> bool:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            try:
                conn.request("GET", "/health")
                return conn.getresponse().status == 200
            finally:
                conn.close()

        wait_until(ready, "http service", proc, log=log)
        yield port
        assert stop(proc) == 0, log.read_text()


@pytest.fixture
def connect(http_port: int) -> Iterator[Callable[[], http.client.HTTPConnection]]:
    """Open keep-alive connections to the service; all are closed after the test."""
    opened: list[http.client.HTTPConnection] = []

    def open_one() -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection("127.0.0.1", http_port, timeout=30)
        opened.append(conn)
        return conn

    yield open_one
    for conn in opened:
        conn.close()


def request(conn: http.client.HTTPConnection, method: str, path: str,
            body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    conn.request(method, path, body=body)
    resp = conn.getresponse()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()


def test_vectors_on_one_keepalive_connection(connect: Callable[[], http.client.HTTPConnection]) -> None:
    conn = connect()
    sock_before: Any = None
    for vector in load_vectors("diff"):
        status, headers, reply = request(conn, "POST", "/diff", diff_body(vector))
        assert status == 200 and headers["content-type"] == "application/json", vector["name"]
        assert json.loads(reply) == {"opcodes": vector["opcodes"]}, vector["name"]
        sock_before = sock_before or conn.sock
    for vector in load_vectors("echo"):
        status, headers, reply = request(conn, "POST", "/echo", body_of(vector))
        assert status == 200 and headers["content-type"] == "application/octet-stream"
        assert reply == body_of(vector), vector["name"]
    assert conn.sock is sock_before  # the same connection throughout


def test_error_vectors_then_good_request(connect: Callable[[], http.client.HTTPConnection]) -> None:
    conn = connect()
    for vector in load_vectors("errors"):
        path = f"/{vector['op']}"
        status, headers, reply = request(conn, "POST", path, body_of(vector))
        assert status == STATUS[vector["error"]], vector["name"]
        assert headers["content-type"] == "application/json"
        assert json.loads(reply)["error"] == vector["error"], vector["name"]
        if headers.get("connection") == "close":
            conn.close()
            conn = connect()
        status, _, reply = request(conn, "POST", "/echo", b"still alive")
        assert (status, reply) == (200, b"still alive"), vector["name"]


def test_wrong_method_is_405_with_allow(connect: Callable[[], http.client.HTTPConnection]) -> None:
    conn = connect()
    status, headers, reply = request(conn, "GET", "/echo")
    assert status == 405 and headers["allow"] == "POST"
    assert json.loads(reply)["error"] == "bad_request"
    status, headers, _ = request(conn, "POST", "/health", b"")
    assert status == 405 and headers["allow"] == "GET"
    status, _, reply = request(conn, "GET", "/health")
    assert status == 200 and json.loads(reply)["language"] == "Python"


def test_over_limit_announced_by_content_length_only(http_port: int) -> None:
    with socket.create_connection(("127.0.0.1", http_port), timeout=5) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\nxxxx")
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            assert chunk
            data += chunk
        assert data.startswith(b"HTTP/1.1 413 ")


def test_chunked_body_over_limit(connect: Callable[[], http.client.HTTPConnection]) -> None:
    conn = connect()
    chunks = (b"y" * (1 << 20) for _ in range(17))
    conn.request("POST", "/echo", body=chunks, encode_chunked=True)
    resp = conn.getresponse()
    assert resp.status == 413
    assert json.loads(resp.read())["error"] == "too_large"


def test_chunked_body_under_limit(connect: Callable[[], http.client.HTTPConnection]) -> None:
    conn = connect()
    conn.request("POST", "/echo", body=(b"%d," % i for i in range(1000)), encode_chunked=True)
    resp = conn.getresponse()
    assert (resp.status, resp.read()) == (200, b"".join(b"%d," % i for i in range(1000)))
    status, _, reply = request(conn, "POST", "/diff", b'{"a": ["x"], "b": ["x"]}')
    assert (status, json.loads(reply)) == (200, {"opcodes": [["equal", 0, 1, 0, 1]]})


def test_slow_header_section_is_closed_after_the_header_timeout(http_port: int) -> None:
    """Slowloris: uvicorn has no header timeout of its own; a header line dribbled a byte every
    200 ms is closed HEADER_TIMEOUT_S after the request's first byte."""
    from bench_service.http_server import HEADER_TIMEOUT_S

    with socket.create_connection(("127.0.0.1", http_port), timeout=0.2) as sock:
        t0 = time.monotonic()
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\n")
        closed = False
        for byte in b"X-Slow: " + b"a" * 200:
            try:
                sock.send(bytes([byte]))
                closed = sock.recv(1) == b""
            except TimeoutError:
                continue
            except OSError:
                closed = True
            if closed:
                break
        took = time.monotonic() - t0
    assert closed, f"still open after {took:.1f} s"
    assert HEADER_TIMEOUT_S - 1 < took < HEADER_TIMEOUT_S + 3, f"closed after {took:.1f} s"


def test_header_timer_spares_pipelined_requests(http_port: int) -> None:
    """The header timer is cancelled at each request's blank line: requests pipelined in one
    write (each arming and ending it within one read) are all served."""
    with socket.create_connection(("127.0.0.1", http_port), timeout=5) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n" * 3)
        data = b""
        while data.count(b"HTTP/1.1 200") < 3:
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk
