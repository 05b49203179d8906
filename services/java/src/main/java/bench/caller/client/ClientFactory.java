package bench.caller.client;

/** Opens one user's client (connections may be opened lazily, by the first call). */
@FunctionalInterface
public interface ClientFactory extends AutoCloseable {
    Client open();

    /** Releases what the factory shares between its clients (a shared gRPC channel); its clients are closed first. */
    @Override
    default void close() {
    }
}
