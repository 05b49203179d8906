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
    /**
     * How long a message may take: generous, since a loaded CI host once kept the worker's first
     * {@code client_ready} from arriving within 10 s; the worker's master timeout is the same.
     */
    private static final long WAIT_NANOS = 30_000_000_000L;

    private static Message next(ZMQ.Socket router, String identity, List<String> seen, String... wanted) {
        long deadline = System.nanoTime() + WAIT_NANOS;
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
        throw new AssertionError("none of " + List.of(wanted) + " within " + WAIT_NANOS / 1_000_000_000L
                + " s; seen " + seen);
    }

    static void send(ZMQ.Socket router, String identity, String type, Object data) {
        router.send(identity.getBytes(StandardCharsets.UTF_8), ZMQ.SNDMORE);
        router.send(new Message(type, data, identity).encode(), 0);
    }

    /** A worker joined to a ROUTER playing the master, on its own thread; closing it stops both. */
    private static final class Session implements AutoCloseable {
        final ZContext ctx = new ZContext();
        final ZMQ.Socket router = ctx.createSocket(SocketType.ROUTER);
        final ExecutorService pool = Executors.newSingleThreadExecutor();
        final List<String> seen = new ArrayList<>();
        final String id;
        final Future<LocustWorker.Exit> exit;
        /** The router's accepted connections (a monitor), when asked for: attached before the worker starts. */
        final ZMQ.Socket accepts;

        Session() {
            this(false);
        }

        Session(boolean watchAccepts) {
            int port = Ports.free();
            router.setReceiveTimeOut(200);
            router.bind("tcp://127.0.0.1:" + port);
            if (watchAccepts) {
                String monitor = "inproc://order-test-accepted";
                router.monitor(monitor, ZMQ.EVENT_ACCEPTED);
                accepts = ctx.createSocket(SocketType.PAIR);
                accepts.setReceiveTimeOut(200);
                accepts.connect(monitor);
            } else {
                accepts = null;
            }
            LocustWorker w = new LocustWorker("127.0.0.1", port, WAIT_NANOS / 1e9, "java",
                    c -> Clients.factory(c, "socket", "user"));
            id = w.nodeId();
            exit = pool.submit(() -> {
                try (w) {
                    return w.run();
                }
            });
        }

        Message next(String... wanted) {
            return LocustWorkerOrderTest.next(router, id, seen, wanted);
        }

        void send(String type, Object data) {
            LocustWorkerOrderTest.send(router, id, type, data);
        }

        /** client_ready, ack, bench_hello: the worker waits for its config; returns the hello's data. */
        Map<?, ?> join() {
            assertEquals("2.47.0", next("client_ready").data());
            send("ack", Map.of("index", 0L));
            return (Map<?, ?>) next("bench_hello").data();
        }

        @Override
        public void close() {
            pool.shutdownNow();
            ctx.close();
        }
    }

    /** A bench_config as the master sends it (msgpack bin body) from LocustWorkerTest's JSON form. */
    @SuppressWarnings("unchecked")
    static Map<String, Object> message(com.fasterxml.jackson.databind.node.ObjectNode cfg) {
        Map<String, Object> config = new com.fasterxml.jackson.databind.ObjectMapper().convertValue(cfg, Map.class);
        Map<String, Object> request = (Map<String, Object>) config.get("request");
        request.put("body", java.util.Base64.getDecoder().decode((String) request.remove("body_b64")));
        return config;
    }

    static Map<String, Object> spawn(long users) {
        return Map.of("timestamp", 1.0, "user_classes_count", Map.of("BenchCell", users), "host", "",
                "parsed_options", Map.of());
    }

    @Test
    void stopBeforeAnyRequestReconnectAndQuit() throws Exception {
        try (Session s = new Session()) {
            assertTrue(s.id.matches(".+_[0-9a-f]{32}"), s.id);
            assertEquals(1L, s.join().get("protocol"));
            s.send("bench_config", message(LocustWorkerTest.config("http", Ports.free(), "echo", true, 100, 1.0)));
            s.send("bench_start", Map.of("start_wall", System.currentTimeMillis() / 1000.0 + 3600));
            s.send("spawn", spawn(2));
            assertNull(s.next("spawning").data());
            Map<?, ?> done = (Map<?, ?>) s.next("spawning_complete").data();
            assertEquals(2L, done.get("user_count"));
            assertEquals(Map.of("BenchCell", 2L), done.get("user_classes_count"));
            Map<?, ?> hb = (Map<?, ?>) s.next("heartbeat").data();
            assertEquals("running", hb.get("state"));
            s.send("heartbeat", null);
            s.seen.clear();
            s.send("stop", null);
            Map<?, ?> results = (Map<?, ?>) s.next("bench_results").data();
            Map<?, ?> measure = (Map<?, ?>) ((List<?>) results.get("phases")).get(1);
            assertEquals(Map.of(), measure.get("cells"), "the plan never started: no cell");
            assertEquals(0L, measure.get("issued"));
            assertEquals(2, ((List<?>) results.get("phases")).size());
            assertNotNull(s.next("client_stopped"));
            assertEquals("2.47.0", s.next("client_ready").data());
            assertTrue(s.seen.indexOf("bench_results") < s.seen.indexOf("client_stopped"), s.seen.toString());
            s.send("reconnect", null);
            assertEquals("2.47.0", s.next("client_ready").data());
            s.send("quit", null);
            assertEquals(0, s.exit.get(30, TimeUnit.SECONDS).code());
        }
    }

    /**
     * The master answers every {@code bench_hello} with a {@code bench_config}, so a repeat may come
     * after {@code bench_start} and before {@code spawn} (seen on a loaded machine): the started
     * test keeps its plan and its users run it.
     */
    @Test
    void aRepeatedConfigAfterTheStartIsIgnored() throws Exception {
        try (Session s = new Session()) {
            s.join();
            // nothing listens on the target: every call is an error, and errors are counted
            Map<String, Object> config = message(LocustWorkerTest.config("http", Ports.free(), "echo", false, 0, 0.5));
            s.send("bench_config", config);
            s.send("bench_start", Map.of("start_wall", System.currentTimeMillis() / 1000.0 + 0.1));
            s.send("bench_config", config);
            s.send("spawn", spawn(1));
            s.next("spawning_complete");
            long until = System.nanoTime() + 2_000_000_000L;
            while (System.nanoTime() < until) {
                s.next("heartbeat");
                s.send("heartbeat", null);
            }
            s.send("stop", null);
            Map<?, ?> results = (Map<?, ?>) s.next("bench_results").data();
            Map<?, ?> measure = (Map<?, ?>) ((List<?>) results.get("phases")).get(1);
            assertEquals(1, ((Map<?, ?>) measure.get("cells")).size(), "the measured phase ran: " + measure);
            s.send("quit", null);
            assertEquals(0, s.exit.get(30, TimeUnit.SECONDS).code());
        }
    }

    /**
     * JeroMQ sometimes never writes what a connected socket sends: with no ack, the worker connects anew.
     * An accept sooner than that is JeroMQ's own reconnect of the same socket (one came 1.0 s after the
     * first in a CI run, with no replacement logged by the worker); the worker's new connection is the
     * one that comes READY_RECONNECT_NANOS after the first.
     */
    @Test
    void noAckMeansANewConnection() throws Exception {
        try (Session s = new Session(true)) {
            ZMQ.Socket events = s.accepts;
            long t0 = System.nanoTime();
            long first = 0;
            long replaced = 0;
            int accepted = 0;
            while (replaced == 0 && System.nanoTime() - t0 < WAIT_NANOS) {
                if (ZMQ.Event.recv(events) != null) {
                    accepted++;
                    // timed from the first connection (the monitor is attached before the worker connects)
                    long now = System.nanoTime();
                    if (accepted == 1) {
                        first = now;
                    } else if (now - first >= LocustWorker.READY_RECONNECT_NANOS - 500_000_000L) {
                        replaced = now;
                    }
                }
                if (s.router.recv(ZMQ.DONTWAIT) != null) { // client_ready, never acknowledged
                    while (s.router.hasReceiveMore()) {
                        s.router.recv(0);
                    }
                }
            }
            assertTrue(replaced > 0, "no new connection " + LocustWorker.READY_RECONNECT_NANOS / 1e9
                    + " s after the first (" + accepted + " accepted in " + (System.nanoTime() - t0) / 1e9 + " s)");
            s.seen.clear();
            assertEquals(1L, s.join().get("protocol")); // and it joins
        }
    }

    @Test
    void aConfigOfAnotherProtocolIsRefused() throws Exception {
        try (Session s = new Session()) {
            s.join();
            var cfg = LocustWorkerTest.config("http", Ports.free(), "echo", false, 0, 1.0);
            cfg.put("protocol", 2);
            s.send("bench_config", message(cfg));
            LocustWorker.Exit e = s.exit.get(30, TimeUnit.SECONDS);
            assertEquals(1, e.code());
            assertTrue(e.reason().contains("bench_config has protocol 2; this caller speaks protocol 1"), e.reason());
        }
    }
}
