"""Interop of the Erlang ZMTP implementation with real pyzmq (libzmq 4.3) peers.

Several REQ and DEALER clients at once; echo, diff and health; wrong frame counts answered
bad_request; raw TCP peers with a bad greeting, an unsupported mechanism or garbage after
the handshake are closed while REQ clients keep being served; a peer that dies mid-frame
does not disturb the others.

Run: /work/main/.venv/bin/python test/zmq_interop.py  (exit status 0 when all pass)."""
from __future__ import annotations

import json
import socket
import sys
import threading

import zmq
from support import Checks, service, vectors, zmq_healthy

check = Checks()


def client(port: int, kind: int, identity: bytes | None = None) -> zmq.Socket:
    s = zmq.Context.instance().socket(kind)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVTIMEO, 10000)
    if identity is not None:
        s.setsockopt(zmq.IDENTITY, identity)  # sent in READY's Identity property
    s.connect(f"tcp://127.0.0.1:{port}")
    return s


def worker(port: int, kind: int, n: int, index: int) -> None:
    """One client doing n rounds of echo + diff, checking every reply."""
    s = client(port, kind, identity=f"peer-{index}".encode() if index % 2 else None)
    diffs = vectors("diff")
    try:
        for i in range(n):
            payload = f"client {index} request {i}".encode() * (i % 20 + 1)
            v = diffs[(index + i) % len(diffs)]
            req = json.dumps({"a": v["a"], "b": v["b"]}).encode()
            if kind == zmq.DEALER:
                # a DEALER may pipeline: two requests, then two replies in order
                s.send_multipart([b"", b"echo", payload])
                s.send_multipart([b"", b"diff", req])
                r1, r2 = s.recv_multipart(), s.recv_multipart()
                check(r1 == [b"", b"ok", payload], f"dealer {index} echo {i}")
                check(r2[:2] == [b"", b"ok"]
                      and json.loads(r2[2]) == {"opcodes": v["opcodes"]},
                      f"dealer {index} diff {i}")
            else:
                s.send_multipart([b"echo", payload])
                check(s.recv_multipart() == [b"ok", payload], f"req {index} echo {i}")
                s.send_multipart([b"diff", req])
                r = s.recv_multipart()
                check(r[0] == b"ok" and json.loads(r[1]) == {"opcodes": v["opcodes"]},
                      f"req {index} diff {i}")
    except zmq.Again:
        check(False, f"client {index} timed out")
    finally:
        s.close()


def closed_by_server(sock: socket.socket) -> bool:
    """True when the server closes the connection (EOF or reset) within the timeout."""
    sock.settimeout(5)
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def raw_peer(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def greeting(mechanism: bytes = b"NULL", major: int = 3) -> bytes:
    return (b"\xff" + b"\x00" * 8 + b"\x7f" + bytes([major, 1])
            + mechanism.ljust(20, b"\x00") + b"\x00" + b"\x00" * 31)


READY_REQ = b"\x04\x19\x05READY\x0bSocket-Type\x00\x00\x00\x03REQ"


def main() -> int:
    with service("zmq", ready=zmq_healthy) as (port, log):
        # wrong frame counts, each followed by a good request on the same socket
        req = client(port, zmq.REQ)
        for frames in ([b"echo"], [b"echo", b"x", b"y"], [b""], [b"a", b"b", b"c", b"d"]):
            req.send_multipart(frames)
            st, data = req.recv_multipart()
            check(st == b"error" and json.loads(data)["error"] == "bad_request",
                  f"REQ frames {frames}")
            req.send_multipart([b"echo", b"good"])
            check(req.recv_multipart() == [b"ok", b"good"], f"REQ good after {frames}")
        dealer = client(port, zmq.DEALER)
        for frames in ([b"echo", b"x"], [b"", b"echo"], [b"", b"echo", b"x", b"y"]):
            dealer.send_multipart(frames)
            reply = dealer.recv_multipart()
            check(reply[:2] == [b"", b"error"] and json.loads(reply[2])["error"] == "bad_request",
                  f"DEALER frames {frames}: {reply}")
            dealer.send_multipart([b"", b"echo", b"good"])
            check(dealer.recv_multipart() == [b"", b"ok", b"good"], f"DEALER good after {frames}")
        dealer.send_multipart([b"", b"health", b""])
        st = dealer.recv_multipart()
        check(st[1] == b"ok" and json.loads(st[2])["service"] == "erlang", "DEALER health")
        dealer.send_multipart([b"", b"nope", b""])
        st = dealer.recv_multipart()
        check(st[1] == b"error" and json.loads(st[2])["error"] == "unknown_op", "unknown op")

        # libzmq's greeting order: the 10-byte signature alone, the other 54 bytes once the peer
        # has sent something (regression: JeroMQ 0.6.0 clients stalled on the whole greeting)
        s = raw_peer(port)
        first = s.recv(64)
        s.settimeout(0.3)
        try:
            early = s.recv(64)
        except TimeoutError:
            early = b""
        s.settimeout(5)
        s.sendall(greeting()[:10])
        rest = b""
        while len(rest) < 54:
            chunk = s.recv(64)
            if not chunk:
                break
            rest += chunk
        check(first == greeting()[:9] + b"\x7f" and early == b"" and len(rest) >= 54 and rest[:2] == b"\x03\x01",
              f"greeting order: {first!r}, then {early!r} before the peer spoke, then {rest[:12]!r}")
        s.close()

        # misbehaving raw peers are closed; the REQ client keeps working between them
        bad_peers = {
            "http request": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            "bad signature": b"\xfe" + b"\x00" * 63,
            "ZMTP 2.0": greeting(major=1),
            "PLAIN mechanism": greeting(b"PLAIN"),
            "CURVE mechanism": greeting(b"CURVE"),
            "PUB socket type": greeting()
            + b"\x04\x19\x05READY\x0bSocket-Type\x00\x00\x00\x03PUB",
            "message before READY": greeting() + b"\x00\x01x",
            "reserved flags": greeting() + READY_REQ + b"\xf0\x00",
            "huge frame": greeting() + READY_REQ + b"\x02" + (2**62).to_bytes(8, "big"),
        }
        for name, data in bad_peers.items():
            s = raw_peer(port)
            s.sendall(data)
            check(closed_by_server(s), f"raw peer '{name}' closed")
            s.close()
            req.send_multipart([b"echo", name.encode()])
            check(req.recv_multipart() == [b"ok", name.encode()], f"REQ served after '{name}'")

        # a raw peer that completes the handshake by hand and is served, byte by byte
        s = raw_peer(port)
        for b in greeting() + READY_REQ:
            s.sendall(bytes([b]))
        s.sendall(b"\x01\x00\x01\x04echo\x00\x02hi")
        s.settimeout(5)
        buf = b""
        expected_tail = b"\x01\x00\x01\x02ok\x00\x02hi"
        while not buf.endswith(expected_tail) and len(buf) < 4096:
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
        check(buf[:10] == b"\xff" + b"\x00" * 8 + b"\x7f" and buf[10] == 3, "server greeting")
        check(b"\x06ROUTER" in buf and buf.endswith(expected_tail), "raw handshake + echo")
        # PING gets a PONG carrying the context
        s.sendall(b"\x04\x0a\x04PING\x00\x0actx")
        pong = s.recv(4096)
        check(pong == b"\x04\x08\x04PONGctx", f"PONG: {pong!r}")
        # a peer that dies in the middle of a long frame
        s.sendall(b"\x01\x00\x01\x04echo\x02" + (1000).to_bytes(8, "big") + b"partial")
        s.close()

        # many clients at once, REQ and DEALER
        threads = [threading.Thread(target=worker, args=(port, kind, 40, i))
                   for i, kind in enumerate([zmq.REQ, zmq.DEALER] * 6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        req.send_multipart([b"echo", b"last"])
        check(req.recv_multipart() == [b"ok", b"last"], "REQ served at the end")
        req.close()
        dealer.close()
        text = log.read_text()
        check("unsupported_mechanism" in text, "log names the refused mechanism")

    print(f"zmq interop: {len(check.failures)} failure(s)")
    return 1 if check.failures else 0


if __name__ == "__main__":
    sys.exit(main())
