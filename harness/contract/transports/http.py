"""HTTP/1.1 with keep-alive: POST /echo, POST /diff, GET /health (CONTRACT.md "Transports")."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.contract.transports import Transport

if TYPE_CHECKING:
    from harness.clients.base import Client
    from harness.contract.endpoint import Endpoint


def _client(endpoint: Endpoint, timeout_s: float, variant: str) -> Client:
    from harness.clients.http import HttpClient

    return HttpClient(endpoint.host, endpoint.port, timeout_s)


TRANSPORT = Transport(
    name="http", order=10, client=_client, line_style="-",
    statuses={"bad_request": 400, "unknown_op": 404, "too_large": 413, "internal": 500},
    health="GET /health",
)
