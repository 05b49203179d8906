package bench.caller.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** LOADGEN.md "The plan": due times, per phase, in order. */
class ScheduleTest {
    private static final long START = 1_000_000_000_000L;

    private static List<Schedule.Slot> all(Schedule s) {
        List<Schedule.Slot> out = new ArrayList<>();
        for (Schedule.Slot x = s.next(); x != null; x = s.next()) {
            out.add(x);
        }
        return out;
    }

    @Test
    void constantGapsStartAtEachPhaseAndNeverCrossItsEnd() {
        Plan plan = new Plan(List.of(new PhaseSpec("warmup", 1.0, 10.0, false), new PhaseSpec("closed", 0.5, null, true),
                new PhaseSpec("step", 1.0, 4.0, true)), true, "constant", 1);
        long[] b = plan.bounds(START);
        List<Schedule.Slot> slots = all(new Schedule(plan, b));
        // warm-up: 0.1 .. 0.9 s (1.0 is the phase's end, not inside it); nothing in the phase without a rate;
        // step (starts at 1.5 s): 1.75, 2.0, 2.25 (2.5 is its end)
        assertEquals(9 + 3, slots.size());
        for (int i = 0; i < 9; i++) {
            assertEquals(START + (i + 1) * 100_000_000L, slots.get(i).due(), "slot " + i);
            assertEquals(0, slots.get(i).phase());
        }
        assertEquals(START + 1_750_000_000L, slots.get(9).due());
        assertEquals(2, slots.get(9).phase());
        assertEquals(START + 2_250_000_000L, slots.get(11).due());
        for (Schedule.Slot s : slots) {
            assertEquals(s.phase(), Plan.phaseAt(b, s.due()), "a slot lies in its own phase");
        }
    }

    @Test
    void poissonMeanGapIsOneOverTheRateAndTheSeedFixesTheSequence() {
        Plan plan = new Plan(List.of(new PhaseSpec("p", 100.0, 1000.0, true)), true, "poisson", 42);
        long[] b = plan.bounds(START);
        List<Schedule.Slot> a = all(new Schedule(plan, b));
        List<Schedule.Slot> again = all(new Schedule(plan, b));
        assertEquals(a, again, "same seed, same sequence");
        // 100 000 expected arrivals: the count of a Poisson process has sd sqrt(n) ~ 316
        assertTrue(Math.abs(a.size() - 100_000) < 1500, "count " + a.size());
        double mean = (a.get(a.size() - 1).due() - START) / 1e9 / a.size();
        assertEquals(0.001, mean, 0.00002);
        double var = 0;
        for (int i = 1; i < a.size(); i++) {
            double g = (a.get(i).due() - a.get(i - 1).due()) / 1e9 - mean;
            var += g * g;
        }
        assertEquals(0.001, Math.sqrt(var / (a.size() - 1)), 0.00005, "exponential gaps: sd equals the mean");
        Plan other = new Plan(plan.phases(), true, "poisson", 43);
        assertTrue(!all(new Schedule(other, b)).subList(0, 10).equals(a.subList(0, 10)), "another seed differs");
    }

    @Test
    void slotsNeverHandedOutBeforeStopAreDroppedInTheirPhase() {
        Plan plan = new Plan(List.of(new PhaseSpec("a", 1.0, 10.0, true), new PhaseSpec("b", 1.0, 10.0, true)), true,
                "constant", 1);
        Schedule s = new Schedule(plan, plan.bounds(START));
        for (int i = 0; i < 3; i++) {
            assertNotNull(s.next());
        }
        s.countDropped(START + 1_450_000_000L); // slots at 0.4 .. 0.9 s and 1.1 .. 1.4 s were due
        assertEquals(3, s.issued(0));
        assertEquals(6, s.dropped(0));
        assertEquals(4, s.dropped(1));
        assertEquals(0, s.issued(1));
    }

    @Test
    void phaseAtAttributesByHalfOpenIntervals() {
        Plan plan = new Plan(List.of(new PhaseSpec("a", 1.0, null, false), new PhaseSpec("b", 2.0, null, true)), false,
                "constant", 1);
        long[] b = plan.bounds(START);
        assertEquals(-1, Plan.phaseAt(b, START - 1));
        assertEquals(0, Plan.phaseAt(b, START));
        assertEquals(1, Plan.phaseAt(b, START + 1_000_000_000L));
        assertEquals(1, Plan.phaseAt(b, START + 2_999_999_999L));
        assertEquals(-1, Plan.phaseAt(b, START + 3_000_000_000L));
        assertNull(new Schedule(plan, b).next(), "closed-loop phases have no slots");
        assertThrows(IllegalArgumentException.class, () -> new Plan(plan.phases(), true, "uniform", 1));
    }
}
