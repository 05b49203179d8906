package bench.redis;

import bench.core.Reply;
import bench.core.Service;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.logging.Logger;
import redis.clients.jedis.Transaction;

/**
 * The reliable Redis list queue (CONTRACT.md "redis"), with Jedis' binary API.
 *
 * <p>{@link ReliableListConsumer} does the queue's part: at start everything in {@code <queue>:processing} is moved back to the right end of the
 * queue ({@code LMOVE processing queue RIGHT RIGHT} until empty). Then each worker thread, with
 * its own connection, loops: {@code BLMOVE queue processing RIGHT LEFT} (1 s timeout, so a stop
 * is noticed), compute, and one {@code MULTI}: {@code LPUSH reply "<status> <id>\n<body>"},
 * {@code EXPIRE reply 60}, {@code LREM processing 1 msg}. A message whose header cannot be parsed
 * is pushed to {@code <queue>:dead} in the same kind of transaction.
 */
public final class RedisQueueServer implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(RedisQueueServer.class.getName());
    public static final long REPLY_TTL_S = 60;
    private static final byte[] OK = "ok ".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] ERROR = "error ".getBytes(StandardCharsets.US_ASCII);

    private final Service service;
    private final ReliableListConsumer consumer;

    public RedisQueueServer(Service service, String url, String queue, int workers) {
        this.service = service;
        this.consumer = new ReliableListConsumer(url, queue, workers, "redis-worker", this::serve);
        LOG.info("redis queue '" + queue + "': recovered " + consumer.recovered() + " message(s) from " + queue
                + ":processing; " + workers + " worker(s)");
    }

    /** How many messages the start-up recovery moved back to the queue. */
    public int recovered() {
        return consumer.recovered();
    }

    private void serve(byte[] msg, Transaction tx) {
        Header h = Header.parse(msg);
        if (h == null) {
            tx.lpush(consumer.dead(), msg);
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
    }

    @Override
    public void close() {
        consumer.close();
    }
}
