"""The transport registry: everything the harness knows about a transport, in one place."""

from __future__ import annotations

import dataclasses

import pytest

from harness.clients.base import ERROR_CODES
from harness.contract import transports as registry
from harness.contract.endpoint import Endpoint
from harness.contract.transports import REGISTRY, TRANSPORTS, Transport, get


def test_the_contract_transports_in_report_order() -> None:
    assert TRANSPORTS == ("http", "zmq", "redis", "grpc", "celery")
    assert [t.order for t in REGISTRY.values()] == sorted(t.order for t in REGISTRY.values())


@pytest.mark.parametrize("name", TRANSPORTS)
def test_each_transport_is_complete(name: str) -> None:
    t = get(name)
    if t.statuses:
        assert set(t.statuses) == set(ERROR_CODES)
    if t.broker:
        assert "{service}" in t.queue_pattern and t.queue("x", "1") != t.queue("y", "1")
    if t.built_on:
        assert t.built_on in REGISTRY
    ep = Endpoint("python", name, "127.0.0.1", 9, "redis://127.0.0.1:9/0", "q")
    assert ("queue" in ep.describe()) == t.broker


def test_an_unknown_transport_names_the_choices() -> None:
    with pytest.raises(ValueError, match="http, zmq"):
        get("carrier-pigeon")


def test_a_sixth_transport_needs_no_change_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """The report's line styles come from the registry: a new transport gets its own without an edit."""
    from harness.report import page

    extra = dataclasses.replace(REGISTRY["http"], name="quic", order=60, line_style=(0, (1, 1)))
    monkeypatch.setitem(registry.REGISTRY, "quic", extra)
    assert page.line_styles()["quic"] == (0, (1, 1))
    assert isinstance(registry.REGISTRY["quic"], Transport)
