package bench.caller.client;

import java.util.List;

/**
 * A reply of the contract as a client read it: {@code ok} is the contract's status; {@code body}
 * the reply bytes (echo, or a diff's JSON on http/zmq/redis; the error text for an error);
 * {@code opcodes} a diff reply already decoded by transports that carry no JSON (gRPC, Celery),
 * else null; {@code status} the transport's own status when it has one (HTTP code, gRPC code).
 */
public record CallReply(boolean ok, byte[] body, List<Opcode> opcodes, String status) {
    private static final byte[] EMPTY = new byte[0];

    public static CallReply ok(byte[] body) {
        return new CallReply(true, body, null, null);
    }

    public static CallReply ok(List<Opcode> opcodes) {
        return new CallReply(true, EMPTY, opcodes, null);
    }

    public static CallReply error(byte[] body, String status) {
        return new CallReply(false, body, null, status);
    }
}
