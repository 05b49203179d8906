package bench.celery;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import bench.Vectors;
import bench.core.Service;
import bench.core.Settings;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Base64;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * CeleryProtocol (envelopes, result documents) and CeleryWorker.handle (a message in, the
 * document to store out) without Redis. The Redis side is CeleryWorkerTest.
 */
class CeleryProtocolTest {
    /** When Celery 5.7's worker finished the captured task (its date_done). */
    static final Instant DONE = Instant.parse("2026-11-23T21:01:06.254217Z");
    static final Service SERVICE = new Service(Settings.defaults());

    static byte[] resource(String name) {
        try (InputStream in = CeleryProtocolTest.class.getResourceAsStream(name)) {
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** An envelope shaped like kombu's around a raw body of our choosing. */
    static byte[] envelope(String task, String id, String rawBody) {
        ObjectNode env = Vectors.MAPPER.createObjectNode();
        env.put("body", Base64.getEncoder().encodeToString(rawBody.getBytes(StandardCharsets.UTF_8)));
        env.put("content-encoding", "utf-8");
        env.put("content-type", "application/json");
        ObjectNode h = env.putObject("headers");
        h.put("lang", "py");
        h.put("task", task);
        h.put("id", id);
        h.putNull("group");
        h.putNull("parent_id");
        h.putNull("ignore_result");
        ObjectNode p = env.putObject("properties");
        p.put("body_encoding", "base64");
        p.put("delivery_tag", "tag-1");
        p.put("priority", 0);
        return bytes(env);
    }

    static byte[] bytes(JsonNode n) {
        try {
            return Vectors.MAPPER.writeValueAsBytes(n);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static ObjectNode tree(byte[] json) {
        return (ObjectNode) Vectors.tree(json);
    }

    /** The stored document of a message, decoded, after checking its key. */
    static JsonNode doc(Service service, byte[] message) {
        CeleryWorker.Outcome out = CeleryWorker.handle(service, message, DONE);
        CeleryWorker.Store s = assertInstanceOf(CeleryWorker.Store.class, out);
        JsonNode d = Vectors.tree(s.doc());
        assertEquals("celery-task-meta-" + d.get("task_id").asText(), new String(s.key(), StandardCharsets.UTF_8));
        return d;
    }

    static void assertValueError(JsonNode d, String prefix) {
        assertEquals("FAILURE", d.get("status").asText());
        assertEquals("ValueError", d.get("result").get("exc_type").asText());
        assertEquals("builtins", d.get("result").get("exc_module").asText());
        String message = d.get("result").get("exc_message").get(0).asText();
        assertTrue(message.startsWith(prefix), message);
    }

    @Test
    void kombuMessageGivesCeleryWorkersDocumentByteForByte() {
        // captured with redis-cli MONITOR: kombu 5.7 LPUSHed the message, Celery 5.7's worker
        // SETEXed the document (send_task("bench.echo", args=["héllo\x1f\u2028😀"]))
        CeleryWorker.Outcome out = CeleryWorker.handle(SERVICE, resource("kombu_echo_message.json"), DONE);
        CeleryWorker.Store s = assertInstanceOf(CeleryWorker.Store.class, out);
        assertEquals("celery-task-meta-5b48a9f9-9127-4799-b521-291e2b64b04a",
                new String(s.key(), StandardCharsets.UTF_8));
        assertArrayEquals(resource("celery_echo_result.json"), s.doc(),
                () -> new String(s.doc(), StandardCharsets.UTF_8));
    }

    @Test
    void decodesKombusEnvelope() {
        CeleryProtocol.Task t = assertInstanceOf(CeleryProtocol.Task.class,
                CeleryProtocol.decode(resource("kombu_echo_message.json")));
        assertEquals(new CeleryProtocol.Meta("5b48a9f9-9127-4799-b521-291e2b64b04a", "bench.echo", false, null, null),
                t.meta());
        assertEquals(List.of("héllo\u001f\u2028😀"), t.args());
        assertTrue(t.kwargs().isEmpty());
    }

    @Test
    void messagesWithoutATaskIdAreDead() {
        for (String m : List.of("", "not json", "[1, 2]", "{\"headers\": {}}", "{\"headers\": {\"id\": \"\"}}",
                "{\"headers\": {\"id\": 42}}", "{\"headers\": {\"id\": \"x\"}} trailing", "{\"headers\": 1}",
                "{\"headers\": {\"id\": \"a\\ud800\"}}", "{\"body\": \"e30=\", \"headers\": {}}")) {
            CeleryProtocol.Decoded d = CeleryProtocol.decode(m.getBytes(StandardCharsets.UTF_8));
            assertInstanceOf(CeleryProtocol.Dead.class, d, m);
            assertInstanceOf(CeleryWorker.DeadLetter.class,
                    CeleryWorker.handle(SERVICE, m.getBytes(StandardCharsets.UTF_8), DONE), m);
        }
        // bytes that are not UTF-8 in the task id: the id cannot name the client's key
        byte[] m = "{\"headers\": {\"id\": \"a\u00ff\"}}".getBytes(StandardCharsets.ISO_8859_1);
        assertInstanceOf(CeleryProtocol.Dead.class, CeleryProtocol.decode(m));
    }

    @Test
    void brokenEnvelopesWithAnIdAreValueErrors() {
        String good = "[[\"x\"], {}, {}]";
        ObjectNode base = tree(envelope("bench.echo", "i-1", good));
        List<ObjectNode> bad = new java.util.ArrayList<>();
        ObjectNode noTask = base.deepCopy();
        ((ObjectNode) noTask.get("headers")).remove("task");
        bad.add(noTask);
        bad.add(base.deepCopy().put("content-type", "application/x-python-serialize"));
        bad.add(base.deepCopy().put("content-encoding", "binary"));
        ObjectNode noBodyEncoding = base.deepCopy();
        noBodyEncoding.putObject("properties");
        bad.add(noBodyEncoding);
        bad.add(base.deepCopy().put("body", "!!not base64!!"));
        bad.add(base.deepCopy().put("body", 12));
        for (String body : List.of("[[\"x\"], {}]", "[{}, {}, {}]", "[[\"x\"], [], {}]", "not json",
                "[[\"x\"], {}, {}] extra")) {
            bad.add(tree(envelope("bench.echo", "i-1", body)));
        }
        byte[] notUtf8 = {'[', '[', '"', (byte) 0xc3, '"', ']', ',', '{', '}', ',', '{', '}', ']'};
        bad.add(base.deepCopy().put("body", Base64.getEncoder().encodeToString(notUtf8)));
        for (ObjectNode e : bad) {
            byte[] m = bytes(e);
            CeleryProtocol.Bad b = assertInstanceOf(CeleryProtocol.Bad.class, CeleryProtocol.decode(m), e::toString);
            assertEquals("i-1", b.meta().id());
            JsonNode d = doc(SERVICE, m);
            assertEquals("i-1", d.get("task_id").asText());
            assertValueError(d, "bad_request: ");
        }
    }

    @Test
    void loneSurrogatesInTheEnvelopeAreToleratedInTheArgumentsRefused() {
        // kombu writes argsrepr with Python's repr, which keeps a lone surrogate as an escape
        String kombu = new String(resource("kombu_echo_message.json"), StandardCharsets.UTF_8);
        String argsrepr = "\"argsrepr\": \"['h\\u00e9llo\\u001f\\u2028\\ud83d\\ude00']\"";
        assertTrue(kombu.contains(argsrepr));
        String lone = kombu.replace(argsrepr, "\"argsrepr\": \"['\\ud800']\", \"x\": \"\\udc00\\ud800\"");
        JsonNode d = doc(SERVICE, lone.getBytes(StandardCharsets.UTF_8));
        assertEquals("SUCCESS", d.get("status").asText());
        assertEquals("héllo\u001f\u2028😀", d.get("result").asText());

        // the same lone surrogate in the arguments (the base64 body) is a bad request
        ObjectNode env = tree(lone.getBytes(StandardCharsets.UTF_8));
        env.put("body", Base64.getEncoder().encodeToString("[[\"\\ud800\"], {}, {}]".getBytes(StandardCharsets.UTF_8)));
        assertValueError(doc(SERVICE, bytes(env)), "bad_request: the text holds a lone surrogate");
        assertValueError(doc(SERVICE, envelope("bench.diff", "t", "[[[\"\\udc00\\ud800\"], []], {}, {}]")),
                "bad_request: 'a' holds a string with a lone surrogate");
        assertValueError(doc(SERVICE, envelope("bench.diff", "t", "[[[], [\"x\\ud800\"]], {}, {}]")),
                "bad_request: 'b' holds a string with a lone surrogate");
        // a proper pair is one astral character
        assertEquals("😀", doc(SERVICE, envelope("bench.echo", "t", "[[\"\\ud83d\\ude00\"], {}, {}]"))
                .get("result").asText());
    }

    @Test
    void argumentChecksAreValueErrors() {
        assertValueError(doc(SERVICE, envelope("bench.echo", "t", "[[], {}, {}]")),
                "bad_request: bench.echo takes one string argument");
        assertValueError(doc(SERVICE, envelope("bench.echo", "t", "[[1], {}, {}]")),
                "bad_request: bench.echo takes one string argument");
        assertValueError(doc(SERVICE, envelope("bench.echo", "t", "[[], {\"text\": \"x\"}, {}]")),
                "bad_request: bench.echo takes one string argument");
        assertValueError(doc(SERVICE, envelope("bench.diff", "t", "[[[\"a\"]], {}, {}]")),
                "bad_request: bench.diff takes two arguments");
        assertValueError(doc(SERVICE, envelope("bench.diff", "t", "[[], {\"a\": [], \"c\": []}, {}]")),
                "bad_request: bench.diff takes two arguments");
        assertValueError(doc(SERVICE, envelope("bench.diff", "t", "[[1, []], {}, {}]")),
                "bad_request: 'a' must be an array of strings");
        assertValueError(doc(SERVICE, envelope("bench.diff", "t", "[[[], [\"x\", null]], {}, {}]")),
                "bad_request: 'b' must be an array of strings");
        assertValueError(doc(SERVICE, envelope("bench.health", "t", "[[1], {}, {}]")),
                "bad_request: bench.health takes no arguments");
        // keywords a and b are accepted, as by the Python worker
        JsonNode d = doc(SERVICE, envelope("bench.diff", "t", "[[], {\"b\": [\"a\", \"b\"], \"a\": [\"a\"]}, {}]"));
        assertEquals("[[\"equal\",0,1,0,1],[\"insert\",1,1,1,2]]", d.get("result").toString());
    }

    @Test
    void limitsAndTheInternalHook() {
        Service small = new Service(new Settings(10, 4, true, 0));
        // the echo limit counts UTF-8 bytes: 10 pass, five "é" (10 bytes) pass, 11 fail
        assertEquals("0123456789", doc(small, envelope("bench.echo", "t", "[[\"0123456789\"], {}, {}]"))
                .get("result").asText());
        assertEquals("SUCCESS", doc(small, envelope("bench.echo", "t", "[[\"ééééé\"], {}, {}]"))
                .get("status").asText());
        assertValueError(doc(small, envelope("bench.echo", "t", "[[\"ééééé!\"], {}, {}]")), "too_large: ");
        assertValueError(doc(small, envelope("bench.diff", "t", "[[[\"a\", \"b\", \"c\"], [\"a\", \"b\"]], {}, {}]")),
                "too_large: diff of 5 tokens");
        assertValueError(doc(small, envelope("bench.diff", "t", "[[[\"__bench_fault__:internal\"], [\"x\"]], {}, {}]")),
                "internal: internal error: IllegalStateException");
        assertEquals("SUCCESS", doc(small, envelope("bench.diff", "t", "[[[\"a\"], [\"a\", \"b\"]], {}, {}]"))
                .get("status").asText());
    }

    @Test
    void unknownTasksAreNotRegisteredAsCeleryWritesIt() {
        CeleryWorker.Store s = assertInstanceOf(CeleryWorker.Store.class,
                CeleryWorker.handle(SERVICE, envelope("bench.nope", "t-1", "[[1], {}, {}]"), DONE));
        assertEquals("{\"status\": \"FAILURE\", \"result\": {\"exc_type\": \"NotRegistered\", \"exc_message\": "
                + "[\"bench.nope\"], \"exc_module\": \"celery.exceptions\"}, \"traceback\": null, \"children\": [], "
                + "\"date_done\": \"2026-11-23T21:01:06.254217+00:00\", \"task_id\": \"t-1\"}",
                new String(s.doc(), StandardCharsets.UTF_8));
    }

    @Test
    void diffVectorsAndHealth() {
        for (JsonNode v : Vectors.load("diff")) {
            ObjectNode body = Vectors.MAPPER.createObjectNode();
            body.putArray("args").add(v.get("a")).add(v.get("b"));
            String raw = "[" + body.get("args") + ", {}, {}]";
            JsonNode d = doc(SERVICE, envelope("bench.diff", v.get("name").asText(), raw));
            assertEquals(v.get("opcodes"), d.get("result"), v.get("name").asText());
        }
        JsonNode h = doc(SERVICE, envelope("bench.health", "h", "[[], {}, {}]")).get("result");
        assertEquals("java", h.get("service").asText());
        assertEquals("Java", h.get("language").asText());
        assertEquals("[\"echo\",\"diff\",\"health\"]", h.get("ops").toString());
    }

    @Test
    void groupAndParentAreWrittenInCeleryOrder() {
        ObjectNode env = tree(envelope("bench.echo", "t", "[[\"x\"], {}, {}]"));
        ((ObjectNode) env.get("headers")).put("group", "g").put("parent_id", "p");
        CeleryWorker.Store s = assertInstanceOf(CeleryWorker.Store.class, CeleryWorker.handle(SERVICE, bytes(env), DONE));
        String doc = new String(s.doc(), StandardCharsets.UTF_8);
        assertTrue(doc.endsWith("\"date_done\": \"2026-11-23T21:01:06.254217+00:00\", \"group_id\": \"g\", "
                + "\"parent_id\": \"p\", \"task_id\": \"t\"}"), doc);
    }

    @Test
    void ignoreResultIsOnlyAcknowledged() {
        ObjectNode env = tree(envelope("bench.echo", "q", "[[\"x\"], {}, {}]"));
        ((ObjectNode) env.get("headers")).put("ignore_result", true);
        assertEquals(new CeleryWorker.Ack("q"), CeleryWorker.handle(SERVICE, bytes(env), DONE));
    }

    @Test
    void stringsAndDatesAsPythonWritesThem() {
        StringBuilder sb = new StringBuilder();
        CeleryProtocol.appendString(sb, "q\"b\\n\n\r\t\b\f\u0000\u007f\u0080é\u2028\uffff😀\ud800");
        // kombu.utils.json.dumps of the same string
        assertEquals("\"q\\\"b\\\\n\\n\\r\\t\\b\\f\\u0000\\u007f\\u0080\\u00e9\\u2028\\uffff\\ud83d\\ude00\\ud800\"",
                sb.toString());
        assertEquals("2026-01-02T03:04:05+00:00", CeleryProtocol.dateDone(Instant.parse("2026-01-02T03:04:05Z")));
        assertEquals("2026-01-02T03:04:05.000120+00:00",
                CeleryProtocol.dateDone(Instant.parse("2026-01-02T03:04:05.000120999Z")));
        assertEquals(4 + 2 + 3 + 1 + 3, CeleryProtocol.utf8Length("😀é\u2028a\ud800"));
        assertFalse(CeleryProtocol.dateDone(Instant.now()).isEmpty());
    }
}
