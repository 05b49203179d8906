"""The measured-but-not-served HTTP servers (README.md "Fairness"): the same answers as uvicorn.

`tools/compare_http_servers.py` compares CPU per request across servers, which only means
something if each one answers the contract the same way; these tests check the candidates
that use an app of their own (granian's RSGI app) or a different uvicorn configuration.
"""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import free_port, service_argv, started, stop, wait_until

CANDIDATES = ["granian-rsgi", "granian-asgi", "uvicorn-proxy-headers"]


@pytest.fixture(scope="module", params=CANDIDATES)
def server_port(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port = free_port()
    log: Path = tmp_path_factory.mktemp("candidate") / f"{request.param}.log"
    argv = service_argv("http", "--port", str(port), "--http-server", request.param,
                        "--max-body-bytes", "1024")
    with started(argv, log) as proc:
        def ready() -> bool:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            try:
                conn.request("GET", "/health")
                return conn.getresponse().status == 200
            finally:
                conn.close()

        wait_until(ready, f"http service ({request.param})", proc, log=log)
        yield port
        assert stop(proc) == 0, log.read_text()


def exchange(port: int, method: str, path: str,
             body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_echo_and_errors(server_port: int) -> None:
    body = bytes(range(256)) * 4
    status, headers, reply = exchange(server_port, "POST", "/echo", body)
    assert (status, headers["content-type"], reply) == (200, "application/octet-stream", body)
    status, _, reply = exchange(server_port, "POST", "/nope", b"x")
    assert status == 404 and b'"unknown_op"' in reply
    status, headers, reply = exchange(server_port, "GET", "/echo")
    assert (status, headers["allow"]) == (405, "POST") and b'"bad_request"' in reply
    status, _, reply = exchange(server_port, "POST", "/echo", b"x" * 1025)
    assert status == 413 and b'"too_large"' in reply
    status, headers, reply = exchange(server_port, "POST", "/diff", b'{"a":["x"],"b":["y"]}')
    assert (status, headers["content-type"]) == (200, "application/json") and b"replace" in reply


def test_chunked_body_over_the_limit_is_413(server_port: int) -> None:
    with socket.create_connection(("127.0.0.1", server_port), timeout=10) as s:
        chunk = b"x" * 600
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                  + (b"%x\r\n" % len(chunk) + chunk + b"\r\n") * 2 + b"0\r\n\r\n")
        head = s.recv(65536)
    assert head.startswith(b"HTTP/1.1 413"), head[:200]


def test_chunked_body_under_the_limit_is_echoed(server_port: int) -> None:
    with socket.create_connection(("127.0.0.1", server_port), timeout=10) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
        reply = b""
        while b"abcde" not in reply:
            data = s.recv(65536)
            if not data:
                break
            reply += data
    assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"abcde"), reply
