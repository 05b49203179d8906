"""End-to-end conformance of the Erlang service: every vector of contract/vectors over
http, zmq (REQ and DEALER) and redis, against the real service and a real redis-server,
plus the transport rules the vectors cannot express (405/Allow, 413 by Content-Length,
keep-alive after errors, redis recovery and dead list, SIGTERM exit status).

Run: /work/main/.venv/bin/python test/conformance.py  (exit status 0 when all pass)."""
from __future__ import annotations

import http.client
import json
import socket
import sys
import time
import uuid

import redis
import zmq
from support import Checks, body, redis_server, service, vectors, zmq_healthy

check = Checks()


def diff_request(v: dict) -> bytes:
    return json.dumps({"a": v["a"], "b": v["b"], **v.get("extra", {})}).encode()


# ---------------------------------------------------------------------------- http
HTTP_STATUS = {"bad_request": 400, "unknown_op": 404, "too_large": 413, "internal": 500}


def http_ready(port: int) -> bool:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    c.request("GET", "/health")
    return c.getresponse().status == 200


def raw_http(port: int, head: bytes, payload: bytes = b"") -> tuple[int, dict, bytes]:
    """Sends a request on a fresh socket, tolerating the server closing early."""
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    try:
        s.sendall(head)
        try:
            view = memoryview(payload)
            for i in range(0, len(view), 1 << 16):
                s.sendall(view[i:i + (1 << 16)])
        except (BrokenPipeError, ConnectionResetError):
            pass
        resp = http.client.HTTPResponse(s)
        resp.begin()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        s.close()


def test_http() -> None:
    with service("http", ready=http_ready) as (port, _log):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

        def post(path: str, data: bytes) -> tuple[int, dict, bytes]:
            c.request("POST", path, body=data)
            r = c.getresponse()
            return r.status, dict(r.getheaders()), r.read()

        for v in vectors("diff"):
            status, headers, data = post("/diff", diff_request(v))
            check(status == 200 and json.loads(data) == {"opcodes": v["opcodes"]},
                  f"http diff {v['name']}: {status} {data[:200]!r}")
            check(headers.get("Content-Type") == "application/json", "http diff content type")
        for v in vectors("echo"):
            b = body(v["body"])
            status, headers, data = post("/echo", b)
            check(status == 200 and data == b, f"http echo {v['name']}: {status}")
            check(headers.get("Content-Type") == "application/octet-stream",
                  "http echo content type")
        for v in vectors("errors"):
            b = body(v["body"])
            if len(b) > 16 * 1024 * 1024:
                status, headers, data = raw_http(
                    port, f"POST /{v['op']} HTTP/1.1\r\nHost: x\r\n"
                          f"Content-Length: {len(b)}\r\n\r\n".encode(), b)
            else:
                status, headers, data = post(f"/{v['op']}", b)
            ok = status == HTTP_STATUS[v["error"]] and json.loads(data)["error"] == v["error"]
            check(ok, f"http error {v['name']}: {status} {data[:200]!r}")
            check(headers.get("Content-Type") == "application/json",
                  f"http error {v['name']} content type")
            # the next good request is answered (on the same connection when kept open)
            if headers.get("Connection", "").lower() == "close":
                c.close()
            status, _, data = post("/echo", b"after")
            check(status == 200 and data == b"after", f"http after {v['name']}")
        # wrong methods: 405 with Allow and a bad_request body
        for method, path, allow in [("GET", "/echo", "POST"), ("PUT", "/diff", "POST"),
                                    ("POST", "/health", "GET"), ("DELETE", "/echo", "POST")]:
            c.request(method, path)
            r = c.getresponse()
            data = r.read()
            check(r.status == 405 and r.getheader("Allow") == allow
                  and json.loads(data)["error"] == "bad_request", f"http 405 {method} {path}")
        c.request("GET", "/nope")
        r = c.getresponse()
        check(r.status == 404 and json.loads(r.read())["error"] == "unknown_op", "http 404")
        c.request("GET", "/health")
        r = c.getresponse()
        h = json.loads(r.read())
        check(r.status == 200 and h["service"] == "erlang" and "diff" in h["ops"], "health")
        # 413 announced by Content-Length only: answered without the body being sent
        status, headers, data = raw_http(
            port, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n")
        check(status == 413 and json.loads(data)["error"] == "too_large", "http 413 by header")
        # 413 by Content-Length, body sent anyway: answered, then the connection is closed
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 16777217\r\n\r\n")
        s.sendall(b"L" * 16777217)
        r = http.client.HTTPResponse(s)
        r.begin()
        check(r.status == 413 and json.loads(r.read())["error"] == "too_large", "413 drained")
        check(s.recv(10) == b"", "connection closed after 413")
        s.close()
        # a chunked body over the limit: 413 as well
        chunk = b"x" * (1 << 20)
        chunked = b"".join(b"%x\r\n" % len(chunk) + chunk + b"\r\n" for _ in range(17))
        status, _, data = raw_http(
            port, b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
            chunked + b"0\r\n\r\n")
        check(status == 413 and json.loads(data)["error"] == "too_large", "chunked 413")
        # chunked request bodies work too
        status, _, data = raw_http(
            port, b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                  b"Connection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        check(status == 200 and data == b"hello", "http chunked echo")
        # keep-alive: one connection served many requests
        c2 = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c2.connect()
        local = c2.sock.getsockname()
        for _ in range(50):
            c2.request("POST", "/echo", body=b"x" * 64)
            check(c2.getresponse().read() == b"x" * 64, "keep-alive echo")
        check(c2.sock is not None and c2.sock.getsockname() == local, "keep-alive same socket")


# ---------------------------------------------------------------------------- zmq
def test_zmq() -> None:
    with service("zmq", ready=zmq_healthy) as (port, _log):
        ctx = zmq.Context.instance()
        req = ctx.socket(zmq.REQ)
        dealer = ctx.socket(zmq.DEALER)
        for s in (req, dealer):
            s.setsockopt(zmq.LINGER, 0)
            s.setsockopt(zmq.RCVTIMEO, 30000)
            s.connect(f"tcp://127.0.0.1:{port}")

        def via_req(op: str, data: bytes) -> list[bytes]:
            req.send_multipart([op.encode(), data])
            return req.recv_multipart()

        def via_dealer(op: str, data: bytes) -> list[bytes]:
            dealer.send_multipart([b"", op.encode(), data])
            reply = dealer.recv_multipart()
            check(reply[0] == b"", "dealer reply has the empty delimiter")
            return reply[1:]

        for name, call in (("REQ", via_req), ("DEALER", via_dealer)):
            for v in vectors("diff"):
                st, data = call("diff", diff_request(v))
                check(st == b"ok" and json.loads(data) == {"opcodes": v["opcodes"]},
                      f"zmq {name} diff {v['name']}")
            for v in vectors("echo"):
                b = body(v["body"])
                check(call("echo", b) == [b"ok", b], f"zmq {name} echo {v['name']}")
            for v in vectors("errors"):
                st, data = call(v["op"], body(v["body"]))
                check(st == b"error" and json.loads(data)["error"] == v["error"],
                      f"zmq {name} error {v['name']}: {st!r} {data[:100]!r}")
                check(call("echo", b"after") == [b"ok", b"after"], f"zmq {name} after error")
            st, data = call("health", b"")
            check(st == b"ok" and json.loads(data)["language"] == "Erlang", "zmq health")
        req.close()
        dealer.close()


# ---------------------------------------------------------------------------- redis
def test_redis() -> None:
    with redis_server() as url:
        r = redis.Redis.from_url(url)
        queue = f"bench.test.{uuid.uuid4().hex[:8]}"
        # left behind by a "crashed worker": recovered at start and served first
        r.lpush(f"{queue}:processing", b"echo rec-1 reply:rec\nrecovered")

        def ready(_port: int) -> bool:
            return r.llen(f"{queue}:processing") == 0 and r.llen(queue) == 0 and \
                r.exists("reply:rec") == 1

        with service("redis", "--redis-url", url, "--queue", queue, "--workers", "3",
                     ready=ready) as (_port, _log):
            check(r.brpop("reply:rec", 5) == (b"reply:rec", b"ok rec-1\nrecovered"),
                  "redis recovery")
            n = 0

            def call(op: str, data: bytes) -> tuple[bytes, bytes]:
                nonlocal n
                n += 1
                rid, key = f"id-{n}", f"reply:{queue}:{n}"
                r.lpush(queue, f"{op} {rid} {key}\n".encode() + data)
                got = r.brpop(key, 30)
                assert got is not None, f"no reply for {op}"
                check(0 < r.ttl(key) <= 60 or r.exists(key) == 0, "reply key expiry")
                head, _, payload = got[1].partition(b"\n")
                status, _, got_id = head.partition(b" ")
                check(got_id == rid.encode(), "redis request id echoed")
                return status, payload

            for v in vectors("diff"):
                st, data = call("diff", diff_request(v))
                check(st == b"ok" and json.loads(data) == {"opcodes": v["opcodes"]},
                      f"redis diff {v['name']}")
            for v in vectors("echo"):
                b = body(v["body"])
                check(call("echo", b) == (b"ok", b), f"redis echo {v['name']}")
            for v in vectors("errors"):
                st, data = call(v["op"], body(v["body"]))
                check(st == b"error" and json.loads(data)["error"] == v["error"],
                      f"redis error {v['name']}: {st!r} {data[:100]!r}")
            st, data = call("health", b"")
            check(st == b"ok" and json.loads(data)["service"] == "erlang", "redis health")
            # unparseable headers go to the dead list, never dropped
            bad = [b"no newline at all", b"x" * 2000 + b"\nbody", b"echo  id key\nbody",
                   b"echo id\nbody", b"echo id key extra\nbody", "échø id key\nb".encode(),
                   b"echo id key \nbody"]
            for m in bad:
                r.lpush(queue, m)
            deadline = time.monotonic() + 10
            while r.llen(f"{queue}:dead") < len(bad) and time.monotonic() < deadline:
                time.sleep(0.05)
            check(sorted(r.lrange(f"{queue}:dead", 0, -1)) == sorted(bad), "redis dead list")
            check(call("echo", b"still") == (b"ok", b"still"), "redis after dead letters")
            check(r.llen(f"{queue}:processing") == 0, "redis processing list emptied")


def main() -> int:
    tests = [test_http, test_zmq, test_redis]
    only = sys.argv[1:]
    for t in tests:
        if only and t.__name__.removeprefix("test_") not in only:
            continue
        t0 = time.monotonic()
        before = len(check.failures)
        t()
        print(f"{t.__name__}: {len(check.failures) - before} failure(s), "
              f"{time.monotonic() - t0:.1f}s", flush=True)
    print(f"{check.count} checks, {len(check.failures)} failed")
    return 1 if check.failures else 0


if __name__ == "__main__":
    sys.exit(main())
