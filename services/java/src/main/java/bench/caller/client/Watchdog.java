package bench.caller.client;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.LockSupport;

/**
 * The per-request timeout of the blocking clients, kept by one thread for all of them instead
 * of {@code SO_TIMEOUT}: with a socket timeout the JDK reads non-blocking and, when the reply is
 * not there yet, polls and reads again (three system calls instead of one; `strace -c` in
 * README.md). A client sets its deadline before a call and clears it after; a call past its
 * deadline (checked every 20 ms) is expired: the client closes its connection, so that the
 * blocked read fails at once.
 */
final class Watchdog {
    private static final long PERIOD_NANOS = 20_000_000L;
    private static final Set<Guarded> LIVE = ConcurrentHashMap.newKeySet();
    private static Thread thread;

    /** A client whose call in flight may have to be cut short. */
    interface Guarded {
        /** The nanoTime deadline of the call in flight, 0 when none. */
        long deadline();

        /** Close the connection (from the watchdog's thread) so that the blocked call fails. */
        void expire();
    }

    private Watchdog() {
    }

    static synchronized void watch(Guarded g) {
        LIVE.add(g);
        if (thread == null) {
            thread = new Thread(Watchdog::loop, "client-timeouts");
            thread.setDaemon(true);
            thread.start();
        }
    }

    static void forget(Guarded g) {
        LIVE.remove(g);
    }

    private static void loop() {
        while (true) {
            long now = System.nanoTime();
            for (Guarded g : LIVE) {
                long d = g.deadline();
                if (d != 0 && now - d > 0) {
                    g.expire();
                }
            }
            LockSupport.parkNanos(PERIOD_NANOS);
        }
    }
}
