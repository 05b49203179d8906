"""One small client per transport, all with the same shape.

`call(op, body)` sends one request of the contract and returns a `Reply`; `ready()` asks the
transport's `health`; `close()` releases the connection. The same clients serve conformance,
the Locust users and the readiness probes. Every call has a timeout: a hung service raises
`ClientError`, it never hangs the harness.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.clients.base import Client, Reply

if TYPE_CHECKING:
    from harness.processes.supervisor import Endpoint

__all__ = ["Client", "Reply", "make_client"]


def make_client(endpoint: Endpoint, timeout_s: float = 10.0, variant: str = "") -> Client:
    """A client for `endpoint`'s transport. `variant` picks e.g. the zmq socket type ("req"/"dealer")."""
    t = endpoint.transport
    if t == "http":
        from harness.clients.http import HttpClient

        return HttpClient(endpoint.host, endpoint.port, timeout_s)
    if t == "zmq":
        from harness.clients.zmq import ZmqClient

        return ZmqClient(endpoint.host, endpoint.port, timeout_s, socket_type=variant or "req")
    if t == "redis":
        from harness.clients.redisq import RedisQueueClient

        return RedisQueueClient(endpoint.redis_url, endpoint.queue, timeout_s)
    if t == "grpc":
        from harness.clients.grpc import GrpcClient

        return GrpcClient(endpoint.host, endpoint.port, timeout_s)
    if t == "celery":
        from harness.clients.celery import CeleryClient

        return CeleryClient(endpoint.redis_url, endpoint.queue, timeout_s)
    raise ValueError(f"unknown transport {t!r}")
