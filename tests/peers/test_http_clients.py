"""The HTTP/1.x clients every server meets, against every service's http transport: curl
(Expect: 100-continue, chunked uploads, HTTP/1.0 with and without keep-alive), ApacheBench with
and without -k, pipelined requests in one write, and wrk. Answers must be right, and connections
handled as RFC 9112 section 9.3 says: HTTP/1.1 persists unless `Connection: close`; HTTP/1.0
closes unless the client asked for keep-alive, and a server that keeps it announces
`Connection: keep-alive` (ab -k, for one, waits for the close otherwise)."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from peerkit import RawHttp, running, service_params, system_tool

from harness.contract.endpoint import Endpoint

SERVICES = service_params("http")


@pytest.fixture(scope="module", params=SERVICES)
def http(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    """The service's http transport, one process for all the tests of this module."""
    name = str(request.param)
    with running(name, "http", tmp_path_factory.mktemp(f"{name}-http")) as (_, ep):
        conn = RawHttp(ep.host, ep.port)
        for _ in range(50):  # a little warm-up, so that a JIT's first compiles do not count as latency
            conn.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
            assert conn.response()[2] == b"hi"
        conn.close()
        yield ep


def _url(ep: Endpoint, path: str = "/echo") -> str:
    return f"http://{ep.host}:{ep.port}{path}"


def _body(path: Path, size: int, seed: int) -> bytes:
    data = random.Random(seed).randbytes(size)
    path.write_bytes(data)
    return data


def _curl(args: list[str], timeout_s: float = 30) -> tuple[bytes, str, dict[str, object]]:
    """Run curl -sS -v with a JSON write-out; (body, verbose log, write-out values)."""
    proc = subprocess.run([system_tool("curl"), "-sS", "-v", "-o", "-", "-w", "\n%{json}", *args],
                          capture_output=True, timeout=timeout_s)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    body, _, meta = proc.stdout.rpartition(b"\n")
    return body, proc.stderr.decode(errors="replace"), json.loads(meta)


@pytest.mark.parametrize("size", [2048, 2 * 1024 * 1024])
def test_curl_expect_100_continue_never_waits(http: Endpoint, tmp_path: Path, size: int) -> None:
    """curl sends `Expect: 100-continue` over 1 KiB (by default for large bodies, forced here for
    every one) and waits 1 s (--expect100-timeout) for the 100 unless the service answers it."""
    data = _body(tmp_path / "body", size, seed=size)
    body, log, meta = _curl(["--expect100-timeout", "1", "-H", "Expect: 100-continue", "-H",
                             "Content-Type: application/octet-stream", "--data-binary", f"@{tmp_path / 'body'}",
                             _url(http)])
    assert meta["http_code"] == 200 and body == data
    assert "Done waiting for 100-continue" not in log, "the service sent neither 100 Continue nor an answer"
    # curl's own timeout is 1 s; a 2 MiB echo takes tens of milliseconds on this machine
    assert float(str(meta["time_total"])) < 0.8, f"{meta['time_total']} s for one {size}-byte echo"


def test_curl_expect_100_continue_on_a_refused_body(http: Endpoint, tmp_path: Path) -> None:
    """A body over the limit, announced with Expect: the final 413 comes at once instead of a 100."""
    (tmp_path / "body").write_bytes(b"x" * 1024)
    body, log, meta = _curl(["--expect100-timeout", "1", "-H", "Expect: 100-continue",
                             "-H", "Content-Length: 17000000", "--data-binary", f"@{tmp_path / 'body'}", _url(http)])
    assert meta["http_code"] == 413
    assert json.loads(body)["error"] == "too_large"
    assert "Done waiting for 100-continue" not in log
    assert float(str(meta["time_total"])) < 0.8


@pytest.mark.parametrize("size", [3000, 1024 * 1024 + 17])
def test_curl_chunked_upload(http: Endpoint, tmp_path: Path, size: int) -> None:
    data = _body(tmp_path / "body", size, seed=size)
    body, log, meta = _curl(["-H", "Transfer-Encoding: chunked", "--data-binary", f"@{tmp_path / 'body'}",
                             _url(http)])
    assert "transfer-encoding: chunked" in log.lower()  # curl really sent it chunked
    assert meta["http_code"] == 200 and body == data


@pytest.mark.parametrize("keep_alive", [False, True])
def test_curl_http10(http: Endpoint, tmp_path: Path, keep_alive: bool) -> None:
    """Two HTTP/1.0 requests in one curl: both answered right, whether or not the connection is reused."""
    data = _body(tmp_path / "body", 1500, seed=10)
    one = ["--http1.0", *(["-H", "Connection: keep-alive"] if keep_alive else []), "--data-binary",
           f"@{tmp_path / 'body'}", "-o", str(tmp_path / "out1"), _url(http)]
    two = ["--http1.0", *(["-H", "Connection: keep-alive"] if keep_alive else []), "-o", str(tmp_path / "out2"),
           _url(http, "/health")]
    proc = subprocess.run([system_tool("curl"), "-sS", "-v", "--fail", *one, "--next", "-sS", "-v", "--fail", *two],
                          capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    assert (tmp_path / "out1").read_bytes() == data
    assert json.loads((tmp_path / "out2").read_bytes())["ops"]


def _http10_request(keep_alive: bool, body: bytes = b"ping") -> bytes:
    conn = b"Connection: keep-alive\r\n" if keep_alive else b""
    return b"POST /echo HTTP/1.0\r\n%sContent-Length: %d\r\n\r\n%s" % (conn, len(body), body)


def test_http10_without_keep_alive_is_closed(http: Endpoint) -> None:
    c = RawHttp(http.host, http.port)
    c.send(_http10_request(keep_alive=False))
    status, headers, body = c.response()
    assert (status, body) == (200, b"ping")
    assert "keep-alive" not in headers.get("connection", "").lower()
    assert c.closed_by_server(within_s=2), "an HTTP/1.0 request without keep-alive must end the connection"
    c.close()


def test_http10_keep_alive_is_announced_or_closed(http: Endpoint) -> None:
    """RFC 9112 9.3: an HTTP/1.0 connection persists only when the response says keep-alive;
    a server may decline (and close), but must not keep it silently."""
    c = RawHttp(http.host, http.port)
    announced = []
    for i in range(3):
        c.send(_http10_request(keep_alive=True, body=f"request {i}".encode()))
        status, headers, body = c.response()
        assert (status, body) == (200, f"request {i}".encode())
        if "keep-alive" not in headers.get("connection", "").lower():
            assert c.closed_by_server(within_s=2), "keep-alive not announced, yet the connection was kept"
            break
        announced.append(i)
    c.close()
    print(f"{http.service}: HTTP/1.0 keep-alive honoured for {len(announced)} of 3 requests")


def test_http11_persists_unless_close(http: Endpoint) -> None:
    c = RawHttp(http.host, http.port)
    for i in range(3):
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n%d" % i)
        status, headers, body = c.response()
        assert (status, body) == (200, str(i).encode())
        assert headers.get("connection", "").lower() != "close"
    assert not c.closed_by_server(within_s=0.3)
    c.send(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert c.response()[0] == 200
    assert c.closed_by_server(within_s=2), "Connection: close must end the connection after the response"
    c.close()


@pytest.mark.parametrize("count", [3, 10])
def test_pipelined_requests_in_one_write(http: Endpoint, count: int) -> None:
    """`count` requests (echo, diff, health, chunked echo, an unknown path) in one sendall: every
    reply comes, in order, and right."""
    rng = random.Random(count)
    requests: list[bytes] = []
    expected: list[tuple[int, bytes | None]] = []
    for i in range(count):
        kind = i % 5
        if kind == 0:
            body = rng.randbytes(rng.randrange(1, 3000))
            requests.append(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            expected.append((200, body))
        elif kind == 1:
            doc = json.dumps({"a": ["x", "y", str(i)], "b": ["x", str(i)]}).encode()
            requests.append(b"POST /diff HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(doc), doc))
            expected.append((200, None))
        elif kind == 2:
            requests.append(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            expected.append((200, None))
        elif kind == 3:
            requests.append(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                            b"3\r\nabc\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(str(i)), str(i).encode()))
            expected.append((200, b"abc" + str(i).encode()))
        else:
            requests.append(b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n")
            expected.append((404, None))
    c = RawHttp(http.host, http.port)
    c.send(b"".join(requests))
    for i, (status, want) in enumerate(expected):
        got_status, _, got_body = c.response()
        assert got_status == status, f"reply {i} of {count}"
        if want is not None:
            assert got_body == want, f"reply {i} of {count}"
        elif i % 5 == 1:
            assert json.loads(got_body)["opcodes"][0][0] == "equal"
    c.close()


def _ab_value(out: str, label: str) -> int:
    m = re.search(rf"^{label}:\s+(\d+)", out, re.M)
    assert m, f"no '{label}' in ab's output:\n{out[-2000:]}"
    return int(m.group(1))


@pytest.mark.parametrize("keep_alive", [False, True], ids=["ab", "ab-k"])
def test_apachebench(http: Endpoint, tmp_path: Path, keep_alive: bool) -> None:
    """ab (HTTP/1.0; -k adds `Connection: Keep-Alive`): 3000 echoes from 8 connections, none failed."""
    _body(tmp_path / "body", 3000, seed=3)
    argv = [system_tool("ab"), *(["-k"] if keep_alive else []), "-n", "3000", "-c", "8", "-s", "5", "-p",
            str(tmp_path / "body"), "-T", "application/octet-stream", _url(http)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=90)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"ab failed (a timeout is `apr_pollset_poll`):\n{out[-2000:]}"
    assert _ab_value(out, "Complete requests") == 3000
    assert _ab_value(out, "Failed requests") == 0
    assert "Non-2xx responses" not in out
    assert _ab_value(out, "Total transferred") >= 3000 * 3000
    if keep_alive:
        print(f"{http.service}: ab -k: {_ab_value(out, 'Keep-Alive requests')} of 3000 requests kept alive")


WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = string.rep("interop-bench ", 200)
wrk.headers["Content-Type"] = "application/octet-stream"
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0 end
function response(status, headers, body)
  if status ~= 200 or body ~= wrk.body then bad = bad + 1 end
end
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("bad") end
  io.write(string.format("wrong replies: %d\\n", total))
end
"""


def test_wrk(http: Endpoint, tmp_path: Path) -> None:
    """wrk, 8 keep-alive connections for 2 s, every reply checked by its Lua script."""
    (tmp_path / "post.lua").write_text(WRK_SCRIPT)
    proc = subprocess.run([system_tool("wrk"), "-t1", "-c8", "-d2s", "-s", str(tmp_path / "post.lua"), _url(http)],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path, env={**os.environ})
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Socket errors" not in out, out
    assert "Non-2xx or 3xx responses" not in out, out
    assert "wrong replies: 0" in out, out
    requests = re.search(r"(\d+) requests in", out)
    assert requests and int(requests.group(1)) > 100, out
