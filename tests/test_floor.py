"""The floor is a floor (issue 18): in one run, no service undercuts its transport's floor.

tests/scenarios/floor.toml runs every discovered service (`discover()`) and each transport's
floor over http, zmq, redis and grpc, echo 64 B, with the project's placement, three repetitions
of every cell. For each transport the floor's p50 latency and its service CPU per request must be
at or below every service's. Noise (harness/floor/check.py): each side is the median of its
repetitions (the floor's three run before the services and three after them: `floor_bracket`, so
that a drift of the caller's cost over the minute is on both sides); CPU per request is compared
strictly, a p50 below the floor's counts when every repetition of the service is below every
repetition of the floor. tests/unit/test_floor_check.py shows both comparisons fail when a
service is below. About 5 minutes on an idle machine (60 cells), longer on a busy one.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib

import pytest

from harness import REPO
from harness.contract.manifest import discover, discover_floors
from harness.floor.check import undercuts
from harness.results.aggregate import Row, aggregate
from harness.results.schema import load_run

SCENARIO = REPO / "tests" / "scenarios" / "floor.toml"
TRANSPORTS = tomllib.loads(SCENARIO.read_text())["transports"]


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> list[Row]:
    (floor,) = discover_floors()
    unbuilt = [c.split()[0] for t, c in floor.commands.items() if t in TRANSPORTS
               and not (floor.folder / c.split()[0]).exists()]
    if unbuilt:
        pytest.fail(f"the floor's binaries {unbuilt} are not built: run `python -m harness build floor`")
    out = tmp_path_factory.mktemp("run") / "floor"
    # --workers 1: a Locust master runs the plan's clock and ends the cell, so a load generator slow to start
    # on a busy machine still completes its measured phase (the stand-alone Locust's run time has 0.5 s to spare).
    proc = subprocess.run([sys.executable, "-m", "harness", "bench", "--workers", "1", "--scenario", str(SCENARIO),
                           "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run, _ = load_run(out)
    return aggregate(out, run.cells)


def _summary(rows: list[Row], transport: str) -> str:
    return "\n".join(f"  {r.service:8} p50 {r.p50_reps.get('median')} µs, CPU {r.service_us_per_req} µs/req "
                     f"({r.status}{': ' + r.reason[:200] if r.reason else ''})"
                     for r in rows if r.transport == transport)


def test_every_service_and_the_floor_ran(rows: list[Row]) -> None:
    for t in TRANSPORTS:
        expected = {name for name, s in discover().items() if t in s.commands}
        ran = {r.service for r in rows if r.transport == t and r.kind == "closed"}
        assert ran == expected, f"{t}: ran {sorted(ran)}, discovered {sorted(expected)}"
        assert [r.service for r in rows if r.transport == t and r.is_floor] == ["floor"], t


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_no_service_undercuts_the_floor(rows: list[Row], transport: str) -> None:
    found, missed = undercuts([r for r in rows if r.transport == transport])
    detail = _summary(rows, transport)
    assert not missed, "comparisons not made:\n" + "\n".join(missed) + "\n" + detail
    assert not found, "the floor is not a floor:\n" + "\n".join(map(str, found)) + "\n" + detail
