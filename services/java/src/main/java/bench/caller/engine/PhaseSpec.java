package bench.caller.engine;

/**
 * One phase of a plan (LOADGEN.md "The plan").
 *
 * @param rate requests/s of this worker in open loop; null (or 0) for none
 */
public record PhaseSpec(String name, double durationS, Double rate, boolean measured) {
    public PhaseSpec {
        if (!(durationS >= 0) || Double.isInfinite(durationS)) {
            throw new IllegalArgumentException("phase '" + name + "': duration_s must be a finite number >= 0, got "
                    + durationS);
        }
        if (rate != null && !(rate >= 0)) {
            throw new IllegalArgumentException("phase '" + name + "': rate must be >= 0 or null, got " + rate);
        }
    }
}
