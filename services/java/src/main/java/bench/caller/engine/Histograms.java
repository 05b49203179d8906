package bench.caller.engine;

import java.nio.ByteBuffer;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.DataFormatException;
import org.HdrHistogram.AbstractHistogram;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.HistogramIterationValue;

/**
 * The harness's microsecond histograms (LOADGEN.md "Histograms"): lowest 1, highest 60 000 000,
 * 3 significant digits, exchanged as HdrHistogram's V2 compressed encoding in base64, so that
 * they add bucket by bucket with Python's {@code hdrh} ones.
 */
public final class Histograms {
    public static final long LOWEST_US = 1;
    public static final long HIGHEST_US = 60_000_000;
    public static final int SIGNIFICANT = 3;

    private Histograms() {
    }

    /** An empty histogram with the harness's parameters. */
    public static Histogram create() {
        return new Histogram(LOWEST_US, HIGHEST_US, SIGNIFICANT);
    }

    /** Record nanoseconds as whole microseconds (half up), clamped into [1, 60 000 000]. */
    public static void recordNanos(AbstractHistogram h, long nanos) {
        h.recordValue(micros(nanos));
    }

    /** Nanoseconds as whole microseconds, rounded half up and clamped into the histogram's range. */
    public static long micros(long nanos) {
        long us = Math.floorDiv(nanos + 500, 1000);
        return us < LOWEST_US ? LOWEST_US : Math.min(us, HIGHEST_US);
    }

    /** The V2 compressed encoding, base64 (what Python's {@code HdrHistogram.decode} reads). */
    public static String encode(AbstractHistogram h) {
        ByteBuffer buf = ByteBuffer.allocate(h.getNeededByteBufferCapacity());
        int n = h.encodeIntoCompressedByteBuffer(buf);
        return Base64.getEncoder().encodeToString(java.util.Arrays.copyOf(buf.array(), n));
    }

    /** A histogram from {@link #encode}'s text (or Python's {@code encode()}). */
    public static Histogram decode(String text) {
        try {
            return Histogram.decodeFromCompressedByteBuffer(ByteBuffer.wrap(Base64.getDecoder().decode(text)), 0);
        } catch (DataFormatException e) {
            throw new IllegalArgumentException("not an HdrHistogram V2 compressed encoding: " + e.getMessage(), e);
        }
    }

    /**
     * The value at a percentile as Python's {@code hdrh} computes it (the harness's figures):
     * the first value whose cumulative count reaches {@code int(p * total / 100 + 0.5)} (at
     * least 1), as its highest equivalent value. Java's HdrHistogram 2.2 rounds that count up
     * instead, which can give the next value for the same histogram.
     */
    public static long valueAtPercentile(AbstractHistogram h, double percentile) {
        long target = Math.max(1, (long) (Math.min(percentile, 100.0) * h.getTotalCount() / 100 + 0.5));
        long total = 0;
        for (HistogramIterationValue v : h.recordedValues()) {
            total += v.getCountAtValueIteratedTo();
            if (total >= target) {
                return h.highestEquivalentValue(v.getValueIteratedTo());
            }
        }
        return 0;
    }

    /**
     * {@code {"count": 0}} when empty, else p50, p90, p99, p99.9, min, mean, max and count in µs,
     * as {@code harness/stats.py summarize} writes them.
     */
    public static Map<String, Object> summary(AbstractHistogram h) {
        Map<String, Object> m = new LinkedHashMap<>();
        long n = h.getTotalCount();
        if (n == 0) {
            m.put("count", 0L);
            return m;
        }
        m.put("p50", (double) valueAtPercentile(h, 50.0));
        m.put("p90", (double) valueAtPercentile(h, 90.0));
        m.put("p99", (double) valueAtPercentile(h, 99.0));
        m.put("p99.9", (double) valueAtPercentile(h, 99.9));
        m.put("min", (double) h.getMinValue());
        m.put("mean", Math.round(h.getMean() * 10.0) / 10.0);
        m.put("max", (double) h.getMaxValue());
        m.put("count", (double) n);
        return m;
    }
}
