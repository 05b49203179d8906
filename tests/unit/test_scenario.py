"""Scenarios expand to cells: payloads limited to some transports, sweeps repeated and run to the break."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.run.scenario import cell_specs, load_scenario


def _scenario(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text('name = "s"\n[load]\nusers = 2\nduration_s = 1\nwarmup_s = 0.5\nrepetitions = 2\n'
                    '[[payloads]]\nname = "echo-64B"\nop = "echo"\nsize = 64\n' + extra)
    return path


def test_a_payload_runs_only_on_the_transports_it_names(tmp_path: Path) -> None:
    sc = load_scenario(_scenario(tmp_path, '[[payloads]]\nname = "diff-200"\nop = "diff"\ntokens = 200\n'
                                           'transports = ["http"]\n'))
    http = {(s.payload["name"], s.rep) for s in cell_specs(sc, "http", 1.0)}
    zmq = {(s.payload["name"], s.rep) for s in cell_specs(sc, "zmq", 1.0)}
    assert http == {("echo-64B", 0), ("echo-64B", 1), ("diff-200", 0), ("diff-200", 1)}
    assert zmq == {("echo-64B", 0), ("echo-64B", 1)}


def test_an_unknown_transport_of_a_payload_is_refused_with_the_choices(tmp_path: Path) -> None:
    path = _scenario(tmp_path, '[[payloads]]\nname = "d"\nop = "diff"\ntokens = 20\ntransports = ["htp"]\n')
    with pytest.raises(HarnessError, match="unknown transports.*choose from"):
        load_scenario(path)


def test_sweeps_are_repeated_with_their_own_seeds_and_extended_rates(tmp_path: Path) -> None:
    sc = load_scenario(_scenario(tmp_path, '[sweep]\nrates = [100, 200]\nmax_rate = 800\nstep_s = 1\n'))
    sweeps = [s for s in cell_specs(sc, "http", 1.0) if s.kind == "sweep"]
    assert [s.rep for s in sweeps] == [0, 1]
    assert sweeps[0].plan.seed != sweeps[1].plan.seed
    assert [p.rate for p in sweeps[0].plan.phases if p.measured] == [100, 200, 400, 800]


def _order(tmp_path: Path, top: str) -> list[tuple[str, str, list[int]]]:
    """The runner's work, in order: (service, transport, the repetitions of its cells)."""
    from harness.run.runner import Runner

    path = _scenario(tmp_path, "")
    path.write_text(top + path.read_text())  # top-level keys go before the tables
    runner = Runner(load_scenario(path), tmp_path / "out")
    return [(svc.name, t, [s.rep for s in specs]) for svc, t, specs in runner._plan_all()]


def test_the_floor_runs_before_each_transports_services(tmp_path: Path) -> None:
    order = _order(tmp_path, 'services = ["python"]\ntransports = ["http", "zmq"]\ncallers = ["python"]\n')
    assert order == [("floor", "http", [0, 1]), ("python", "http", [0, 1]),
                     ("floor", "zmq", [0, 1]), ("python", "zmq", [0, 1])]


def test_a_floor_bracket_runs_the_floor_again_after_the_services(tmp_path: Path) -> None:
    order = _order(tmp_path, 'services = ["python", "go"]\ntransports = ["http", "zmq"]\ncallers = ["python"]\n'
                             'floor_bracket = true\n')
    assert [(name, t) for name, t, _ in order] == [
        ("floor", "http"), ("python", "http"), ("go", "http"), ("floor", "http"),
        ("floor", "zmq"), ("python", "zmq"), ("go", "zmq"), ("floor", "zmq")]
    assert [reps for name, _, reps in order if name == "floor"] == [[0, 1], [2, 3], [0, 1], [2, 3]]
