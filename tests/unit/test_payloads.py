"""Payloads and the cheap check of every reply under load (harness/loadgen/payloads.py)."""

from __future__ import annotations

import difflib
import json

from harness.clients.base import Reply
from harness.loadgen.payloads import make_payload, payload_of, user_class_name


def test_payloads_are_deterministic_and_printable() -> None:
    a = make_payload({"name": "echo-1KiB", "op": "echo", "size": 1024})
    b = make_payload({"name": "echo-1KiB", "op": "echo", "size": 1024})
    assert a.body == b.body and len(a.body) == 1024 and a.body.isascii() and a.body.isalnum()
    assert make_payload({"name": "echo-other", "op": "echo", "size": 1024}).body != a.body


def test_echo_check_compares_small_bodies_whole_and_samples_large_ones() -> None:
    small = make_payload({"name": "e", "op": "echo", "size": 64})
    assert small.check(Reply(ok=True, body=small.body))
    assert not small.check(Reply(ok=True, body=small.body[:-1] + b"#"))
    assert not small.check(Reply(ok=False, body=small.body))
    big = make_payload({"name": "e", "op": "echo", "size": 4096})
    assert big.check(Reply(ok=True, body=big.body))
    assert not big.check(Reply(ok=True, body=big.body[:-1]))  # length
    for i in (0, 15, 2048, 2063, 4095):  # the sampled windows: first 16, middle 16, last 16 bytes
        wrong = bytearray(big.body)
        wrong[i] ^= 0x20
        assert not big.check(Reply(ok=True, body=bytes(wrong))), i


def test_diff_check_compares_opcodes_from_json_or_decoded() -> None:
    p = make_payload({"name": "diff-200", "op": "diff", "tokens": 200})
    doc = json.loads(p.body)
    want = [list(o) for o in difflib.SequenceMatcher(None, doc["a"], doc["b"]).get_opcodes()]
    assert p.expected_opcodes == want and p.tokens == len(doc["a"]) + len(doc["b"])
    body = json.dumps({"opcodes": want}).encode()
    assert p.check(Reply(ok=True, body=body))
    assert p.check(Reply(ok=True, body=body))  # the second time from the cache of good bodies
    assert p.check(Reply(ok=True, opcodes=want))  # gRPC and Celery carry decoded opcodes
    assert not p.check(Reply(ok=True, opcodes=want[:-1]))
    assert not p.check(Reply(ok=True, body=b'{"opcodes": []}'))
    assert not p.check(Reply(ok=True, body=b"not json"))
    assert not p.check(Reply(ok=False, body=body, error="internal"))


def test_a_payload_survives_the_protocol() -> None:
    p = make_payload({"name": "diff-50", "op": "diff", "tokens": 50})
    back = payload_of("x", p.request())
    assert (back.op, back.body, back.expected_opcodes, back.tokens) == (p.op, p.body, p.expected_opcodes, p.tokens)


def test_user_class_names_are_identifiers() -> None:
    assert user_class_name("java", "http", "echo-64B.v2").isidentifier()
