"""The arrival schedule, phase attribution and coordinated-omission correction (harness/loadgen/schedule.py)."""

from __future__ import annotations

import statistics

import pytest

from harness.loadgen.protocol import PhaseSpec, Plan, Slo
from harness.loadgen.schedule import Schedule, Tracker


def _tracker(phases: list[PhaseSpec], open_loop: bool, start: float = 100.0, **kw: object) -> Tracker:
    t = Tracker(Plan(phases, open_loop=open_loop, **kw))  # type: ignore[arg-type]
    t.start(start)
    return t


def _slots(s: Schedule) -> list[tuple[float, int]]:
    out = []
    while (slot := s.next_slot()) is not None:
        out.append(slot)
    return out


def test_constant_arrivals_are_evenly_spaced_within_each_phase() -> None:
    # Rates whose gaps are exact binary fractions, so that no slot falls on a boundary by rounding.
    t = _tracker([PhaseSpec("warmup", 1.0, 8, False), PhaseSpec("measure", 2.0, 16)], open_loop=True)
    slots = _slots(Schedule(t.phases, "constant", seed=1))
    warm = [due for due, i in slots if i == 0]
    meas = [due for due, i in slots if i == 1]
    assert len(warm) == 7 and len(meas) == 31  # the schedule never crosses a phase's end
    assert warm[0] == 100.125 and meas[0] == 101.0625  # each phase starts its own schedule
    gaps = [b - a for a, b in zip(meas, meas[1:], strict=False)]
    assert all(g == 0.0625 for g in gaps)
    assert t.phases[0].issued == 7 and t.phases[1].issued == 31


def test_poisson_arrivals_have_the_offered_rate_and_depend_on_the_seed() -> None:
    def gaps(seed: int) -> list[float]:
        t = _tracker([PhaseSpec("measure", 200.0, 50)], open_loop=True)
        dues = [d for d, _ in _slots(Schedule(t.phases, "poisson", seed=seed))]
        return [b - a for a, b in zip(dues, dues[1:], strict=False)]

    g = gaps(7)
    assert statistics.mean(g) == pytest.approx(1 / 50, rel=0.05)
    assert statistics.stdev(g) == pytest.approx(1 / 50, rel=0.1)  # exponential: sd = mean
    assert gaps(7) == g and gaps(8) != g


def test_closed_loop_and_endless_phases_get_no_slots() -> None:
    t = _tracker([PhaseSpec("measure", 5.0, None)], open_loop=False)
    assert _slots(Schedule(t.phases, "constant", seed=1)) == []
    with pytest.raises(ValueError, match="arrival"):
        Schedule(t.phases, "bursty", seed=1)


def test_dropped_counts_slots_due_before_the_stop_that_were_never_sent() -> None:
    t = _tracker([PhaseSpec("measure", 1.0, 100)], open_loop=True)
    s = Schedule(t.phases, "constant", seed=1)
    for _ in range(10):
        s.next_slot()
    s.count_dropped(100.5)  # stopped at 0.5 s: slots due at 0.11 .. 0.49 were never taken
    assert t.phases[0].dropped == 39 and t.phases[0].issued == 10


def test_corrected_latency_counts_from_the_intended_time() -> None:
    t = _tracker([PhaseSpec("measure", 10.0, 100)], open_loop=True)
    s = 1_000_000_000
    # Due at 101.0 s, sent 30 ms late (every user was busy), answered 1 ms after the send.
    t.record("c", intended_ns=101 * s, sent_ns=101 * s + 30_000_000, done_ns=101 * s + 31_000_000,
             error=False, wrong=False, message="")
    c = t.phases[0].cells["c"]
    assert c.corrected.get_max_value() == pytest.approx(31_000, rel=0.001)
    assert c.uncorrected.get_max_value() == pytest.approx(1_000, rel=0.001)
    d = c.as_dict()
    assert d["latency_us"]["p50"] > d["latency_uncorrected_us"]["p50"]


def test_closed_loop_reports_one_histogram_as_both() -> None:
    t = _tracker([PhaseSpec("measure", 10.0)], open_loop=False)
    s = 1_000_000_000
    t.record("c", 101 * s, 101 * s, 101 * s + 250_000, error=False, wrong=False, message="")
    d = t.phases[0].cells["c"].as_dict()
    assert d["histogram"] == d["histogram_uncorrected"]
    assert d["latency_us"]["p50"] == pytest.approx(250, rel=0.001)


def test_requests_belong_to_the_phase_of_their_intended_time() -> None:
    t = _tracker([PhaseSpec("warmup", 1.0, None, False), PhaseSpec("measure", 1.0)], open_loop=False)
    s = 1_000_000_000
    t.record("c", int(100.9 * s), int(100.9 * s), int(101.5 * s), error=False, wrong=False, message="")  # warm-up
    t.record("c", int(101.1 * s), int(101.1 * s), int(101.2 * s), error=True, wrong=False, message="boom")
    t.record("c", int(99.0 * s), int(99.0 * s), int(99.1 * s), error=False, wrong=False, message="")  # before
    t.record("c", int(101.3 * s), int(101.3 * s), int(101.4 * s), error=False, wrong=True, message="bad bytes")
    warm, meas = t.phases
    assert warm.cells["c"].requests == 1
    m = meas.cells["c"]
    assert (m.requests, m.errors, m.wrong, m.samples) == (2, 1, 1, ["boom", "bad bytes"])


def test_late_wakeups_and_queued_slots_are_counted_past_5_ms() -> None:
    t = _tracker([PhaseSpec("measure", 10.0, 100)], open_loop=True)
    t.note_wakeup(0, 0.001)
    t.note_wakeup(0, 0.006)
    t.note_queued(0, 0.002)
    t.note_queued(0, 0.050)
    p = t.phases[0].as_dict()
    assert (p["late_wakeups"], p["queued"]) == (1, 1)
    assert p["wakeup_lag_us"]["count"] == 2 and p["queue_delay_us"]["max"] == pytest.approx(50_000, rel=0.001)


def test_a_step_breaks_the_objective_on_p99_errors_or_falling_behind() -> None:
    s = 1_000_000_000

    def step(latency_us: int, n: int, errors: int, issued: int) -> bool:
        t = _tracker([PhaseSpec("step-1", 10.0, 100)], open_loop=True, slo=Slo(p99_us=1000, max_error_rate=0.1))
        for k in range(n):
            t.record("c", 101 * s + k, 101 * s + k, 101 * s + k + latency_us * 1000, error=k < errors, wrong=False,
                     message="")
        t.phases[0].issued = issued
        return t.breaks_slo(t.phases[0])

    assert not step(500, 100, 0, 100)
    assert step(2000, 100, 0, 100)  # p99 over the objective
    assert step(500, 100, 20, 100)  # 20% errors
    assert step(500, 50, 0, 100)  # half of what the schedule issued
