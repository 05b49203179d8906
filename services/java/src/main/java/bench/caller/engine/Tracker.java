package bench.caller.engine;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;
import org.HdrHistogram.AbstractHistogram;
import org.HdrHistogram.AtomicHistogram;

/**
 * What each phase of a started plan measured (LOADGEN.md "Timing and checking"), recorded by
 * every user thread at once: the histograms are HdrHistogram's lock-free {@link AtomicHistogram}
 * with the harness's parameters, the counters {@link LongAdder}s. Times are
 * {@link System#nanoTime()} nanoseconds.
 */
public final class Tracker {
    /** A free user waking, or a slot taken, more than this after its due time is counted (5 ms). */
    public static final long LATE_NANOS = 5_000_000L;
    public static final int MAX_SAMPLES = 5;
    public static final int MAX_SAMPLE_CHARS = 300;

    /** How a request ended. */
    public enum Outcome { RIGHT, WRONG, ERROR }

    private final Plan plan;
    private final long[] bounds;
    private final PhaseStats[] phases;

    /** One phase's measurements. */
    static final class PhaseStats {
        final AtomicHistogram corrected = atomic();
        final AtomicHistogram uncorrected;
        final AtomicHistogram wakeupLag = atomic();
        final AtomicHistogram queueDelay = atomic();
        final LongAdder requests = new LongAdder();
        final LongAdder errors = new LongAdder();
        final LongAdder wrong = new LongAdder();
        final LongAdder lateWakeups = new LongAdder();
        final LongAdder queued = new LongAdder();
        final List<String> samples = new ArrayList<>();

        PhaseStats(boolean openLoop) {
            uncorrected = openLoop ? atomic() : corrected; // closed loop: one value, one histogram
        }
    }

    private static AtomicHistogram atomic() {
        return new AtomicHistogram(Histograms.LOWEST_US, Histograms.HIGHEST_US, Histograms.SIGNIFICANT);
    }

    /** The plan, started at {@code start} (nanoTime). */
    public Tracker(Plan plan, long start) {
        this.plan = plan;
        this.bounds = plan.bounds(start);
        this.phases = new PhaseStats[plan.phases().size()];
        for (int i = 0; i < phases.length; i++) {
            phases[i] = new PhaseStats(plan.openLoop());
        }
    }

    public Plan plan() {
        return plan;
    }

    /** Phase starts and the plan's end (nanoTime). */
    public long[] bounds() {
        return bounds.clone();
    }

    public long start() {
        return bounds[0];
    }

    public long end() {
        return bounds[bounds.length - 1];
    }

    /** The phase holding time {@code t}, or -1 outside the plan. */
    public int phaseAt(long t) {
        return Plan.phaseAt(bounds, t);
    }

    /**
     * One request of phase {@code phase} (that of its intended time): corrected latency from
     * {@code intended}, uncorrected from {@code sent}; a {@code message} for wrong and error.
     */
    public void record(int phase, long intended, long sent, long done, Outcome outcome, String message) {
        PhaseStats p = phases[phase];
        p.requests.increment();
        p.corrected.recordValue(Histograms.micros(done - intended));
        if (p.uncorrected != p.corrected) {
            p.uncorrected.recordValue(Histograms.micros(done - sent));
        }
        if (outcome != Outcome.RIGHT) {
            (outcome == Outcome.ERROR ? p.errors : p.wrong).increment();
            synchronized (p.samples) {
                if (p.samples.size() < MAX_SAMPLES) {
                    String m = message == null ? outcome.name().toLowerCase() : message;
                    p.samples.add(m.length() > MAX_SAMPLE_CHARS ? m.substring(0, MAX_SAMPLE_CHARS) : m);
                }
            }
        }
    }

    /** A free user woke {@code lagNanos} after its slot's due time. */
    public void wakeup(int phase, long lagNanos) {
        PhaseStats p = phases[phase];
        p.wakeupLag.recordValue(Histograms.micros(lagNanos));
        if (lagNanos > LATE_NANOS) {
            p.lateWakeups.increment();
        }
    }

    /** A slot was taken {@code delayNanos} after its due time because every user was busy. */
    public void queued(int phase, long delayNanos) {
        PhaseStats p = phases[phase];
        p.queueDelay.recordValue(Histograms.micros(delayNanos));
        if (delayNanos > LATE_NANOS) {
            p.queued.increment();
        }
    }

    public long requests(int phase) {
        return phases[phase].requests.sum();
    }

    public long errors(int phase) {
        return phases[phase].errors.sum();
    }

    public long wrong(int phase) {
        return phases[phase].wrong.sum();
    }

    public long lateWakeups(int phase) {
        return phases[phase].lateWakeups.sum();
    }

    public long queuedCount(int phase) {
        return phases[phase].queued.sum();
    }

    public AbstractHistogram corrected(int phase) {
        return phases[phase].corrected;
    }

    public AbstractHistogram uncorrected(int phase) {
        return phases[phase].uncorrected;
    }

    public List<String> samples(int phase) {
        synchronized (phases[phase].samples) {
            return List.copyOf(phases[phase].samples);
        }
    }

    /**
     * The {@code phases} list of {@code bench_results} (LOADGEN.md), one entry per plan phase;
     * {@code schedule} is null in closed loop.
     */
    public List<Map<String, Object>> results(String cellName, Schedule schedule) {
        List<Map<String, Object>> out = new ArrayList<>();
        for (int i = 0; i < phases.length; i++) {
            PhaseSpec spec = plan.phases().get(i);
            PhaseStats p = phases[i];
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", spec.name());
            m.put("measured", spec.measured());
            m.put("rate", spec.rate());
            m.put("duration_s", spec.durationS());
            m.put("issued", schedule == null ? 0L : schedule.issued(i));
            m.put("dropped", schedule == null ? 0L : schedule.dropped(i));
            m.put("late_wakeups", p.lateWakeups.sum());
            m.put("queued", p.queued.sum());
            m.put("wakeup_lag_us", summary(p.wakeupLag));
            m.put("queue_delay_us", summary(p.queueDelay));
            Map<String, Object> cells = new LinkedHashMap<>();
            long n = p.requests.sum();
            if (n > 0) {
                Map<String, Object> c = new LinkedHashMap<>();
                c.put("requests", n);
                c.put("errors", p.errors.sum());
                c.put("wrong", p.wrong.sum());
                c.put("error_samples", samples(i));
                c.put("latency_us", summary(p.corrected));
                c.put("latency_uncorrected_us", summary(p.uncorrected));
                c.put("histogram", Histograms.encode(p.corrected));
                c.put("histogram_uncorrected", Histograms.encode(p.uncorrected));
                cells.put(cellName, c);
            }
            m.put("cells", cells);
            out.add(m);
        }
        return out;
    }

    private static Map<String, Object> summary(AbstractHistogram h) {
        return Histograms.summary(h);
    }
}
