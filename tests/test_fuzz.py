"""Fuzzing real services: a bounded run over real transports has no failure; a wrong answer is a failure.

The generator itself is tested in tests/unit/test_fuzzgen.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import harness.verify.fuzz as fuzz
from harness.contract.manifest import Service, discover
from harness.contract.transports import TRANSPORTS
from harness.processes.supervisor import Supervisor
from harness.verify.fuzzgen import Input, categories

INPUTS = 300


@pytest.fixture
def plain_supervisor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Supervisor]:
    """A supervisor with the test hooks off, as `python -m harness fuzz` runs services."""
    monkeypatch.delenv("BENCH_TEST_HOOKS", raising=False)
    sup = Supervisor(tmp_path / "logs")
    try:
        yield sup
    finally:
        sup.close()


def _assert_clean(result: fuzz.CellResult) -> None:
    assert result.error is None
    assert result.failures == [], fuzz.format_cell(result)
    assert result.inputs == INPUTS
    assert set(result.categories) == set(categories(result.transport))
    assert result.probes >= INPUTS // fuzz.PROBE_EVERY


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_python_service_survives_fuzzing(python_service: Service, plain_supervisor: Supervisor,
                                         transport: str) -> None:
    _assert_clean(fuzz.fuzz_cell(plain_supervisor, python_service, transport, INPUTS, seed=1))


def _other_services() -> list[Service]:
    return [s for name, s in sorted(discover().items()) if name != "python"]


@pytest.mark.parametrize("svc", _other_services(), ids=lambda s: s.name)
def test_other_services_survive_fuzzing(svc: Service, plain_supervisor: Supervisor) -> None:
    missing = svc.missing_programs()
    if missing:
        pytest.skip(f"{svc.name} needs {', '.join(missing)} on PATH")
    transport = "http" if "http" in svc.commands else svc.transports[0]
    _assert_clean(fuzz.fuzz_cell(plain_supervisor, svc, transport, INPUTS, seed=2))


def test_a_wrong_answer_is_a_failure(python_service: Service, plain_supervisor: Supervisor,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def expect_the_impossible(seed: int, transport: str, index: int) -> Input:
        return Input(index=index, category="echo_bytes", kind="op", op="echo", body=b"abc", accept=("unknown_op",))

    monkeypatch.setattr(fuzz, "generate", expect_the_impossible)
    result = fuzz.fuzz_cell(plain_supervisor, python_service, "zmq", 3, seed=1)
    assert [f["index"] for f in result.failures] == [0, 1, 2]
    assert "answered ok, expected unknown_op" in result.failures[0]["detail"]
    assert "--index 0" in fuzz.format_cell(result)
