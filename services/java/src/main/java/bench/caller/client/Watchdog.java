package bench.caller.client;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.LockSupport;

/**
 * The per-request timeout of the blocking clients, kept by one thread for all of them instead
 * of {@code SO_TIMEOUT}: with a socket timeout the JDK reads non-blocking and, when the reply is
 * not there yet, polls and reads again (three system calls instead of one; README.md "The
 * caller"). A client holds a {@link Guard}: {@code begin} before a call, {@code end} after; a
 * call past its deadline (checked every 20 ms) is expired: the guard runs the client's
 * {@code expire} action (close the connection), so that the blocked read fails at once.
 */
final class Watchdog {
    private static final long PERIOD_NANOS = 20_000_000L;
    private static final Set<Guard> LIVE = ConcurrentHashMap.newKeySet();
    private static Thread thread;

    private Watchdog() {
    }

    /** One client's deadline. */
    static final class Guard {
        private final Runnable expire;
        private volatile long deadline; // nanoTime of the call in flight, 0 when none
        private volatile boolean timedOut;

        private Guard(Runnable expire) {
            this.expire = expire;
        }

        /** A call starts that must end within {@code timeoutMs}. */
        void begin(long timeoutMs) {
            timedOut = false;
            deadline = System.nanoTime() + timeoutMs * 1_000_000L;
            LIVE.add(this);
        }

        /** The call ended (or failed). */
        void end() {
            deadline = 0;
        }

        /** Whether the watchdog cut the last call short. */
        boolean timedOut() {
            return timedOut;
        }

        /** The client is closed: forget it. */
        void forget() {
            LIVE.remove(this);
        }
    }

    /** A guard running {@code expire} (from the watchdog's thread) when a call overstays. */
    static synchronized Guard guard(Runnable expire) {
        if (thread == null) {
            thread = new Thread(Watchdog::loop, "client-timeouts");
            thread.setDaemon(true);
            thread.start();
        }
        return new Guard(expire);
    }

    private static void loop() {
        while (true) {
            long now = System.nanoTime();
            for (Guard g : LIVE) {
                long d = g.deadline;
                if (d != 0 && now - d > 0) {
                    g.timedOut = true;
                    g.expire.run();
                }
            }
            LockSupport.parkNanos(PERIOD_NANOS);
        }
    }
}
