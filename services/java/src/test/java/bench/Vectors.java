package bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

/** The shared test vectors of contract/vectors (CONTRACT.md "Test vectors"). */
public final class Vectors {
    public static final ObjectMapper MAPPER = new ObjectMapper();

    private Vectors() {
    }

    /** The repository's contract folder (the surefire property, else ../../contract). */
    public static Path contractDir() {
        return Path.of(System.getProperty("bench.contract.dir", "../../contract"));
    }

    /** The vectors of {@code vectors/<kind>.json}. */
    public static List<JsonNode> load(String kind) {
        try {
            JsonNode root = MAPPER.readTree(Files.readAllBytes(contractDir().resolve("vectors").resolve(kind + ".json")));
            List<JsonNode> out = new ArrayList<>();
            root.get("vectors").forEach(out::add);
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Decode a body given as segments {@code [[base64, count], ...]}. */
    public static byte[] body(JsonNode segments) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (JsonNode seg : segments) {
            byte[] chunk = Base64.getDecoder().decode(seg.get(0).asText());
            int count = seg.get(1).asInt();
            for (int i = 0; i < count; i++) {
                out.write(chunk, 0, chunk.length);
            }
        }
        return out.toByteArray();
    }

    /** The strings of a JSON array. */
    public static List<String> strings(JsonNode array) {
        List<String> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asText()));
        return out;
    }

    /** The request body of a diff vector: {a, b} plus the keys of "extra". */
    public static byte[] diffRequest(JsonNode v) {
        var obj = MAPPER.createObjectNode();
        obj.set("a", v.get("a"));
        obj.set("b", v.get("b"));
        if (v.has("extra")) {
            v.get("extra").fields().forEachRemaining(e -> obj.set(e.getKey(), e.getValue()));
        }
        try {
            return MAPPER.writeValueAsBytes(obj);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Parse JSON bytes into a tree. */
    public static JsonNode tree(byte[] json) {
        try {
            return MAPPER.readTree(json);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
