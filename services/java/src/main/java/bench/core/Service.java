package bench.core;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.List;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The contract's operations, free of I/O: limits, validation, test hooks, errors.
 *
 * <p>Byte transports (http, zmq, redis) call {@link #handle}; gRPC calls {@link #echo} and
 * {@link #diffTokens} and maps the {@link BenchException} codes to statuses. Thread-safe.
 */
public final class Service {
    public static final String FAULT_TOKEN = "__bench_fault__:internal";
    public static final List<String> OPS = List.of("echo", "diff", "health");
    public static final String NAME = "java";
    public static final String LANGUAGE = "Java";

    private static final Logger LOG = Logger.getLogger(Service.class.getName());
    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

    private final Settings settings;
    private final byte[] health;

    public Service(Settings settings) {
        this.settings = settings;
        this.health = Json.healthBody(NAME, LANGUAGE, runtimeVersion(), OPS);
    }

    /** The runtime string of the health object, e.g. {@code OpenJDK 64-Bit Server VM 17.0.15+6}. */
    public static String runtimeVersion() {
        return System.getProperty("java.vm.name", "Java") + " " + System.getProperty("java.runtime.version",
                System.getProperty("java.version", "?"));
    }

    public Settings settings() {
        return settings;
    }

    /** The health object as JSON bytes (shared; do not modify). */
    public byte[] health() {
        return health;
    }

    /** Throw too_large if a body of {@code size} bytes is over the limit. */
    public void checkSize(long size) throws BenchException {
        if (size > settings.maxBodyBytes()) {
            throw new BenchException(ErrorCode.TOO_LARGE, "body of " + size + " bytes is over the limit of "
                    + settings.maxBodyBytes() + " bytes");
        }
    }

    /** The echo operation: the same bytes. */
    public byte[] echo(byte[] body) throws BenchException {
        checkSize(body.length);
        extraWork();
        return body;
    }

    /** The extra work of an echo whose size was checked by the caller (gRPC avoids a copy). */
    public void echoWork() {
        extraWork();
    }

    /** The diff operation on validated token lists. */
    public List<SequenceMatcher.Opcode> diffTokens(List<String> a, List<String> b) throws BenchException {
        long total = (long) a.size() + b.size();
        if (total > settings.maxDiffTokens()) {
            throw new BenchException(ErrorCode.TOO_LARGE, "diff of " + total + " tokens is over the limit of "
                    + settings.maxDiffTokens() + " tokens");
        }
        if (settings.testHooks() && a.size() == 1 && FAULT_TOKEN.equals(a.get(0))) {
            throw new IllegalStateException("test hook: deliberate internal fault");
        }
        extraWork();
        return SequenceMatcher.opcodes(a, b);
    }

    /** The diff operation on a request body: checks in the contract's order, JSON reply. */
    public byte[] diff(byte[] body) throws BenchException {
        checkSize(body.length);
        Json.DiffRequest req = Json.parseDiffRequest(body);
        return Json.opcodesBody(diffTokens(req.a(), req.b()));
    }

    /** Run {@code op} on {@code body}; never throws. */
    public Reply handle(String op, byte[] body) {
        try {
            switch (op) {
                case "echo":
                    return Reply.ok(echo(body));
                case "diff":
                    return Reply.ok(diff(body));
                case "health":
                    return Reply.ok(health);
                default:
                    throw unknownOp(op);
            }
        } catch (BenchException e) {
            return Reply.of(e);
        } catch (RuntimeException | StackOverflowError e) {
            return internal(op, e);
        }
    }

    /** The unknown_op error for {@code op}. */
    public static BenchException unknownOp(String op) {
        return new BenchException(ErrorCode.UNKNOWN_OP, "unknown op '" + printable(op) + "'; ops are "
                + String.join(", ", OPS));
    }

    /** Log an unexpected failure and turn it into the internal error reply. */
    public static Reply internal(String op, Throwable e) {
        LOG.log(Level.SEVERE, "internal error in op '" + printable(op) + "'", e);
        return new Reply(ErrorCode.INTERNAL, Json.errorBody(ErrorCode.INTERNAL,
                "internal error: " + e.getClass().getSimpleName() + ": " + e.getMessage()));
    }

    /** {@code s} with non-printable ASCII and surrogates escaped, safe in a message. */
    public static String printable(String s) {
        StringBuilder sb = null;
        int n = Math.min(s.length(), 200);
        for (int i = 0; i < n; i++) {
            char c = s.charAt(i);
            if (c < 0x20 || c == 0x7f || Character.isSurrogate(c)) {
                if (sb == null) {
                    sb = new StringBuilder(s.substring(0, i));
                }
                sb.append(String.format("\\u%04x", (int) c));
            } else if (sb != null) {
                sb.append(c);
            }
        }
        String out = sb == null ? s.substring(0, n) : sb.toString();
        return s.length() > n ? out + "..." : out;
    }

    private void extraWork() {
        long us = settings.extraWorkUs();
        if (us > 0) {
            busySpinUs(us);
        }
    }

    /** Burn {@code us} microseconds of this thread's CPU time (the BENCH_EXTRA_WORK_US hook). */
    static void busySpinUs(long us) {
        long deadline = THREADS.getCurrentThreadCpuTime() + us * 1000;
        while (THREADS.getCurrentThreadCpuTime() < deadline) {
            Thread.onSpinWait();
        }
    }
}
