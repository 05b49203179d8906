"""The transport registry: everything the harness knows about a transport, in one place.

Each transport is one module of this package that defines `TRANSPORT`, a `Transport`; its
client lives in `harness/clients/`. Adding a transport is one module here plus its client:
the registry finds the modules, and every other part of the harness (manifests, the
supervisor, the runner, hosts files, conformance, fuzzing, the report) asks it.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.clients.base import Client
    from harness.contract.endpoint import Endpoint

ClientFactory = Callable[["Endpoint", float, str], "Client"]


@dataclass(frozen=True)
class Transport:
    """One transport of the contract.

    `order` places it in tables and charts; `broker` says whether it needs the harness's
    private redis-server (then an endpoint is a redis URL and a queue, not a host and a port);
    `queue` names a service's queue (`unique` distinguishes one start from another);
    `statuses` maps each contract error code to the transport's own status (HTTP code, gRPC
    status name), where it has one; `line_style` is the matplotlib dash pattern charts draw
    it with; `health` says what readiness asks, and `health_object` whether the answer is the
    contract's health object; `built_on` names the transport this one is a framework over
    (the report shows what the framework adds).
    """

    name: str
    order: int
    client: ClientFactory
    line_style: Any = "-"
    broker: bool = False
    queue_pattern: str = ""
    statuses: dict[str, int | str] = field(default_factory=dict)
    health: str = "health"
    health_object: bool = True
    built_on: str = ""

    def queue(self, service: str, unique: str) -> str:
        """The queue key (or Celery queue name) a service of this transport listens on."""
        return self.queue_pattern.format(service=service, unique=unique)


def _discover() -> dict[str, Transport]:
    found = []
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        t = getattr(module, "TRANSPORT", None)
        if isinstance(t, Transport):
            found.append(t)
    return {t.name: t for t in sorted(found, key=lambda t: (t.order, t.name))}


REGISTRY: dict[str, Transport] = _discover()
TRANSPORTS: tuple[str, ...] = tuple(REGISTRY)
"""Every transport's name, in the order reports show them."""


def make_client(endpoint: Endpoint, timeout_s: float = 10.0, variant: str = "") -> Client:
    """A client for `endpoint`'s transport. `variant` picks e.g. the zmq socket type ("req"/"dealer")."""
    return get(endpoint.transport).client(endpoint, timeout_s, variant)


def get(name: str) -> Transport:
    """The transport called `name`, or a ValueError naming the choices."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown transport {name!r}; the contract's transports are {', '.join(TRANSPORTS)}") from None
