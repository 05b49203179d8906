package bench.caller;

import bench.caller.client.Opcode;
import bench.caller.client.Request;
import bench.caller.engine.PhaseSpec;
import bench.caller.engine.Plan;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The cell a worker drives: LOADGEN.md's {@code bench_config}, decoded from msgpack values.
 * A malformed config is refused with an {@link IllegalArgumentException} naming the field.
 */
public record BenchConfig(long protocol, String cell, String name, long index, long workers, double timeoutS,
        Target target, Request request, Plan plan) {
    public static final long PROTOCOL = 1;

    /** Where the service's transport is reached (LOADGEN.md {@code target}). */
    public record Target(String service, String transport, String host, int port, String redisUrl, String queue) {
    }

    /** The protocol version a {@code bench_config} names (before the rest is read), or -1. */
    public static long protocolOf(Object data) {
        return data instanceof Map<?, ?> m && m.get("protocol") instanceof Number n ? n.longValue() : -1;
    }

    public static BenchConfig parse(Object data) {
        Map<?, ?> m = map(data, "bench_config");
        Map<?, ?> t = map(m.get("target"), "target");
        Map<?, ?> r = map(m.get("request"), "request");
        Map<?, ?> p = map(m.get("plan"), "plan");
        Target target = new Target(str(t, "service", ""), str(t, "transport", null), str(t, "host", ""),
                (int) num(t, "port", 0), str(t, "redis_url", ""), str(t, "queue", ""));
        if (!List.of("http", "zmq", "redis", "grpc", "celery").contains(target.transport())) {
            throw new IllegalArgumentException("target.transport is one of http, zmq, redis, grpc, celery, not '"
                    + target.transport() + "'");
        }
        Object body = r.get("body");
        if (!(body instanceof byte[] bytes)) {
            throw new IllegalArgumentException("request.body must be msgpack bin, got "
                    + (body == null ? "nil" : body.getClass().getSimpleName()));
        }
        List<Opcode> opcodes = null;
        if (r.get("opcodes") instanceof List<?> ops) {
            opcodes = new ArrayList<>();
            for (Object o : ops) {
                if (!(o instanceof List<?> op) || op.size() != 5 || !(op.get(0) instanceof String tag)) {
                    throw new IllegalArgumentException("request.opcodes: each is [tag, i1, i2, j1, j2], got " + o);
                }
                opcodes.add(new Opcode(tag, longAt(op, 1), longAt(op, 2), longAt(op, 3), longAt(op, 4)));
            }
        }
        Request request = new Request(str(r, "op", null), bytes, opcodes);
        List<PhaseSpec> phases = new ArrayList<>();
        if (!(p.get("phases") instanceof List<?> list) || list.isEmpty()) {
            throw new IllegalArgumentException("plan.phases must be a non-empty list");
        }
        for (Object o : list) {
            Map<?, ?> ph = map(o, "plan.phases[]");
            Object rate = ph.get("rate");
            phases.add(new PhaseSpec(str(ph, "name", null), num(ph, "duration_s", Double.NaN),
                    rate instanceof Number n ? n.doubleValue() : null, Boolean.TRUE.equals(ph.get("measured"))));
        }
        Plan plan = new Plan(phases, Boolean.TRUE.equals(p.get("open_loop")), str(p, "arrival", "constant"),
                (long) num(p, "seed", 1));
        double timeout = num(m, "timeout_s", 10.0);
        if (!(timeout > 0)) {
            throw new IllegalArgumentException("timeout_s must be > 0, got " + timeout);
        }
        return new BenchConfig(protocolOf(m), str(m, "cell", ""), str(m, "name", null), (long) num(m, "index", 0),
                (long) num(m, "workers", 1), timeout, target, request, plan);
    }

    private static Map<?, ?> map(Object o, String what) {
        if (!(o instanceof Map<?, ?> m)) {
            throw new IllegalArgumentException(what + " must be a map, got " + o);
        }
        return m;
    }

    private static String str(Map<?, ?> m, String key, String dflt) {
        Object v = m.get(key);
        if (v instanceof String s) {
            return s;
        }
        if (v == null && dflt != null) {
            return dflt;
        }
        throw new IllegalArgumentException("'" + key + "' must be a string, got " + v);
    }

    private static double num(Map<?, ?> m, String key, double dflt) {
        Object v = m.get(key);
        if (v instanceof Number n) {
            return n.doubleValue();
        }
        if (v == null && !Double.isNaN(dflt)) {
            return dflt;
        }
        throw new IllegalArgumentException("'" + key + "' must be a number, got " + v);
    }

    private static long longAt(List<?> l, int i) {
        if (!(l.get(i) instanceof Number n)) {
            throw new IllegalArgumentException("request.opcodes: position " + i + " must be an int, got " + l.get(i));
        }
        return n.longValue();
    }
}
