package bench.caller.locust;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.msgpack.core.MessageBufferPacker;
import org.msgpack.core.MessageFormat;
import org.msgpack.core.MessagePack;
import org.msgpack.core.MessageUnpacker;
import org.msgpack.value.ValueType;

/**
 * msgpack values as plain Java objects, the way Locust's {@code msgpack.dumps}/{@code loads}
 * (raw=False) see them: nil = null, bool = Boolean, int = Long, float = Double (64-bit when
 * written), str = String (UTF-8), bin = byte[], array = List, map = Map (insertion order; keys
 * of any of these types, Locust's {@code response_times} has int keys). Extension types are refused.
 */
public final class Msgpack {
    private Msgpack() {
    }

    /** Encode a value built of the types above (also Integer, Short, Float, and any Number as Long). */
    public static byte[] encode(Object value) {
        try (MessageBufferPacker p = MessagePack.newDefaultBufferPacker()) {
            pack(p, value);
            return p.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void pack(MessageBufferPacker p, Object v) throws IOException {
        if (v == null) {
            p.packNil();
        } else if (v instanceof String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            p.packRawStringHeader(b.length);
            p.writePayload(b);
        } else if (v instanceof Boolean b) {
            p.packBoolean(b);
        } else if (v instanceof Double || v instanceof Float) {
            p.packDouble(((Number) v).doubleValue());
        } else if (v instanceof Number n) {
            p.packLong(n.longValue());
        } else if (v instanceof byte[] b) {
            p.packBinaryHeader(b.length);
            p.writePayload(b);
        } else if (v instanceof List<?> l) {
            p.packArrayHeader(l.size());
            for (Object o : l) {
                pack(p, o);
            }
        } else if (v instanceof Map<?, ?> m) {
            p.packMapHeader(m.size());
            for (Map.Entry<?, ?> e : m.entrySet()) {
                pack(p, e.getKey());
                pack(p, e.getValue());
            }
        } else {
            throw new IllegalArgumentException("msgpack: cannot encode a " + v.getClass().getName());
        }
    }

    /** Decode one value; the bytes must hold exactly one. */
    public static Object decode(byte[] data) {
        try (MessageUnpacker u = MessagePack.newDefaultUnpacker(data)) {
            Object v = unpack(u);
            if (u.hasNext()) {
                throw new IllegalArgumentException("msgpack: extra bytes after the value");
            }
            return v;
        } catch (IOException | org.msgpack.core.MessagePackException e) {
            throw new IllegalArgumentException("msgpack: " + e, e); // truncated or malformed
        }
    }

    private static Object unpack(MessageUnpacker u) throws IOException {
        MessageFormat f = u.getNextFormat();
        ValueType t = f.getValueType();
        switch (t) {
            case NIL:
                u.unpackNil();
                return null;
            case BOOLEAN:
                return u.unpackBoolean();
            case INTEGER:
                if (f == MessageFormat.UINT64) {
                    return u.unpackBigInteger().longValue(); // beyond 2^63: Locust never sends one
                }
                return u.unpackLong();
            case FLOAT:
                return u.unpackDouble();
            case STRING: {
                int n = u.unpackRawStringHeader();
                return new String(u.readPayload(n), StandardCharsets.UTF_8);
            }
            case BINARY: {
                int n = u.unpackBinaryHeader();
                return u.readPayload(n);
            }
            case ARRAY: {
                int n = u.unpackArrayHeader();
                List<Object> l = new ArrayList<>(n);
                for (int i = 0; i < n; i++) {
                    l.add(unpack(u));
                }
                return l;
            }
            case MAP: {
                int n = u.unpackMapHeader();
                Map<Object, Object> m = new LinkedHashMap<>();
                for (int i = 0; i < n; i++) {
                    Object k = unpack(u);
                    m.put(k, unpack(u));
                }
                return m;
            }
            default:
                throw new IllegalArgumentException("msgpack: unsupported type " + t);
        }
    }
}
