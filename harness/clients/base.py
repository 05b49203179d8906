"""The shape every transport client has, and the reply it returns."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

ERROR_CODES = ("bad_request", "unknown_op", "too_large", "internal")


@dataclass
class Reply:
    """One reply of the contract.

    `ok` is the contract's status; `body` the reply body (for an error, the error JSON when the
    transport carries one); `error` the contract error code; `status` the transport's own
    status (HTTP status code, gRPC status name) when it has one; `opcodes` a diff reply
    already decoded by transports that do not carry JSON (gRPC, Celery).
    """

    ok: bool
    body: bytes = b""
    error: str | None = None
    status: int | str | None = None
    opcodes: list[list[Any]] | None = None

    def diff_opcodes(self) -> list[list[Any]]:
        """The opcodes of a diff reply, as JSON-shaped lists."""
        if self.opcodes is not None:
            return self.opcodes
        doc = json.loads(self.body)
        if not isinstance(doc, dict) or not isinstance(doc.get("opcodes"), list):
            raise ValueError(f"diff reply is not an object with 'opcodes': {self.body[:200]!r}")
        return doc["opcodes"]

    def error_message(self) -> str:
        """The human-readable message of an error reply, when there is one."""
        try:
            doc = json.loads(self.body)
            return str(doc.get("message", "")) if isinstance(doc, dict) else ""
        except ValueError:
            return self.body[:200].decode("utf-8", "replace")


def error_code(body: bytes) -> str | None:
    """The `error` field of a JSON error body, or None when the body is not a JSON object."""
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    return doc.get("error") if isinstance(doc, dict) else None


def error_reply(body: bytes, status: int | str | None = None, fallback: str = "internal") -> Reply:
    """An error Reply from a JSON error body `{"error": code, "message": ...}`."""
    code = fallback
    try:
        doc = json.loads(body)
        if isinstance(doc, dict) and isinstance(doc.get("error"), str):
            code = doc["error"]
    except ValueError:
        code = f"unparseable error body ({body[:60]!r})"
    return Reply(ok=False, body=body, error=code, status=status)


class Client(Protocol):
    """What every transport client offers."""

    def call(self, op: str, body: bytes) -> Reply:
        """Send one request; return the reply or raise ClientError."""
        ...

    def ready(self) -> bool:
        """True when the service answers `health`."""
        ...

    def close(self) -> None:
        """Release the connection; the client may not be used afterwards."""
        ...
