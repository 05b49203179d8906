package bench.redis;

import bench.core.Reply;
import bench.core.Service;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.logging.Level;
import java.util.logging.Logger;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.Transaction;
import redis.clients.jedis.args.ListDirection;
import redis.clients.jedis.exceptions.JedisException;

/**
 * The reliable Redis list queue (CONTRACT.md "redis"), with Jedis' binary API.
 *
 * <p>At start everything in {@code <queue>:processing} is moved back to the right end of the
 * queue ({@code LMOVE processing queue RIGHT RIGHT} until empty). Then each worker thread, with
 * its own connection, loops: {@code BLMOVE queue processing RIGHT LEFT} (1 s timeout, so a stop
 * is noticed), compute, and one {@code MULTI}: {@code LPUSH reply "<status> <id>\n<body>"},
 * {@code EXPIRE reply 60}, {@code LREM processing 1 msg}. A message whose header cannot be parsed
 * is pushed to {@code <queue>:dead} in the same kind of transaction.
 */
public final class RedisQueueServer implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(RedisQueueServer.class.getName());
    public static final long REPLY_TTL_S = 60;
    private static final double BLOCK_TIMEOUT_S = 1.0;
    private static final byte[] OK = "ok ".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] ERROR = "error ".getBytes(StandardCharsets.US_ASCII);

    private final Service service;
    private final URI url;
    private final byte[] queue;
    private final byte[] processing;
    private final byte[] dead;
    private final List<Thread> threads = new ArrayList<>();
    private volatile boolean stopping;
    private final int recovered;

    public RedisQueueServer(Service service, String url, String queue, int workers) {
        this.service = service;
        this.url = URI.create(url);
        this.queue = queue.getBytes(StandardCharsets.UTF_8);
        this.processing = (queue + ":processing").getBytes(StandardCharsets.UTF_8);
        this.dead = (queue + ":dead").getBytes(StandardCharsets.UTF_8);
        try (Jedis admin = new Jedis(this.url)) {
            admin.ping();
            recovered = recover(admin);
        } catch (JedisException e) {
            throw new IllegalStateException("cannot reach redis at " + url + ": " + e.getMessage()
                    + "; is redis-server running there?", e);
        }
        for (int i = 0; i < workers; i++) {
            threads.add(new Thread(this::workerLoop, "redis-worker-" + i));
        }
        threads.forEach(Thread::start);
        LOG.info("redis queue '" + queue + "': recovered " + recovered + " message(s) from " + queue
                + ":processing; " + workers + " worker(s)");
    }

    /** How many messages the start-up recovery moved back to the queue. */
    public int recovered() {
        return recovered;
    }

    private int recover(Jedis conn) {
        int moved = 0;
        while (conn.lmove(processing, queue, ListDirection.RIGHT, ListDirection.RIGHT) != null) {
            moved++;
        }
        return moved;
    }

    private void workerLoop() {
        while (!stopping) {
            try (Jedis conn = new Jedis(url)) {
                while (!stopping) {
                    byte[] msg = conn.blmove(queue, processing, ListDirection.RIGHT, ListDirection.LEFT,
                            BLOCK_TIMEOUT_S);
                    if (msg != null) {
                        serve(conn, msg);
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

    private void serve(Jedis conn, byte[] msg) {
        Header h = Header.parse(msg);
        Transaction tx = conn.multi();
        if (h == null) {
            tx.lpush(dead, msg);
        } else {
            Reply reply = service.handle(h.op(), Arrays.copyOfRange(msg, h.bodyStart(), msg.length));
            byte[] status = reply.isOk() ? OK : ERROR;
            byte[] body = reply.body();
            byte[] out = new byte[status.length + h.requestId().length + 1 + body.length];
            System.arraycopy(status, 0, out, 0, status.length);
            System.arraycopy(h.requestId(), 0, out, status.length, h.requestId().length);
            out[status.length + h.requestId().length] = '\n';
            System.arraycopy(body, 0, out, status.length + h.requestId().length + 1, body.length);
            tx.lpush(h.replyKey(), out);
            tx.expire(h.replyKey(), REPLY_TTL_S);
        }
        tx.lrem(processing, 1, msg);
        tx.exec();
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
