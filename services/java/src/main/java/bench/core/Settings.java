package bench.core;

import java.util.Map;

/**
 * The service's limits and test hooks (CONTRACT.md "Limits" and "Test hooks").
 *
 * @param maxBodyBytes  a body over this many bytes is {@code too_large}
 * @param maxDiffTokens a diff with more tokens in a and b together is {@code too_large}
 * @param testHooks     BENCH_TEST_HOOKS=1: the fault token raises an internal error
 * @param extraWorkUs   BENCH_EXTRA_WORK_US: busy-spin this many microseconds per echo/diff
 */
public record Settings(int maxBodyBytes, int maxDiffTokens, boolean testHooks, long extraWorkUs) {
    public static final int MAX_BODY_BYTES = 16 * 1024 * 1024;
    public static final int MAX_DIFF_TOKENS = 100_000;

    public Settings {
        if (maxBodyBytes < 1 || maxDiffTokens < 1 || extraWorkUs < 0) {
            throw new IllegalArgumentException("limits must be positive and extra work >= 0");
        }
    }

    /** The defaults, without hooks. */
    public static Settings defaults() {
        return new Settings(MAX_BODY_BYTES, MAX_DIFF_TOKENS, false, 0);
    }

    /** Read BENCH_TEST_HOOKS and BENCH_EXTRA_WORK_US from {@code env}. */
    public static Settings fromEnv(Map<String, String> env, int maxBodyBytes, int maxDiffTokens) {
        String rawUs = env.getOrDefault("BENCH_EXTRA_WORK_US", "0").strip();
        long extraUs;
        try {
            extraUs = rawUs.isEmpty() ? 0 : Long.parseLong(rawUs);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(
                    "BENCH_EXTRA_WORK_US must be an integer of microseconds, got '" + rawUs + "'", e);
        }
        if (extraUs < 0) {
            throw new IllegalArgumentException("BENCH_EXTRA_WORK_US must be >= 0, got " + extraUs);
        }
        boolean hooks = "1".equals(env.get("BENCH_TEST_HOOKS"));
        return new Settings(maxBodyBytes, maxDiffTokens, hooks, extraUs);
    }

    public Settings withTestHooks(boolean on) {
        return new Settings(maxBodyBytes, maxDiffTokens, on, extraWorkUs);
    }
}
