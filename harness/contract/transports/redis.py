"""A reliable Redis list queue: LPUSH a request, BLMOVE to processing, reply on a key (CONTRACT.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.contract.transports import Transport

if TYPE_CHECKING:
    from harness.clients.base import Client
    from harness.contract.endpoint import Endpoint


def _client(endpoint: Endpoint, timeout_s: float, variant: str) -> Client:
    from harness.clients.redisq import RedisQueueClient

    return RedisQueueClient(endpoint.redis_url, endpoint.queue, timeout_s)


TRANSPORT = Transport(
    name="redis", order=30, client=_client, line_style=":", broker=True,
    queue_pattern="bench:{service}:{unique}", health="a health message on the queue",
)
