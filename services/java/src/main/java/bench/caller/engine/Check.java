package bench.caller.engine;

import bench.caller.client.CallReply;
import bench.caller.client.Opcode;
import bench.caller.client.Request;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

/**
 * Whether a reply is right (LOADGEN.md "What is right"): echo, status ok and the body equal to
 * the request's, compared cheaply as Python's generator does (equal length and, past 64 bytes,
 * the first 16, the middle 16 from {@code len / 2} and the last 16 bytes); diff, status ok and
 * the opcodes equal to the expected ones (parsed from JSON; a body already found right is
 * remembered, up to 4, so that the same bytes are not parsed again). One per user.
 */
public final class Check {
    private static final int SAMPLE = 16;
    private static final int MAX_GOOD = 4;

    private final Request request;
    private final byte[][] good = new byte[MAX_GOOD][];
    private int goods;

    public Check(Request request) {
        this.request = request;
    }

    /** Null when {@code r} is right, else what is wrong with it. */
    public String wrong(CallReply r) {
        if (!r.ok()) {
            return "error reply" + (r.status() == null ? "" : " (" + r.status() + ")") + ": " + text(r.body(), 200);
        }
        return request.op().equals("echo") ? wrongEcho(r.body()) : wrongDiff(r);
    }

    private String wrongEcho(byte[] got) {
        byte[] want = request.body();
        int n = want.length;
        if (got.length != n) {
            return "echo reply of " + got.length + " bytes, " + n + " sent";
        }
        boolean same = n <= 64 ? Arrays.equals(got, want)
                : Arrays.equals(got, 0, SAMPLE, want, 0, SAMPLE)
                && Arrays.equals(got, n / 2, n / 2 + SAMPLE, want, n / 2, n / 2 + SAMPLE)
                && Arrays.equals(got, n - SAMPLE, n, want, n - SAMPLE, n);
        return same ? null : "echo reply differs from the request: " + text(got, 120);
    }

    private String wrongDiff(CallReply r) {
        List<Opcode> ops = r.opcodes();
        if (ops == null) {
            byte[] body = r.body();
            for (int i = 0; i < goods; i++) {
                if (Arrays.equals(good[i], body)) {
                    return null;
                }
            }
            ops = Request.parseOpcodes(body);
            if (ops == null) {
                return "diff reply is not {\"opcodes\": [[tag, i1, i2, j1, j2], ...]}: " + text(body, 120);
            }
            if (ops.equals(request.opcodes())) {
                if (goods < MAX_GOOD) {
                    good[goods++] = body.clone();
                }
                return null;
            }
        } else if (ops.equals(request.opcodes())) {
            return null;
        }
        return "diff reply has " + ops.size() + " opcodes, not the expected " + request.opcodes().size()
                + (ops.isEmpty() ? "" : "; first " + ops.get(0));
    }

    private static String text(byte[] b, int max) {
        String s = new String(b, 0, Math.min(b.length, max), StandardCharsets.UTF_8);
        return b.length > max ? s + "..." : s;
    }
}
