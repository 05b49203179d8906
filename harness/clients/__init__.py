"""One small client per transport, all with the same shape.

`call(op, body)` sends one request of the contract and returns a `Reply`; `ready()` asks the
transport's `health`; `close()` releases the connection. The same clients serve conformance,
the Locust users and the readiness probes. Every call has a timeout: a hung service raises
`ClientError`, it never hangs the harness. The clients know transports only: which client
serves which transport is the registry's (`harness.contract.transports.make_client`).
"""

from __future__ import annotations

from harness.clients.base import Client, Reply

__all__ = ["Client", "Reply"]
