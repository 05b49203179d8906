package bench.redis;

import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Logger;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.Transaction;
import redis.clients.jedis.args.ListDirection;
import redis.clients.jedis.exceptions.JedisException;

/**
 * The reliable list consumer both the Redis queue and the Celery worker are built on.
 *
 * <p>At start everything in {@code <queue>:processing} is moved back to the right end of the
 * queue ({@code LMOVE processing queue RIGHT RIGHT} until empty). Then each thread, with its own
 * connection, loops: {@code BLMOVE queue processing RIGHT LEFT} (1 s timeout, so a stop is
 * noticed), and one {@code MULTI}: whatever the {@link Handler} adds for the message, then
 * {@code LREM processing 1 msg}.
 *
 * <p>A lost connection (a broker restart, or a broker stalled past the socket timeout) is
 * re-opened with a backoff of 50 ms doubling to 2 s; once redis answers, the thread recovers
 * {@code processing} as at start, so the message it held (unless its transaction got through)
 * is served again: at least once, never lost. The outage is logged once when the first thread
 * sees it and once when redis answers again, however many threads there are.
 */
public final class ReliableListConsumer implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(ReliableListConsumer.class.getName());
    private static final double BLOCK_TIMEOUT_S = 1.0;
    static final long BACKOFF_FIRST_MS = 50;
    static final long BACKOFF_MAX_MS = 2000;

    /** Adds the commands that answer one message to its transaction; must not throw. */
    @FunctionalInterface
    public interface Handler {
        void handle(byte[] msg, Transaction tx);
    }

    private final URI url;
    private final byte[] queue;
    private final byte[] processing;
    private final byte[] dead;
    private final Handler handler;
    private final List<Thread> threads = new ArrayList<>();
    private final int recovered;
    private volatile boolean stopping;
    private final Object outageLock = new Object();
    private long outageSinceNanos = -1;
    private int outages;
    /** Bumped when an outage ends; a loss of a connection opened earlier belongs to a logged outage. */
    private int generation;

    /** Recover {@code <queue>:processing}, then start {@code workers} threads named {@code threadName-i}. */
    public ReliableListConsumer(String url, String queue, int workers, String threadName, Handler handler) {
        this.url = URI.create(url);
        this.queue = queue.getBytes(StandardCharsets.UTF_8);
        this.processing = (queue + ":processing").getBytes(StandardCharsets.UTF_8);
        this.dead = (queue + ":dead").getBytes(StandardCharsets.UTF_8);
        this.handler = handler;
        try (Jedis admin = new Jedis(this.url)) {
            admin.ping();
            recovered = recover(admin);
        } catch (JedisException e) {
            throw new IllegalStateException("cannot reach redis at " + url + ": " + e.getMessage()
                    + "; is redis-server running there?", e);
        }
        for (int i = 0; i < workers; i++) {
            threads.add(new Thread(this::loop, threadName + "-" + i));
        }
        threads.forEach(Thread::start);
    }

    /** How many messages the start-up recovery moved back to the queue. */
    public int recovered() {
        return recovered;
    }

    /** The dead list's key, {@code <queue>:dead}. */
    public byte[] dead() {
        return dead;
    }

    private int recover(Jedis conn) {
        int moved = 0;
        while (conn.lmove(processing, queue, ListDirection.RIGHT, ListDirection.RIGHT) != null) {
            moved++;
        }
        return moved;
    }

    /** The reconnect delay after {@code delayMs}: doubled, at most 2 s. */
    static long nextDelayMs(long delayMs) {
        return Math.min(2 * delayMs, BACKOFF_MAX_MS);
    }

    /** How many broker outages the threads have seen (each counted once). */
    public int outages() {
        synchronized (outageLock) {
            return outages;
        }
    }

    private void loop() {
        long delayMs = BACKOFF_FIRST_MS;
        boolean reconnecting = false;
        int connectionGeneration = generation();
        while (!stopping) {
            try (Jedis conn = new Jedis(url)) {
                if (reconnecting) {
                    connectionGeneration = restored(recover(conn));
                    reconnecting = false;
                    delayMs = BACKOFF_FIRST_MS;
                }
                while (!stopping) {
                    byte[] msg = conn.blmove(queue, processing, ListDirection.RIGHT, ListDirection.LEFT,
                            BLOCK_TIMEOUT_S);
                    if (msg != null) {
                        Transaction tx = conn.multi();
                        handler.handle(msg, tx);
                        tx.lrem(processing, 1, msg);
                        tx.exec();
                    }
                }
            } catch (JedisException e) {
                if (stopping) {
                    return;
                }
                if (!reconnecting) {
                    lost(e, connectionGeneration);
                    reconnecting = true;
                }
                try {
                    Thread.sleep(delayMs);
                } catch (InterruptedException ie) {
                    return;
                }
                delayMs = nextDelayMs(delayMs);
            }
        }
    }

    private int generation() {
        synchronized (outageLock) {
            return generation;
        }
    }

    /**
     * A thread lost a connection opened in {@code connectionGeneration}. Threads see one outage at
     * different times (one running a long task finds its connection dead after the others have
     * reconnected): only the first loss of a connection of the current generation logs.
     */
    private void lost(JedisException e, int connectionGeneration) {
        synchronized (outageLock) {
            if (outageSinceNanos < 0 && connectionGeneration == generation) {
                outageSinceNanos = System.nanoTime();
                outages++;
                LOG.warning(Thread.currentThread().getName() + ": lost redis at " + url + " (" + e
                        + "); reconnecting, backoff " + BACKOFF_FIRST_MS + " ms doubling to " + BACKOFF_MAX_MS + " ms");
            }
        }
    }

    /** A thread reconnected; returns the generation of its new connection. */
    private int restored(int moved) {
        synchronized (outageLock) {
            if (outageSinceNanos >= 0) {
                LOG.warning(String.format("redis at %s answers again after %.2f s; recovered %d message(s) from "
                        + "processing", url, (System.nanoTime() - outageSinceNanos) / 1e9, moved));
                outageSinceNanos = -1;
                generation++;
            }
            return generation;
        }
    }

    @Override
    public void close() {
        stopping = true;
        for (Thread t : threads) {
            try {
                t.join(3000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
