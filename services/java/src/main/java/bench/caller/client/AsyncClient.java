package bench.caller.client;

/**
 * A client that can also start a call without blocking its caller: the reply (or the failure)
 * comes to a {@link Listener} on the client's own I/O thread. A closed-loop user of such a
 * client issues its next call from that listener ({@code LoadEngine}), so a call is sent and its
 * reply read on one thread, with no hand-off between the user's thread and the I/O thread.
 * At most one call is in flight per client; {@link #call()} still works (the open loop uses it).
 */
public interface AsyncClient extends Client {
    /** Where a started call ends: exactly one of {@code reply} and {@code failure} is not null. */
    interface Listener {
        void done(CallReply reply, CallException failure);
    }

    /** Start one call; {@code l} is called once when it ends (possibly before this returns). */
    void start(Listener l);
}
