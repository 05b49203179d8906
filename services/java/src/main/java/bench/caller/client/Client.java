package bench.caller.client;

/**
 * One user's connection to the cell's target, sending the cell's one request (prepared once,
 * at construction) again and again. Not thread-safe: each user holds its own.
 */
public interface Client extends AutoCloseable {
    /** Send the request and read its reply; a request without a reply throws. */
    CallReply call() throws CallException;

    @Override
    void close();
}
