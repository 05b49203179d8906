"""Python responders that do no work: the floor before the native one (native/, service.toml).

Kept as the comparison the native floor was chosen against (docs/performance.md, "The floor")
and for services/java/tools/caller_cpu.py. Run as a script: `responders.py <transport>
[options]`. Each answers `echo` with the request bytes and `health` with `{}`, and stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import selectors
import signal
import socket
import sys
from typing import Any

STOP = False


def _on_term(signum: int, frame: Any) -> None:
    global STOP
    STOP = True


def serve_http(host: str, port: int) -> None:
    """A single-threaded epoll HTTP/1.1 keep-alive echo: the body back, 200, Content-Length."""
    sel = selectors.DefaultSelector()
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((host, port))
    lsock.listen(512)
    lsock.setblocking(False)
    sel.register(lsock, selectors.EVENT_READ, None)
    buffers: dict[socket.socket, bytearray] = {}
    print(f"floor http on {host}:{port}", flush=True)
    while not STOP:
        for key, _ in sel.select(timeout=0.5):
            if key.data is None:
                conn, _ = lsock.accept()
                conn.setblocking(False)
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sel.register(conn, selectors.EVENT_READ, True)
                buffers[conn] = bytearray()
                continue
            conn = key.fileobj  # type: ignore[assignment]
            try:
                data = conn.recv(262144)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                sel.unregister(conn)
                buffers.pop(conn, None)
                conn.close()
                continue
            buf = buffers[conn]
            buf += data
            while True:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    break
                length = 0
                for line in bytes(buf[:end]).split(b"\r\n")[1:]:
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                if len(buf) < end + 4 + length:
                    break
                body = b"{}" if buf.startswith(b"GET") else bytes(buf[end + 4:end + 4 + length])
                del buf[:end + 4 + length]
                conn.setblocking(True)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
                conn.setblocking(False)


def serve_zmq(host: str, port: int) -> None:
    """A ROUTER that returns [identity, '', 'ok', body] for every request.

    The same loop as the cheapest service's (a blocking receive with a timeout, so SIGTERM is
    seen): `poll` then non-blocking receives costs more per request than this does.
    """
    import zmq

    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.RCVTIMEO, 500)
    sock.bind(f"tcp://{host}:{port}")
    print(f"floor zmq on {host}:{port}", flush=True)
    recv, send, again = sock.recv_multipart, sock.send_multipart, zmq.Again
    while not STOP:
        try:
            frames = recv()
        except again:
            continue
        body = b"{}" if frames[-2] == b"health" else frames[-1]
        send([*frames[:-2], b"ok", body])
    sock.close(0)
    ctx.term()


def serve_redis(url: str, queue: str, threads: int = 2) -> None:
    """BRPOP a request, LPUSH the reply: the queue without its reliability (no processing list).

    Each thread has its own connection and sends the previous reply's `LPUSH` and its next
    `BRPOP` in one write, so a message costs one round trip to redis-server, as in the cheapest
    service; two threads, as many as the Python service's default, so that the responder does
    not limit the rate the client can be measured at, and no more, since they share one GIL.
    """
    import threading

    import redis

    def loop() -> None:
        connection = redis.Redis.from_url(url).connection_pool.get_connection()
        brpop = ("BRPOP", queue, 1)
        reply: list[tuple[bytes, bytes]] = []
        while not STOP:
            connection.send_packed_command(connection.pack_commands([*(("LPUSH", *r) for r in reply), brpop]))
            for _ in reply:
                connection.read_response()
            got = connection.read_response()
            if got is None:
                reply = []
                continue
            msg: bytes = got[1]
            head, _, body = msg.partition(b"\n")
            op, rid, reply_key = head.split(b" ")
            reply = [(reply_key, b"ok " + rid + b"\n" + (b"{}" if op == b"health" else body))]
        if reply:  # answer the last request before leaving
            connection.send_packed_command(connection.pack_commands([("LPUSH", *r) for r in reply]))
            connection.read_response()

    workers = [threading.Thread(target=loop, daemon=True) for _ in range(threads)]
    for w in workers:
        w.start()
    print(f"floor redis on {url} queue {queue}, {threads} threads", flush=True)
    for w in workers:
        while w.is_alive():
            w.join(timeout=0.5)


def serve_grpc(host: str, port: int) -> None:
    """A generic gRPC handler for /bench.v1.Bench/Echo that returns the request bytes unparsed."""
    from concurrent import futures

    import grpc

    def echo(request: bytes, context: Any) -> bytes:
        return request

    handler = grpc.method_handlers_generic_handler("bench.v1.Bench", {
        "Echo": grpc.unary_unary_rpc_method_handler(echo, request_deserializer=None, response_serializer=None)})
    limit = 17 * 1024 * 1024
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4),
                         options=[("grpc.max_receive_message_length", limit), ("grpc.max_send_message_length", limit)])
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"{host}:{port}")
    server.start()
    print(f"floor grpc on {host}:{port}", flush=True)
    while not STOP:
        server.wait_for_termination(timeout=0.5)
    server.stop(0)


def main() -> int:
    """Parse the transport and its options; serve until SIGTERM."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("transport", choices=["http", "zmq", "redis", "grpc"])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--redis-url", default="")
    p.add_argument("--queue", default="")
    a = p.parse_args()
    signal.signal(signal.SIGTERM, _on_term)
    if a.transport == "http":
        serve_http(a.host, a.port)
    elif a.transport == "zmq":
        serve_zmq(a.host, a.port)
    elif a.transport == "redis":
        serve_redis(a.redis_url, a.queue)
    else:
        serve_grpc(a.host, a.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
