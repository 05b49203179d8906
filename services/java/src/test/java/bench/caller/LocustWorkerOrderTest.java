package bench.caller;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import bench.Ports;
import bench.caller.client.Clients;
import bench.caller.locust.Message;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.zeromq.SocketType;
import org.zeromq.ZContext;
import org.zeromq.ZMQ;

/**
 * The order of the worker's messages, driven message by message from a ROUTER playing the
 * master (the parts a headless Locust master does not exercise): {@code bench_start} before
 * {@code spawn}, {@code stop} before any request, then {@code bench_results} before
 * {@code client_stopped} before {@code client_ready}; {@code reconnect}; {@code quit}.
 */
class LocustWorkerOrderTest {
    private static Message next(ZMQ.Socket router, String identity, List<String> seen, String... wanted) {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (System.nanoTime() < deadline) {
            byte[] id = router.recv(0);
            if (id == null) {
                continue;
            }
            assertTrue(router.hasReceiveMore());
            Message m = Message.decode(router.recv(0));
            assertEquals(identity, new String(id, StandardCharsets.UTF_8));
            assertEquals(identity, m.nodeId());
            seen.add(m.type());
            if (List.of(wanted).contains(m.type())) {
                return m;
            }
        }
        throw new AssertionError("none of " + List.of(wanted) + " within 10 s; seen " + seen);
    }

    private static void send(ZMQ.Socket router, String identity, String type, Object data) {
        router.send(identity.getBytes(StandardCharsets.UTF_8), ZMQ.SNDMORE);
        router.send(new Message(type, data, identity).encode(), 0);
    }

    @Test
    void stopBeforeAnyRequestReconnectAndQuit() throws Exception {
        int port = Ports.free();
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try (ZContext ctx = new ZContext(); ZMQ.Socket router = ctx.createSocket(SocketType.ROUTER)) {
            router.setReceiveTimeOut(200);
            router.bind("tcp://127.0.0.1:" + port);
            LocustWorker w = new LocustWorker("127.0.0.1", port, 10, "java",
                    c -> Clients.factory(c, "socket", "user"));
            Future<LocustWorker.Exit> exit = pool.submit(() -> {
                try (w) {
                    return w.run();
                }
            });
            String id = w.nodeId();
            assertTrue(id.matches(".+_[0-9a-f]{32}"), id);
            List<String> seen = new ArrayList<>();
            assertEquals("2.47.0", next(router, id, seen, "client_ready").data());
            send(router, id, "ack", Map.of("index", 0L));
            Map<?, ?> hello = (Map<?, ?>) next(router, id, seen, "bench_hello").data();
            assertEquals(1L, hello.get("protocol"));
            var cfg = LocustWorkerTest.config("http", Ports.free(), "echo", true, 100, 1.0);
            Map<String, Object> config = new com.fasterxml.jackson.databind.ObjectMapper().convertValue(cfg, Map.class);
            @SuppressWarnings("unchecked")
            Map<String, Object> request = (Map<String, Object>) config.get("request");
            request.put("body", java.util.Base64.getDecoder().decode((String) request.remove("body_b64")));
            send(router, id, "bench_config", config);
            send(router, id, "bench_start", Map.of("start_wall", System.currentTimeMillis() / 1000.0 + 3600));
            send(router, id, "spawn", Map.of("timestamp", 1.0, "user_classes_count", Map.of("BenchCell", 2L),
                    "host", "", "parsed_options", Map.of()));
            assertNull(next(router, id, seen, "spawning").data());
            Map<?, ?> done = (Map<?, ?>) next(router, id, seen, "spawning_complete").data();
            assertEquals(2L, done.get("user_count"));
            assertEquals(Map.of("BenchCell", 2L), done.get("user_classes_count"));
            Map<?, ?> hb = (Map<?, ?>) next(router, id, seen, "heartbeat").data();
            assertEquals("running", hb.get("state"));
            send(router, id, "heartbeat", null);
            seen.clear();
            send(router, id, "stop", null);
            Map<?, ?> results = (Map<?, ?>) next(router, id, seen, "bench_results").data();
            Map<?, ?> measure = (Map<?, ?>) ((List<?>) results.get("phases")).get(1);
            assertEquals(Map.of(), measure.get("cells"), "the plan never started: no cell");
            assertEquals(0L, measure.get("issued"));
            assertEquals(2, ((List<?>) results.get("phases")).size());
            assertNotNull(next(router, id, seen, "client_stopped"));
            assertEquals("2.47.0", next(router, id, seen, "client_ready").data());
            assertTrue(seen.indexOf("bench_results") < seen.indexOf("client_stopped"), seen.toString());
            send(router, id, "reconnect", null);
            assertEquals("2.47.0", next(router, id, seen, "client_ready").data());
            send(router, id, "quit", null);
            assertEquals(0, exit.get(10, TimeUnit.SECONDS).code());
        } finally {
            pool.shutdownNow();
        }
    }

    /**
     * The master answers every {@code bench_hello} with a {@code bench_config}, so a repeat may come
     * after {@code bench_start} and before {@code spawn} (seen on a loaded machine): the started
     * test keeps its plan and its users run it.
     */
    @Test
    void aRepeatedConfigAfterTheStartIsIgnored() throws Exception {
        int port = Ports.free();
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try (ZContext ctx = new ZContext(); ZMQ.Socket router = ctx.createSocket(SocketType.ROUTER)) {
            router.setReceiveTimeOut(200);
            router.bind("tcp://127.0.0.1:" + port);
            LocustWorker w = new LocustWorker("127.0.0.1", port, 10, "java",
                    c -> Clients.factory(c, "socket", "user"));
            Future<LocustWorker.Exit> exit = pool.submit(() -> {
                try (w) {
                    return w.run();
                }
            });
            String id = w.nodeId();
            List<String> seen = new ArrayList<>();
            next(router, id, seen, "client_ready");
            send(router, id, "ack", Map.of("index", 0L));
            next(router, id, seen, "bench_hello");
            // nothing listens on the target: every call is an error, and errors are counted
            var cfg = LocustWorkerTest.config("http", Ports.free(), "echo", false, 0, 0.5);
            Map<String, Object> config = new com.fasterxml.jackson.databind.ObjectMapper().convertValue(cfg, Map.class);
            @SuppressWarnings("unchecked")
            Map<String, Object> request = (Map<String, Object>) config.get("request");
            request.put("body", java.util.Base64.getDecoder().decode((String) request.remove("body_b64")));
            send(router, id, "bench_config", config);
            send(router, id, "bench_start", Map.of("start_wall", System.currentTimeMillis() / 1000.0 + 0.1));
            send(router, id, "bench_config", config);
            send(router, id, "spawn", Map.of("timestamp", 1.0, "user_classes_count", Map.of("BenchCell", 1L),
                    "host", "", "parsed_options", Map.of()));
            next(router, id, seen, "spawning_complete");
            long until = System.nanoTime() + 2_000_000_000L;
            while (System.nanoTime() < until) {
                next(router, id, seen, "heartbeat");
                send(router, id, "heartbeat", null);
            }
            send(router, id, "stop", null);
            Map<?, ?> results = (Map<?, ?>) next(router, id, seen, "bench_results").data();
            Map<?, ?> measure = (Map<?, ?>) ((List<?>) results.get("phases")).get(1);
            Map<?, ?> cells = (Map<?, ?>) measure.get("cells");
            assertEquals(1, cells.size(), "the measured phase ran: " + measure);
            send(router, id, "quit", null);
            assertEquals(0, exit.get(10, TimeUnit.SECONDS).code());
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aConfigOfAnotherProtocolIsRefused() throws Exception {
        int port = Ports.free();
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try (ZContext ctx = new ZContext(); ZMQ.Socket router = ctx.createSocket(SocketType.ROUTER)) {
            router.setReceiveTimeOut(200);
            router.bind("tcp://127.0.0.1:" + port);
            LocustWorker w = new LocustWorker("127.0.0.1", port, 10, "java",
                    c -> Clients.factory(c, "socket", "user"));
            Future<LocustWorker.Exit> exit = pool.submit(() -> {
                try (w) {
                    return w.run();
                }
            });
            String id = w.nodeId();
            List<String> seen = new ArrayList<>();
            next(router, id, seen, "client_ready");
            send(router, id, "ack", Map.of("index", 0L));
            next(router, id, seen, "bench_hello");
            var cfg = LocustWorkerTest.config("http", Ports.free(), "echo", false, 0, 1.0);
            cfg.put("protocol", 2);
            Map<String, Object> config = new com.fasterxml.jackson.databind.ObjectMapper().convertValue(cfg, Map.class);
            @SuppressWarnings("unchecked")
            Map<String, Object> request = (Map<String, Object>) config.get("request");
            request.put("body", java.util.Base64.getDecoder().decode((String) request.remove("body_b64")));
            send(router, id, "bench_config", config);
            LocustWorker.Exit e = exit.get(10, TimeUnit.SECONDS);
            assertEquals(1, e.code());
            assertTrue(e.reason().contains("bench_config has protocol 2; this caller speaks protocol 1"), e.reason());
        } finally {
            pool.shutdownNow();
        }
    }
}
