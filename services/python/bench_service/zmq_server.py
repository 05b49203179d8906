"""The ZeroMQ transport: one ROUTER socket serving REQ and DEALER clients alike.

A request arrives as `[identity, b"", op, body]` (a REQ peer, or a DEALER that sends the
empty delimiter as CONTRACT.md asks) and is answered `[identity, b"", status, body]`. Any
other shape is answered with a `bad_request` error, never dropped: without a delimiter the
reply is `[identity, b"error", body]`.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

import zmq

from bench_service.ops import BAD_REQUEST, Service, error_body

log = logging.getLogger(__name__)

OK = b"ok"
ERROR = b"error"
MAX_MESSAGE_SLACK = 64 * 1024
POLL_MS = 500


def reply_frames(service: Service, frames: list[bytes]) -> list[bytes]:
    """Compute the reply frames for the frames a ROUTER socket received (identity first)."""
    try:
        delimiter = frames.index(b"", 1)
    except ValueError:
        return [frames[0], ERROR, error_body(BAD_REQUEST, "missing the empty delimiter frame; "
                                             "send [b'', op, body] from a DEALER")]
    envelope = frames[: delimiter + 1]
    request = frames[delimiter + 1:]
    if len(request) != 2:
        envelope.append(ERROR)
        envelope.append(error_body(BAD_REQUEST, f"expected 2 frames [op, body], got {len(request)}"))
        return envelope
    try:
        op = request[0].decode("ascii")
    except UnicodeDecodeError:
        op = request[0].decode("ascii", "backslashreplace")
    code, body = service.handle(op, request[1])
    envelope.append(OK if code is None else ERROR)
    envelope.append(body)
    return envelope


def serve(service: Service, host: str, port: int) -> None:
    """Bind tcp://host:port and answer requests until SIGTERM."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.MAXMSGSIZE, service.settings.max_body_bytes + MAX_MESSAGE_SLACK)
    sock.setsockopt(zmq.RCVHWM, 10_000)
    sock.setsockopt(zmq.SNDHWM, 10_000)
    endpoint = f"tcp://{host}:{port}"
    try:
        sock.bind(endpoint)
    except zmq.ZMQError as e:
        sock.close()
        ctx.term()
        raise SystemExit(f"cannot bind {endpoint}: {e}; is the port in use by another program?") from e
    log.info("zmq ROUTER bound to %s", endpoint)
    stopping = threading.Event()

    def on_term(signum: int, frame: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_term)
    try:
        _loop(service, sock, stopping)
    finally:
        sock.close(linger=0)
        ctx.term()
    log.info("SIGTERM received, stopped")


def _loop(service: Service, sock: zmq.Socket[bytes], stopping: threading.Event) -> None:
    """Receive with a timeout (RCVTIMEO) so SIGTERM is seen within POLL_MS, reply, repeat.

    A blocking receive with a timeout measured cheaper than `poll` followed by non-blocking
    receives (README.md), and a signal alone does not reliably interrupt libzmq's wait.
    """
    sock.setsockopt(zmq.RCVTIMEO, POLL_MS)
    recv = sock.recv_multipart
    send = sock.send_multipart
    again = zmq.Again
    while not stopping.is_set():
        try:
            frames = recv()
        except again:
            continue
        send(reply_frames(service, frames))
