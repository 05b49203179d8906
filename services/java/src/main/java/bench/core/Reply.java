package bench.core;

/**
 * The result of one operation: {@code error} is null on success; {@code body} is the reply body
 * (the contract's error body when {@code error} is set).
 */
public record Reply(ErrorCode error, byte[] body) {
    public static Reply ok(byte[] body) {
        return new Reply(null, body);
    }

    public static Reply of(BenchException e) {
        return new Reply(e.code(), e.body());
    }

    public boolean isOk() {
        return error == null;
    }
}
