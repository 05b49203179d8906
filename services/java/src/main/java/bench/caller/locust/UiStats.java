package bench.caller.locust;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * One user's requests in the shape of Locust's {@code StatsEntry} (locust/stats.py), for the
 * {@code stats} message that feeds Locust's web UI (never the results): whole-millisecond
 * {@code response_times} buckets rounded as {@code bucket_response_time} rounds them, and
 * per-second request and failure counts keyed by Unix second. Each user logs into its own
 * instance (its lock is uncontended but for the reporter), and the reporter drains them all
 * into one entry every 3 s.
 */
public final class UiStats {
    private static final int DIRECT = 100;

    private long requests;
    private long failures;
    private double totalResponseTime;
    private double maxResponseTime;
    private double minResponseTime = -1;
    private long contentLength;
    private final long[] small = new long[DIRECT]; // response times 0..99 ms
    private final Map<Long, Long> large = new TreeMap<>();
    private final Map<Long, Long> perSecond = new TreeMap<>();
    private final Map<Long, Long> failPerSecond = new TreeMap<>();
    private double lastRequest = -1;
    private double startTime = nowSeconds();

    static double nowSeconds() {
        return System.currentTimeMillis() / 1000.0;
    }

    /** Locust's {@code bucket_response_time}: whole ms under 100, then 2 significant digits. */
    public static long bucket(double ms) {
        if (ms < 100) {
            return Math.round(ms);
        } else if (ms < 1000) {
            return Math.round(ms / 10) * 10;
        } else if (ms < 10000) {
            return Math.round(ms / 100) * 100;
        }
        return Math.round(ms / 1000) * 1000;
    }

    /** One request of {@code ms} milliseconds, {@code length} reply bytes; {@code failed} for wrong and error. */
    public synchronized void log(double ms, long length, boolean failed) {
        double now = nowSeconds();
        long second = (long) now;
        requests++;
        perSecond.merge(second, 1L, Long::sum);
        lastRequest = now;
        totalResponseTime += ms;
        maxResponseTime = Math.max(maxResponseTime, ms);
        minResponseTime = minResponseTime < 0 ? ms : Math.min(minResponseTime, ms);
        long b = bucket(ms);
        if (b < DIRECT) {
            small[(int) b]++;
        } else {
            large.merge(b, 1L, Long::sum);
        }
        contentLength += length;
        if (failed) {
            failures++;
            failPerSecond.merge(second, 1L, Long::sum);
        }
    }

    /** Add this user's counts into {@code into} and reset them (Locust's {@code get_stripped_report}). */
    synchronized void drainInto(UiStats into) {
        into.requests += requests;
        into.failures += failures;
        into.totalResponseTime += totalResponseTime;
        into.maxResponseTime = Math.max(into.maxResponseTime, maxResponseTime);
        if (minResponseTime >= 0) {
            into.minResponseTime = into.minResponseTime < 0 ? minResponseTime
                    : Math.min(into.minResponseTime, minResponseTime);
        }
        into.contentLength += contentLength;
        for (int i = 0; i < DIRECT; i++) {
            into.small[i] += small[i];
        }
        large.forEach((k, v) -> into.large.merge(k, v, Long::sum));
        perSecond.forEach((k, v) -> into.perSecond.merge(k, v, Long::sum));
        failPerSecond.forEach((k, v) -> into.failPerSecond.merge(k, v, Long::sum));
        into.lastRequest = Math.max(into.lastRequest, lastRequest);
        into.startTime = Math.min(into.startTime, startTime);
        reset();
    }

    private void reset() {
        requests = 0;
        failures = 0;
        totalResponseTime = 0;
        maxResponseTime = 0;
        minResponseTime = -1;
        contentLength = 0;
        java.util.Arrays.fill(small, 0);
        large.clear();
        perSecond.clear();
        failPerSecond.clear();
        lastRequest = -1;
        startTime = nowSeconds();
    }

    /** Locust's {@code StatsEntry.serialize()} of these counts under {@code name} and {@code method}. */
    Map<String, Object> entry(String name, String method) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", name);
        m.put("method", method);
        m.put("last_request_timestamp", lastRequest < 0 ? null : lastRequest);
        m.put("start_time", startTime);
        m.put("num_requests", requests);
        m.put("num_none_requests", 0L);
        m.put("num_failures", failures);
        m.put("total_response_time", totalResponseTime);
        m.put("max_response_time", maxResponseTime);
        m.put("min_response_time", minResponseTime < 0 ? null : minResponseTime);
        m.put("total_content_length", contentLength);
        Map<Long, Long> rt = new TreeMap<>(large);
        for (int i = 0; i < DIRECT; i++) {
            if (small[i] > 0) {
                rt.put((long) i, small[i]);
            }
        }
        m.put("response_times", rt);
        m.put("num_reqs_per_sec", new TreeMap<>(perSecond));
        m.put("num_fail_per_sec", new TreeMap<>(failPerSecond));
        return m;
    }

    /**
     * The data of Locust's {@code stats} message: every user's counts since the last report
     * as one entry ({@code name}, {@code method}) and as {@code stats_total} ("Aggregated").
     */
    public static Map<String, Object> report(List<UiStats> users, String name, String method, int userCount,
            String userClass) {
        UiStats sum = new UiStats();
        for (UiStats u : users) {
            u.drainInto(sum);
        }
        Map<String, Object> data = new LinkedHashMap<>();
        List<Object> stats = new ArrayList<>();
        if (sum.requests > 0 || sum.failures > 0) {
            stats.add(sum.entry(name, method));
        }
        data.put("stats", stats);
        data.put("stats_total", sum.entry("Aggregated", ""));
        data.put("errors", new LinkedHashMap<>());
        data.put("user_classes_count", Map.of(userClass, (long) userCount));
        data.put("user_count", (long) userCount);
        return data;
    }
}
