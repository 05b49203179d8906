package bench.core;

/** A contract error: a code of the contract's table and a human-readable message. */
public final class BenchException extends Exception {
    private static final long serialVersionUID = 1L;

    private final ErrorCode code;

    public BenchException(ErrorCode code, String message) {
        super(message, null, false, false);
        this.code = code;
    }

    public BenchException(ErrorCode code, String message, Throwable cause) {
        super(message, cause, false, false);
        this.code = code;
    }

    public ErrorCode code() {
        return code;
    }

    /** The contract's JSON error body for this error. */
    public byte[] body() {
        return Json.errorBody(code, getMessage());
    }
}
