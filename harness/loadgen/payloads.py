"""Bench payloads: deterministic request bodies and the cheap check of their replies.

Every reply under load is checked: an echo by its length and sampled bytes, a diff against
the opcodes difflib gives for the same request (computed once, here).
"""

from __future__ import annotations

import difflib
import json
import random
from dataclasses import dataclass, field
from typing import Any

from harness.clients.base import Reply
from harness.loadgen.protocol import Request


@dataclass
class Payload:
    """One payload of a scenario: an op and a request body, with what its reply must be."""

    name: str
    op: str
    body: bytes
    expected_opcodes: list[list[Any]] | None = None
    tokens: int = 0
    _good_bodies: set[bytes] = field(default_factory=set)

    def request(self) -> Request:
        """The request of LOADGEN.md's `bench_config`: body and the reply it must get."""
        return Request(self.op, self.body, self.expected_opcodes)

    def check(self, reply: Reply) -> bool:
        """True when `reply` is the right answer (LOADGEN.md: sampled bytes; diff opcodes, good bodies cached)."""
        if not reply.ok:
            return False
        if self.op == "echo":
            got, want = reply.body, self.body
            if len(got) != len(want):
                return False
            n = len(want)
            if n <= 64:
                return got == want
            mid = n // 2
            return got[:16] == want[:16] and got[-16:] == want[-16:] and got[mid:mid + 16] == want[mid:mid + 16]
        if reply.opcodes is not None:
            return reply.opcodes == self.expected_opcodes
        if reply.body in self._good_bodies:
            return True
        try:
            ok = json.loads(reply.body).get("opcodes") == self.expected_opcodes
        except (ValueError, AttributeError):
            return False
        if ok and len(self._good_bodies) < 4:
            self._good_bodies.add(reply.body)
        return ok


def make_payload(spec: dict[str, Any], seed: int = 1) -> Payload:
    """A Payload from a scenario's `[[payloads]]` entry: `{name, op, size}` or `{name, op, tokens}`."""
    name, op = str(spec["name"]), str(spec["op"])
    rng = random.Random(f"{seed}:{name}")
    if op == "echo":
        size = int(spec["size"])
        # Printable ASCII so that text-only transports (Celery) carry the same bytes.
        alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
        body = bytes(rng.choice(alphabet) for _ in range(size))
        return Payload(name, op, body)
    if op == "diff":
        tokens = int(spec["tokens"])
        a, b = diff_inputs(rng, tokens)
        body = json.dumps({"a": a, "b": b}).encode()
        ops = [list(o) for o in difflib.SequenceMatcher(None, a, b).get_opcodes()]
        return Payload(name, op, body, expected_opcodes=ops, tokens=len(a) + len(b))
    raise ValueError(f"payload {name!r}: op must be echo or diff, not {op!r}")


def payload_of(name: str, request: Request) -> Payload:
    """The Payload a generator checks replies with, from a `bench_config` request."""
    tokens = 0
    if request.op == "diff":
        doc = json.loads(request.body)
        tokens = len(doc["a"]) + len(doc["b"])
    return Payload(name, request.op, request.body, expected_opcodes=request.opcodes, tokens=tokens)


def diff_inputs(rng: random.Random, tokens: int) -> tuple[list[str], list[str]]:
    """Two token lists of about `tokens` tokens in all, like two versions of a source file."""
    half = max(1, tokens // 2)
    words = ["def", "return", "if", "else", "for", "x", "y", "=", "+", "(", ")", ":", "self", "None"]
    a = [f"{rng.choice(words)} {rng.randint(0, half // 4 + 1)}" for _ in range(half)]
    b: list[str] = []
    for t in a:
        r = rng.random()
        if r < 0.03:
            continue
        if r < 0.06:
            b.append(t + " changed")
            continue
        if r < 0.09:
            b.append(f"new {rng.randint(0, 999)}")
        b.append(t)
    return a, b


def user_class_name(service: str, transport: str, payload: str) -> str:
    """The Locust User class name of a cell (a Python identifier)."""
    return f"{service}_{transport}_{payload}".replace("-", "_").replace(".", "_")
