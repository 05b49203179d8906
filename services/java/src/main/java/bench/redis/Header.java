package bench.redis;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * A parsed message header {@code <op> <request-id> <reply-key>\n}: three non-empty ASCII
 * fields separated by single spaces, within the first 1024 bytes of the message.
 */
public record Header(String op, byte[] requestId, byte[] replyKey, int bodyStart) {
    public static final int SCAN = 1024;

    /** Parse the first line of {@code msg}; null when it cannot be parsed (a dead letter). */
    public static Header parse(byte[] msg) {
        int limit = Math.min(msg.length, SCAN);
        int end = -1;
        for (int i = 0; i < limit; i++) {
            if (msg[i] == '\n') {
                end = i;
                break;
            }
            if (msg[i] < 0) {
                return null; // not ASCII
            }
        }
        if (end < 0) {
            return null;
        }
        int s1 = indexOf(msg, 0, end);
        if (s1 <= 0) {
            return null;
        }
        int s2 = indexOf(msg, s1 + 1, end);
        if (s2 < 0 || s2 == s1 + 1 || s2 == end - 1 || indexOf(msg, s2 + 1, end) >= 0) {
            return null;
        }
        String op = new String(msg, 0, s1, StandardCharsets.US_ASCII);
        return new Header(op, Arrays.copyOfRange(msg, s1 + 1, s2), Arrays.copyOfRange(msg, s2 + 1, end), end + 1);
    }

    private static int indexOf(byte[] msg, int from, int to) {
        for (int i = from; i < to; i++) {
            if (msg[i] == ' ') {
                return i;
            }
        }
        return -1;
    }
}
