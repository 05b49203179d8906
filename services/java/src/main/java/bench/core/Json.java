package bench.core;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.exc.StreamConstraintsException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * JSON for the contract with Jackson's streaming API (no data binding): the strict {@code diff}
 * request parser and the writers of replies and error bodies.
 *
 * <p>Checks in the contract's order: UTF-8 (strict, before any parsing; a leading BOM is not
 * JSON, as in Python), JSON (one value, nothing after it, nesting at most 1000 deep, numbers at
 * most 1000 digits), shape ({@code a} and {@code b} arrays of strings without lone surrogates;
 * a repeated key keeps its last value, as Python's {@code json} does).
 */
public final class Json {
    /** Maximum nesting depth before a document is refused (Jackson's default, made explicit). */
    public static final int MAX_NESTING_DEPTH = 1000;

    private static final JsonFactory FACTORY = JsonFactory.builder()
            .streamReadConstraints(StreamReadConstraints.builder()
                    .maxNestingDepth(MAX_NESTING_DEPTH)
                    .maxNumberLength(1000)
                    .maxStringLength(Integer.MAX_VALUE)
                    .build())
            .build();

    private Json() {
    }

    /** A validated diff request. */
    public record DiffRequest(List<String> a, List<String> b) {
    }

    /** Parse and validate a diff request body (after the size check). */
    public static DiffRequest parseDiffRequest(byte[] body) throws BenchException {
        int bad = Utf8.firstInvalid(body, 0, body.length);
        if (bad >= 0) {
            throw new BenchException(ErrorCode.BAD_REQUEST, "body is not valid UTF-8 (byte " + bad + ")");
        }
        if (body.length >= 3 && (body[0] & 0xff) == 0xef && (body[1] & 0xff) == 0xbb && (body[2] & 0xff) == 0xbf) {
            throw new BenchException(ErrorCode.BAD_REQUEST, "body is not valid JSON: it starts with a UTF-8 BOM");
        }
        List<String> a = null;
        List<String> b = null;
        boolean aSeen = false;
        boolean bSeen = false;
        try (JsonParser p = FACTORY.createParser(body)) {
            JsonToken t = p.nextToken();
            if (t == null) {
                throw notJson("empty body");
            }
            if (t != JsonToken.START_OBJECT) {
                p.skipChildren();
                requireEnd(p);
                throw shape();
            }
            while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                p.nextToken();
                if ("a".equals(name)) {
                    aSeen = true;
                    a = readTokens(p);
                } else if ("b".equals(name)) {
                    bSeen = true;
                    b = readTokens(p);
                } else {
                    p.skipChildren();
                }
            }
            requireEnd(p);
        } catch (StreamConstraintsException e) {
            throw new BenchException(ErrorCode.BAD_REQUEST, "body is not acceptable JSON: " + e.getOriginalMessage(), e);
        } catch (IOException e) { // JsonParseException and friends
            throw notJson(firstLine(e.getMessage()));
        }
        if (!aSeen || !bSeen) {
            throw new BenchException(ErrorCode.BAD_REQUEST, "body must have both 'a' and 'b'");
        }
        if (a == null) {
            throw new BenchException(ErrorCode.BAD_REQUEST, "'a' must be an array of strings");
        }
        if (b == null) {
            throw new BenchException(ErrorCode.BAD_REQUEST, "'b' must be an array of strings");
        }
        checkSurrogates(a, "a");
        checkSurrogates(b, "b");
        return new DiffRequest(a, b);
    }

    private static BenchException notJson(String why) {
        return new BenchException(ErrorCode.BAD_REQUEST, "body is not valid JSON: " + why);
    }

    private static BenchException shape() {
        return new BenchException(ErrorCode.BAD_REQUEST, "body must be a JSON object with arrays 'a' and 'b'");
    }

    private static void requireEnd(JsonParser p) throws IOException, BenchException {
        JsonToken extra = p.nextToken();
        if (extra != null) {
            throw notJson("extra data after the document (" + extra + ")");
        }
    }

    /** Read the current value: the list of strings, or null (after skipping it) if it is not one. */
    private static List<String> readTokens(JsonParser p) throws IOException {
        if (p.currentToken() != JsonToken.START_ARRAY) {
            p.skipChildren();
            return null;
        }
        ArrayList<String> tokens = new ArrayList<>();
        boolean ok = true;
        JsonToken t;
        while ((t = p.nextToken()) != JsonToken.END_ARRAY) {
            if (t == JsonToken.VALUE_STRING) {
                if (ok) {
                    tokens.add(p.getText());
                }
            } else {
                ok = false;
                p.skipChildren();
            }
        }
        return ok ? tokens : null;
    }

    private static void checkSurrogates(List<String> tokens, String name) throws BenchException {
        for (String s : tokens) {
            if (Utf8.hasLoneSurrogate(s)) {
                throw new BenchException(ErrorCode.BAD_REQUEST, "'" + name + "' holds a string with a lone surrogate");
            }
        }
    }

    private static String firstLine(String message) {
        if (message == null) {
            return "parse error";
        }
        int nl = message.indexOf('\n');
        return nl < 0 ? message : message.substring(0, nl);
    }

    /** {@code {"opcodes":[[tag,i1,i2,j1,j2],...]}} as UTF-8 bytes. */
    public static byte[] opcodesBody(List<SequenceMatcher.Opcode> opcodes) {
        StringBuilder sb = new StringBuilder(16 + opcodes.size() * 32);
        sb.append("{\"opcodes\":[");
        for (int k = 0; k < opcodes.size(); k++) {
            SequenceMatcher.Opcode o = opcodes.get(k);
            if (k > 0) {
                sb.append(',');
            }
            sb.append("[\"").append(o.tag()).append("\",").append(o.i1()).append(',').append(o.i2())
                    .append(',').append(o.j1()).append(',').append(o.j2()).append(']');
        }
        sb.append("]}");
        return sb.toString().getBytes(StandardCharsets.US_ASCII);
    }

    /** {@code {"error":code,"message":message}} as UTF-8 bytes. */
    public static byte[] errorBody(ErrorCode code, String message) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(64 + message.length());
        try (JsonGenerator g = FACTORY.createGenerator(out)) {
            g.writeStartObject();
            g.writeStringField("error", code.wire());
            g.writeStringField("message", message);
            g.writeEndObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    /** The health object as UTF-8 bytes. */
    public static byte[] healthBody(String service, String language, String runtime, List<String> ops) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(128);
        try (JsonGenerator g = FACTORY.createGenerator(out)) {
            g.writeStartObject();
            g.writeStringField("service", service);
            g.writeStringField("language", language);
            g.writeStringField("runtime", runtime);
            g.writeArrayFieldStart("ops");
            for (String op : ops) {
                g.writeString(op);
            }
            g.writeEndArray();
            g.writeEndObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }
}
