package bench.http;

/** A running HTTP server. */
public interface HttpTransport extends AutoCloseable {
    /** The port it listens on. */
    int port();

    /** Stop listening and release the threads. */
    @Override
    void close();
}
