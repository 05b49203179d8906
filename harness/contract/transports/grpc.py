"""gRPC: bench.v1.Bench/Echo and /Diff over HTTP/2 (contract/bench.proto)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.contract.transports import Transport

if TYPE_CHECKING:
    from harness.clients.base import Client
    from harness.contract.endpoint import Endpoint


def _client(endpoint: Endpoint, timeout_s: float, variant: str) -> Client:
    from harness.clients.grpc import GrpcClient

    return GrpcClient(endpoint.host, endpoint.port, timeout_s, statuses=TRANSPORT.statuses)


TRANSPORT = Transport(
    name="grpc", order=40, client=_client, line_style="-.",
    statuses={"bad_request": "INVALID_ARGUMENT", "unknown_op": "UNIMPLEMENTED", "too_large": "RESOURCE_EXHAUSTED",
              "internal": "INTERNAL"},
    health="an Echo call (gRPC has no health op in the contract)", health_object=False,
)
