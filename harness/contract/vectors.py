"""The shared test vectors of contract/vectors/ (format: contract/CONTRACT.md, "Test vectors")."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from harness import REPO

VECTORS = REPO / "contract" / "vectors"

# Which transports can carry an error vector of each layer.
LAYER_TRANSPORTS = {
    "bytes": {"http", "zmq", "redis"},
    "args": {"http", "zmq", "redis", "celery"},
    "op": {"http", "zmq", "redis", "grpc", "celery"},
    "any": {"http", "zmq", "redis", "grpc", "celery"},
}


def body_of(segments: list[list[Any]]) -> bytes:
    """Decode a segment list `[[base64, count], ...]` into the bytes it stands for."""
    return b"".join(base64.b64decode(b64) * int(count) for b64, count in segments)


@dataclass(frozen=True)
class DiffVector:
    """A diff request and difflib's answer."""

    name: str
    a: list[str]
    b: list[str]
    opcodes: list[list[Any]]
    extra: dict[str, Any] = field(default_factory=dict)

    def body(self) -> bytes:
        """The JSON request body (with the extra keys a service must ignore)."""
        return json.dumps({"a": self.a, "b": self.b, **self.extra}, ensure_ascii=False).encode()


@dataclass(frozen=True)
class EchoVector:
    """An echo request; the reply must be the same bytes."""

    name: str
    body: bytes


@dataclass(frozen=True)
class ErrorVector:
    """A request the contract answers with error `error`."""

    name: str
    op: str
    body: bytes
    error: str
    layer: str

    def applies_to(self, transport: str) -> bool:
        """Whether `transport` can carry this request at all."""
        return transport in LAYER_TRANSPORTS[self.layer]


def _load(name: str, root: Path) -> list[dict[str, Any]]:
    doc = json.loads((root / name).read_text(encoding="ascii"))
    if doc.get("version") != 1:
        raise ValueError(f"{root / name}: unsupported vector file version {doc.get('version')}")
    return list(doc["vectors"])


@lru_cache(maxsize=2)
def diff_vectors(root: Path = VECTORS) -> list[DiffVector]:
    """All diff vectors."""
    return [DiffVector(v["name"], v["a"], v["b"], v["opcodes"], v.get("extra", {})) for v in _load("diff.json", root)]


@lru_cache(maxsize=2)
def echo_vectors(root: Path = VECTORS) -> list[EchoVector]:
    """All echo vectors."""
    return [EchoVector(v["name"], body_of(v["body"])) for v in _load("echo.json", root)]


@lru_cache(maxsize=2)
def error_vectors(root: Path = VECTORS) -> list[ErrorVector]:
    """All error vectors."""
    return [ErrorVector(v["name"], v["op"], body_of(v["body"]), v["error"], v["layer"])
            for v in _load("errors.json", root)]
