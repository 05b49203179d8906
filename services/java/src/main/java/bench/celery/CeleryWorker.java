package bench.celery;

import bench.core.BenchException;
import bench.core.ErrorCode;
import bench.core.Service;
import bench.core.Utf8;
import bench.redis.ReliableListConsumer;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.logging.Level;
import java.util.logging.Logger;
import redis.clients.jedis.Protocol;
import redis.clients.jedis.Transaction;
import redis.clients.jedis.params.SetParams;

/**
 * A Celery worker for queue {@code bench.java} (CONTRACT.md "celery"): tasks {@code bench.echo},
 * {@code bench.diff}, {@code bench.health}, Redis as broker and result backend.
 *
 * <p>At least once ({@link ReliableListConsumer}): at start everything in
 * {@code <queue>:processing} is moved back to the right end of the queue ({@code LMOVE processing queue RIGHT RIGHT} until empty). Then each consumer
 * thread, with its own connection, loops: {@code BLMOVE queue processing RIGHT LEFT} (1 s timeout,
 * so a stop is noticed; the right end is the one kombu's {@code BRPOP} takes), run the task, and
 * one {@code MULTI}: {@code SET celery-task-meta-<id> <doc> EX <expires>}, {@code PUBLISH
 * celery-task-meta-<id> <doc>}, {@code LREM processing 1 <message>}. A message without a task id
 * is {@code LPUSH}ed to {@code <queue>:dead} in the same kind of transaction.
 */
public final class CeleryWorker implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(CeleryWorker.class.getName());
    /** The Python service's {@code result_expires}. */
    public static final long RESULT_EXPIRES_S = 600;
    private static final Set<String> DIFF_KWARGS = Set.of("a", "b");

    private final Service service;
    private final long resultExpiresS;
    private final ReliableListConsumer consumer;

    /** What to do with a message once its task has run. */
    sealed interface Outcome permits Store, Ack, DeadLetter {
    }

    /** Store {@code doc} at {@code key} and publish it there. */
    record Store(byte[] key, byte[] doc) implements Outcome {
    }

    /** Acknowledge only ({@code ignore_result}). */
    record Ack(String id) implements Outcome {
    }

    /** No task id: to the dead list. */
    record DeadLetter(String why) implements Outcome {
    }

    public CeleryWorker(Service service, String url, String queue, int workers, long resultExpiresS) {
        this.service = service;
        this.resultExpiresS = resultExpiresS;
        this.consumer = new ReliableListConsumer(url, queue, workers, "celery-consumer",
                (msg, tx) -> finish(tx, msg, handle(this.service, msg, Instant.now())));
        LOG.info("celery queue '" + queue + "': recovered " + consumer.recovered() + " message(s) from " + queue
                + ":processing; " + workers + " consumer(s); result_expires=" + resultExpiresS + " s");
    }

    /** How many messages the start-up recovery moved back to the queue. */
    public int recovered() {
        return consumer.recovered();
    }

    private void finish(Transaction tx, byte[] msg, Outcome outcome) {
        if (outcome instanceof Store s) {
            tx.set(s.key(), s.doc(), SetParams.setParams().ex(resultExpiresS));
            tx.sendCommand(Protocol.Command.PUBLISH, s.key(), s.doc()); // Transaction has no publish()
        } else if (outcome instanceof DeadLetter d) {
            LOG.warning("celery message of " + msg.length + " bytes moved to the dead list: " + d.why());
            tx.lpush(consumer.dead(), msg);
        }
    }

    /** Decode one message, run its task, and say what to store. Never throws. */
    static Outcome handle(Service service, byte[] message, Instant now) {
        CeleryProtocol.Decoded decoded = CeleryProtocol.decode(message);
        if (decoded instanceof CeleryProtocol.Dead d) {
            return new DeadLetter(d.why());
        }
        if (decoded instanceof CeleryProtocol.Bad b) {
            return store(b.meta(), CeleryProtocol.valueError(b.meta(), ErrorCode.BAD_REQUEST.wire(), b.why(), now));
        }
        CeleryProtocol.Task t = (CeleryProtocol.Task) decoded;
        CeleryProtocol.Meta meta = t.meta();
        byte[] doc;
        try {
            CharSequence result = run(service, meta.task(), t.args(), t.kwargs());
            doc = result == null ? CeleryProtocol.notRegistered(meta, now) : CeleryProtocol.success(meta, result, now);
        } catch (BenchException e) {
            doc = CeleryProtocol.valueError(meta, e.code().wire(), e.getMessage(), now);
        } catch (RuntimeException | StackOverflowError e) {
            LOG.log(Level.SEVERE, "internal error in celery task '" + Service.printable(meta.task()) + "'", e);
            doc = CeleryProtocol.valueError(meta, ErrorCode.INTERNAL.wire(),
                    "internal error: " + e.getClass().getSimpleName() + ": " + e.getMessage(), now);
        }
        return store(meta, doc);
    }

    private static Outcome store(CeleryProtocol.Meta meta, byte[] doc) {
        return meta.ignoreResult() ? new Ack(meta.id()) : new Store(meta.resultKey(), doc);
    }

    /** The task's result as JSON, or null when no task of that name is registered. */
    static CharSequence run(Service service, String task, List<Object> args, Map<String, Object> kwargs)
            throws BenchException {
        switch (task) {
            case "bench.echo": {
                if (args.size() != 1 || !kwargs.isEmpty() || !(args.get(0) instanceof String text)) {
                    throw badRequest("bench.echo takes one string argument");
                }
                if (Utf8.hasLoneSurrogate(text)) {
                    throw badRequest("the text holds a lone surrogate");
                }
                service.checkSize(CeleryProtocol.utf8Length(text));
                service.echoWork();
                StringBuilder sb = new StringBuilder(text.length() + 16);
                CeleryProtocol.appendString(sb, text);
                return sb;
            }
            case "bench.diff": {
                Object a;
                Object b;
                if (args.size() == 2 && kwargs.isEmpty()) {
                    a = args.get(0);
                    b = args.get(1);
                } else if (args.isEmpty() && kwargs.keySet().equals(DIFF_KWARGS)) {
                    a = kwargs.get("a");
                    b = kwargs.get("b");
                } else {
                    throw badRequest("bench.diff takes two arguments a and b (arrays of strings)");
                }
                List<String> ta = tokens(a, "a");
                List<String> tb = tokens(b, "b");
                noSurrogates(ta, "a");
                noSurrogates(tb, "b");
                return CeleryProtocol.opcodes(service.diffTokens(ta, tb));
            }
            case "bench.health": {
                if (!args.isEmpty() || !kwargs.isEmpty()) {
                    throw badRequest("bench.health takes no arguments");
                }
                return CeleryProtocol.health(Service.NAME, Service.LANGUAGE, Service.runtimeVersion(), Service.OPS);
            }
            default:
                return null;
        }
    }

    private static List<String> tokens(Object value, String name) throws BenchException {
        if (!(value instanceof List<?> list)) {
            throw badRequest("'" + name + "' must be an array of strings");
        }
        List<String> out = new ArrayList<>(list.size());
        for (Object o : list) {
            if (!(o instanceof String s)) {
                throw badRequest("'" + name + "' must be an array of strings");
            }
            out.add(s);
        }
        return out;
    }

    private static void noSurrogates(List<String> tokens, String name) throws BenchException {
        for (String s : tokens) {
            if (Utf8.hasLoneSurrogate(s)) {
                throw badRequest("'" + name + "' holds a string with a lone surrogate");
            }
        }
    }

    private static BenchException badRequest(String message) {
        return new BenchException(ErrorCode.BAD_REQUEST, message);
    }

    @Override
    public void close() {
        consumer.close();
    }
}
