package bench.caller.engine;

import java.util.List;

/**
 * The phases a worker runs back to back from the start time, closed or open loop
 * (LOADGEN.md "The plan"). Times are {@link System#nanoTime()} nanoseconds once started.
 */
public record Plan(List<PhaseSpec> phases, boolean openLoop, String arrival, long seed) {
    public Plan {
        phases = List.copyOf(phases);
        if (!arrival.equals("constant") && !arrival.equals("poisson")) {
            throw new IllegalArgumentException("plan.arrival is \"constant\" or \"poisson\", not \"" + arrival + "\"");
        }
    }

    /** The absolute start of each phase, and the end of the last, for a plan starting at {@code start}. */
    public long[] bounds(long start) {
        long[] b = new long[phases.size() + 1];
        b[0] = start;
        double t = 0;
        for (int i = 0; i < phases.size(); i++) {
            t += phases.get(i).durationS();
            b[i + 1] = start + Math.round(t * 1e9);
        }
        return b;
    }

    /** The phase holding time {@code t} among {@code bounds}, or -1 outside the plan. */
    public static int phaseAt(long[] bounds, long t) {
        if (t - bounds[0] < 0 || t - bounds[bounds.length - 1] >= 0) {
            return -1;
        }
        for (int i = 1; i < bounds.length; i++) {
            if (t - bounds[i] < 0) {
                return i - 1;
            }
        }
        return -1;
    }
}
