package bench.caller.client;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.UUID;
import redis.clients.jedis.Connection;
import redis.clients.jedis.Protocol;
import redis.clients.jedis.exceptions.JedisConnectionException;
import redis.clients.jedis.exceptions.JedisException;

/**
 * Client of the reliable Redis list queue (CONTRACT.md "redis") on a Jedis connection per
 * user: {@code LPUSH <queue> "<op> <id> <reply-key>\n<body>"} and {@code BRPOP <reply-key>
 * <timeout>} sent together (one round trip, as the harness's Python client does); the reply
 * key is the user's own, request ids count up per user, and a reply carrying another id (left
 * by a request that timed out) is skipped.
 */
public final class RedisQueueClient implements Client {
    private final String url;
    private final byte[] queue;
    private final byte[] op;
    private final byte[] body;
    private final byte[] replyKey;
    private final byte[] timeout;
    private final int soTimeoutMs;
    private volatile Connection conn;
    private final Watchdog.Guard guard = Watchdog.guard(this::disconnect);
    private long ids;

    public RedisQueueClient(String url, String queue, Request r, double timeoutS) {
        this.url = url;
        this.queue = queue.getBytes(StandardCharsets.UTF_8);
        this.op = r.op().getBytes(StandardCharsets.US_ASCII);
        this.body = r.body();
        this.replyKey = ("bench:reply:java:" + ProcessHandle.current().pid() + ":"
                + UUID.randomUUID().toString().substring(0, 12)).getBytes(StandardCharsets.US_ASCII);
        this.timeout = String.valueOf(timeoutS).getBytes(StandardCharsets.US_ASCII);
        this.soTimeoutMs = (int) Math.round(timeoutS * 1000) + 5000;
    }

    /** The server answers a BRPOP past its timeout itself; the watchdog's limit is for a server that hangs. */
    private void disconnect() {
        Connection c = conn;
        if (c != null) {
            c.disconnect();
        }
    }

    @Override
    public CallReply call() throws CallException {
        String rid = Long.toString(++ids);
        byte[] head = (new String(op, StandardCharsets.US_ASCII) + " " + rid + " "
                + new String(replyKey, StandardCharsets.US_ASCII) + "\n").getBytes(StandardCharsets.US_ASCII);
        byte[] msg = new byte[head.length + body.length];
        System.arraycopy(head, 0, msg, 0, head.length);
        System.arraycopy(body, 0, msg, head.length, body.length);
        guard.begin(soTimeoutMs);
        try {
            if (conn == null) {
                conn = RedisUrl.connect(url, soTimeoutMs);
            }
            conn.sendCommand(Protocol.Command.LPUSH, queue, msg);
            conn.sendCommand(Protocol.Command.BRPOP, replyKey, timeout);
            List<Object> got = conn.getMany(2);
            Object reply = got.get(1);
            while (true) {
                if (reply instanceof JedisException e) {
                    throw e;
                }
                if (!(reply instanceof List<?> kv) || kv.size() != 2 || !(kv.get(1) instanceof byte[] m)) {
                    throw new CallException("redis: no reply to " + rid + " on " + new String(queue,
                            StandardCharsets.UTF_8) + " within " + new String(timeout, StandardCharsets.US_ASCII) + " s");
                }
                CallReply r = parse(m, rid);
                if (r != null) {
                    return r;
                }
                conn.sendCommand(Protocol.Command.BRPOP, replyKey, timeout); // a stale reply: wait for ours
                reply = conn.getOne();
            }
        } catch (JedisConnectionException e) {
            close();
            throw new CallException("redis: " + url + ": " + (guard.timedOut() ? "no reply within " + soTimeoutMs
                    + " ms (the server did not even answer the BRPOP's own timeout)" : e.getMessage()), e);
        } catch (JedisException e) {
            throw new CallException("redis: " + e.getMessage(), e);
        } finally {
            guard.end();
        }
    }

    /** The reply when it answers {@code rid}, null for another id. */
    private static CallReply parse(byte[] m, String rid) throws CallException {
        int nl = -1;
        for (int i = 0; i < m.length && i < 1024; i++) {
            if (m[i] == '\n') {
                nl = i;
                break;
            }
        }
        String head = nl < 0 ? "" : new String(m, 0, nl, StandardCharsets.US_ASCII);
        int sp = head.indexOf(' ');
        if (sp <= 0) {
            throw new CallException("redis: reply header is not '<status> <request-id>': " + head);
        }
        if (!head.substring(sp + 1).equals(rid)) {
            return null;
        }
        byte[] body = java.util.Arrays.copyOfRange(m, nl + 1, m.length);
        String status = head.substring(0, sp);
        if (status.equals("ok")) {
            return CallReply.ok(body);
        }
        if (status.equals("error")) {
            return CallReply.error(body, "error");
        }
        throw new CallException("redis: reply status '" + status + "' is neither ok nor error");
    }

    @Override
    public void close() {
        guard.forget();
        if (conn != null) {
            try {
                if (!conn.isBroken()) {
                    conn.sendCommand(Protocol.Command.DEL, replyKey);
                    conn.getOne();
                }
                conn.close();
            } catch (RuntimeException e) {
                // closing anyway
            }
            conn = null;
        }
    }
}
