"""Conformance of the Python service over every transport, against a real redis-server,
and proof that the checks fail when a reply is wrong."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness import REPO
from harness.contract.manifest import Service
from harness.contract.vectors import DiffVector
from harness.processes.supervisor import Supervisor
from harness.verify.conformance import check_endpoint

TRANSPORTS = ("http", "zmq", "redis", "grpc", "celery")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_python_service_conforms(python_service: Service, supervisor: Supervisor, transport: str) -> None:
    proc, endpoint = supervisor.start(python_service, transport)
    result = check_endpoint(endpoint)
    assert result.failures == []
    assert result.passed >= 100
    assert proc.alive(), "the service must survive every vector"


def test_a_wrong_answer_is_caught(python_service: Service, supervisor: Supervisor,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import harness.verify.conformance as conformance

    wrong = DiffVector("deliberately-wrong", ["a", "b"], ["a", "c"], [["equal", 0, 2, 0, 2]])
    monkeypatch.setattr(conformance, "diff_vectors", lambda: [wrong])
    _, endpoint = supervisor.start(python_service, "http")
    result = check_endpoint(endpoint)
    assert [f.name for f in result.failures] == ["diff/deliberately-wrong"]
    assert "replace" in result.failures[0].actual


def test_check_cli_prints_a_matrix_and_exit_code() -> None:
    out = subprocess.run([sys.executable, "-m", "harness", "check", "python", "-t", "http", "-t", "zmq"],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "conformance passed" in out.stdout
    assert "python" in out.stdout.splitlines()[-3]


def test_check_cli_unknown_service_says_what_exists() -> None:
    out = subprocess.run([sys.executable, "-m", "harness", "check", "cobol"], cwd=REPO, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2
    assert "unknown service(s) cobol; available:" in out.stderr
