"""The operations against every vector in contract/vectors, and the edge cases of validation."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bench_service.ops import (
    FAULT_TOKEN,
    BenchError,
    Service,
    Settings,
    parse_diff_request,
)
from tests.support import body_of, diff_body, load_vectors

HOOKED = Service(Settings.from_env({"BENCH_TEST_HOOKS": "1"}))
PLAIN = Service(Settings.from_env({}))


@pytest.mark.parametrize("vector", load_vectors("diff"), ids=lambda v: v["name"])
def test_diff_vector(vector: dict[str, Any]) -> None:
    code, reply = HOOKED.handle("diff", diff_body(vector))
    assert code is None, reply
    assert json.loads(reply) == {"opcodes": vector["opcodes"]}
    assert [list(op) for op in HOOKED.diff_tokens(vector["a"], vector["b"])] == vector["opcodes"]


@pytest.mark.parametrize("vector", load_vectors("echo"), ids=lambda v: v["name"])
def test_echo_vector(vector: dict[str, Any]) -> None:
    body = body_of(vector)
    assert HOOKED.handle("echo", body) == (None, body)


@pytest.mark.parametrize("vector", load_vectors("errors"), ids=lambda v: v["name"])
def test_error_vector(vector: dict[str, Any]) -> None:
    code, reply = HOOKED.handle(vector["op"], body_of(vector))
    assert code == vector["error"]
    doc = json.loads(reply)
    assert doc["error"] == vector["error"]
    assert isinstance(doc["message"], str) and doc["message"]


def test_fault_token_is_ordinary_without_hooks() -> None:
    code, reply = PLAIN.handle("diff", json.dumps({"a": [FAULT_TOKEN], "b": []}).encode())
    assert code is None
    assert json.loads(reply) == {"opcodes": [["delete", 0, 1, 0, 0]]}


def test_number_beyond_int_digit_limit_is_bad_request() -> None:
    body = b'{"a": [' + b"9" * 5000 + b'], "b": []}'
    with pytest.raises(BenchError) as e:
        parse_diff_request(body)
    assert e.value.code == "bad_request"


def test_valid_surrogate_pair_escape_is_accepted() -> None:
    a, b = parse_diff_request(b'{"a": ["\\ud83d\\ude00"], "b": ["\\u00e9"]}')
    assert a == ["\U0001f600"] and b == ["\u00e9"]


def test_utf16_json_is_not_accepted() -> None:
    body = json.dumps({"a": [], "b": []}).encode("utf-16")
    assert PLAIN.handle("diff", body)[0] == "bad_request"


def test_limits_are_settings() -> None:
    small = Service(Settings(max_body_bytes=10, max_diff_tokens=3))
    assert small.handle("echo", b"x" * 10) == (None, b"x" * 10)
    assert small.handle("echo", b"x" * 11)[0] == "too_large"
    assert small.handle("diff", b'{"a":["x"],"b":["y"]}')[0] == "too_large"  # 21 bytes > 10
    tokens = Service(Settings(max_diff_tokens=3))
    assert tokens.handle("diff", b'{"a":["x","y"],"b":["y"]}')[0] is None
    assert tokens.handle("diff", b'{"a":["x","y"],"b":["y","z"]}')[0] == "too_large"


def test_token_limit_is_checked_after_shape() -> None:
    tokens = Service(Settings(max_diff_tokens=1))
    assert tokens.handle("diff", b'{"a":["x","y"],"b":[1]}')[0] == "bad_request"


def test_health_object() -> None:
    code, reply = PLAIN.handle("health", b"")
    assert code is None
    doc = json.loads(reply)
    assert doc["service"] == "python" and doc["language"] == "Python"
    assert doc["runtime"].startswith("CPython 3.")
    assert set(doc["ops"]) >= {"echo", "diff"}


def test_extra_work_hook_spins_cpu() -> None:
    import time

    slow = Service(Settings.from_env({"BENCH_EXTRA_WORK_US": "20000"}))
    t0 = time.thread_time()
    assert slow.handle("echo", b"x") == (None, b"x")
    assert time.thread_time() - t0 >= 0.019


def test_bad_extra_work_setting_is_refused() -> None:
    with pytest.raises(ValueError, match="BENCH_EXTRA_WORK_US"):
        Settings.from_env({"BENCH_EXTRA_WORK_US": "fast"})
