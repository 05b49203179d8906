"""The fuzzer's generator: deterministic per seed and index, and every category generated."""

from __future__ import annotations

import pytest

from harness.contract.transports import TRANSPORTS
from harness.verify.fuzzgen import categories, generate, generate_many

INPUTS = 300


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_generator_is_deterministic(transport: str) -> None:
    first = generate_many(7, transport, 200)
    again = generate_many(7, transport, 200)
    assert first == again
    assert generate(7, transport, 150) == first[150]  # one input alone is the same: a reproducer
    other = generate_many(8, transport, 200)
    assert [i.body for i in other] != [i.body for i in first]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_every_category_is_generated(transport: str) -> None:
    seen = {i.category for i in generate_many(1, transport, INPUTS)}
    assert seen == set(categories(transport))
