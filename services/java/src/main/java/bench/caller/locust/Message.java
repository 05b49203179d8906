package bench.caller.locust;

import java.util.List;

/** One message of Locust's master/worker channel: the msgpack array {@code [type, data, node_id]}. */
public record Message(String type, Object data, String nodeId) {
    public byte[] encode() {
        return Msgpack.encode(java.util.Arrays.asList(type, data, nodeId));
    }

    /** Decode a frame; a frame that is not {@code [str, any, str]} is refused with what it was. */
    public static Message decode(byte[] frame) {
        Object v = Msgpack.decode(frame);
        if (!(v instanceof List<?> l) || l.size() != 3 || !(l.get(0) instanceof String type)) {
            throw new IllegalArgumentException("not a Locust message [type, data, node_id]: " + v);
        }
        return new Message(type, l.get(1), l.get(2) instanceof String s ? s : null);
    }
}
