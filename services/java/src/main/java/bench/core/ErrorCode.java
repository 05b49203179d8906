package bench.core;

/** The contract's error codes with their HTTP statuses (CONTRACT.md "Errors"). */
public enum ErrorCode {
    BAD_REQUEST("bad_request", 400),
    UNKNOWN_OP("unknown_op", 404),
    TOO_LARGE("too_large", 413),
    INTERNAL("internal", 500);

    private final String wire;
    private final int httpStatus;

    ErrorCode(String wire, int httpStatus) {
        this.wire = wire;
        this.httpStatus = httpStatus;
    }

    /** The code as it appears in an error body, e.g. {@code bad_request}. */
    public String wire() {
        return wire;
    }

    /** The HTTP status of this error. */
    public int httpStatus() {
        return httpStatus;
    }
}
