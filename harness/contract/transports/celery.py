"""Celery: tasks bench.echo / bench.diff / bench.health on queue bench.<service>, Redis broker and backend."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.contract.transports import Transport

if TYPE_CHECKING:
    from harness.clients.base import Client
    from harness.contract.endpoint import Endpoint


def _client(endpoint: Endpoint, timeout_s: float, variant: str) -> Client:
    from harness.clients.celery import CeleryClient

    return CeleryClient(endpoint.redis_url, endpoint.queue, timeout_s)


TRANSPORT = Transport(
    name="celery", order=50, client=_client, line_style=(0, (5, 1)), broker=True,
    queue_pattern="bench.{service}", health="the task bench.health", built_on="redis",
)
