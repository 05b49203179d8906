"""The shared vectors: coverage, agreement with difflib, and regeneration."""

from __future__ import annotations

import difflib
import importlib.util
import json
from pathlib import Path

import pytest

from harness import REPO
from harness.contract.vectors import body_of, diff_vectors, echo_vectors, error_vectors


def test_counts_and_error_rows() -> None:
    assert len(diff_vectors()) >= 80
    assert len(echo_vectors()) >= 15
    assert {v.error for v in error_vectors()} == {"bad_request", "unknown_op", "too_large", "internal"}


def test_diff_vectors_agree_with_difflib() -> None:
    for v in diff_vectors():
        assert [list(o) for o in difflib.SequenceMatcher(None, v.a, v.b).get_opcodes()] == v.opcodes, v.name


def test_autojunk_boundary_is_covered() -> None:
    lengths = {len(v.b) for v in diff_vectors() if v.name.startswith("autojunk")}
    assert {199, 200, 201} <= lengths


def test_body_segments() -> None:
    assert body_of([["YWI=", 3], ["eA==", 1]]) == b"abababx"
    over = next(v for v in error_vectors() if v.name == "echo-over-limit")
    assert len(over.body) == 16 * 1024 * 1024 + 1


def test_generator_is_deterministic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = importlib.util.spec_from_file_location("gen_vectors", REPO / "contract" / "gen_vectors.py")
    assert spec and spec.loader
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    monkeypatch.setattr(gen, "OUT", tmp_path)
    assert gen.main() == 0
    for name in ("diff.json", "echo.json", "errors.json"):
        fresh = json.loads((tmp_path / name).read_text())
        committed = json.loads((REPO / "contract" / "vectors" / name).read_text())
        assert fresh == committed, f"{name} differs from the generator's output: run `make vectors` and commit"
