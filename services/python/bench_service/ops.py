"""The contract's operations, free of I/O: validation, limits, test hooks, errors.

Every transport calls into one `Service` object. Byte-oriented transports (http, zmq, redis)
use `Service.handle(op, body)`; typed transports (grpc, celery) call `echo`/`diff_tokens`
directly and map `BenchError` codes to their own error forms.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import platform
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_DIFF_TOKENS = 100_000
FAULT_TOKEN = "__bench_fault__:internal"
OPS = ("echo", "diff", "health")

BAD_REQUEST = "bad_request"
UNKNOWN_OP = "unknown_op"
TOO_LARGE = "too_large"
INTERNAL = "internal"

Opcode = tuple[str, int, int, int, int]


class BenchError(Exception):
    """A contract error: `code` is one of the contract's error codes, `message` is for humans."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def body(self) -> bytes:
        """The contract's JSON error body for this error."""
        return error_body(self.code, self.message)


def error_body(code: str, message: str) -> bytes:
    """Encode `{"error": code, "message": message}` as compact UTF-8 JSON."""
    return json.dumps({"error": code, "message": message}, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Settings:
    """The service's limits and test hooks (see CONTRACT.md "Limits" and "Test hooks")."""

    max_body_bytes: int = MAX_BODY_BYTES
    max_diff_tokens: int = MAX_DIFF_TOKENS
    test_hooks: bool = False
    extra_work_us: int = 0
    service_name: str = "python"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read `BENCH_TEST_HOOKS` and `BENCH_EXTRA_WORK_US`; keyword overrides win."""
        env = os.environ if env is None else env
        raw_us = env.get("BENCH_EXTRA_WORK_US", "0").strip() or "0"
        try:
            extra_us = int(raw_us)
        except ValueError as e:
            raise ValueError(f"BENCH_EXTRA_WORK_US must be an integer of microseconds, got {raw_us!r}") from e
        if extra_us < 0:
            raise ValueError(f"BENCH_EXTRA_WORK_US must be >= 0, got {extra_us}")
        values: dict[str, Any] = {
            "test_hooks": env.get("BENCH_TEST_HOOKS", "") == "1",
            "extra_work_us": extra_us,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def runtime_version() -> str:
    """The runtime string reported by `health`, e.g. `CPython 3.11.7`."""
    return f"{platform.python_implementation()} {platform.python_version()}"


def busy_spin_us(us: int) -> None:
    """Burn `us` microseconds of this thread's CPU time (the BENCH_EXTRA_WORK_US hook)."""
    deadline = time.thread_time_ns() + us * 1000
    while time.thread_time_ns() < deadline:
        pass


def check_tokens(value: Any, name: str) -> list[str]:
    """Return `value` if it is a list of strings without lone surrogates, else raise bad_request."""
    if not isinstance(value, list):
        raise BenchError(BAD_REQUEST, f"'{name}' must be an array of strings")
    for token in value:
        if type(token) is not str:
            raise BenchError(BAD_REQUEST, f"'{name}' must be an array of strings")
    return value


def check_no_surrogates(tokens: list[str], name: str) -> None:
    """Raise bad_request if a token holds a lone surrogate (it cannot be encoded as UTF-8)."""
    for token in tokens:
        try:
            token.encode("utf-8")
        except UnicodeEncodeError as e:
            raise BenchError(BAD_REQUEST, f"'{name}' holds a string with a lone surrogate") from e


def parse_diff_request(body: bytes) -> tuple[list[str], list[str]]:
    """Decode and validate a `diff` request body (after the size check): UTF-8, JSON, shape."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BenchError(BAD_REQUEST, f"body is not valid UTF-8 (byte {e.start})") from e
    try:
        doc = json.loads(text)
    except RecursionError as e:
        raise BenchError(BAD_REQUEST, "body is JSON nested too deeply") from e
    except ValueError as e:  # JSONDecodeError, and int digit-limit errors for huge numbers
        raise BenchError(BAD_REQUEST, f"body is not valid JSON: {e}") from e
    if not isinstance(doc, dict):
        raise BenchError(BAD_REQUEST, "body must be a JSON object with arrays 'a' and 'b'")
    if "a" not in doc or "b" not in doc:
        raise BenchError(BAD_REQUEST, "body must have both 'a' and 'b'")
    a = check_tokens(doc["a"], "a")
    b = check_tokens(doc["b"], "b")
    # The text is valid UTF-8, so a lone surrogate can only come from a \u escape.
    if "\\u" in text:
        check_no_surrogates(a, "a")
        check_no_surrogates(b, "b")
    return a, b


@dataclass
class Service:
    """The operations of the contract, configured by `Settings`."""

    settings: Settings = field(default_factory=Settings)

    def __post_init__(self) -> None:
        self._health = json.dumps(
            {
                "service": self.settings.service_name,
                "language": "Python",
                "runtime": runtime_version(),
                "ops": list(OPS),
            },
            separators=(",", ":"),
        ).encode()

    def health(self) -> bytes:
        """The health object as JSON bytes."""
        return self._health

    def health_object(self) -> dict[str, Any]:
        """The health object as a dict (for celery)."""
        result: dict[str, Any] = json.loads(self._health)
        return result

    def check_size(self, size: int) -> None:
        """Raise too_large if a body of `size` bytes is over the limit."""
        if size > self.settings.max_body_bytes:
            raise BenchError(TOO_LARGE, f"body of {size} bytes is over the limit of "
                             f"{self.settings.max_body_bytes} bytes")

    def extra_work(self) -> None:
        """The BENCH_EXTRA_WORK_US hook: spin the configured CPU time, if any."""
        if self.settings.extra_work_us:
            busy_spin_us(self.settings.extra_work_us)

    def echo(self, body: bytes) -> bytes:
        """The `echo` operation: the same bytes."""
        self.check_size(len(body))
        if self.settings.extra_work_us:
            busy_spin_us(self.settings.extra_work_us)
        return body

    def diff_tokens(self, a: list[str], b: list[str]) -> Sequence[Opcode]:
        """The `diff` operation on validated token lists: difflib opcodes."""
        total = len(a) + len(b)
        if total > self.settings.max_diff_tokens:
            raise BenchError(TOO_LARGE, f"diff of {total} tokens is over the limit of "
                             f"{self.settings.max_diff_tokens} tokens")
        if self.settings.test_hooks and len(a) == 1 and a[0] == FAULT_TOKEN:
            raise RuntimeError("test hook: deliberate internal fault")
        if self.settings.extra_work_us:
            busy_spin_us(self.settings.extra_work_us)
        return difflib.SequenceMatcher(None, a, b).get_opcodes()

    def diff(self, body: bytes) -> bytes:
        """The `diff` operation on a request body: checks in the contract's order, JSON reply."""
        self.check_size(len(body))
        a, b = parse_diff_request(body)
        opcodes = self.diff_tokens(a, b)
        return json.dumps({"opcodes": opcodes}, separators=(",", ":")).encode()

    def handle(self, op: str, body: bytes) -> tuple[str | None, bytes]:
        """Run `op` on `body`; returns (None, reply) or (error code, error body). Never raises."""
        try:
            if op == "echo":
                return None, self.echo(body)
            if op == "diff":
                return None, self.diff(body)
            if op == "health":
                return None, self._health
            raise BenchError(UNKNOWN_OP, f"unknown op {op!r}; ops are {', '.join(OPS)}")
        except BenchError as e:
            return e.code, e.body()
        except Exception as e:
            log.exception("internal error in op %r", op)
            return INTERNAL, error_body(INTERNAL, f"internal error: {type(e).__name__}: {e}")
