package bench.celery;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import bench.RedisServer;
import bench.Vectors;
import bench.core.Service;
import bench.core.Settings;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.OutputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.args.ListDirection;

/**
 * The worker against a real redis-server on a free port and a real Celery 5.7 client (the
 * repository's .venv): {@code send_task(...).get()} returns the value or raises the exception.
 */
class CeleryWorkerTest {
    private static RedisServer redis;
    private static String url;
    private static Path python;
    private static Path client;

    @BeforeAll
    static void startRedis() throws Exception {
        python = Vectors.contractDir().resolve("../.venv/bin/python").normalize();
        assumeTrue(RedisServer.onPath("redis-server"),
                "redis-server is not on PATH: the celery worker tests are skipped");
        assumeTrue(Files.isExecutable(python), python + " is missing (make venv): the celery worker tests are skipped");
        // a directory of its own: Python puts the script's directory first on sys.path
        client = Files.createTempDirectory("celery_client").resolve("celery_client.py");
        try (var in = CeleryWorkerTest.class.getResourceAsStream("celery_client.py")) {
            Files.write(client, in.readAllBytes());
        }
        redis = RedisServer.start();
        url = redis.url();
    }

    @AfterAll
    static void stopRedis() throws Exception {
        if (redis != null) {
            redis.close();
        }
        if (client != null) {
            Files.deleteIfExists(client);
            Files.deleteIfExists(client.getParent());
        }
    }

    static ObjectNode call(String task, Object... args) {
        ObjectNode r = Vectors.MAPPER.createObjectNode().put("call", task);
        ArrayNode a = r.putArray("args");
        for (Object o : args) {
            a.add(Vectors.MAPPER.valueToTree(o));
        }
        return r;
    }

    /** Run the Celery client on {@code requests}; one reply per request. */
    static List<JsonNode> celery(String queue, List<ObjectNode> requests) throws Exception {
        Process p = new ProcessBuilder(python.toString(), client.toString(), url, queue)
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        try (OutputStream in = p.getOutputStream()) {
            for (ObjectNode r : requests) {
                in.write(Vectors.MAPPER.writeValueAsBytes(r));
                in.write('\n');
            }
        }
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the Celery client did not finish");
        assertEquals(0, p.exitValue(), "the Celery client failed");
        List<JsonNode> replies = new ArrayList<>();
        for (String line : new String(out, StandardCharsets.UTF_8).split("\n")) {
            if (!line.isBlank()) {
                replies.add(Vectors.tree(line.getBytes(StandardCharsets.UTF_8)));
            }
        }
        assertEquals(requests.size(), replies.size(), "replies: " + replies);
        return replies;
    }

    static void assertRaised(JsonNode reply, String module, String type, String messagePrefix) {
        assertEquals(type, reply.path("exc_type").asText(), reply::toString);
        assertEquals(module, reply.path("exc_module").asText(), reply::toString);
        assertTrue(reply.path("message").asText().startsWith(messagePrefix), reply::toString);
    }

    @Test
    void aCeleryClientGetsValuesAndExceptions() throws Exception {
        String queue = "bench.java.t" + System.nanoTime();
        Service service = new Service(new Settings(Settings.MAX_BODY_BYTES, 1000, true, 0));
        List<ObjectNode> requests = new ArrayList<>();
        requests.add(call("bench.health"));
        requests.add(call("bench.echo", "héllo\u0000\u2028😀 \"quoted\" \\"));
        requests.add(call("bench.echo", ""));
        List<JsonNode> diffs = Vectors.load("diff").subList(0, 8);
        for (JsonNode v : diffs) {
            requests.add(call("bench.diff", v.get("a"), v.get("b")));
        }
        ObjectNode kw = Vectors.MAPPER.createObjectNode().put("call", "bench.diff");
        kw.putArray("args");
        kw.putObject("kwargs").set("a", Vectors.MAPPER.valueToTree(List.of("x", "y")));
        ((ObjectNode) kw.get("kwargs")).set("b", Vectors.MAPPER.valueToTree(List.of("y")));
        requests.add(kw);
        requests.add(call("bench.frobnicate", 1));
        requests.add(call("bench.diff", List.of("a"), 7));
        requests.add(call("bench.echo", 1, 2));
        requests.add(call("bench.diff", List.of("\ud800"), List.of()));
        requests.add(call("bench.diff", List.of("__bench_fault__:internal"), List.of()));
        requests.add(call("bench.diff", new ArrayList<>(java.util.Collections.nCopies(600, "a")),
                new ArrayList<>(java.util.Collections.nCopies(401, "b"))));
        requests.add(call("bench.echo", "served after the errors"));

        try (Jedis j = new Jedis(URI.create(url));
             CeleryWorker worker = new CeleryWorker(service, url, queue, 2, 600)) {
            assertEquals(0, worker.recovered());
            List<JsonNode> r = celery(queue, requests);
            int k = 0;
            JsonNode health = r.get(k++).get("ok");
            assertEquals("java", health.get("service").asText());
            assertEquals("[\"echo\",\"diff\",\"health\"]", health.get("ops").toString());
            assertEquals("héllo\u0000\u2028😀 \"quoted\" \\", r.get(k++).get("ok").asText());
            assertEquals("", r.get(k++).get("ok").asText());
            for (JsonNode v : diffs) {
                assertEquals(v.get("opcodes"), r.get(k++).get("ok"), v.get("name").asText());
            }
            assertEquals("[[\"delete\",0,1,0,0],[\"equal\",1,2,0,1]]", r.get(k++).get("ok").toString());
            // an unknown task: .get() raises celery.exceptions.NotRegistered
            assertRaised(r.get(k++), "celery.exceptions", "NotRegistered", "'bench.frobnicate'");
            assertRaised(r.get(k++), "builtins", "ValueError", "bad_request: 'b' must be an array of strings");
            assertRaised(r.get(k++), "builtins", "ValueError", "bad_request: bench.echo takes one string argument");
            assertRaised(r.get(k++), "builtins", "ValueError", "bad_request: 'a' holds a string with a lone surrogate");
            assertRaised(r.get(k++), "builtins", "ValueError", "internal: internal error: IllegalStateException");
            assertRaised(r.get(k++), "builtins", "ValueError", "too_large: diff of 1001 tokens");
            JsonNode last = r.get(k++);
            assertEquals("served after the errors", last.get("ok").asText());

            // stored where Celery's backend reads it, with the result expiry, and acknowledged
            long ttl = j.ttl(CeleryProtocol.RESULT_PREFIX + last.get("id").asText());
            assertTrue(ttl > 0 && ttl <= 600, "expiry " + ttl);
            assertEquals(0, j.llen(queue + ":processing"));
            assertEquals(0, j.llen(queue));
        }
    }

    @Test
    void aMessageLeftInProcessingByADeadWorkerIsRunAfterRestart() throws Exception {
        String queue = "bench.java.r" + System.nanoTime();
        Service service = new Service(Settings.defaults());
        try (Jedis j = new Jedis(URI.create(url))) {
            // no worker yet: the client's message waits in the queue
            ObjectNode send = Vectors.MAPPER.createObjectNode().put("send", "bench.echo");
            send.putArray("args").add("left behind");
            String id = celery(queue, List.of(send)).get(0).get("id").asText();
            // a worker took it (BLMOVE) and died before storing a result
            assertNotNull(j.lmove(queue, queue + ":processing", ListDirection.RIGHT,
                    ListDirection.LEFT));
            assertEquals(0, j.llen(queue));
            assertFalse(j.exists(CeleryProtocol.RESULT_PREFIX + id));
            try (CeleryWorker worker = new CeleryWorker(service, url, queue, 1, 600)) {
                assertEquals(1, worker.recovered());
                // the same AsyncResult gets its value from the restarted worker
                JsonNode r = celery(queue, List.of(Vectors.MAPPER.createObjectNode().put("get", id))).get(0);
                assertEquals("left behind", r.get("ok").asText(), r::toString);
                assertEquals(0, j.llen(queue + ":processing"));
            }
        }
    }

    @Test
    void messagesWithoutATaskIdGoToTheDeadList() throws Exception {
        String queue = "bench.java.d" + System.nanoTime();
        Service service = new Service(Settings.defaults());
        try (Jedis j = new Jedis(URI.create(url));
             CeleryWorker worker = new CeleryWorker(service, url, queue, 2, 600)) {
            j.lpush(queue.getBytes(StandardCharsets.UTF_8), "not a celery message".getBytes(StandardCharsets.UTF_8));
            j.lpush(queue, "{\"headers\": {\"task\": \"bench.echo\"}, \"body\": \"\"}");
            // a good task after them proves both were consumed
            JsonNode r = celery(queue, List.of(call("bench.echo", "after"))).get(0);
            assertEquals("after", r.get("ok").asText());
            long deadline = System.currentTimeMillis() + 5000;
            while (j.llen(queue + ":dead") < 2 && System.currentTimeMillis() < deadline) {
                Thread.sleep(10);
            }
            List<String> dead = j.lrange(queue + ":dead", 0, -1);
            assertEquals(2, dead.size(), dead::toString);
            assertTrue(dead.contains("not a celery message"));
            assertEquals(0, j.llen(queue + ":processing"));
        }
    }
}
