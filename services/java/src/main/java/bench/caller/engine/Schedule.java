package bench.caller.engine;

import java.util.SplittableRandom;

/**
 * Open-loop due times across the plan's phases, handed out in order to whichever user asks
 * (LOADGEN.md "The plan"): constant gaps of {@code 1/rate} or exponential gaps of mean
 * {@code 1/rate} from a PRNG seeded with the plan's seed. Each phase's schedule starts at the
 * phase's start and never crosses its end. Thread-safe.
 */
public final class Schedule {
    private final Plan plan;
    private final long[] bounds;
    private final boolean poisson;
    private final SplittableRandom rng;
    private final long[] issued;
    private final long[] dropped;
    private int phase;
    private double t; // seconds since the plan's start, of the last slot (or of the phase's start)

    /** A due time and the phase it belongs to. */
    public record Slot(long due, int phase) {
    }

    public Schedule(Plan plan, long[] bounds) {
        this.plan = plan;
        this.bounds = bounds;
        this.poisson = plan.arrival().equals("poisson");
        this.rng = new SplittableRandom(plan.seed());
        this.issued = new long[plan.phases().size()];
        this.dropped = new long[plan.phases().size()];
        this.phase = 0;
        this.t = 0;
    }

    private double phaseStartS(int i) {
        return (bounds[i] - bounds[0]) / 1e9;
    }

    private Slot advance() {
        while (phase < plan.phases().size()) {
            PhaseSpec p = plan.phases().get(phase);
            Double rate = p.rate();
            if (rate == null || rate <= 0) {
                nextPhase();
                continue;
            }
            double gap = poisson ? -Math.log(1.0 - rng.nextDouble()) / rate : 1.0 / rate;
            double next = t + gap;
            long due = bounds[0] + Math.round(next * 1e9);
            if (due - bounds[phase + 1] >= 0) {
                nextPhase();
                continue;
            }
            t = next;
            return new Slot(due, phase);
        }
        return null;
    }

    private void nextPhase() {
        phase++;
        if (phase < plan.phases().size()) {
            t = phaseStartS(phase);
        }
    }

    /** The next slot, or null when the plan is over. */
    public synchronized Slot next() {
        Slot s = advance();
        if (s != null) {
            issued[s.phase()]++;
        }
        return s;
    }

    /** At stop: every slot that fell due before {@code now} (inside the plan) and was never handed out is dropped. */
    public synchronized void countDropped(long now) {
        while (true) {
            Slot s = advance();
            if (s == null || s.due() - now >= 0) {
                return;
            }
            dropped[s.phase()]++;
        }
    }

    public synchronized long issued(int phase) {
        return issued[phase];
    }

    public synchronized long dropped(int phase) {
        return dropped[phase];
    }
}
