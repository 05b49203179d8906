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
