package bench.celery;

import bench.core.SequenceMatcher;
import bench.core.Utf8;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Celery's task message protocol v2 as kombu's Redis transport writes it, and the result
 * documents Celery's Redis result backend reads. Pure: no I/O.
 *
 * <p>A message on the queue list is a JSON envelope {@code {"body": base64([args, kwargs,
 * embed]), "content-encoding": "utf-8", "content-type": "application/json", "headers": {"task",
 * "id", ...}, "properties": {"body_encoding": "base64", ...}}}. The envelope is decoded
 * leniently (kombu lets a lone surrogate through as an escape in {@code argsrepr}; Jackson keeps
 * it as a lone {@code char}, which is harmless there); the body, which holds the task's
 * arguments, is decoded strictly (UTF-8 as Python decodes it, one JSON document) and the
 * arguments are refused when a string holds a lone surrogate.
 *
 * <p>A result is {@code {"status", "result", "traceback", "children", "date_done",
 * ["group_id",] ["parent_id",] "task_id"}} written as Python's {@code json.dumps} (which kombu
 * uses) writes it: separators {@code ", "} and {@code ": "}, everything outside printable ASCII
 * escaped as {@code \\uxxxx} in lower case, astral characters as surrogate pairs.
 */
public final class CeleryProtocol {
    public static final String RESULT_PREFIX = "celery-task-meta-";

    private static final JsonFactory FACTORY = JsonFactory.builder()
            .streamReadConstraints(StreamReadConstraints.builder()
                    .maxNestingDepth(1000)
                    .maxNumberLength(1000)
                    .maxStringLength(Integer.MAX_VALUE)
                    .build())
            .build();
    private static final DateTimeFormatter SECONDS = DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss")
            .withZone(ZoneOffset.UTC);
    private static final char[] HEX = "0123456789abcdef".toCharArray();
    /** JSON null inside decoded values (maps and lists keep Java nulls; this marks a top-level null). */
    private static final Object NULL = new Object();

    private CeleryProtocol() {
    }

    /**
     * What a message says about its task.
     *
     * @param id           the task id (names the result key); never empty
     * @param task         the task name, or null when the headers have none
     * @param ignoreResult {@code headers.ignore_result} is true: run, acknowledge, store nothing
     * @param group        {@code headers.group} or null (written as {@code group_id})
     * @param parentId     {@code headers.parent_id} or null
     */
    public record Meta(String id, String task, boolean ignoreResult, String group, String parentId) {
        /** The result key (and the channel a waiting client subscribes to). */
        public byte[] resultKey() {
            return (RESULT_PREFIX + id).getBytes(StandardCharsets.UTF_8);
        }
    }

    /** The outcome of decoding a message. */
    public sealed interface Decoded permits Task, Bad, Dead {
    }

    /** A task with its arguments (JSON values: String, Long/BigInteger/Double, Boolean, List, Map, null). */
    public record Task(Meta meta, List<Object> args, Map<String, Object> kwargs) implements Decoded {
    }

    /** The envelope names a task id but the rest cannot be used: its result is a FAILURE. */
    public record Bad(Meta meta, String why) implements Decoded {
    }

    /** Not even a task id: the message goes to the dead list. */
    public record Dead(String why) implements Decoded {
    }

    /** Decode one message as kombu's Redis transport LPUSHed it. */
    public static Decoded decode(byte[] message) {
        Object doc;
        try {
            doc = parse(message);
        } catch (IOException e) {
            // Python's json lets nothing but ASCII into kombu's envelope; bytes that are not
            // UTF-8 are replaced by U+FFFD and the envelope is read once more, leniently.
            try {
                doc = parse(new String(message, StandardCharsets.UTF_8));
            } catch (IOException e2) {
                return new Dead("the envelope is not JSON: " + firstLine(e.getMessage()));
            }
        }
        if (!(doc instanceof Map<?, ?> envelope) || !(envelope.get("headers") instanceof Map<?, ?> headers)) {
            return new Dead("no headers in the envelope (not a protocol v2 task message)");
        }
        if (!(headers.get("id") instanceof String id) || id.isEmpty()) {
            return new Dead("no task id in the envelope's headers (not a protocol v2 task message)");
        }
        if (Utf8.hasLoneSurrogate(id) || id.indexOf('\uFFFD') >= 0) {
            return new Dead("the task id is not valid Unicode, so it cannot name a result key");
        }
        Meta meta = new Meta(id, nonEmpty(headers.get("task")), Boolean.TRUE.equals(headers.get("ignore_result")),
                nonEmpty(headers.get("group")), nonEmpty(headers.get("parent_id")));
        if (meta.task() == null) {
            return new Bad(meta, "the message has no task name");
        }
        Object contentType = envelope.get("content-type");
        Object encoding = envelope.containsKey("content-encoding") ? envelope.get("content-encoding") : "utf-8";
        Object bodyEncoding = envelope.get("properties") instanceof Map<?, ?> p ? p.get("body_encoding") : null;
        if (!"application/json".equals(contentType)) {
            return new Bad(meta, "content type " + describe(contentType) + " is not accepted (JSON only)");
        }
        if (!"utf-8".equals(encoding)) {
            return new Bad(meta, "content encoding " + describe(encoding) + " is not accepted (utf-8 only)");
        }
        if (!"base64".equals(bodyEncoding)) {
            return new Bad(meta, "body encoding " + describe(bodyEncoding) + " is not supported (base64 only)");
        }
        if (!(envelope.get("body") instanceof String body64)) {
            return new Bad(meta, "the envelope has no string \"body\"");
        }
        byte[] raw;
        try {
            raw = Base64.getDecoder().decode(body64);
        } catch (IllegalArgumentException e) {
            return new Bad(meta, "the message body is not valid base64");
        }
        int badByte = Utf8.firstInvalid(raw, 0, raw.length);
        if (badByte >= 0) {
            return new Bad(meta, "the message body is not valid UTF-8 (byte " + badByte + ")");
        }
        Object body;
        try {
            body = parse(raw);
        } catch (IOException e) {
            return new Bad(meta, "the message body is not valid JSON: " + firstLine(e.getMessage()));
        }
        if (body instanceof List<?> parts && parts.size() == 3 && parts.get(0) instanceof List<?> args
                && parts.get(1) instanceof Map<?, ?> kwargs) {
            @SuppressWarnings("unchecked")
            Task t = new Task(meta, (List<Object>) args, (Map<String, Object>) kwargs);
            return t;
        }
        return new Bad(meta, "the message body is not [args, kwargs, embed]");
    }

    private static String nonEmpty(Object o) {
        return o instanceof String s && !s.isEmpty() ? s : null;
    }

    private static String describe(Object o) {
        if (!(o instanceof String s)) {
            return "(none)";
        }
        StringBuilder sb = new StringBuilder("\"");
        for (int i = 0; i < Math.min(s.length(), 64); i++) {
            char c = s.charAt(i);
            sb.append(c >= 32 && c < 127 && c != '"' ? c : '?');
        }
        return sb.append('"').toString();
    }

    private static String firstLine(String message) {
        if (message == null) {
            return "parse error";
        }
        int nl = message.indexOf('\n');
        return nl < 0 ? message : message.substring(0, nl);
    }

    /** One JSON document from bytes (UTF-8; Jackson checks only what it must to decode). */
    static Object parse(byte[] json) throws IOException {
        try (JsonParser p = FACTORY.createParser(json)) {
            return document(p);
        }
    }

    static Object parse(String json) throws IOException {
        try (JsonParser p = FACTORY.createParser(json)) {
            return document(p);
        }
    }

    private static Object document(JsonParser p) throws IOException {
        if (p.nextToken() == null) {
            throw new IOException("empty document");
        }
        Object v = value(p);
        if (p.nextToken() != null) {
            throw new IOException("extra data after the document");
        }
        return v == NULL ? null : v;
    }

    /** The value at the current token; objects keep the last of repeated keys, as Python does. */
    private static Object value(JsonParser p) throws IOException {
        switch (p.currentToken()) {
            case START_OBJECT: {
                Map<String, Object> m = new LinkedHashMap<>();
                while (p.nextToken() == JsonToken.FIELD_NAME) {
                    String k = p.currentName();
                    p.nextToken();
                    Object v = value(p);
                    m.put(k, v == NULL ? null : v);
                }
                return m;
            }
            case START_ARRAY: {
                List<Object> l = new ArrayList<>();
                while (p.nextToken() != JsonToken.END_ARRAY) {
                    Object v = value(p);
                    l.add(v == NULL ? null : v);
                }
                return l;
            }
            case VALUE_STRING:
                return p.getText();
            case VALUE_NUMBER_INT:
                return p.getNumberValue();
            case VALUE_NUMBER_FLOAT:
                return p.getDoubleValue();
            case VALUE_TRUE:
                return Boolean.TRUE;
            case VALUE_FALSE:
                return Boolean.FALSE;
            case VALUE_NULL:
                return NULL;
            default:
                throw new IOException("unexpected token " + p.currentToken());
        }
    }

    // ------------------------------------------------------------------ results

    /** The SUCCESS document; {@code resultJson} is the value already written by {@link #appendString} & co. */
    public static byte[] success(Meta meta, CharSequence resultJson, Instant done) {
        return document(meta, "SUCCESS", resultJson, done);
    }

    /** The FAILURE document of a contract error: {@code ValueError("<code>: <message>")}. */
    public static byte[] valueError(Meta meta, String code, String message, Instant done) {
        return exception(meta, "ValueError", "builtins", code + ": " + message, done);
    }

    /**
     * The FAILURE document of an unknown task as Celery 5.7's worker stores it: {@code NotRegistered}
     * from {@code celery.exceptions} with the task name itself (not its repr) as its one argument.
     */
    public static byte[] notRegistered(Meta meta, Instant done) {
        return exception(meta, "NotRegistered", "celery.exceptions", meta.task(), done);
    }

    private static byte[] exception(Meta meta, String type, String module, String message, Instant done) {
        StringBuilder r = new StringBuilder(64 + message.length());
        r.append("{\"exc_type\": ");
        appendString(r, type);
        r.append(", \"exc_message\": [");
        appendString(r, message);
        r.append("], \"exc_module\": ");
        appendString(r, module);
        r.append('}');
        return document(meta, "FAILURE", r, done);
    }

    private static byte[] document(Meta meta, String status, CharSequence result, Instant done) {
        StringBuilder sb = new StringBuilder(160 + result.length());
        sb.append("{\"status\": \"").append(status).append("\", \"result\": ").append(result)
                .append(", \"traceback\": null, \"children\": [], \"date_done\": \"").append(dateDone(done)).append('"');
        if (meta.group() != null) {
            sb.append(", \"group_id\": ");
            appendString(sb, meta.group());
        }
        if (meta.parentId() != null) {
            sb.append(", \"parent_id\": ");
            appendString(sb, meta.parentId());
        }
        sb.append(", \"task_id\": ");
        appendString(sb, meta.id());
        sb.append('}');
        return sb.toString().getBytes(StandardCharsets.US_ASCII); // all escaped: ASCII only
    }

    /**
     * {@code date_done} as Celery writes it ({@code datetime.isoformat()} of an aware UTC time):
     * {@code 2026-01-02T03:04:05.123456+00:00}, without the fraction when it is zero.
     */
    public static String dateDone(Instant t) {
        Instant us = t.truncatedTo(ChronoUnit.MICROS);
        String s = SECONDS.format(us);
        int micros = us.getNano() / 1000;
        return micros == 0 ? s + "+00:00" : s + "." + String.format("%06d", micros) + "+00:00";
    }

    /** Append {@code s} as a JSON string the way Python's {@code json.dumps} (ensure_ascii) writes it. */
    public static void appendString(StringBuilder sb, String s) {
        sb.append('"');
        int n = s.length();
        int start = 0;
        for (int i = 0; i < n; i++) {
            char c = s.charAt(i);
            if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
                continue;
            }
            sb.append(s, start, i);
            start = i + 1;
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                case '\b' -> sb.append("\\b");
                case '\f' -> sb.append("\\f");
                default -> sb.append("\\u").append(HEX[(c >> 12) & 15]).append(HEX[(c >> 8) & 15])
                        .append(HEX[(c >> 4) & 15]).append(HEX[c & 15]);
            }
        }
        sb.append(s, start, n).append('"');
    }

    /** The opcodes list itself, {@code [["equal", 0, 1, 0, 1], ...]}. */
    public static StringBuilder opcodes(List<SequenceMatcher.Opcode> ops) {
        StringBuilder sb = new StringBuilder(2 + ops.size() * 32);
        sb.append('[');
        for (int k = 0; k < ops.size(); k++) {
            SequenceMatcher.Opcode o = ops.get(k);
            if (k > 0) {
                sb.append(", ");
            }
            sb.append("[\"").append(o.tag()).append("\", ").append(o.i1()).append(", ").append(o.i2())
                    .append(", ").append(o.j1()).append(", ").append(o.j2()).append(']');
        }
        return sb.append(']');
    }

    /** The health object, {@code {"service": ..., "language": ..., "runtime": ..., "ops": [...]}}. */
    public static StringBuilder health(String service, String language, String runtime, List<String> ops) {
        StringBuilder sb = new StringBuilder(128);
        sb.append("{\"service\": ");
        appendString(sb, service);
        sb.append(", \"language\": ");
        appendString(sb, language);
        sb.append(", \"runtime\": ");
        appendString(sb, runtime);
        sb.append(", \"ops\": [");
        for (int i = 0; i < ops.size(); i++) {
            if (i > 0) {
                sb.append(", ");
            }
            appendString(sb, ops.get(i));
        }
        return sb.append("]}");
    }

    /** The number of bytes {@code s} takes in UTF-8 (a lone surrogate counted as 3, as surrogatepass does). */
    public static long utf8Length(String s) {
        long n = 0;
        int len = s.length();
        for (int i = 0; i < len; i++) {
            char c = s.charAt(i);
            if (c < 0x80) {
                n += 1;
            } else if (c < 0x800) {
                n += 2;
            } else if (Character.isHighSurrogate(c) && i + 1 < len && Character.isLowSurrogate(s.charAt(i + 1))) {
                n += 4;
                i++;
            } else {
                n += 3;
            }
        }
        return n;
    }
}
