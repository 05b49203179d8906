package bench.caller.client;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The one request a cell sends (LOADGEN.md {@code bench_config.request}): {@code op} echo or
 * diff, the contract's request {@code body}, and for diff the expected {@code opcodes}.
 */
public record Request(String op, byte[] body, List<Opcode> opcodes) {
    private static final JsonFactory JSON = new JsonFactory();

    public Request {
        if (!op.equals("echo") && !op.equals("diff")) {
            throw new IllegalArgumentException("request.op is \"echo\" or \"diff\", not \"" + op + "\"");
        }
        if (op.equals("diff") && opcodes == null) {
            throw new IllegalArgumentException("a diff request needs request.opcodes (the expected reply)");
        }
        opcodes = opcodes == null ? null : List.copyOf(opcodes);
    }

    /** The body as text (Celery's {@code bench.echo} argument; scenario echo bodies are ASCII). */
    public String bodyText() {
        return new String(body, StandardCharsets.UTF_8);
    }

    /** A diff body's {@code a} and {@code b} (gRPC's DiffRequest, Celery's arguments). */
    public List<List<String>> diffArgs() {
        List<String> a = null;
        List<String> b = null;
        try (JsonParser p = JSON.createParser(body)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw new IllegalArgumentException("the diff body is not a JSON object");
            }
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String key = p.currentName();
                JsonToken t = p.nextToken();
                if ((key.equals("a") || key.equals("b")) && t == JsonToken.START_ARRAY) {
                    List<String> l = new ArrayList<>();
                    while (p.nextToken() == JsonToken.VALUE_STRING) {
                        l.add(p.getText());
                    }
                    if (p.currentToken() != JsonToken.END_ARRAY) {
                        throw new IllegalArgumentException("diff body: '" + key + "' is not an array of strings");
                    }
                    if (key.equals("a")) {
                        a = l;
                    } else {
                        b = l;
                    }
                } else {
                    p.skipChildren();
                }
            }
        } catch (IOException e) {
            throw new IllegalArgumentException("the diff body is not JSON: " + e.getMessage(), e);
        }
        if (a == null || b == null) {
            throw new IllegalArgumentException("the diff body needs arrays 'a' and 'b'");
        }
        return List.of(a, b);
    }

    /** The opcodes of a diff reply body {@code {"opcodes": [[tag, i1, i2, j1, j2], ...]}}, or null when it is not one. */
    public static List<Opcode> parseOpcodes(byte[] json) {
        try (JsonParser p = JSON.createParser(json)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                return null;
            }
            List<Opcode> out = null;
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String key = p.currentName();
                JsonToken t = p.nextToken();
                if (key.equals("opcodes") && t == JsonToken.START_ARRAY) {
                    out = opcodeList(p);
                    if (out == null) {
                        return null;
                    }
                } else {
                    p.skipChildren();
                }
            }
            return out;
        } catch (IOException e) {
            return null;
        }
    }

    /** The opcodes of a JSON list {@code [[tag, i1, i2, j1, j2], ...]} (Celery's result), or null. */
    public static List<Opcode> parseOpcodeList(JsonParser p) throws IOException {
        return p.currentToken() == JsonToken.START_ARRAY ? opcodeList(p) : null;
    }

    private static List<Opcode> opcodeList(JsonParser p) throws IOException {
        List<Opcode> out = new ArrayList<>();
        while (p.nextToken() == JsonToken.START_ARRAY) {
            if (p.nextToken() != JsonToken.VALUE_STRING) {
                return null;
            }
            String tag = p.getText();
            long[] v = new long[4];
            for (int i = 0; i < 4; i++) {
                if (p.nextToken() != JsonToken.VALUE_NUMBER_INT) {
                    return null;
                }
                v[i] = p.getLongValue();
            }
            if (p.nextToken() != JsonToken.END_ARRAY) {
                return null;
            }
            out.add(new Opcode(tag, v[0], v[1], v[2], v[3]));
        }
        return p.currentToken() == JsonToken.END_ARRAY ? out : null;
    }
}
