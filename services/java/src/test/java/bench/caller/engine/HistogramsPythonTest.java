package bench.caller.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import bench.caller.Interop;
import bench.caller.PythonProcess;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.HdrHistogram.AbstractHistogram;
import org.HdrHistogram.Histogram;
import org.junit.jupiter.api.Test;

/** LOADGEN.md "Histograms": a Java histogram is, to Python's hdrh, the histogram of the same values. */
class HistogramsPythonTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void javaHistogramsDecodeAndMergeExactlyInPython() throws Exception {
        assumeTrue(PythonProcess.available(), "no .venv: skipped");
        SplittableRandom rng = new SplittableRandom(5);
        List<Long> values = new ArrayList<>();
        Histogram h = Histograms.create();
        for (int i = 0; i < 20_000; i++) {
            // log-uniform from 1 µs to ~2 min: every bucket size, and values clamped at both ends
            long v = (long) Math.exp(rng.nextDouble() * Math.log(120e6));
            values.add(v);
            Histograms.recordNanos(h, v * 1000);
        }
        values.add(0L);
        Histograms.recordNanos(h, 0);
        values.add(60_000_000L);
        Histograms.recordNanos(h, 60_000_000L * 1000);
        String text = Histograms.encode(h);
        JsonNode out = JSON.readTree(Interop.run("hdr", JSON.writeValueAsString(Map.of("values", values, "java", text))));
        assertEquals(List.of(), JSON.convertValue(out.get("diffs"), List.class));
        assertEquals(2 * h.getTotalCount(), out.get("merged_count").asLong());
        // Python's encoding decodes in Java to the same histogram; the merge equals adding in Java
        AbstractHistogram py = Histograms.decode(out.get("python").asText());
        assertEquals(h, py);
        Histogram sum = h.copy();
        sum.add(py);
        assertEquals(sum, Histograms.decode(out.get("merged").asText()));
        assertEquals(out.get("merged_p99").asLong(), Histograms.valueAtPercentile(sum, 99));
        // the summary is harness.results.stats.summarize's, value for value
        JsonNode s = out.get("summary");
        Map<String, Object> mine = Histograms.summary(h);
        for (String k : List.of("p50", "p90", "p99", "p99.9", "min", "mean", "max", "count")) {
            assertEquals(s.get(k).asDouble(), ((Number) mine.get(k)).doubleValue(), 1e-9, k);
        }
    }

    @Test
    void microsecondsAreRoundedHalfUpAndClamped() {
        assertEquals(1, Histograms.micros(0));
        assertEquals(1, Histograms.micros(-5_000));
        assertEquals(1, Histograms.micros(1_499));
        assertEquals(2, Histograms.micros(1_500));
        assertEquals(64, Histograms.micros(63_500));
        assertEquals(63, Histograms.micros(63_499));
        assertEquals(60_000_000, Histograms.micros(61_000_000_000L));
        assertEquals(Map.of("count", 0L), Histograms.summary(Histograms.create()));
    }
}
