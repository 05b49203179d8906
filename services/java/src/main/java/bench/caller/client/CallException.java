package bench.caller.client;

/** A request without a reply: a transport error or no reply within the timeout (LOADGEN.md: an error). */
public final class CallException extends Exception {
    private static final long serialVersionUID = 1L;

    public CallException(String message) {
        super(message);
    }

    public CallException(String message, Throwable cause) {
        super(message, cause);
    }
}
