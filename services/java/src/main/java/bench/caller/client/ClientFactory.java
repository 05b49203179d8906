package bench.caller.client;

/** Opens one user's client (connections may be opened lazily, by the first call). */
@FunctionalInterface
public interface ClientFactory {
    Client open();
}
