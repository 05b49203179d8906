package bench.caller;

import bench.caller.client.Opcode;
import bench.caller.client.Request;
import bench.caller.engine.PhaseSpec;
import bench.caller.engine.Plan;
import java.nio.charset.StandardCharsets;
import java.util.List;

/** Requests and cells for the caller's tests. */
public final class Cells {
    private Cells() {
    }

    /** A 64-byte printable echo body (as the scenarios' echo-64B). */
    public static final byte[] ECHO_64 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_"
            .getBytes(StandardCharsets.US_ASCII);

    /** {@code n} bytes of the letters a to z, over and over. */
    public static byte[] letters(int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) ('a' + i % 26);
        }
        return b;
    }

    public static Request echo(byte[] body) {
        return new Request("echo", body, null);
    }

    /** A diff with a non-ASCII token, and the opcodes CPython's difflib gives for it. */
    public static Request diff() {
        String body = "{\"a\": [\"a\", \"b\", \"c\", \"d\", \"h\\u00e9llo\"], \"b\": [\"a\", \"x\", \"c\", \"d\", \"h\u00e9llo\", \"e\"]}";
        return new Request("diff", body.getBytes(StandardCharsets.UTF_8), List.of(
                new Opcode("equal", 0, 1, 0, 1), new Opcode("replace", 1, 2, 1, 2), new Opcode("equal", 2, 5, 2, 5),
                new Opcode("insert", 5, 5, 5, 6)));
    }

    public static Plan closed(double warmupS, double measureS) {
        return new Plan(List.of(new PhaseSpec("warmup", warmupS, null, false),
                new PhaseSpec("measure", measureS, null, true)), false, "constant", 1);
    }

    public static BenchConfig config(BenchConfig.Target target, Request request, Plan plan, double timeoutS) {
        return new BenchConfig(1, "java.python." + target.transport() + "." + request.op() + ".r0",
                "python_" + target.transport() + "_" + request.op(), 0, 1, timeoutS, target, request, plan);
    }

    public static BenchConfig.Target tcp(String transport, int port) {
        return new BenchConfig.Target("python", transport, "127.0.0.1", port, "", "");
    }

    public static BenchConfig.Target redis(String transport, String url, String queue) {
        return new BenchConfig.Target("python", transport, "", 0, url, queue);
    }
}
