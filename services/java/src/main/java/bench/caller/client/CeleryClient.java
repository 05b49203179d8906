package bench.caller.client;

import bench.celery.CeleryProtocol;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.List;
import java.util.UUID;
import redis.clients.jedis.Connection;
import redis.clients.jedis.Protocol;
import redis.clients.jedis.exceptions.JedisConnectionException;
import redis.clients.jedis.exceptions.JedisException;

/**
 * A Celery client without Celery (CONTRACT.md "celery"): each call {@code LPUSH}es onto the
 * queue's list a task message of protocol v2 exactly as kombu's Redis transport writes one
 * (JSON serializer, body base64 of {@code [args, {}, embed]}; see
 * {@code src/test/resources/bench/celery/kombu_echo_message.json}), and reads the result
 * document Celery's Redis result backend publishes on the channel {@code celery-task-meta-<id>}
 * (what {@code AsyncResult.get()} waits on). Per user: one Jedis connection for commands and
 * one subscribed, once, to the pattern {@code celery-task-meta-<user>-*}, so that a call costs
 * one round trip and no subscribe/unsubscribe; the previous task's result key is deleted in the
 * same round trip as the next {@code LPUSH} (the harness's client calls {@code forget()}).
 * Task ids are {@code <user uuid>-<n>}; a result for another id (of a request that timed out)
 * is skipped.
 */
public final class CeleryClient implements Client {
    private static final JsonFactory JSON = new JsonFactory();

    private final String url;
    private final byte[] queue;
    private final String task;
    private final boolean echo;
    private final String body64;
    private final String argsrepr;
    private final String prefix;
    private final String origin;
    private final int timeoutMs;
    private volatile Connection cmd;
    private volatile Connection sub;
    private final Watchdog.Guard guard = Watchdog.guard(this::disconnect);
    private byte[] previousKey;
    private long ids;

    public CeleryClient(String url, String queue, Request r, double timeoutS) {
        this.url = url;
        this.queue = queue.getBytes(StandardCharsets.UTF_8);
        this.echo = r.op().equals("echo");
        this.task = "bench." + r.op();
        StringBuilder args = new StringBuilder("[[");
        if (echo) {
            CeleryProtocol.appendString(args, r.bodyText());
        } else {
            List<List<String>> ab = r.diffArgs();
            appendList(args, ab.get(0));
            args.append(", ");
            appendList(args, ab.get(1));
        }
        args.append("], {}, {\"callbacks\": null, \"errbacks\": null, \"chain\": null, \"chord\": null}]");
        this.body64 = Base64.getEncoder().encodeToString(args.toString().getBytes(StandardCharsets.UTF_8));
        StringBuilder repr = new StringBuilder();
        CeleryProtocol.appendString(repr, echo ? "('" + shorten(r.bodyText()) + "',)" : "(a, b)");
        this.argsrepr = repr.toString();
        this.prefix = UUID.randomUUID().toString();
        this.origin = "java-caller-" + ProcessHandle.current().pid();
        this.timeoutMs = (int) Math.max(1, Math.round(timeoutS * 1000));
    }

    private static String shorten(String s) {
        return s.length() > 64 ? s.substring(0, 64) + "..." : s;
    }

    private static void appendList(StringBuilder sb, List<String> l) {
        sb.append('[');
        for (int i = 0; i < l.size(); i++) {
            if (i > 0) {
                sb.append(", ");
            }
            CeleryProtocol.appendString(sb, l.get(i));
        }
        sb.append(']');
    }

    /** The kombu envelope of one task message with this id. */
    String envelope(String id) {
        String q = new String(queue, StandardCharsets.UTF_8);
        StringBuilder sb = new StringBuilder(512 + body64.length());
        sb.append("{\"body\": \"").append(body64)
                .append("\", \"content-encoding\": \"utf-8\", \"content-type\": \"application/json\", \"headers\": ")
                .append("{\"lang\": \"py\", \"task\": \"").append(task).append("\", \"id\": \"").append(id)
                .append("\", \"shadow\": null, \"eta\": null, \"expires\": null, \"group\": null, \"group_index\": null,"
                        + " \"retries\": 0, \"timelimit\": [null, null], \"root_id\": \"").append(id)
                .append("\", \"parent_id\": null, \"argsrepr\": ").append(argsrepr)
                .append(", \"kwargsrepr\": \"{}\", \"origin\": \"").append(origin)
                .append("\", \"ignore_result\": false, \"replaced_task_nesting\": 0, \"stamped_headers\": null,"
                        + " \"stamps\": {}}, \"properties\": {\"correlation_id\": \"").append(id)
                .append("\", \"reply_to\": \"").append(prefix).append("\", \"delivery_mode\": 2, \"delivery_info\":"
                        + " {\"exchange\": \"\", \"routing_key\": ");
        CeleryProtocol.appendString(sb, q);
        sb.append("}, \"priority\": 0, \"body_encoding\": \"base64\", \"delivery_tag\": \"").append(id)
                .append("\"}}");
        return sb.toString();
    }

    private void disconnect() {
        for (Connection c : new Connection[] {cmd, sub}) {
            if (c != null) {
                c.disconnect();
            }
        }
    }

    private void connect() {
        cmd = RedisUrl.connect(url, timeoutMs);
        sub = RedisUrl.connect(url, timeoutMs);
        sub.sendCommand(Protocol.Command.PSUBSCRIBE,
                (CeleryProtocol.RESULT_PREFIX + prefix + "-*").getBytes(StandardCharsets.US_ASCII));
        sub.getOne();
    }

    @Override
    public CallReply call() throws CallException {
        String id = prefix + "-" + (++ids);
        byte[] key = (CeleryProtocol.RESULT_PREFIX + id).getBytes(StandardCharsets.US_ASCII);
        guard.begin(timeoutMs);
        try {
            if (cmd == null) {
                connect();
            }
            int n = 1;
            if (previousKey != null) {
                cmd.sendCommand(Protocol.Command.DEL, previousKey);
                n++;
            }
            cmd.sendCommand(Protocol.Command.LPUSH, queue, envelope(id).getBytes(StandardCharsets.UTF_8));
            for (Object o : cmd.getMany(n)) {
                if (o instanceof JedisException e) {
                    throw e;
                }
            }
            previousKey = key;
            while (true) {
                Object m = sub.getUnflushedObject();
                if (m instanceof List<?> l && l.size() == 4 && l.get(2) instanceof byte[] channel
                        && l.get(3) instanceof byte[] doc && java.util.Arrays.equals(channel, key)) {
                    CallReply r = result(doc);
                    if (r != null) {
                        return r;
                    }
                }
            }
        } catch (JedisConnectionException e) {
            close();
            String why = guard.timedOut()
                    ? "no result for " + task + " on " + new String(queue, StandardCharsets.UTF_8) + " within "
                    + timeoutMs + " ms" : e.getMessage();
            throw new CallException("celery: " + why, e);
        } catch (JedisException e) {
            throw new CallException("celery: " + e.getMessage(), e);
        } finally {
            guard.end();
        }
    }

    /** A SUCCESS or FAILURE document as a reply; null for another state (keep waiting). */
    private CallReply result(byte[] doc) throws CallException {
        String status = null;
        CallReply value = null;
        try (JsonParser p = JSON.createParser(doc)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw new CallException("celery: the result is not a JSON object");
            }
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String k = p.currentName();
                JsonToken t = p.nextToken();
                if (k.equals("status")) {
                    status = p.getText();
                } else if (k.equals("result") && echo && t == JsonToken.VALUE_STRING) {
                    value = CallReply.ok(p.getText().getBytes(StandardCharsets.UTF_8));
                } else if (k.equals("result") && !echo && t == JsonToken.START_ARRAY) {
                    List<Opcode> ops = Request.parseOpcodeList(p);
                    value = ops == null ? null : CallReply.ok(ops);
                    if (ops == null) {
                        p.skipChildren();
                    }
                } else {
                    p.skipChildren();
                }
            }
        } catch (IOException e) {
            throw new CallException("celery: the result is not JSON: " + e.getMessage(), e);
        }
        if ("FAILURE".equals(status)) {
            return CallReply.error(doc, "FAILURE");
        }
        if (!"SUCCESS".equals(status)) {
            return null;
        }
        // a SUCCESS of the wrong type is a reply that is not right (wrong), not a missing one
        return value != null ? value : CallReply.error(doc, "SUCCESS with a result of the wrong type");
    }

    @Override
    public void close() {
        guard.forget();
        for (Connection c : new Connection[] {cmd, sub}) {
            if (c != null) {
                try {
                    c.close();
                } catch (RuntimeException e) {
                    // closing anyway
                }
            }
        }
        cmd = null;
        sub = null;
    }
}
