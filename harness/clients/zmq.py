"""ZeroMQ request/reply client: a REQ or a DEALER socket.

Under gevent (Locust) it uses `zmq.green`, so a user waiting for a reply yields to the others.
A REQ socket whose reply timed out is stuck in its state machine, so it is replaced.
"""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

from harness.clients.base import Reply, error_reply
from harness.errors import ClientError


def _zmq_module() -> ModuleType:
    try:
        from gevent import monkey

        if monkey.is_module_patched("socket"):
            import zmq.green as zmq_green

            return zmq_green
    except ImportError:
        pass
    import zmq

    return zmq


class ZmqClient:
    """A REQ (default) or DEALER client of a service's zmq transport."""

    def __init__(self, host: str, port: int, timeout_s: float = 10.0, socket_type: str = "req") -> None:
        if socket_type not in ("req", "dealer"):
            raise ValueError("socket_type is 'req' or 'dealer'")
        self.zmq = _zmq_module()
        self.address = f"tcp://{host}:{port}"
        self.timeout_ms = int(timeout_s * 1000)
        self.socket_type = socket_type
        self.ctx = self.zmq.Context.instance()
        self._sock: Any = None

    def _socket(self) -> Any:
        if self._sock is None:
            z = self.zmq
            sock = self.ctx.socket(z.REQ if self.socket_type == "req" else z.DEALER)
            sock.setsockopt(z.LINGER, 0)
            sock.setsockopt(z.RCVTIMEO, self.timeout_ms)
            sock.setsockopt(z.SNDTIMEO, self.timeout_ms)
            sock.connect(self.address)
            self._sock = sock
        return self._sock

    def send_frames(self, frames: list[bytes]) -> list[bytes]:
        """Send raw frames (a DEALER adds the empty delimiter a REQ adds itself); return the reply frames."""
        sock = self._socket()
        out = frames if self.socket_type == "req" else [b"", *frames]
        try:
            sock.send_multipart(out, copy=len(out[-1]) > 65536 if out else True)
            reply = sock.recv_multipart()
        except self.zmq.Again as e:
            self.close()  # a REQ socket that missed its reply cannot send again
            raise ClientError(f"zmq: no reply from {self.address} within {self.timeout_ms} ms") from e
        except self.zmq.ZMQError as e:
            self.close()
            raise ClientError(f"zmq: {self.address}: {e}") from e
        if self.socket_type == "dealer":
            if not reply or reply[0] != b"":
                raise ClientError(f"zmq: DEALER reply without the empty delimiter: {reply[:3]!r}")
            reply = reply[1:]
        return reply

    def call(self, op: str, body: bytes) -> Reply:
        """Send `[op, body]`, expect `[status, body]`."""
        reply = self.send_frames([op.encode(), body])
        if len(reply) != 2:
            raise ClientError(f"zmq: reply has {len(reply)} frames, the contract says 2")
        status, data = reply
        if status == b"ok":
            return Reply(ok=True, body=data)
        if status == b"error":
            return error_reply(data)
        raise ClientError(f"zmq: reply status {status[:40]!r} is neither ok nor error")

    def ready(self) -> bool:
        """True when op `health` answers ok with a JSON object."""
        reply = self.call("health", b"")
        return reply.ok and isinstance(json.loads(reply.body), dict)

    def close(self) -> None:
        """Close the socket (the next call opens a new one)."""
        if self._sock is not None:
            self._sock.close(linger=0)
            self._sock = None
