package bench.redis;

import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Level;
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
 * {@code LREM processing 1 msg}. A lost connection is logged and re-opened after 1 s; what it
 * held stays in {@code processing} for the next start's recovery.
 */
public final class ReliableListConsumer implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(ReliableListConsumer.class.getName());
    private static final double BLOCK_TIMEOUT_S = 1.0;

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

    private void loop() {
        while (!stopping) {
            try (Jedis conn = new Jedis(url)) {
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
                LOG.log(Level.SEVERE, Thread.currentThread().getName() + ": redis error, reconnecting in 1 s", e);
                try {
                    Thread.sleep(1000);
                } catch (InterruptedException ie) {
                    return;
                }
            }
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
