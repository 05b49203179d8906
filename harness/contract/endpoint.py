"""Where a started (or external) service transport can be reached."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Endpoint:
    """A service transport's address: host and port, or (broker transports) a redis URL and a queue."""

    service: str
    transport: str
    host: str
    port: int
    redis_url: str
    queue: str

    def describe(self) -> str:
        """A short human-readable address."""
        from harness.contract.transports import get

        if get(self.transport).broker:
            return f"{self.redis_url} queue {self.queue}"
        return f"{self.host}:{self.port}"
