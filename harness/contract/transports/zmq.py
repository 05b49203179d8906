"""ZeroMQ request/reply: frames [op, body] -> [status, body] (CONTRACT.md "Transports")."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.contract.transports import Transport

if TYPE_CHECKING:
    from harness.clients.base import Client
    from harness.contract.endpoint import Endpoint


def _client(endpoint: Endpoint, timeout_s: float, variant: str) -> Client:
    from harness.clients.zmq import ZmqClient

    return ZmqClient(endpoint.host, endpoint.port, timeout_s, socket_type=variant or "req")


TRANSPORT = Transport(name="zmq", order=20, client=_client, line_style="--", health="[health, ''] frames")
